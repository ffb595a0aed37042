"""The send-invite flow (70 §7, 20 §5) shared by the admin API and the roster page.

Checks run in the order of 70 §7.1 — member exists (404), not registered (409), a Discord
snowflake is known (422), a Discord username is known (422; copied from the linked Discord
account when missing, 409 when another member already has that name, decision 21), not sent in
the last 60 s (429) — then a code is generated (older unused codes revoked), the DM is sent and
the result returned even when the DM failed.

Choice where the spec is silent: right after "member exists", the rank guard of decision 5
applies (403): an officer may not invite a member ranked at or above themselves, because the
code is shown to the officer and would let them register that account. The top rank may
invite anyone. The roster page hides the button in that case too (decision 22).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from patt.config import Settings
from sv_common import clock
from sv_common.auth import invite_codes
from sv_common.auth.throttle import SharedWindow
from sv_common.clock import iso
from sv_common.db.models import DiscordMember, GuildMember, InviteCode
from sv_common.discord.dm import dm_outcome_message, invite_dm_text
from sv_common.discord.interface import DMStatus
from sv_common.errors import Conflict, DomainError, Forbidden, Invalid, TooManyRequests
from sv_common.identity import members as member_service
from sv_common.identity import ranks as rank_service

log = logging.getLogger(__name__)

THROTTLE_NAME = "invite_member"
THROTTLED = "an invite was just sent; wait a minute"
NOT_ALLOWED = "You cannot send an invite to a member whose rank is at or above your own."
ALREADY_REGISTERED = "member is already registered"
NO_DISCORD_ACCOUNT = "no Discord account is known for this member"
NO_USERNAME = "member has no Discord username"


@dataclass(frozen=True)
class LinkedAccount:
    """The parts of a linked `discord_members` row the invite flow needs."""

    discord_id: str
    username: str
    is_present: bool


@dataclass(frozen=True)
class InviteBlock:
    """Why an invite cannot be sent: the domain error plus a short hint for the roster page."""

    error: DomainError
    hint: str


def pick_account(member: GuildMember, accounts: list[LinkedAccount]) -> LinkedAccount | None:
    """The member's Discord account: the one with the member's snowflake, else a present one."""
    for account in accounts:
        if member.discord_id and account.discord_id == member.discord_id:
            return account
    if member.discord_id:
        return None
    present = [account for account in accounts if account.is_present]
    return present[0] if present else None


def invite_block(
    *,
    actor: GuildMember,
    member: GuildMember,
    top_level: int,
    account: LinkedAccount | None,
    username_owner: int | None,
) -> InviteBlock | None:
    """The first failing check of 70 §7.1 (after "exists", before the throttle), or None.

    `username_owner` is the id of another member that already uses the account's username
    (case-insensitive), when the member's own username is missing.
    """
    if member.user_id is not None:  # 70 §7.1 order: "already registered" comes first
        return InviteBlock(Conflict(ALREADY_REGISTERED), "")
    if actor.rank.level < top_level and member.rank.level >= actor.rank.level:
        return InviteBlock(Forbidden(NOT_ALLOWED), "")
    discord_id = member.discord_id or (account.discord_id if account is not None else None)
    if not discord_id:
        return InviteBlock(Invalid(NO_DISCORD_ACCOUNT), "Need Discord ID")
    if not member.discord_username:
        if account is None or not account.username:
            return InviteBlock(Invalid(NO_USERNAME), "Need Discord username")
        if username_owner is not None and username_owner != member.id:
            return InviteBlock(
                Conflict(f"Another member already has the Discord username '{account.username}'."),
                "Username taken",
            )
    return None


async def linked_accounts(
    session: AsyncSession, member_id: int | None = None
) -> dict[int, list[LinkedAccount]]:
    """Linked Discord accounts by member id (one query; all members when `member_id` is None)."""
    query = select(
        DiscordMember.member_id,
        DiscordMember.discord_id,
        DiscordMember.username,
        DiscordMember.is_present,
    ).where(DiscordMember.member_id.is_not(None))
    if member_id is not None:
        query = query.where(DiscordMember.member_id == member_id)
    query = query.order_by(
        DiscordMember.member_id,
        DiscordMember.is_present.desc(),
        DiscordMember.last_sync.desc().nulls_last(),
        DiscordMember.id,
    )
    result: dict[int, list[LinkedAccount]] = {}
    for owner, discord_id, username, is_present in (await session.execute(query)).all():
        if owner is not None:
            result.setdefault(owner, []).append(LinkedAccount(discord_id, username, is_present))
    return result


async def _username_owner(session: AsyncSession, username: str) -> int | None:
    return await session.scalar(
        select(GuildMember.id).where(
            func.lower(GuildMember.discord_username) == func.lower(username)
        )
    )


async def latest_invites(session: AsyncSession) -> dict[int, InviteCode]:
    """Each member's latest non-revoked invite code (one query), for the roster status column."""
    query = (
        select(InviteCode)
        .where(InviteCode.revoked_at.is_(None))
        .order_by(InviteCode.member_id, InviteCode.created_at.desc(), InviteCode.id.desc())
        .distinct(InviteCode.member_id)
    )
    return {invite.member_id: invite for invite in (await session.scalars(query)).all()}


