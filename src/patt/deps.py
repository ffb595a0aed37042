"""FastAPI dependencies: the one place for DB sessions, authentication, rank gates and CSRF.

Two kinds of authentication: the `*Principal` dependencies resolve a token or cookie with one
read into a small frozen `Principal` (id, user id, names, current rank) — use them wherever the
route only needs to know who is asking; the `*Member` ones load the ORM `GuildMember` (rank and
user attached) for routes that change the member or hand it to services that expect one.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from patt.config import Settings
from sv_common import clock
from sv_common.auth.csrf import CSRF_COOKIE, CSRF_HEADER, tokens_match
from sv_common.auth.sessions import (
    Principal,
    TokenLookup,
    member_for_token,
    principal_for_token,
    touch_last_seen,
)
from sv_common.db.models import GuildMember
from sv_common.errors import DomainError, Forbidden, Unauthorized

SESSION_COOKIE = "patt_token"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_API_MESSAGE = "CSRF token missing or invalid."
CSRF_PAGE_MESSAGE = "Your form expired. Reload the page and try again."


def get_settings(request: Request) -> Settings:
    """The app's settings object."""
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """One session in one transaction per request: committed before the response, rolled back on error."""
    async with request.app.state.sessionmaker() as session, session.begin():
        yield session


async def get_read_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """One pooled connection for a read-only request: no ORM session, and in autocommit mode,
    so its statements need no BEGIN / ROLLBACK round trips (the last-seen mark, the one write
    such a request may make, is committed as it is made)."""
    async with request.app.state.engine.connect() as connection:
        yield await connection.execution_options(isolation_level="AUTOCOMMIT")


