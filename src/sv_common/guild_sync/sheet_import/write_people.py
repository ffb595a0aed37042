"""Writing the people of a plan: step 1 members (matched by Discord ID, then username, or
created), step 2 their weeks, step 4 their Discord IDs and accounts, and the identity links.

A Discord-ID conflict counts as "rejected", like an invalid ID (the spec leaves it open); a
member's existing ID is never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from sv_common.db.models import (
    DiscordMember,
    GuildMember,
    GuildRank,
    IdentityLink,
    MemberAvailability,
)
from sv_common.guild_sync.sheet_import.plan import (
    DAYS,
    USERNAME_COLUMN_MAX,
    ImportPlan,
    PlannedMember,
)
from sv_common.guild_sync.sheet_import.rules import Flag, SheetImportError
from sv_common.guild_sync.sheet_import.summary import ImportOptions, ImportSummary

DISCORD_MEMBER_USERNAME_MAX = 50  # discord_members.username is narrower than the members column


async def _default_rank_id(session: AsyncSession, name: str | None) -> int:
    """The rank of created members: the one named, else Member, else the lowest rank."""
    wanted = name or "Member"
    rank_id = await session.scalar(
        select(GuildRank.id).where(func.lower(GuildRank.name) == wanted.strip().lower())
    )
    if rank_id is not None:
        return int(rank_id)
    if name is not None:
        raise SheetImportError(f"No rank named '{name}' (see the admin ranks page).")
    lowest = await session.scalar(select(GuildRank.id).order_by(GuildRank.level).limit(1))
    if lowest is None:
        raise SheetImportError("Guild ranks are not set up yet (run `patt seed`).")
    return int(lowest)


@dataclass
class MemberRow:
    """A stored or just-created member as the later steps need it."""

    id: int
    discord_id: str | None
    discord_username: str | None
    on_raid_roster: bool


async def write_members(
    session: AsyncSession, plan: ImportPlan, options: ImportOptions, summary: ImportSummary
) -> dict[str, MemberRow]:
    """Step 1: match (Discord ID, then username) or create every planned member."""
    planned = list(plan.members.values())
    if not planned:
        return {}
    sheet_ids = [m.sheet_discord_id for m in planned if m.sheet_discord_id]
    keys = [m.key for m in planned]
    result = await session.execute(
        select(
            GuildMember.id,
            GuildMember.discord_id,
            GuildMember.discord_username,
            GuildMember.on_raid_roster,
        ).where(
            or_(
                GuildMember.discord_id.in_(sheet_ids),
                func.lower(GuildMember.discord_username).in_(keys),
            )
        )
    )
    existing = [MemberRow(r.id, r.discord_id, r.discord_username, r.on_raid_roster) for r in result]
    by_id = {row.discord_id: row for row in existing if row.discord_id}
    by_name = {row.discord_username.lower(): row for row in existing if row.discord_username}
    matched: dict[str, MemberRow] = {}
    to_create: list[PlannedMember] = []
    for member in planned:
        row = by_id.get(member.sheet_discord_id) if member.sheet_discord_id else None
        if row is None or row in matched.values():
            row = by_name.get(member.key)
        if row is not None:
            matched[member.key] = row
        else:
            to_create.append(member)
    summary.members_updated = len({row.id for row in matched.values()})
    needs_flag = sorted({row.id for row in matched.values() if not row.on_raid_roster})
    if needs_flag:
        await session.execute(
            update(GuildMember)
            .where(GuildMember.id.in_(needs_flag))
            .values(on_raid_roster=True, updated_at=options.now)
        )
    if to_create:
        rank_id = await _default_rank_id(session, options.default_rank)
        created = await session.execute(
            pg_insert(GuildMember).returning(GuildMember.id, GuildMember.discord_username),
            [
                {
                    "discord_username": member.username,
                    "display_name": member.display_name[:USERNAME_COLUMN_MAX],
                    "rank_id": rank_id,
                    "rank_source": "manual",
                    "on_raid_roster": True,
                }
                for member in to_create
            ],
        )
        for new_id, username in created:
            matched[str(username).lower()] = MemberRow(new_id, None, username, True)
        summary.members_created = len(to_create)
    elif options.default_rank is not None:
        await _default_rank_id(session, options.default_rank)  # still report an unknown rank
    return matched


async def write_availability(
    session: AsyncSession,
    plan: ImportPlan,
    members: dict[str, MemberRow],
    options: ImportOptions,
    summary: ImportSummary,
) -> None:
    """Step 2: seven rows per person with an Availability row, upserted on (member, day)."""
    rows = []
    for member in plan.members.values():
        week = member.availability
        if week is None or member.key not in members:
            continue
        member_id = members[member.key].id
        for day in DAYS:
            rows.append(
                {
                    "member_id": member_id,
                    "day_of_week": day,
                    "available": week.days[day],
                    "notes": week.notes,
                    "auto_signup": week.auto_signup,
                    "wants_reminders": week.wants_reminders,
                    "updated_at": week.updated or options.now,
                }
            )
    summary.availability_members = len(rows) // len(DAYS)
    summary.availability_rows = len(rows)
    for start in range(0, len(rows), 2000):
        chunk = rows[start : start + 2000]
        statement = pg_insert(MemberAvailability).values(chunk)
        columns = MemberAvailability.__table__.c
        changed = [
            columns[name].is_distinct_from(statement.excluded[name])
            for name in ("available", "notes", "auto_signup", "wants_reminders")
        ]
        # Unchanged rows are not touched, so a second run leaves them exactly as they were;
        # a changed row takes the sheet's `updated` (10.4 step 2; the table's trigger keeps an
        # explicitly written updated_at).
        await session.execute(
            statement.on_conflict_do_update(
                constraint="uq_member_day",
                set_={
                    "available": statement.excluded.available,
                    "notes": statement.excluded.notes,
                    "auto_signup": statement.excluded.auto_signup,
                    "wants_reminders": statement.excluded.wants_reminders,
                    "updated_at": statement.excluded.updated_at,
                },
                where=or_(*changed),
            )
        )


def link_row(
    member_id: int,
    *,
    character_id: int | None = None,
    discord_member_id: int | None = None,
    now: datetime,
) -> dict[str, Any]:
    """An identity link to a character or Discord account, confirmed because the sheet says so."""
    return {
        "member_id": member_id,
        "character_id": character_id,
        "discord_member_id": discord_member_id,
        "source": "migrated_sheet",
        "confidence": "high",
        "confirmed": True,
        "confirmed_by": "import",
        "confirmed_at": now,
    }


@dataclass
class _DiscordWrites:
    """What step 4 writes, gathered person by person, then sent as a few bulk statements."""

    id_updates: list[dict[str, Any]] = field(default_factory=list)
    new_accounts: list[dict[str, Any]] = field(default_factory=list)
    claim_accounts: list[dict[str, Any]] = field(default_factory=list)
    account_links: list[tuple[int, int]] = field(default_factory=list)  # (member, account) ids


async def _id_owners(
    session: AsyncSession, ids: list[str]
) -> tuple[dict[str, int], dict[str, tuple[int, int | None]]]:
    """Who has those IDs already: member id by ID, and Discord account (id, member id) by ID."""
    holders = {
        r.discord_id: r.id
        for r in await session.execute(
            select(GuildMember.id, GuildMember.discord_id).where(GuildMember.discord_id.in_(ids))
        )
    }
    accounts = {
        r.discord_id: (r.id, r.member_id)
        for r in await session.execute(
            select(DiscordMember.id, DiscordMember.discord_id, DiscordMember.member_id).where(
                DiscordMember.discord_id.in_(ids)
            )
        )
    }
    return holders, accounts


def _id_refusal(
    planned: PlannedMember,
    row: MemberRow,
    snowflake: str,
    *,
    holder: int | None,
    account: tuple[int, int | None] | None,
    claimed: set[str],
) -> str | None:
    """Why the sheet ID cannot be set for that member (never overwriting one), or None."""
    if row.discord_id and row.discord_id != snowflake:
        return (
            f"{planned.username} already has Discord ID {row.discord_id}; sheet ID "
            f"{snowflake} not used"
        )
    other_account_owner = account is not None and account[1] not in (None, row.id)
    if (holder is not None and holder != row.id) or other_account_owner or snowflake in claimed:
        return f"Discord ID {snowflake} of {planned.username} belongs to another member — skipped"
    return None


def _queue_discord_id(
    row: MemberRow,
    name: str,
    snowflake: str,
    account: tuple[int, int | None] | None,
    options: ImportOptions,
    summary: ImportSummary,
    writes: _DiscordWrites,
) -> None:
    """Set the member's ID when it differs, and record or claim its Discord account."""
    if row.discord_id == snowflake:
        summary.ids_unchanged += 1
    else:
        summary.ids_set += 1
        writes.id_updates.append({"id": row.id, "discord_id": snowflake, "updated_at": options.now})
    if account is None:
        writes.new_accounts.append(
            {
                "discord_id": snowflake,
                "username": name[:DISCORD_MEMBER_USERNAME_MAX],
                "is_present": False,
                "member_id": row.id,
            }
        )
    elif account[1] is None:
        writes.claim_accounts.append({"id": account[0], "member_id": row.id})
        writes.account_links.append((row.id, account[0]))
    else:
        writes.account_links.append((row.id, account[0]))


