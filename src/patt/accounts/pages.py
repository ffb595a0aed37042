"""Sign-in pages (50 §4.2–4.4): /login, /register and /logout, plus the `patt_token` cookie helpers.

Choices where the spec is silent: an empty username or password is answered with the generic
login error and is not counted as a throttled failure; registration counts only rule failures
(bad code, mismatch, already registered, password rules) against the IP, not a password2 typo;
a successful registration greets the member with a flash message; logout (GET or POST) shows
"You have been logged out.". A CSRF failure on login/register re-renders the form with 403 and
a fresh token so the member can simply submit again.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException

from patt.accounts.api import (
    clear_login_failures,
    issue_token,
    login_retry_after,
    record_login_failure,
    throttle_message,
)
from patt.core.forms import in_transaction
from patt.core.netutil import client_ip, safe_next_path
from patt.core.render import (
    PageError,
    finish_page_response,
    redirect_with_flash,
    render,
    set_flash,
)
from patt.deps import CSRF_PAGE_MESSAGE, DB, SESSION_COOKIE, PagePrincipal, csrf_ok
from sv_common.auth import sessions
from sv_common.auth.throttle import SharedWindow
from sv_common.db.models import GuildMember
from sv_common.errors import DomainError
from sv_common.identity import accounts

router = APIRouter(tags=["pages"], include_in_schema=False)

MAX_FORM_BYTES = 16 * 1024
MAX_USERNAME = 100
MAX_PASSWORD = 1000
LOGIN_FAILED = "Invalid username or password."
LOGIN_INACTIVE = "Account is inactive. Contact an officer."
PASSWORDS_DIFFER = "Passwords do not match."


# --------------------------------------------------------------------------- shared helpers
async def form_fields(request: Request) -> dict[str, str]:
    """The posted form's text fields (files ignored); 400/413 page for unreadable or huge forms."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        raise PageError(413, "That form was too large to submit.")
    try:
        form = await request.form()
    except (StarletteHTTPException, ValueError, UnicodeError) as exc:
        raise PageError(400, "The form could not be read. Reload the page and try again.") from exc
    return {key: value for key, value in form.items() if isinstance(value, str)}


async def page_token(request: Request, db: AsyncSession, member: GuildMember) -> str:
    """A page token living exactly as long as the cookie (SESSION_DAYS)."""
    return await issue_token(
        request, db, member, expires_minutes=request.app.state.settings.session_days * 24 * 60
    )


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    """`patt_token`: HttpOnly, SameSite=Lax, Max-Age = SESSION_DAYS × 86400, Secure per settings."""
    settings = request.app.state.settings
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_days * 86400,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    """Expire `patt_token` with the same name, path and attributes."""
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.secure_cookies,
    )


def redirect(request: Request, url: str) -> Response:
    """A 302 that still drops an invalid session cookie and sets a new CSRF cookie."""
    return finish_page_response(request, RedirectResponse(url, status_code=302))


def _next_from(request: Request, form: dict[str, str] | None = None) -> str:
    raw = (form or {}).get("next") or request.query_params.get("next")
    return safe_next_path(raw)


async def _auth_card(
    request: Request,
    template: str,
    extra: dict[str, Any],
    *,
    next_path: str,
    username: str,
    error: str | None,
    status_code: int,
    retry_after: int,
) -> Response:
    """The login or registration card with the entered username, the error and `next`."""
    context: dict[str, Any] = {
        **extra,
        "next_path": next_path if next_path != "/" else "",
        "username": username[:MAX_USERNAME],
        "error": error,
    }
    response = await render(request, template, context, status_code=status_code)
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


# ----------------------------------------------------------------------------------- login
async def _login_page(
    request: Request,
    *,
    next_path: str,
    username: str = "",
    error: str | None = None,
    status_code: int = 200,
    retry_after: int = 0,
) -> Response:
    return await _auth_card(
        request,
        "auth/login.html",
        {"active_nav": "login"},
        next_path=next_path,
        username=username,
        error=error,
        status_code=status_code,
        retry_after=retry_after,
    )


@router.get("/login")
async def login_form(request: Request, member: PagePrincipal) -> Response:
    """The sign-in card; logged-in members go straight to the safe `next`."""
    next_path = _next_from(request)
    if member is not None:
        return redirect(request, next_path)
    return await _login_page(request, next_path=next_path)


