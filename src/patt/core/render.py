"""Page rendering: the shared template context, CSRF cookie, flash messages, page auth gates,
and the form-error helpers the admin pages share."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer

from sv_common.auth.csrf import CSRF_COOKIE, new_csrf_token
from sv_common.auth.sessions import Principal
from sv_common.db.models import GuildMember

# A page's viewer: the ORM member, or the principal of the login cookie (both have `id`, the
# names and `rank.name` / `rank.level`).
ViewerSource = GuildMember | Principal
V = TypeVar("V", GuildMember, Principal)

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))  # autoescape on for .html
FLASH_COOKIE = "patt_flash"
FLASH_SECONDS = 60
FLASH_KINDS = {"success", "error", "info", "warning"}


class LoginRequired(Exception):
    """Raised by page gates: redirect an anonymous visitor to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class FormError(Exception):
    """A form value that cannot be turned into the request model."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def sentence(text: str) -> str:
    """A service message as a flash sentence: capitalised, ending with a full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


class PageError(Exception):
    """Raised by pages: render the 403/404/500 page with a specific message."""

    def __init__(self, status_code: int, message: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


class Viewer:
    """What templates need to know about the logged-in member."""

    def __init__(self, member: ViewerSource, admin_level: int) -> None:
        self.id = member.id
        self.display_name = member.display_name
        self.discord_username = member.discord_username
        self.rank_name = member.rank.name
        self.rank_level = member.rank.level
        self.is_officer = member.rank.level >= admin_level


def login_redirect(next_path: str) -> RedirectResponse:
    """302 to /login?next=<path>."""
    return RedirectResponse(f"/login?next={quote(next_path, safe='/')}", status_code=302)


def current_path(request: Request) -> str:
    """Path plus query string of the request (for `next`)."""
    path = request.url.path
    return f"{path}?{request.url.query}" if request.url.query else path


def require_page_rank(request: Request, member: V | None, min_level: int | None = None) -> V:
    """Anonymous → LoginRequired; logged in below the level → 403 page."""
    if member is None:
        raise LoginRequired(current_path(request))
    needed = min_level if min_level is not None else request.app.state.settings.admin_rank_level
    if member.rank.level < needed:
        raise PageError(403, "Your rank does not allow access to this page.")
    return member


def _serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.jwt_secret, salt="patt-flash")


def set_flash(request: Request, response: Response, kind: str, text: str) -> None:
    """Queue a server-written message for the next page (signed, HttpOnly, 60 s)."""
    value = _serializer(request).dumps(
        {"kind": kind if kind in FLASH_KINDS else "info", "text": text}
    )
    response.set_cookie(
        FLASH_COOKIE,
        value,
        max_age=FLASH_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.secure_cookies,
        path="/",
    )


def read_flash(request: Request) -> dict[str, str] | None:
    """The pending flash message, if its signature and age are valid."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(request).loads(raw, max_age=FLASH_SECONDS)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        return None
    return {"kind": str(data.get("kind", "info")), "text": data["text"]}


def redirect_with_flash(request: Request, url: str, kind: str, text: str) -> RedirectResponse:
    """POST → 302 → GET with a flash message."""
    response = RedirectResponse(url, status_code=302)
    set_flash(request, response, kind, text)
    return response


def csrf_token_for(request: Request) -> str:
    """The CSRF token of this browser (existing cookie, or a new one set on the response)."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = new_csrf_token()
        request.state.new_csrf = token
    return token


def finish_page_response(request: Request, response: Response) -> Response:
    """Set the CSRF cookie when new, drop the flash once shown, drop an invalid session cookie."""
    new_token = getattr(request.state, "new_csrf", None)
    if new_token and not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(
            CSRF_COOKIE,
            new_token,
            httponly=False,
            samesite="lax",
            secure=request.app.state.settings.secure_cookies,
            path="/",
        )
    if getattr(request.state, "flash_shown", False):
        response.delete_cookie(
            FLASH_COOKIE,
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.app.state.settings.secure_cookies,
        )
    if getattr(request.state, "drop_session_cookie", False):
        response.delete_cookie(
            "patt_token",
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.app.state.settings.secure_cookies,
        )
    return response


def base_context(request: Request, member: ViewerSource | None) -> dict[str, Any]:
    """Variables every template may use (see templates/base.html)."""
    settings = request.app.state.settings
    flash = read_flash(request)
    if flash is not None:
        request.state.flash_shown = True
    viewer = Viewer(member, settings.admin_rank_level) if member is not None else None
    return {
        "request": request,
        "settings": {
            "guild_name": settings.patt_guild_name,
            "realm_name": settings.patt_guild_realm_name,
        },
        "viewer": viewer,
        "csrf_token": csrf_token_for(request),
        "flash": flash,
        "demo_mode": settings.demo_mode,
        "nav_vote_url": getattr(request.state, "nav_vote_url", None),
    }


async def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    member: ViewerSource | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page template with the shared context and the page cookies.

    `app.state.nav_vote_lookup(request, member)` (set by the campaigns feature) supplies the
    navigation's Vote link: the visible live campaign that ends soonest.
    """
    lookup = getattr(request.app.state, "nav_vote_lookup", None)
    if member is not None and lookup is not None and not hasattr(request.state, "nav_vote_url"):
        request.state.nav_vote_url = await lookup(request, member)
    full = base_context(request, member)
    full.update(context or {})
    response = templates.TemplateResponse(request, template, full, status_code=status_code)
    finish_page_response(request, response)
    return response