async def _send_discord_writes(
    session: AsyncSession, writes: _DiscordWrites, options: ImportOptions
) -> None:
    """The gathered ID and account writes as bulk statements; links only where none exist."""
    if writes.id_updates:
        await session.execute(update(GuildMember), writes.id_updates)
    if writes.claim_accounts:
        await session.execute(update(DiscordMember), writes.claim_accounts)
    account_links = list(writes.account_links)
    if writes.new_accounts:
        created = await session.execute(
            pg_insert(DiscordMember).returning(DiscordMember.id, DiscordMember.member_id),
            writes.new_accounts,
        )
        account_links.extend(
            (owner, account_id) for account_id, owner in created if owner is not None
        )
    if not account_links:
        return
    already = set(
        (
            await session.scalars(
                select(IdentityLink.discord_member_id).where(
                    IdentityLink.discord_member_id.in_([a for _, a in account_links])
                )
            )
        ).all()
    )
    rows = [
        link_row(member_id, discord_member_id=account_id, now=options.now)
        for member_id, account_id in account_links
        if account_id not in already
    ]
    if rows:
        await session.execute(pg_insert(IdentityLink), rows)


def _flag_missing_ids(
    plan: ImportPlan, members: dict[str, MemberRow], has_id: set[str], summary: ImportSummary
) -> None:
    """Flag imported people still without an ID, and sheet ID rows that matched nobody."""
    for key, planned in plan.members.items():
        if key in members and key not in has_id:
            summary.flags.append(
                Flag(
                    "missing_discord_id",
                    "discordIds",
                    None,
                    planned.username,
                    f"{planned.username} has no Discord ID yet",
                )
            )
    for name in plan.unmatched_discord_ids:
        summary.flags.append(
            Flag(
                "unmatched_discord_id",
                "discordIds",
                None,
                name,
                f"Discord ID row '{name}' matches no imported person — ignored",
            )
        )


