"""Resolve an access token to the current member (20 §2 steps 1–5)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
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
