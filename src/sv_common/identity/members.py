"""Guild members (the person): create, update, list, the rank-assignment guard, Discord IDs,
and eligible voters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from sv_common import clock
from sv_common.db.models import (
    AuditIssue,
    DiscordMember,
    GuildMember,
    GuildRank,
    IdentityLink,
    LinkRejection,
    User,
)
from sv_common.errors import Conflict, Forbidden, Invalid, NotFound
from sv_common.identity import ranks as rank_service

UNSET: Any = object()


def member_query() -> Select[GuildMember]:
    """Members with their rank eagerly loaded."""
    return select(GuildMember).options(selectinload(GuildMember.rank))


async def get_member(
    session: AsyncSession, member_id: int, *, with_characters: bool = False
) -> GuildMember:
    """One member (rank loaded); NotFound when missing."""
    query = member_query().where(GuildMember.id == member_id)
    if with_characters:
        query = query.options(selectinload(GuildMember.characters))
    member = (await session.execute(query)).scalar_one_or_none()
    if member is None:
        raise NotFound("member not found")
    return member


async def list_members(session: AsyncSession) -> list[GuildMember]:
    """All members ordered by display name (case-insensitive)."""
    query = (
        member_query()
        .options(selectinload(GuildMember.characters))
        .order_by(func.lower(GuildMember.display_name), GuildMember.id)
    )
    return list((await session.scalars(query)).all())


async def find_by_username(session: AsyncSession, username: str) -> GuildMember | None:
    """The member whose Discord username matches case-insensitively."""
    query = (
        member_query()
        .options(selectinload(GuildMember.user))
        .where(func.lower(GuildMember.discord_username) == func.lower(username.strip()))
    )
    return (await session.execute(query)).scalar_one_or_none()


# ------------------------------------------------------------------------- the rank guard
def check_can_edit(actor: GuildMember, target: GuildMember, *, changes_rank: bool) -> None:
    """Decision 5: no edits of members at or above the actor's level, except own non-rank fields."""
    if actor.id == target.id:
        if changes_rank:
            raise Forbidden("You cannot change your own rank.")
        return
    if target.rank.level >= actor.rank.level:
        raise Forbidden("You cannot edit a member whose rank is at or above your own.")


def check_can_assign(actor: GuildMember, rank: GuildRank, top_level: int) -> None:
    """Only ranks below the actor's own; the top rank may assign any rank (20 §4)."""
    if actor.rank.level >= top_level:
        return
    if rank.level >= actor.rank.level:
        raise Forbidden("You can only assign ranks below your own.")


def assignable_levels(actor: GuildMember, levels: list[int], top_level: int) -> set[int]:
    """Rank levels the actor may hand out (for the roster page's select)."""
    if actor.rank.level >= top_level:
        return set(levels)
    return {level for level in levels if level < actor.rank.level}


def can_edit(actor: GuildMember, target: GuildMember) -> bool:
    """True when the actor may edit the target's fields (for read-only rows on pages)."""
    return actor.id == target.id or target.rank.level < actor.rank.level


# ------------------------------------------------------------------------------- writes
async def _flush_member(session: AsyncSession) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        text = str(exc.orig)
        if "discord_id" in text:
            raise Conflict("A member with that Discord ID already exists.") from exc
        if "discord_username" in text:
            raise Conflict("A member with that Discord username already exists.") from exc
        raise Conflict("That change conflicts with an existing member.") from exc


async def create_member(
    session: AsyncSession,
    *,
    actor: GuildMember | None,
    discord_username: str | None = None,
    discord_id: str | None = None,
    display_name: str | None = None,
    rank_id: int | None = None,
    rank_source: str = "manual",
    on_raid_roster: bool = False,
) -> GuildMember:
    """New member; `actor` None means a system caller (CLI, import, sync) that skips the guard."""
    if not discord_username and not display_name:
        raise Invalid("Either discord_username or display_name is required.")
    if rank_id is None:
        rank = await rank_service.lowest_rank(session)
        if rank is None:
            raise Conflict("No ranks configured — run the seed first.")
    else:
        rank = await rank_service.find_rank(session, rank_id)
    if actor is not None:
        check_can_assign(actor, rank, await rank_service.top_level(session))
    member = GuildMember(
        discord_username=discord_username,
        discord_id=discord_id,
        display_name=display_name or discord_username or "",
        rank_id=rank.id,
        rank_source=rank_source,
        on_raid_roster=on_raid_roster,
    )
    session.add(member)
    await _flush_member(session)
    if discord_id:
        await link_discord_account(session, member, discord_id, actor=actor)
    return await get_member(session, member.id)


async def update_member(
    session: AsyncSession, *, actor: GuildMember | None, member_id: int, changes: dict[str, Any]
) -> GuildMember:
    """Apply the present fields; `None` clears nullable ones (30 §4 PATCH /members/{id})."""
    member = await get_member(session, member_id)
    changes_rank = "rank_id" in changes and changes["rank_id"] != member.rank_id
    if actor is not None:
        check_can_edit(
            actor,
            member,
            changes_rank=changes_rank or "rank_source" in changes and actor.id == member.id,
        )
    if "rank_id" in changes:
        if changes["rank_id"] is None:
            raise Invalid("rank_id cannot be null.")
        rank = await rank_service.find_rank(session, changes["rank_id"])
        if changes_rank:
            if actor is not None:
                check_can_assign(actor, rank, await rank_service.top_level(session))
            member.rank_id = rank.id
            member.rank_source = changes.get("rank_source") or "manual"
    if "rank_source" in changes and changes["rank_source"] is not None:
        member.rank_source = changes["rank_source"]
    if "display_name" in changes:
        if not changes["display_name"]:
            raise Invalid("display_name cannot be empty.")
        member.display_name = changes["display_name"]
    if "discord_username" in changes:
        if changes["discord_username"] is None and member.user_id is not None:
            raise Conflict("A registered member's Discord username cannot be cleared.")
        member.discord_username = changes["discord_username"]
    if "notes" in changes:
        member.notes = changes["notes"]
    if "discord_id" in changes and changes["discord_id"] != member.discord_id:
        await set_discord_id(session, member, changes["discord_id"], actor=actor)
    await _flush_member(session)
    member_id = member.id  # read before expiring: an expired attribute would load lazily
    session.expire(member)
    return await get_member(session, member_id)