async def _send_dm(discord: Any, discord_id: str, text: str, member_id: int) -> DMStatus:
    if discord is None:
        return DMStatus.BOT_UNAVAILABLE
    try:
        return DMStatus(await discord.send_dm(discord_id, text))
    except Exception:  # send_dm should never raise; a broken backend must not lose the code
        log.exception("invite DM to member %s failed", member_id)
        return DMStatus.FAILED


@dataclass(frozen=True)
class PreparedInvite:
    """A code written to the database, and the DM that announces it (not sent yet)."""

    member_id: int
    discord_id: str
    code: str
    expires_at: datetime
    register_url: str
    dm_text: str | None  # None: the text cannot be sent (too long)


async def send_invite(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    actor: GuildMember,
    member_id: int,
    settings: Settings,
    throttle: SharedWindow,
    discord: Any,
) -> dict[str, Any]:
    """The whole flow: the code is committed first, then the DM goes out with no transaction
    open (Discord may be slow); returns the response data (200 even when the DM failed)."""
    async with sessionmaker() as session, session.begin():
        prepared = await create_invite(
            session, actor=actor, member_id=member_id, settings=settings, throttle=throttle
        )
    return await deliver_invite(prepared, actor=actor, discord=discord)


async def create_invite(
    session: AsyncSession,
    *,
    actor: GuildMember,
    member_id: int,
    settings: Settings,
    throttle: SharedWindow,
) -> PreparedInvite:
    """Check the rules and write the code (in the caller's transaction)."""
    member = await member_service.get_member(session, member_id)
    accounts = (await linked_accounts(session, member.id)).get(member.id, [])
    account = pick_account(member, accounts)
    owner = None
    if not member.discord_username and account is not None and account.username:
        owner = await _username_owner(session, account.username)
    block = invite_block(
        actor=actor,
        member=member,
        top_level=await rank_service.top_level(session),
        account=account,
        username_owner=owner,
    )
    if block is not None:
        raise block.error
    discord_id = member.discord_id or (account.discord_id if account is not None else "")

    key = str(member.id)
    retry_after = await throttle.take(key)  # checked and counted at once: one request wins
    if retry_after:
        raise TooManyRequests(THROTTLED, retry_after=retry_after)
    try:
        if not member.discord_username and account is not None:
            member.discord_username = account.username  # 20 §5: registration and login need it
            try:
                async with session.begin_nested():
                    await session.flush()
            except IntegrityError as exc:  # another member took the name meanwhile
                raise Conflict(
                    f"Another member already has the Discord username '{account.username}'."
                ) from exc
        invite = await invite_codes.generate_invite_code(
            session,
            member_id=member.id,
            created_by_id=actor.id,
            expires_hours=settings.invite_expire_hours,
        )
    except Exception:
        await throttle.clear(key)  # nothing was sent; let the officer retry at once
        raise

    register_url = f"{settings.base_url}/register?code={invite.code}"
    text: str | None
    try:
        text = invite_dm_text(
            display_name=member.display_name,
            guild_name=settings.patt_guild_name,
            code=invite.code,
            register_url=register_url,
            expires_at=invite.expires_at,
            expires_hours=settings.invite_expire_hours,
        )
    except ValueError:
        log.error("invite DM for member %s is too long to send", member.id)
        text = None
    return PreparedInvite(
        member_id=member.id,
        discord_id=discord_id,
        code=invite.code,
        expires_at=invite.expires_at,
        register_url=register_url,
        dm_text=text,
    )


async def deliver_invite(
    prepared: PreparedInvite, *, actor: GuildMember, discord: Any
) -> dict[str, Any]:
    """DM the code (after its transaction committed) and report the outcome."""
    if prepared.dm_text is None:
        status = DMStatus.FAILED
    else:
        status = await _send_dm(discord, prepared.discord_id, prepared.dm_text, prepared.member_id)
    log.info(
        "invite created for member %s by %s; dm_status=%s", prepared.member_id, actor.id, status
    )
    return {
        "member_id": prepared.member_id,
        "discord_id": prepared.discord_id,
        "code": prepared.code,
        "expires_at": iso(prepared.expires_at),
        "register_url": prepared.register_url,
        "dm_sent": status is DMStatus.SENT,
        "dm_status": status.value,
        "dm_message": dm_outcome_message(status),
    }


def invite_status(member: GuildMember, invite: InviteCode | None) -> tuple[str, str]:
    """Roster status label and badge kind from the latest non-revoked code (50 §6.3)."""
    if member.user_id is not None:
        return "Registered", "success"
    if invite is None:
        return "Not invited", "muted"
    if invite.used_at is None and invite.expires_at > clock.now():
        return "Invite sent", "info"
    return "Expired invite", "warning"
