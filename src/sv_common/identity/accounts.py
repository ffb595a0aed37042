"""Accounts: registration with an invite code, login, and the first Guild Leader (20 §6–7)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from sv_common import clock
from sv_common.auth import invite_codes, setup_token
from sv_common.auth.passwords import (
    check_password_rules,
    hash_password_async,
    verify_password_async,
)
from sv_common.db.models import GuildMember, GuildRank, User
from sv_common.errors import BadRequest, Conflict, Forbidden, Invalid, Unauthorized
from sv_common.identity import members as member_service
from sv_common.identity import ranks as rank_service
from sv_common.identity.names import INVISIBLE_MESSAGE, invisible_character

INVALID_CREDENTIALS = "Invalid credentials."


@dataclass
class LoginResult:
    """The member who logged in (rank loaded) and their user row."""

    member: GuildMember
    user: User


async def register(
    session: AsyncSession, *, code: str, discord_username: str, password: str
) -> GuildMember:
    """Create the account for the code's member (20 §6 steps 2–6), consuming the code."""
    check_password_rules(password)
    invite = await invite_codes.find_invite_code(session, code, lock=True)
    problem = invite_codes.invite_problem(invite)
    if problem is not None or invite is None:
        raise BadRequest(problem or "Invalid invite code.")
    # lock the member too: two codes for one member (a re-issue race) must not both register it
    member = (
        await session.execute(
            select(GuildMember)
            .options(selectinload(GuildMember.rank))
            .where(GuildMember.id == invite.member_id)
            .with_for_update(of=GuildMember)
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    expected = (member.discord_username or "").lower()
    if not expected or expected != discord_username.strip().lower():
        raise BadRequest("Discord username does not match the invite code.")
    if member.user_id is not None:
        raise Conflict("This account is already registered.")
    user = User(password_hash=await hash_password_async(password), is_active=True)
    session.add(user)
    await session.flush()
    member.user_id = user.id
    member.registered_at = clock.now()
    invite.used_at = clock.now()
    await session.flush()
    return member


async def login(session: AsyncSession, *, discord_username: str, password: str) -> LoginResult:
    """Check credentials (dummy bcrypt for unknown users); 401 generic, 403 inactive after a good password."""
    member = await member_service.find_by_username(session, discord_username)
    user = member.user if member is not None else None
    ok = await verify_password_async(password, user.password_hash if user is not None else None)
    if member is None or user is None or not ok:
        raise Unauthorized(INVALID_CREDENTIALS)
    if not user.is_active:
        raise Forbidden("Account is inactive.")
    user.last_login_at = clock.now()
    await session.flush()
    return LoginResult(member=member, user=user)


async def in_setup_mode(session: AsyncSession, admin_level: int) -> bool:
    """Setup mode = no active registered member with rank level ≥ the officer threshold."""
    count = await session.scalar(
        select(func.count())
        .select_from(GuildMember)
        .join(User, User.id == GuildMember.user_id)
        .join(GuildRank, GuildRank.id == GuildMember.rank_id)
        .where(User.is_active.is_(True), GuildRank.level >= admin_level)
    )
    return not count


async def create_guild_leader(
    session: AsyncSession,
    *,
    discord_username: str,
    password: str,
    display_name: str | None = None,
    reset_password: bool = False,
) -> GuildMember:
    """Create (or reuse) the member, give it the top rank and an account (CLI and /setup)."""
    check_password_rules(password)
    username = discord_username.strip()
    if not username or len(username) > 100:
        raise Invalid("Discord username must be 1–100 characters.")
    for label, value in (("Discord username", username), ("Display name", display_name or "")):
        if invisible_character(value) is not None:
            raise Invalid(f"{label} {INVISIBLE_MESSAGE}.")
    top = await rank_service.top_rank(session)
    if top is None:
        raise Conflict("No ranks configured — run the seed first.")
    member = await member_service.find_by_username(session, username)
    if member is None:
        member = await member_service.create_member(
            session,
            actor=None,
            discord_username=username,
            display_name=display_name or username,
            rank_id=top.id,
        )
        member = (
            await session.execute(
                select(GuildMember)
                .options(selectinload(GuildMember.rank), selectinload(GuildMember.user))
                .where(GuildMember.id == member.id)
            )
        ).scalar_one()
    elif member.user_id is not None and not reset_password:
        raise Conflict(
            "That member is already registered; use --reset-password to replace the password."
        )
    member.rank_id = top.id
    member.rank_source = "manual"
    if display_name:
        member.display_name = display_name
    password_hash = await hash_password_async(password)
    if member.user is not None:
        member.user.password_hash = password_hash
        member.user.is_active = True
    else:
        user = User(password_hash=password_hash, is_active=True)
        session.add(user)
        await session.flush()
        member.user_id = user.id
        member.registered_at = clock.now()
    await session.flush()
    await setup_token.discard(session)  # a Guild Leader exists: no setup link works any more
    return await member_service.get_member(session, member.id)
