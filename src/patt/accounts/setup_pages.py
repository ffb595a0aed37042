"""First-admin bootstrap page `/setup` (20 §7, 50 §4.5): create the Guild Leader with the
one-time token printed at startup.

The sha256 hex of the token lives in PostgreSQL (`sv_common.auth.setup_token`, written by
`patt serve` or the startup hook), so every worker and host accepts the same link; it is
compared in constant time and deleted in the transaction that creates the Guild Leader. POSTs
are serialised with a transaction-level advisory lock so a second submission (race or replay)
sees that setup mode has ended and gets 404. Failed token checks count against the shared
`setup_ip` throttle; a throttled visitor gets a 429 notice page with Retry-After.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from patt.accounts.api import throttle_message
from patt.accounts.pages import (
    MAX_PASSWORD,
    PASSWORDS_DIFFER,
    form_fields,
    page_token,
    set_session_cookie,
)
from patt.core.netutil import client_ip
from patt.core.render import PageError, redirect_with_flash, render
from patt.deps import CSRF_PAGE_MESSAGE, DB, PageMember, csrf_ok
from sv_common.auth import setup_token
from sv_common.auth.throttle import SharedWindow
from sv_common.db import locks
from sv_common.db.models import GuildMember
from sv_common.errors import DomainError
from sv_common.identity import accounts

router = APIRouter(tags=["pages"], include_in_schema=False)

SETUP_LINK_INVALID = (
    "This setup link is invalid or has expired. Restart the server to get a new one."
)
WELCOME = "Welcome! Your Guild Leader account is ready."
MAX_NAME = 100


async def _require_setup_mode(request: Request, db: DB) -> None:
    if not await accounts.in_setup_mode(db, request.app.state.settings.admin_rank_level):
        raise PageError(404)


async def _throttled(request: Request, retry_after: int, member: GuildMember | None) -> Response:
    response = await render(
        request,
        "setup/notice.html",
        {"title": "Too Many Attempts", "text": throttle_message(retry_after)},
        member=member,
        status_code=429,
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


async def _setup_page(
    request: Request,
    *,
    token: str,
    member: GuildMember | None,
    username: str = "",
    display_name: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "token": token,
        "username": username[:MAX_NAME],
        "display_name": display_name[:MAX_NAME],
        "error": error,
    }
    return await render(
        request, "setup/setup.html", context, member=member, status_code=status_code
    )


@router.get("/setup")
async def setup_form(request: Request, db: DB, member: PageMember) -> Response:
    """The Guild Leader form, for the holder of the setup link while in setup mode."""
    await _require_setup_mode(request, db)
    throttle: SharedWindow = request.app.state.throttles["setup_ip"]
    ip = client_ip(request)
    retry_after = await throttle.retry_after(ip)
    if retry_after > 0:
        return await _throttled(request, retry_after, member)
    token = request.query_params.get("token", "")
    if not await setup_token.matches(db, token):
        await throttle.hit(ip)
        raise PageError(403, SETUP_LINK_INVALID)
    return await _setup_page(request, token=token, member=member)


@router.post("/setup")
async def setup_submit(request: Request, db: DB, member: PageMember) -> Response:
    """Create the Guild Leader, discard the token, log them in, go to the roster."""
    form = await form_fields(request)
    if not csrf_ok(request, form.get("csrf_token")):
        raise PageError(403, CSRF_PAGE_MESSAGE)
    throttle: SharedWindow = request.app.state.throttles["setup_ip"]
    ip = client_ip(request)
    retry_after = await throttle.retry_after(ip)
    if retry_after > 0:
        return await _throttled(request, retry_after, member)
    await locks.transaction_lock(db, locks.SETUP)
    await _require_setup_mode(request, db)
    token = form.get("token", "")
    if not await setup_token.matches(db, token):
        await throttle.hit(ip)
        raise PageError(403, SETUP_LINK_INVALID)

    username = form.get("discord_username", "").strip()
    display_name = form.get("display_name", "").strip()
    password = form.get("password", "")
    error: str | None = None
    if password != form.get("password2", ""):
        error = PASSWORDS_DIFFER
    elif len(password) > MAX_PASSWORD:
        error = "Password is too long."
    elif len(display_name) > MAX_NAME:
        error = "Display name must be at most 100 characters."
    else:
        try:
            async with db.begin_nested():
                leader = await accounts.create_guild_leader(
                    db,
                    discord_username=username,
                    password=password,
                    display_name=display_name or None,
                )
        except DomainError as exc:
            error = exc.message
    if error is not None:
        return await _setup_page(
            request,
            token=token,
            member=member,
            username=username,
            display_name=display_name,
            error=error,
            status_code=400,
        )
    response = redirect_with_flash(request, "/admin/roster", "success", WELCOME)
    set_session_cookie(request, response, await page_token(request, db, leader))
    return response
