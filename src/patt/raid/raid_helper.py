"""The Raid-Helper bot's HTTP API (60 §6.5): a small client interface, the real httpx client,
a stand-in for "not configured", and an in-memory fake for tests.

The API key lives only in the client object (server side). Nothing here raises on an HTTP
failure: every call returns a `RaidHelperReply` and the caller decides (502, partial signups).
Text that comes back from Raid-Helper is passed through `redact()` before it can reach a
response, so the key never leaks even if the remote end echoes it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from sv_common.errors import Unavailable

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 15.0
SIGNUP_SPACING_SECONDS = 0.2  # "sequential, ≥ 200 ms apart"
RETRY_DELAY_SECONDS = 1.0
MAX_RETRY_AFTER_SECONDS = 10.0
ERROR_TEXT_LIMIT = 200
NOT_CONFIGURED_ITEM = "Raid-Helper API key (server)"

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RaidHelperReply:
    """One answer from Raid-Helper; `status` None means no HTTP answer (timeout, network)."""

    status: int | None
    body: Any = None
    text: str = ""
    error: str | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return self.status is not None and 200 <= self.status < 300

    def short_text(self) -> str:
        """The first 200 characters of the body, or the network error."""
        if self.status is None:
            return self.error or "no response"
        return self.text[:ERROR_TEXT_LIMIT]


def event_id_from(body: Any) -> str | None:
    """First non-empty of `id`, `eventId`, `event.id` in a create-event reply."""
    if not isinstance(body, dict):
        return None
    candidates: list[Any] = [body.get("id"), body.get("eventId")]
    event = body.get("event")
    if isinstance(event, dict):
        candidates.append(event.get("id"))
    for value in candidates:
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | str) and str(value).strip():
            return str(value).strip()
    return None


class RaidHelper(Protocol):
    """What the raid planner needs from Raid-Helper."""

    configured: bool
    signup_spacing_seconds: float

    async def create_event(
        self, *, server_id: str, channel_id: str, payload: dict[str, Any]
    ) -> RaidHelperReply:
        """POST {base}/servers/{server}/channels/{channel}/event."""
        ...

    async def add_signup(self, *, event_id: str, payload: dict[str, Any]) -> RaidHelperReply:
        """POST {base}/events/{event}/signups for one person."""
        ...

    def redact(self, text: str) -> str:
        """`text` with any secret removed."""
        ...


class NotConfiguredRaidHelper:
    """Used when RAID_HELPER_API_KEY is empty: reports "not configured", never calls out."""

    configured = False
    signup_spacing_seconds = 0.0

    async def create_event(
        self, *, server_id: str, channel_id: str, payload: dict[str, Any]
    ) -> RaidHelperReply:
        """Always refused: there is no key."""
        raise Unavailable(f"Raid-Helper is not configured: {NOT_CONFIGURED_ITEM}")

    async def add_signup(self, *, event_id: str, payload: dict[str, Any]) -> RaidHelperReply:
        """Always refused: there is no key."""
        raise Unavailable(f"Raid-Helper is not configured: {NOT_CONFIGURED_ITEM}")

    def redact(self, text: str) -> str:
        """Nothing secret to remove."""
        return text


class HttpRaidHelper:
    """The real client: raw key in `Authorization`, 15 s timeouts, the retry rules of 60 §6.5."""

    configured = True
    signup_spacing_seconds = SIGNUP_SPACING_SECONDS

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._api_key = api_key
        self._base_url = base_url.rstrip("/")
        self._transport = transport
        self._sleep = sleep

    def __repr__(self) -> str:  # never show the key in logs or tracebacks
        return f"HttpRaidHelper(base_url={self._base_url!r})"

    def redact(self, text: str) -> str:
        """`text` with the API key replaced."""
        return text.replace(self._api_key, "[redacted]") if self._api_key else text

    async def _post(self, url: str, payload: dict[str, Any]) -> RaidHelperReply:
        headers = {"Authorization": self._api_key, "Content-Type": "application/json"}
        try:
            async with httpx.AsyncClient(
                transport=self._transport, timeout=TIMEOUT_SECONDS
            ) as client:
                response = await client.post(url, content=json.dumps(payload), headers=headers)
        except httpx.TimeoutException:
            return RaidHelperReply(status=None, error="timed out")
        except httpx.HTTPError as exc:
            return RaidHelperReply(
                status=None, error=self.redact(f"network error ({type(exc).__name__})")
            )
        text = self.redact(response.text)
        try:
            body = response.json()
        except ValueError:
            body = None
        return RaidHelperReply(
            status=response.status_code,
            body=body,
            text=text,
            retry_after=_retry_after(response.headers.get("retry-after")),
        )

    async def create_event(
        self, *, server_id: str, channel_id: str, payload: dict[str, Any]
    ) -> RaidHelperReply:
        """Create an event; retried once only after a 429 (creation is not idempotent)."""
        url = f"{self._base_url}/servers/{server_id}/channels/{channel_id}/event"
        reply = await self._post(url, payload)
        if reply.status == 429:
            await self._sleep(reply.retry_after or RETRY_DELAY_SECONDS)
            reply = await self._post(url, payload)
        if not reply.ok:
            log.warning("Raid-Helper create event failed: %s", reply.status)
        return reply

    async def add_signup(self, *, event_id: str, payload: dict[str, Any]) -> RaidHelperReply:
        """Add one signup; one retry after ~1 s on 429, 5xx or a network error."""
        url = f"{self._base_url}/events/{event_id}/signups"
        reply = await self._post(url, payload)
        if reply.status is None or reply.status == 429 or reply.status >= 500:
            delay = reply.retry_after if reply.status == 429 and reply.retry_after else None
            await self._sleep(delay or RETRY_DELAY_SECONDS)
            reply = await self._post(url, payload)
        return reply


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (number form only), capped."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER_SECONDS)


@dataclass
class FakeRaidHelper:
    """In-memory Raid-Helper for tests and browser tests: records every call.

    `fail_create = (status, text)` makes event creation fail; `fail_signups` maps a Discord user
    ID to (status, text) for that person's signup; `create_body` replaces the create reply body.
    """

    event_id: str = "1234567890"
    fail_create: tuple[int, str] | None = None
    fail_signups: dict[str, tuple[int, str]] = field(default_factory=dict)
    create_body: Any = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    configured: bool = True
    signup_spacing_seconds: float = 0.0

    def redact(self, text: str) -> str:
        """The fake holds no secret."""
        return text

    @property
    def creates(self) -> list[dict[str, Any]]:
        """The create-event calls, in order."""
        return [call for call in self.calls if call["kind"] == "create"]

    @property
    def signups(self) -> list[dict[str, Any]]:
        """The signup calls, in order."""
        return [call for call in self.calls if call["kind"] == "signup"]

    async def create_event(
        self, *, server_id: str, channel_id: str, payload: dict[str, Any]
    ) -> RaidHelperReply:
        """Record the call; answer with the configured failure or an event ID."""
        self.calls.append(
            {"kind": "create", "server_id": server_id, "channel_id": channel_id, "payload": payload}
        )
        if self.fail_create is not None:
            status, text = self.fail_create
            return RaidHelperReply(status=status, text=text)
        body = self.create_body if self.create_body is not None else {"id": self.event_id}
        return RaidHelperReply(status=200, body=body, text=json.dumps(body))

    async def add_signup(self, *, event_id: str, payload: dict[str, Any]) -> RaidHelperReply:
        """Record the call; answer with the configured failure for that user, else 200."""
        self.calls.append({"kind": "signup", "event_id": event_id, "payload": payload})
        failure = self.fail_signups.get(str(payload.get("userId")))
        if failure is not None:
            status, text = failure
            return RaidHelperReply(status=status, text=text)
        return RaidHelperReply(status=200, body={"status": "ok"}, text='{"status": "ok"}')


def make_raid_helper(api_key: str, base_url: str) -> RaidHelper:
    """The real client when a key is set, else the not-configured stand-in."""
    if api_key.strip():
        return HttpRaidHelper(api_key=api_key.strip(), base_url=base_url)
    return NotConfiguredRaidHelper()
