"""Resolve an access token to the current member (20 §2 steps 1–5): `principal_for_token` (one
read, a small frozen `Principal`) for requests, `member_for_token` (the ORM member with rank and
user) for code that changes the member."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import TextClause, exists, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from sv_common import clock
from sv_common.auth.jwt import TokenError, decode_access_token
from sv_common.db.models import GuildMember, User
from sv_common.errors import Unauthorized

LAST_SEEN_EVERY = timedelta(minutes=15)


async def member_for_token(session: AsyncSession, secret: str, token: str) -> GuildMember:
    """The active registered member the token belongs to (rank and user loaded); else Unauthorized."""
    try:
        claims = decode_access_token(secret, token)
    except TokenError as exc:
        raise Unauthorized(exc.message) from exc
    now = clock.now()
    member_id, user_id = claims["member_id"], claims["user_id"]
    # last_seen_at (at most one write per 15 min) rides along in the same statement as the load
    touch = (
        update(GuildMember)
        .where(
            GuildMember.id == member_id,
            GuildMember.user_id == user_id,
            or_(
                GuildMember.last_seen_at.is_(None),
                GuildMember.last_seen_at <= now - LAST_SEEN_EVERY,
            ),
            exists().where(User.id == user_id, User.is_active.is_(True)),
        )
        .values(last_seen_at=now)
        .returning(GuildMember.id)
        .cte("touch")
    )
    member = (
        await session.execute(
            select(GuildMember)
            .add_cte(touch)
            .options(joinedload(GuildMember.rank), joinedload(GuildMember.user))
            .where(GuildMember.id == member_id)
        )
    ).scalar_one_or_none()
    user: User | None = member.user if member is not None else None
    if member is None or user is None or member.user_id != user_id or not user.is_active:
        raise Unauthorized("Invalid token.")
    if claims.get("ver", 0) != user.token_version:  # signed out everywhere since it was issued
        raise Unauthorized("Session ended; log in again.")
    if member.last_seen_at is None or now - member.last_seen_at >= LAST_SEEN_EVERY:
        # reflect the write without marking the object dirty (no second UPDATE at commit)
        set_committed_value(member, "last_seen_at", now)
    return member


async def token_version(session: AsyncSession, user_id: int) -> int:
    """The version new tokens of this user are issued under."""
    return int(await session.scalar(select(User.token_version).where(User.id == user_id)) or 0)


async def sign_out_everywhere(session: AsyncSession, user_id: int) -> None:
    """Raise the user's token version: every token issued so far stops working."""
    await session.execute(
        update(User).where(User.id == user_id).values(token_version=User.token_version + 1)
    )


# ------------------------------------------------------------------------------ principal
@dataclass(frozen=True, slots=True)
class RankRef:
    """The current rank of a signed-in member (id, name, level)."""

    id: int
    name: str
    level: int


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a valid token belongs to, read in one statement: the member, their current rank and
    account. Reads like a `GuildMember` where callers only look (`id`, `user_id`,
    `display_name`, `discord_username`, `discord_id`, `registered_at`, `rank.level`,
    `rank.name`); load the ORM member explicitly when something must be changed."""

    id: int
    user_id: int
    display_name: str
    discord_username: str | None
    discord_id: str | None
    registered_at: datetime | None
    rank: RankRef

    @property
    def member_id(self) -> int:
        """The member's id (same as `id`)."""
        return self.id

    @property
    def rank_level(self) -> int:
        """The member's current rank level."""
        return self.rank.level


# Token → member, rank and account in one indexed lookup; no ORM objects, no write. Callers
# may add columns computed from `m` (member), `r` (rank) and `u` (user) — see TokenLookup —
# and tables of their own, joined after those three (`extra_joins`, e.g. a LEFT JOIN LATERAL
# that reads what the route is about in the same round trip).
PRINCIPAL_SQL = """
SELECT m.id, m.user_id, m.display_name, m.discord_username, m.discord_id, m.registered_at,
       m.last_seen_at, r.id AS rank_id, r.name AS rank_name, r.level AS rank_level,
       u.is_active, u.token_version{extra}
FROM common.guild_members m
JOIN common.users u ON u.id = m.user_id
JOIN common.guild_ranks r ON r.id = m.rank_id{joins}
WHERE m.id = :member_id AND m.user_id = :user_id
"""
_statements: dict[tuple[str, str], TextClause] = {}