DB = Annotated[AsyncSession, Depends(get_db, scope="function")]
ReadDB = Annotated[AsyncConnection, Depends(get_read_connection, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header; '' when the header is present but malformed."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return ""
    return token.strip()


def csrf_ok(request: Request, submitted: str | None = None) -> bool:
    """Double-submit check: cookie vs header (API) or the given form value (pages)."""
    value = submitted if submitted is not None else request.headers.get(CSRF_HEADER)
    return tokens_match(request.cookies.get(CSRF_COOKIE), value)


def carries_valid_api_key(request: Request) -> bool:
    """True when `X-API-Key` matches the configured PATT_API_KEY (constant-time comparison)."""
    supplied = request.headers.get("x-api-key")
    configured = request.app.state.settings.patt_api_key
    if not supplied or not configured:
        return False
    return hmac.compare_digest(supplied.encode(), configured.encode())


def check_api_csrf(request: Request) -> None:
    """403 for an unsafe API request that carries no bearer token, no valid API key and no
    matching CSRF header (20 §8)."""
    if (
        request.method in UNSAFE_METHODS
        and bearer_token(request) is None
        and not carries_valid_api_key(request)
        and not csrf_ok(request)
    ):
        raise Forbidden(CSRF_API_MESSAGE)


async def _authenticate(request: Request, session: AsyncSession) -> GuildMember | None:
    secret: str = request.app.state.jwt_secret
    token = bearer_token(request)
    if token is not None:  # a present-but-bad bearer token never falls back to the cookie
        if not token:
            raise Unauthorized("Invalid token.")
        return await member_for_token(session, secret, token)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    member = await member_for_token(session, secret, cookie)
    check_api_csrf(request)  # authenticate first (401), then CSRF (403) — decision 3
    return member


async def get_current_member(request: Request, db: DB) -> GuildMember:
    """The authenticated member (API); 401 when missing or invalid."""
    member = await _authenticate(request, db)
    if member is None:
        raise Unauthorized("Not authenticated.")
    request.state.member = member
    return member


async def get_optional_member(request: Request, db: DB) -> GuildMember | None:
    """The authenticated member when credentials are sent, else None; bad credentials still 401."""
    member = await _authenticate(request, db)
    request.state.member = member
    return member


def rank_level(member: GuildMember) -> int:
    """The member's current rank level (rank loaded by authentication)."""
    return member.rank.level


def require_rank(min_level: int | None = None) -> Callable[..., Coroutine[Any, Any, GuildMember]]:
    """Dependency factory: authenticate (401), then 403 below `min_level` (default: Officer+)."""

    async def dependency(
        request: Request, member: Annotated[GuildMember, Depends(get_current_member)]
    ) -> GuildMember:
        needed = min_level if min_level is not None else request.app.state.settings.admin_rank_level
        if rank_level(member) < needed:
            raise Forbidden(f"Requires rank level {needed} or higher.")
        return member

    return dependency


def public_write_csrf(request: Request) -> None:
    """Public writes check CSRF first (decision 3); bearer-token and API-key callers are exempt."""
    check_api_csrf(request)


async def get_member_outside_transaction(request: Request) -> GuildMember:
    """The authenticated member (401 when missing), read in its own short transaction, so a
    route that then waits on a third party (Raid-Helper, Discord, Blizzard) holds no database
    connection or open transaction meanwhile."""
    async with request.app.state.sessionmaker() as session, session.begin():
        member = await _authenticate(request, session)
    if member is None:
        raise Unauthorized("Not authenticated.")
    request.state.member = member
    return member


async def officer_outside_transaction(
    request: Request, member: Annotated[GuildMember, Depends(get_member_outside_transaction)]
) -> GuildMember:
    """Officer+ (401, then 403) without keeping a transaction open for the route."""
    needed = request.app.state.settings.admin_rank_level
    if rank_level(member) < needed:
        raise Forbidden(f"Requires rank level {needed} or higher.")
    return member


CurrentMember = Annotated[GuildMember, Depends(get_current_member)]
OptionalMember = Annotated[GuildMember | None, Depends(get_optional_member)]
Officer = Annotated[GuildMember, Depends(require_rank())]
# For routes that call other services over the network: no request transaction is held.
OfficerOutsideTransaction = Annotated[GuildMember, Depends(officer_outside_transaction)]


async def get_page_member(request: Request) -> GuildMember | None:
    """The member of the `patt_token` cookie for pages; None (and cookie dropped) when invalid."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    async with request.app.state.sessionmaker() as session, session.begin():
        try:
            member = await member_for_token(session, request.app.state.jwt_secret, cookie)
        except DomainError:
            request.state.drop_session_cookie = True
            return None
    return member


PageMember = Annotated[GuildMember | None, Depends(get_page_member)]


# ------------------------------------------------------------------------------- principals
async def resolve_principal(
    request: Request,
    connection: AsyncConnection,
    token: str,
    *,
    extra_columns: str = "",
    extra_joins: str = "",
    params: dict[str, Any] | None = None,
) -> TokenLookup:
    """Look up `token` (Unauthorized when invalid), marking the member as seen when that is
    due (at most once per 15 minutes, committed at once)."""
    lookup = await principal_for_token(
        connection,
        request.app.state.jwt_secret,
        token,
        extra_columns=extra_columns,
        extra_joins=extra_joins,
        params=params,
    )
    if lookup.last_seen_due:
        await touch_last_seen(connection, lookup.principal.id)
        await connection.commit()
    return lookup


async def authenticate_lookup(
    request: Request,
    connection: AsyncConnection,
    *,
    extra_columns: str = "",
    extra_joins: str = "",
    params: dict[str, Any] | None = None,
) -> TokenLookup | None:
    """Bearer token first (a malformed one never falls back to the cookie), then the login
    cookie, which also needs CSRF on unsafe methods (after authentication: decision 3). A route
    that needs a little more about the caller reads it as `extra_columns` (and `extra_joins`) of
    the same statement."""
    token = bearer_token(request)
    from_cookie = token is None
    if token is None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
    elif not token:
        raise Unauthorized("Invalid token.")
    lookup = await resolve_principal(
        request,
        connection,
        token,
        extra_columns=extra_columns,
        extra_joins=extra_joins,
        params=params,
    )
    if from_cookie:
        check_api_csrf(request)
    request.state.member = lookup.principal
    return lookup


async def authenticate_principal(request: Request, connection: AsyncConnection) -> Principal | None:
    """`authenticate_lookup` without extra columns: just who is asking."""
    lookup = await authenticate_lookup(request, connection)
    return lookup.principal if lookup is not None else None


async def get_current_principal(request: Request, connection: ReadDB) -> Principal:
    """Who is asking (API); 401 when missing or invalid."""
    principal = await authenticate_principal(request, connection)
    if principal is None:
        raise Unauthorized("Not authenticated.")
    request.state.member = principal
    return principal


async def get_optional_principal(request: Request, connection: ReadDB) -> Principal | None:
    """Who is asking when credentials are sent, else None; bad credentials still 401."""
    principal = await authenticate_principal(request, connection)
    request.state.member = principal
    return principal


# The navigation's Vote link (the visible live campaign that ends soonest, as
# campaigns.checker.nav_vote_url finds it), read in the same statement as the page's viewer.
NAV_VOTE_COLUMN = """(
  SELECT c.id FROM patt.campaigns c
  WHERE c.status = 'live'
    AND c.start_at + c.duration_hours * interval '1 hour' > :now
    AND (c.min_rank_to_view IS NULL OR c.min_rank_to_view <= r.level)
  ORDER BY c.start_at + c.duration_hours * interval '1 hour', c.id
  LIMIT 1) AS nav_vote_id"""


async def page_lookup(
    request: Request,
    connection: AsyncConnection,
    *,
    extra_columns: str = "",
    extra_joins: str = "",
    params: dict[str, Any] | None = None,
) -> TokenLookup | None:
    """The lookup of the `patt_token` cookie for pages, on the caller's connection, with the
    page's own `extra_columns` beside it; None (and the cookie dropped) when it is invalid."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        lookup = await resolve_principal(
            request,
            connection,
            cookie,
            extra_columns=extra_columns,
            extra_joins=extra_joins,
            params=params,
        )
    except DomainError:
        request.state.drop_session_cookie = True
        return None
    request.state.member = lookup.principal
    return lookup


async def page_principal(request: Request, connection: AsyncConnection) -> Principal | None:
    """The principal of the `patt_token` cookie for pages (None, cookie dropped, when invalid),
    with the navigation's Vote link read in the same statement (render then needs no lookup)."""
    lookup = await page_lookup(
        request, connection, extra_columns=NAV_VOTE_COLUMN, params={"now": clock.now()}
    )
    if lookup is None:
        return None
    vote_id = lookup.extras["nav_vote_id"]
    request.state.nav_vote_url = f"/vote/{vote_id}" if vote_id is not None else None
    return lookup.principal


async def get_page_principal(request: Request) -> Principal | None:
    """`page_principal` on a connection of its own (none at all for anonymous visitors)."""
    if not request.cookies.get(SESSION_COOKIE):
        return None
    async with request.app.state.engine.connect() as connection:
        return await page_principal(request, connection)


def require_principal_rank(
    min_level: int | None = None,
) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """`require_rank` for principals: authenticate (401), then 403 below `min_level` (default:
    Officer+), judged by the rank level read in the same statement as the token."""

    async def dependency(
        request: Request, principal: Annotated[Principal, Depends(get_current_principal)]
    ) -> Principal:
        needed = min_level if min_level is not None else request.app.state.settings.admin_rank_level
        if principal.rank.level < needed:
            raise Forbidden(f"Requires rank level {needed} or higher.")
        return principal

    return dependency


CurrentPrincipal = Annotated[Principal, Depends(get_current_principal)]
OfficerPrincipal = Annotated[Principal, Depends(require_principal_rank())]
PagePrincipal = Annotated[Principal | None, Depends(get_page_principal)]
