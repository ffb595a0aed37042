"""The one pipeline of every page form POST: gate → CSRF → parse → service call in its own
transaction → flash → redirect (POST → 302 → GET).

Pages that need a login authenticate first and check CSRF second (a stale form of a logged-out
visitor goes to the login page, not to a CSRF error); public forms (login, register, setup,
sign-up) check CSRF first. A refusal — a `DomainError` from the service or a `FormError` from
parsing — rolls the transaction back and comes back as an error flash on the page the form
belongs to, so nothing is half-written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import Request
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from patt.core.render import FormError, PageError, redirect_with_flash, require_page_rank
from patt.deps import CSRF_PAGE_MESSAGE, csrf_ok
from sv_common.db.models import GuildMember
from sv_common.errors import DomainError

T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[T]]


async def read_form(request: Request) -> dict[str, str]:
    """The submitted text fields (file uploads are ignored)."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def check_csrf(request: Request, form: dict[str, str]) -> None:
    """403 page unless the form carries the visitor's CSRF token."""
    if not csrf_ok(request, form.get("csrf_token")):
        raise PageError(403, CSRF_PAGE_MESSAGE)


async def gated_form(
    request: Request, member: GuildMember | None, min_level: int | None = None
) -> tuple[GuildMember, dict[str, str]]:
    """Rank gate (Officer+ by default; login page when anonymous), then CSRF, then the fields."""
    actor = require_page_rank(request, member, min_level)
    form = await read_form(request)
    check_csrf(request, form)
    return actor, form


async def public_form(request: Request) -> dict[str, str]:
    """CSRF first for forms anyone may send, then the fields."""
    form = await read_form(request)
    check_csrf(request, form)
    return form


async def in_transaction(request: Request, work: Work[T]) -> T:
    """Run `work` in its own transaction, committed before the redirect (rolled back on error)."""
    async with request.app.state.sessionmaker() as session, session.begin():
        return await work(session)


def _plain(message: str) -> str:
    return message


async def write_and_redirect(
    request: Request,
    back: str,
    work: Work[str],
    *,
    wording: Callable[[str], str] = _plain,
) -> RedirectResponse:
    """Run `work` (which returns its success text) and flash the outcome on `back`."""
    try:
        message = await in_transaction(request, work)
    except (DomainError, FormError) as exc:
        return redirect_with_flash(request, back, "error", wording(exc.message))
    return redirect_with_flash(request, back, "success", message)
