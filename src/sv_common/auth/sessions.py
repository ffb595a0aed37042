"""Resolve an access token to the current member (20 §2 steps 1–5)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

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
    member = (
        await session.execute(
            select(GuildMember)
            .options(joinedload(GuildMember.rank), joinedload(GuildMember.user))
            .where(GuildMember.id == claims["member_id"])
        )
    ).scalar_one_or_none()
    user: User | None = member.user if member is not None else None
    if member is None or user is None or member.user_id != claims["user_id"] or not user.is_active:
        raise Unauthorized("Invalid token.")
    now = clock.now()
    if member.last_seen_at is None or now - member.last_seen_at >= LAST_SEEN_EVERY:
        await session.execute(
            update(GuildMember).where(GuildMember.id == member.id).values(last_seen_at=now)
        )
        member.last_seen_at = now
    return member