async def write_discord_ids(
    session: AsyncSession,
    plan: ImportPlan,
    members: dict[str, MemberRow],
    options: ImportOptions,
    summary: ImportSummary,
) -> None:
    """Step 4: set valid sheet IDs (never overwriting), record the Discord accounts and links."""
    wanted = {
        key: m.sheet_discord_id
        for key, m in plan.members.items()
        if m.sheet_discord_id and key in members
    }
    holders: dict[str, int] = {}
    accounts: dict[str, tuple[int, int | None]] = {}
    if wanted:
        holders, accounts = await _id_owners(session, sorted(set(wanted.values())))
    writes = _DiscordWrites()
    has_id: set[str] = {key for key, row in members.items() if row.discord_id}
    claimed: set[str] = set()
    for key, snowflake in wanted.items():
        planned = plan.members[key]
        row = members[key]
        name = planned.sheet_discord_name or planned.username
        account = accounts.get(snowflake)
        refusal = _id_refusal(
            planned, row, snowflake, holder=holders.get(snowflake), account=account, claimed=claimed
        )
        if refusal is not None:
            summary.ids_rejected += 1
            summary.flags.append(Flag("discord_id_conflict", "discordIds", None, name, refusal))
            continue
        claimed.add(snowflake)
        has_id.add(key)
        _queue_discord_id(row, name, snowflake, account, options, summary, writes)
    summary.ids_rejected += sum(1 for f in plan.flags if f.code == "invalid_discord_id")
    await _send_discord_writes(session, writes, options)
    _flag_missing_ids(plan, members, has_id, summary)