@router.post("/login")
async def login_submit(request: Request, db: DB) -> Response:
    """Check CSRF, throttle and credentials; success sets the cookie and goes to `next`."""
    form = await form_fields(request)
    next_path = _next_from(request, form)
    username = form.get("discord_username", "").strip()
    password = form.get("password", "")
    if not csrf_ok(request, form.get("csrf_token")):
        return await _login_page(
            request,
            next_path=next_path,
            username=username,
            error=CSRF_PAGE_MESSAGE,
            status_code=403,
        )
    retry_after = await login_retry_after(request, username)
    if retry_after > 0:
        return await _login_page(
            request,
            next_path=next_path,
            username=username,
            error=throttle_message(retry_after),
            status_code=429,
            retry_after=retry_after,
        )
    if not username or not password:
        return await _login_page(
            request, next_path=next_path, username=username, error=LOGIN_FAILED, status_code=400
        )
    if len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD:
        await record_login_failure(request, username)
        return await _login_page(
            request, next_path=next_path, username=username, error=LOGIN_FAILED, status_code=400
        )
    try:
        async with db.begin_nested():
            result = await accounts.login(db, discord_username=username, password=password)
    except DomainError as exc:
        if exc.status_code == 403:
            message = LOGIN_INACTIVE
        else:
            await record_login_failure(request, username)
            message = LOGIN_FAILED
        return await _login_page(
            request, next_path=next_path, username=username, error=message, status_code=400
        )
    await clear_login_failures(request, username)
    response = redirect(request, next_path)
    set_session_cookie(request, response, await page_token(request, db, result.member))
    return response


# -------------------------------------------------------------------------------- register
async def _register_page(
    request: Request,
    *,
    next_path: str,
    code: str = "",
    username: str = "",
    error: str | None = None,
    status_code: int = 200,
    retry_after: int = 0,
) -> Response:
    return await _auth_card(
        request,
        "auth/register.html",
        {"code": code[:50]},
        next_path=next_path,
        username=username,
        error=error,
        status_code=status_code,
        retry_after=retry_after,
    )


@router.get("/register")
async def register_form(request: Request, member: PagePrincipal) -> Response:
    """The registration card, pre-filled from `?code=` (the DM link)."""
    next_path = _next_from(request)
    if member is not None:
        return redirect(request, next_path)
    code = request.query_params.get("code", "").strip()
    return await _register_page(request, next_path=next_path, code=code)


@router.post("/register")
async def register_submit(request: Request, db: DB) -> Response:
    """Create the account (20 §6 order and messages), log in, and go home."""
    form = await form_fields(request)
    next_path = _next_from(request, form)
    code = form.get("code", "").strip()
    username = form.get("discord_username", "").strip()
    password = form.get("password", "")
    password2 = form.get("password2", "")

    async def again(error: str, status_code: int = 400, retry_after: int = 0) -> Response:
        return await _register_page(
            request,
            next_path=next_path,
            code=code,
            username=username,
            error=error,
            status_code=status_code,
            retry_after=retry_after,
        )

    if not csrf_ok(request, form.get("csrf_token")):
        return await again(CSRF_PAGE_MESSAGE, 403)
    throttle: SharedWindow = request.app.state.throttles["register_ip"]
    ip = client_ip(request)
    retry_after = await throttle.retry_after(ip)
    if retry_after > 0:
        return await again(throttle_message(retry_after), 429, retry_after)
    if password != password2:
        return await again(PASSWORDS_DIFFER)
    if len(password) > MAX_PASSWORD:
        return await again("Password is too long.")
    try:
        async with db.begin_nested():
            member = await accounts.register(
                db, code=code, discord_username=username, password=password
            )
    except DomainError as exc:
        await throttle.hit(ip)
        return await again(exc.message)
    response = redirect(request, next_path)
    set_flash(request, response, "success", f"Welcome to the guild, {member.display_name}!")
    set_session_cookie(request, response, await page_token(request, db, member))
    return response


# ---------------------------------------------------------------------------------- logout
def _logged_out(request: Request) -> Response:
    response = redirect_with_flash(request, "/", "info", "You have been logged out.")
    clear_session_cookie(request, response)
    return response


@router.post("/logout")
async def logout_submit(request: Request, member: PagePrincipal) -> Response:
    """The nav button: CSRF-checked; ends every session of the user (the token version is
    raised), clears the cookie, back to the landing page."""
    form = await form_fields(request)
    if not csrf_ok(request, form.get("csrf_token")):
        raise PageError(403, CSRF_PAGE_MESSAGE)
    if member is not None and member.user_id is not None:
        user_id = member.user_id
        await in_transaction(request, lambda db: sessions.sign_out_everywhere(db, user_id))
    return _logged_out(request)


@router.get("/logout")
async def logout_link(request: Request, member: PagePrincipal) -> Response:
    """Old links: a confirmation page (a GET never logs anyone out — it could be forged)."""
    if member is None:
        return redirect(request, "/")
    return await render(request, "auth/logout.html", {}, member=member)
