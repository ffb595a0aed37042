"""Account API (30 §3): register with an invite code, log in and out, read one's own profile.

Throttling counts failures only: logins per (username, client) — 5 in 15 minutes — and per
client — 20 in 15 minutes, whatever the usernames; registration per client. So nobody can lock
a member out from elsewhere (the right password from a fresh client always gets in), while a
brute-force attempt is held to 5 guesses per username and 20 in all per client address every
15 minutes (80 per hour). Passwords are never trimmed; every other string is.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from patt.core.envelope import Envelope, ok
from patt.core.fields import IsoTime
from patt.core.netutil import client_ip
from patt.core.schemas import Body, ReadModel
from patt.deps import DB, CurrentMember, authenticate_lookup
from patt.members.schemas import RankBrief
from sv_common.auth import sessions
from sv_common.auth.jwt import create_access_token
from sv_common.auth.sessions import TokenLookup
from sv_common.auth.throttle import SharedWindow
from sv_common.db.engine import read_retrying
from sv_common.db.models import GuildMember
from sv_common.errors import DomainError, TooManyRequests, Unauthorized
from sv_common.identity import accounts

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

TOO_MANY_ATTEMPTS = "Too many attempts. Try again in {minutes} minutes."
Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
# Length rules and their messages live in sv_common.auth.passwords; this cap only bounds input.
# Passwords are taken exactly as typed (never trimmed).
Password = Annotated[str, StringConstraints(strip_whitespace=False, max_length=1000)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class RegisterBody(Body):
    """POST /register body."""

    code: Code
    discord_username: Username
    password: Password


class LoginBody(Body):
    """POST /login body."""

    discord_username: Username
    password: Password


class TokenRead(ReadModel):
    """A signed access token for `Authorization: Bearer`."""

    token: str


class OwnCharacter(ReadModel):
    """One of the caller's characters."""

    id: int
    name: str
    realm: str
    character_class: str | None = Field(serialization_alias="class")
    spec: str | None
    role: str | None
    main_alt: str


class Profile(ReadModel):
    """The caller's profile."""

    id: int
    discord_username: str | None
    display_name: str
    discord_id: str | None
    rank: RankBrief
    registered_at: IsoTime | None
    characters: list[OwnCharacter]