async def set_discord_id(
    session: AsyncSession, member: GuildMember, discord_id: str | None, *, actor: GuildMember | None
) -> None:
    """Decision 6: set the snowflake, link a matching unlinked Discord account, or unlink on clear."""
    if discord_id is None:
        previous = member.discord_id
        member.discord_id = None
        await _flush_member(session)
        if previous:
            await unlink_discord_account(session, member, previous, actor=actor)
        return
    owner = await session.scalar(
        select(GuildMember.id).where(
            GuildMember.discord_id == discord_id, GuildMember.id != member.id
        )
    )
    if owner is not None:
        raise Conflict("A member with that Discord ID already exists.")
    if member.discord_id:
        await unlink_discord_account(session, member, member.discord_id, actor=actor)
    member.discord_id = discord_id
    await _flush_member(session)
    await link_discord_account(session, member, discord_id, actor=actor)


async def link_discord_account(
    session: AsyncSession, member: GuildMember, discord_id: str, *, actor: GuildMember | None
) -> None:
    """Link an unlinked `discord_members` row with that snowflake (manual, high, confirmed)."""
    account = (
        await session.execute(select(DiscordMember).where(DiscordMember.discord_id == discord_id))
    ).scalar_one_or_none()
    if account is None:
        return
    if account.member_id is not None and account.member_id != member.id:
        raise Conflict("That Discord account is linked to another member.")
    if account.member_id == member.id:
        return
    account.member_id = member.id
    # Creating a link by hand lifts an earlier rejection of the same pairing (85 §8.4).
    await session.execute(
        delete(LinkRejection).where(
            LinkRejection.discord_member_id == account.id, LinkRejection.member_id == member.id
        )
    )
    await session.execute(
        update(AuditIssue)
        .where(
            AuditIssue.discord_member_id == account.id,
            AuditIssue.resolved_at.is_(None),
            AuditIssue.issue_type.in_(("orphan_discord", "auto_link_suggestion")),
        )
        .values(
            resolved_at=clock.now(),
            resolved_by=actor.display_name if actor is not None else "system",
            resolution_note="linked manually",
        )
    )
    session.add(
        IdentityLink(
            member_id=member.id,
            discord_member_id=account.id,
            source="manual",
            confidence="high",
            confirmed=True,
            confirmed_by=actor.display_name if actor is not None else "system",
            confirmed_at=clock.now(),
            created_by=actor.id if actor is not None else None,
        )
    )
    await session.flush()


def link_discord_automatically(
    session: AsyncSession,
    *,
    account: DiscordMember,
    member: GuildMember,
    source: str,
    at: datetime,
) -> None:
    """Link a Discord account to a member as a confirmed automatic match (the caller flushes)."""
    account.member_id = member.id
    session.add(
        IdentityLink(
            member_id=member.id,
            discord_member_id=account.id,
            source=source,
            confidence="high",
            confirmed=True,
            confirmed_by="auto",
            confirmed_at=at,
        )
    )


async def unlink_discord_account(
    session: AsyncSession,
    member: GuildMember,
    discord_id: str,
    *,
    actor: GuildMember | None = None,
) -> None:
    """Remove the member's link to the Discord account with that snowflake and record the
    rejection so the identity engine does not re-create it (85 §8.4, §11.9)."""
    account = (
        await session.execute(
            select(DiscordMember).where(
                DiscordMember.discord_id == discord_id, DiscordMember.member_id == member.id
            )
        )
    ).scalar_one_or_none()
    if account is None:
        return
    await session.execute(delete(IdentityLink).where(IdentityLink.discord_member_id == account.id))
    account.member_id = None
    session.add(
        LinkRejection(
            discord_member_id=account.id,
            member_id=member.id,
            rejected_by=actor.display_name if actor is not None else "system",
        )
    )
    await session.flush()


async def delete_member(
    session: AsyncSession, *, actor: GuildMember | None, member_id: int
) -> None:
    """Delete a member (characters are unlinked); 409 when they cast a ballot."""
    member = await get_member(session, member_id)
    if actor is not None:
        check_can_edit(actor, member, changes_rank=True)
    try:
        async with session.begin_nested():
            await session.delete(member)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("This member has voted and cannot be deleted.") from exc


# ----------------------------------------------------------------------- eligible voters
def eligible_voters_query(min_level: int) -> Select[int]:
    """Ids of registered, active members whose current rank level ≥ `min_level` (one query)."""
    return (
        select(GuildMember.id)
        .join(User, User.id == GuildMember.user_id)
        .join(GuildRank, GuildRank.id == GuildMember.rank_id)
        .where(User.is_active.is_(True), GuildRank.level >= min_level)
    )


async def eligible_voter_count(session: AsyncSession, min_level: int) -> int:
    """How many members may vote at `min_level`."""
    return int(
        await session.scalar(
            select(func.count()).select_from(eligible_voters_query(min_level).subquery())
        )
        or 0
    )


def is_registered(member: GuildMember) -> bool:
    """Registered ⇔ linked to a user account."""
    return member.user_id is not None
