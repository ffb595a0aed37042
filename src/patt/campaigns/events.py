"""Campaign events (`campaign_activated`, `campaign_closed`) for listeners such as the
Discord announcer: queued on the session and delivered only after the transaction that caused
them commits; a failing listener is logged and never undoes the transition."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

EventListener = Callable[[dict[str, Any]], Awaitable[None] | None]
_listeners: list[EventListener] = []
_listener_tasks: set[asyncio.Task[Any]] = set()
_EVENTS_KEY = "patt_campaign_events"


def add_event_listener(listener: EventListener) -> None:
    """Receive `{"event": "campaign_activated"|"campaign_closed", "campaign_id", …}` dicts."""
    _listeners.append(listener)


def remove_event_listener(listener: EventListener) -> None:
    """Stop delivering events to `listener`."""
    with contextlib.suppress(ValueError):
        _listeners.remove(listener)


def queue_event(session: AsyncSession, name: str, campaign_id: int, **data: Any) -> None:
    session.info.setdefault(_EVENTS_KEY, []).append(
        {"event": name, "campaign_id": campaign_id, **data}
    )


def _deliver(events: list[dict[str, Any]]) -> None:
    for payload in events:
        log.info("%s: campaign %s %s", payload["event"], payload["campaign_id"], payload)
        for listener in list(_listeners):
            try:
                result = listener(payload)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    _listener_tasks.add(task)
                    task.add_done_callback(_listener_done)
            except Exception:
                log.exception("campaign event listener failed for %s", payload["event"])


def _listener_done(task: asyncio.Task[Any]) -> None:
    _listener_tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("campaign event listener failed", exc_info=task.exception())


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    events = session.info.pop(_EVENTS_KEY, None)
    if events:
        _deliver(events)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous_transaction: Any) -> None:
    if not previous_transaction.nested:
        session.info.pop(_EVENTS_KEY, None)