# The last-seen mark, written only when the stored one is older than LAST_SEEN_EVERY (so at
# most once per 15 minutes per member, and never twice when two requests race).
TOUCH_SQL = text("""
UPDATE common.guild_members SET last_seen_at = :now
WHERE id = :member_id AND (last_seen_at IS NULL OR last_seen_at <= :stale_before)
""")


@dataclass(frozen=True, slots=True)
class TokenLookup:
    """What one token lookup found: the principal, whether the last-seen mark is due (see
    `touch_last_seen`), and the values of the extra columns the caller asked for."""

    principal: Principal
    last_seen_due: bool
    extras: dict[str, Any]


def _statement(extra_columns: str, extra_joins: str) -> TextClause:
    key = (extra_columns, extra_joins)
    statement = _statements.get(key)
    if statement is None:
        extra = f",\n       {extra_columns}" if extra_columns else ""
        joins = f"\n{extra_joins}" if extra_joins else ""
        statement = _statements[key] = text(PRINCIPAL_SQL.format(extra=extra, joins=joins))
    return statement


async def principal_for_token(
    executor: AsyncSession | AsyncConnection,
    secret: str,
    token: str,
    *,
    extra_columns: str = "",
    extra_joins: str = "",
    params: dict[str, Any] | None = None,
) -> TokenLookup:
    """The active registered member the token belongs to, in one statement; Unauthorized
    otherwise. Rank and account state are read from the database on every call, so rank
    changes, deactivation and sign-out apply at once. `extra_columns` (a constant SQL select
    list over `m`, `r`, `u` and the tables of `extra_joins`, with its `params`) rides along in
    the same statement; the joins must keep exactly one row per member (LEFT JOIN LATERAL of
    one row, typically)."""
    try:
        claims = decode_access_token(secret, token)
    except TokenError as exc:
        raise Unauthorized(exc.message) from exc
    values = {"member_id": claims["member_id"], "user_id": claims["user_id"], **(params or {})}
    row = (await executor.execute(_statement(extra_columns, extra_joins), values)).first()
    if row is None or not row.is_active:
        raise Unauthorized("Invalid token.")
    if claims.get("ver", 0) != row.token_version:  # signed out everywhere since it was issued
        raise Unauthorized("Session ended; log in again.")
    principal = Principal(
        id=row.id,
        user_id=row.user_id,
        display_name=row.display_name,
        discord_username=row.discord_username,
        discord_id=row.discord_id,
        registered_at=row.registered_at,
        rank=RankRef(id=row.rank_id, name=row.rank_name, level=row.rank_level),
    )
    seen = row.last_seen_at
    fields = row._mapping
    return TokenLookup(
        principal=principal,
        last_seen_due=seen is None or clock.now() - seen >= LAST_SEEN_EVERY,
        extras={k: fields[k] for k in fields.keys() if k not in _PRINCIPAL_KEYS}
        if extra_columns
        else {},
    )


_PRINCIPAL_KEYS = frozenset(
    ("id", "user_id", "display_name", "discord_username", "discord_id", "registered_at")
    + ("last_seen_at", "rank_id", "rank_name", "rank_level", "is_active", "token_version")
)


async def touch_last_seen(executor: AsyncSession | AsyncConnection, member_id: int) -> None:
    """Record that the member was seen now (a no-op when another request just did)."""
    now = clock.now()
    await executor.execute(
        TOUCH_SQL, {"now": now, "member_id": member_id, "stale_before": now - LAST_SEEN_EVERY}
    )