def throttle_message(retry_after: int) -> str:
    """'Too many attempts. Try again in N minutes.' (N rounded up, at least 1)."""
    minutes = max(1, -(-retry_after // 60))
    return TOO_MANY_ATTEMPTS.format(minutes=minutes)


def _account_key(request: Request, username: str) -> str:
    """The (username, client) pair failed logins are counted for. Counting per username alone
    would let anyone lock a member out by typing wrong passwords for their (public) username."""
    return f"{username.strip().casefold()}\x00{client_ip(request)}"


async def login_retry_after(request: Request, username: str) -> int:
    """Seconds until this client may try this username again, or any username (0 = now)."""
    throttles: dict[str, SharedWindow] = request.app.state.throttles
    return await request.app.state.throttle_store.retry_after_any(  # type: ignore[no-any-return]
        [
            (throttles["login_user"], _account_key(request, username)),
            (throttles["login_ip"], client_ip(request)),
        ]
    )


async def record_login_failure(request: Request, username: str) -> None:
    """Count one failed login for the (username, client) pair and for the client."""
    throttles: dict[str, SharedWindow] = request.app.state.throttles
    await request.app.state.throttle_store.hit_each(
        [
            (throttles["login_user"], _account_key(request, username)),
            (throttles["login_ip"], client_ip(request)),
        ]
    )


async def clear_login_failures(request: Request, username: str) -> None:
    """A successful login clears the pair's counter (the client's stays)."""
    await request.app.state.throttles["login_user"].clear(_account_key(request, username))


def check_throttle(retry_after: int) -> None:
    """Raise 429 with Retry-After when throttled."""
    if retry_after > 0:
        raise TooManyRequests(throttle_message(retry_after), retry_after=retry_after)


async def issue_token(
    request: Request, db: AsyncSession, member: GuildMember, *, expires_minutes: int
) -> str:
    """A signed access token for the member under the user's current token version (rank level
    informational only)."""
    assert member.user_id is not None
    return create_access_token(
        request.app.state.jwt_secret,
        user_id=member.user_id,
        member_id=member.id,
        rank_level=member.rank.level,
        expires_minutes=expires_minutes,
        token_version=await sessions.token_version(db, member.user_id),
    )


@router.post("/register", status_code=201, response_model=Envelope[TokenRead])
async def register(request: Request, body: RegisterBody, db: DB) -> Response:
    """Create the account of the invite code's member and return an API token."""
    ip = client_ip(request)
    register_ip: SharedWindow = request.app.state.throttles["register_ip"]
    check_throttle(await register_ip.retry_after(ip))
    try:
        member = await accounts.register(
            db, code=body.code, discord_username=body.discord_username, password=body.password
        )
    except DomainError:
        await register_ip.hit(ip)
        raise
    token = await issue_token(
        request, db, member, expires_minutes=request.app.state.settings.jwt_expire_minutes
    )
    return ok(TokenRead(token=token), 201, headers=None)


@router.post("/login", response_model=Envelope[TokenRead])
async def login(request: Request, body: LoginBody, db: DB) -> Response:
    """Check the credentials and return an API token."""
    check_throttle(await login_retry_after(request, body.discord_username))
    try:
        result = await accounts.login(
            db, discord_username=body.discord_username, password=body.password
        )
    except DomainError as exc:
        if exc.status_code == 401:  # the inactive 403 comes only after a correct password
            await record_login_failure(request, body.discord_username)
        raise
    await clear_login_failures(request, body.discord_username)
    token = await issue_token(
        request, db, result.member, expires_minutes=request.app.state.settings.jwt_expire_minutes
    )
    return ok(TokenRead(token=token), headers=None)


class SignedOut(ReadModel):
    """Every session of the account has ended."""

    signed_out: bool = True


@router.post("/logout", response_model=Envelope[SignedOut])
async def logout(member: CurrentMember, db: DB) -> Response:
    """End every session of the caller's account (every token issued so far stops working)."""
    assert member.user_id is not None
    await sessions.sign_out_everywhere(db, member.user_id)
    return ok(SignedOut(), headers=None)


# The caller's current (not removed) characters, mains first, then by name, as JSON: read in
# the same statement as the token's principal (`m` is the caller's member row).
OWN_CHARACTERS_COLUMN = """(
  SELECT coalesce(json_agg(json_build_object(
           'id', c.id, 'name', c.name, 'realm', coalesce(c.realm_name, c.realm_slug),
           'character_class', c.class, 'spec', c.spec, 'role', c.role, 'main_alt', c.main_alt)
         ORDER BY c.main_alt = 'main' DESC, lower(c.name)), '[]'::json)::text
  FROM common.characters c
  WHERE c.member_id = m.id AND c.removed_at IS NULL) AS characters_json"""


@router.get("/me", response_model=Envelope[Profile])
async def me(request: Request) -> Response:
    """The caller's profile with their current (not removed) characters, mains first: one
    statement in all (the token's principal with the characters beside it), on a connection
    of its own (`read_retrying`)."""

    async def read(connection: AsyncConnection) -> TokenLookup | None:
        return await authenticate_lookup(request, connection, extra_columns=OWN_CHARACTERS_COLUMN)

    lookup = await read_retrying(request.app.state.engine, read)
    if lookup is None:
        raise Unauthorized("Not authenticated.")
    principal = lookup.principal
    profile = Profile(
        id=principal.id,
        discord_username=principal.discord_username,
        display_name=principal.display_name,
        discord_id=principal.discord_id,
        rank=RankBrief(id=principal.rank.id, name=principal.rank.name, level=principal.rank.level),
        registered_at=principal.registered_at,
        characters=[
            OwnCharacter.model_validate(item)
            for item in json.loads(lookup.extras["characters_json"])
        ],
    )
    return ok(profile, headers=None)
