"""Discord roles → platform ranks (70 §4, §6): role resolution and role sync.

Resolution (`ranks_for_roles`, pure): a role matches a rank by configured `discord_role_id`
first; only ranks without an id fall back to the role *name* (the rank name, or the code alias
`GM` for the top rank, decision 14). Names are compared after Unicode NFKC, with invisible
format characters (zero-width spaces, RTL/LTR marks) removed, whitespace collapsed and case
folded — so "officer", " Officer\u200b" and "OFFICER" are the same role name; look-alike letters
from other scripts are not.

Role sync (`sync_roles`) makes Discord the source of truth for ranks, with three guards:
- a user holding no mapped role is never demoted and never gets a member record (a broken
  mapping must not mass-demote); a linked member with in-guild characters gets a
  `no_guild_role` audit issue (same hash and wording as the integrity checker, 85 §9);
- the top rank is never demoted by role sync (decision 20); the mismatch becomes a critical
  `role_mismatch` audit issue instead, resolved again by role sync once Discord agrees;
- each user runs in a savepoint: one failure counts in `errors` and the run goes on.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from sv_common import clock
from sv_common.db.models import (
    AuditIssue,
    Character,
    DiscordConfig,
    DiscordMember,
    GuildMember,
    GuildRank,
)
from sv_common.discord.interface import DiscordMemberInfo, DiscordRole
from sv_common.identity import members as member_service

log = logging.getLogger(__name__)

TOP_RANK_ALIASES = ("GM",)  # decision 14: a code constant, not configuration
DEFAULT_GAME_RANK_NAMES = ("Guild Leader", "Officer", "Veteran", "Member", "Initiate")
OFFICER_LEVEL = 4


class RankLike(Protocol):
    """What resolution needs of a rank (a `GuildRank` row or any look-alike)."""

    id: int
    name: str
    level: int
    discord_role_id: str | None


def normalise_role_name(name: str) -> str:
    """Comparable form of a role or rank name (NFKC, no format chars, collapsed spaces, casefold)."""
    text = unicodedata.normalize("NFKC", name)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return " ".join(text.split()).casefold()


R = TypeVar("R", bound=RankLike)


def ranks_for_roles(roles: Iterable[DiscordRole], ranks: Sequence[R]) -> list[R]:
    """The ranks a member's roles map to, highest level first (70 §4)."""
    by_role_id = {rank.discord_role_id: rank for rank in ranks if rank.discord_role_id}
    by_name: dict[str, R] = {}
    for rank in ranks:
        if not rank.discord_role_id:
            by_name.setdefault(normalise_role_name(rank.name), rank)
    if ranks:
        top = max(ranks, key=lambda r: r.level)
        if not top.discord_role_id:
            for alias in TOP_RANK_ALIASES:
                by_name.setdefault(normalise_role_name(alias), top)
    matched: dict[int, R] = {}
    for role in roles:
        if role.name == "@everyone":
            continue
        found = by_role_id.get(role.id) or by_name.get(normalise_role_name(role.name))
        if found is not None:
            matched[found.id] = found
    return sorted(matched.values(), key=lambda r: r.level, reverse=True)


def highest_rank(roles: Iterable[DiscordRole], ranks: Sequence[R]) -> R | None:
    """The member's Discord rank: the matched rank with the greatest level."""
    matched = ranks_for_roles(roles, ranks)
    return matched[0] if matched else None


# ------------------------------------------------------------------------------ issues
def issue_hash(issue_type: str, *keys: object) -> str:
    """sha256 of "type:k1:k2…" (85 §10)."""
    return hashlib.sha256(":".join([issue_type, *map(str, keys)]).encode()).hexdigest()


async def raise_issue(
    session: AsyncSession,
    *,
    issue_type: str,
    severity: str,
    summary: str,
    keys: Sequence[object],
    member_id: int | None = None,
    discord_member_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Open an audit issue, or refresh the open one with the same hash; never while ignored."""
    digest = issue_hash(issue_type, *keys)
    ignored = await session.scalar(
        select(func.count()).where(AuditIssue.issue_hash == digest, AuditIssue.ignored.is_(True))
    )
    if ignored:
        return
    now = clock.now()
    statement = insert(AuditIssue).values(
        issue_type=issue_type,
        severity=severity,
        summary=summary,
        details=details,
        issue_hash=digest,
        member_id=member_id,
        discord_member_id=discord_member_id,
        first_detected=now,
        last_detected=now,
    )
    statement = statement.on_conflict_do_update(
        index_elements=[AuditIssue.issue_hash],
        index_where=AuditIssue.resolved_at.is_(None),
        set_={
            "last_detected": now,
            "summary": summary,
            "details": details,
            "severity": severity,
        },
    )
    await session.execute(statement)


async def resolve_issue(
    session: AsyncSession, *, issue_type: str, keys: Sequence[object], note: str
) -> None:
    """Resolve the open issue with this hash (if any) automatically."""
    await session.execute(
        update(AuditIssue)
        .where(
            AuditIssue.issue_hash == issue_hash(issue_type, *keys),
            AuditIssue.resolved_at.is_(None),
        )
        .values(resolved_at=clock.now(), resolved_by="auto", resolution_note=note)
    )


# ---------------------------------------------------------------------------- role sync
@dataclass
class RoleSyncStats:
    """Counts of one role-sync run (70 §6); `protected` = top-rank demotions refused."""

    updated: int = 0
    created: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: int = 0
    protected: int = 0

    def as_dict(self) -> dict[str, int]:
        """Plain dict for logs, sync_log details and JSON."""
        return asdict(self)


class _Context:
    """Everything role sync looks up, loaded once per run."""

    def __init__(
        self,
        ranks: list[GuildRank],
        game_rank_names: Sequence[str],
        open_hashes: set[str],
    ) -> None:
        self.ranks = ranks
        self.top_level = max((r.level for r in ranks), default=0)
        self.rank_by_name = {r.name.casefold(): r for r in ranks}
        self.game_rank_names = list(game_rank_names)
        self.open_hashes = open_hashes

    async def resolve(
        self, session: AsyncSession, issue_type: str, keys: Sequence[object], note: str
    ) -> None:
        """Resolve an open issue this run knows about (skips the query when there is none)."""
        if issue_hash(issue_type, *keys) in self.open_hashes:
            await resolve_issue(session, issue_type=issue_type, keys=keys, note=note)


async def _load_members(session: AsyncSession, where: Any) -> list[GuildMember]:
    query = select(GuildMember).options(selectinload(GuildMember.rank)).where(where)
    return list((await session.scalars(query)).all())


async def sync_roles(
    session: AsyncSession,
    members: Sequence[DiscordMemberInfo],
    *,
    game_rank_names: Sequence[str] = DEFAULT_GAME_RANK_NAMES,
) -> RoleSyncStats:
    """Apply Discord roles to platform ranks for every non-bot user (70 §6)."""
    stats = RoleSyncStats()
    users = [m for m in members if not m.bot]
    ranks = list((await session.scalars(select(GuildRank).order_by(GuildRank.level))).all())
    open_hashes = set(
        (
            await session.scalars(
                select(AuditIssue.issue_hash).where(
                    AuditIssue.resolved_at.is_(None),
                    AuditIssue.issue_type.in_(("no_guild_role", "role_mismatch")),
                )
            )
        ).all()
    )
    context = _Context(ranks, game_rank_names, open_hashes)
    ids = [u.id for u in users]
    if ids:
        by_discord_id = {
            m.discord_id: m for m in await _load_members(session, GuildMember.discord_id.in_(ids))
        }
        accounts = {
            a.discord_id: a
            for a in (
                await session.scalars(
                    select(DiscordMember).where(DiscordMember.discord_id.in_(ids))
                )
            ).all()
        }
        linked_ids = {a.member_id for a in accounts.values() if a.member_id is not None}
        by_id = {
            m.id: m
            for m in (
                await _load_members(session, GuildMember.id.in_(linked_ids)) if linked_ids else []
            )
        }
    else:
        by_discord_id, accounts, by_id = {}, {}, {}
    for user in users:
        account = accounts.get(user.id)
        member = by_discord_id.get(user.id)
        if member is None and account is not None and account.member_id is not None:
            member = by_id.get(account.member_id)
        try:
            async with session.begin_nested():
                outcome = await _sync_one(session, context, user, member, account)
        except Exception:
            log.exception("role sync failed for Discord user %s", user.id)
            stats.errors += 1
            continue
        setattr(stats, outcome, getattr(stats, outcome) + 1)
    await session.execute(update(DiscordConfig).values(last_role_sync_at=clock.now()))
    return stats


async def _sync_one(
    session: AsyncSession,
    context: _Context,
    user: DiscordMemberInfo,
    member: GuildMember | None,
    account: DiscordMember | None,
) -> str:
    """Role sync for one user; returns the name of the stat to count."""
    best = highest_rank(user.roles, context.ranks)
    if best is None:
        if member is not None:
            await _check_no_guild_role(session, context, member)
        return "skipped"
    if member is None:
        await _create_member(session, user, best, account)
        return "created"
    await context.resolve(session, "no_guild_role", [member.id], "guild role appeared")
    if member.discord_id is None and account is not None and account.member_id == member.id:
        holder = await session.scalar(
            select(GuildMember.id).where(GuildMember.discord_id == user.id)
        )
        if holder is None:
            member.discord_id = user.id
        else:
            log.warning("Discord id %s already belongs to member %s; not copied", user.id, holder)
    current = member.rank
    if current.level >= context.top_level and best.level < current.level:
        await _protect_top_rank(session, member, current, best)
        return "protected"
    await context.resolve(
        session, "role_mismatch", [member.id, "top_rank"], "Discord role matches the rank again"
    )
    if best.id != member.rank_id:
        member.rank_id = best.id
        member.rank = best
        member.rank_source = "discord_sync"
        await session.flush()
        log.info("role sync: member %s is now %s", member.id, best.name)
        return "updated"
    if member.rank_source != "discord_sync":
        member.rank_source = "discord_sync"
        await session.flush()
    return "unchanged"


async def _create_member(
    session: AsyncSession,
    user: DiscordMemberInfo,
    rank: GuildRank,
    account: DiscordMember | None,
) -> None:
    """A new member for a Discord user holding a guild role, linked to their account."""
    wanted = user.username[:100]
    username: str | None = wanted
    taken = await session.scalar(
        select(GuildMember.id).where(func.lower(GuildMember.discord_username) == func.lower(wanted))
    )
    if taken is not None:
        log.warning(
            "role sync: username of Discord user %s is used by member %s; created without it",
            user.id,
            taken,
        )
        username = None
    member = GuildMember(
        display_name=(user.display_name.strip() or user.username)[:100],
        discord_username=username,
        discord_id=user.id,
        rank_id=rank.id,
        rank_source="discord_sync",
    )
    session.add(member)
    await session.flush()
    if account is not None and account.member_id is None:
        member_service.link_discord_automatically(
            session, account=account, member=member, source="discord_sync", at=clock.now()
        )
        await session.flush()
    log.info("role sync: created member %s (%s) for Discord user %s", member.id, rank.name, user.id)


async def _protect_top_rank(
    session: AsyncSession, member: GuildMember, current: GuildRank, discord_rank: GuildRank
) -> None:
    """Decision 20: keep the top rank; report the mismatch instead."""
    await raise_issue(
        session,
        issue_type="role_mismatch",
        severity="critical",
        summary=(
            f"'{member.display_name}' is {current.name} on the platform but {discord_rank.name} "
            f"on Discord (role sync never demotes the top rank; expected Discord role: "
            f"{current.name})"
        ),
        keys=[member.id, "top_rank"],
        member_id=member.id,
        details={
            "member": member.display_name,
            "platform_rank": current.name,
            "discord_rank": discord_rank.name,
            "expected_role": current.name,
            "source": "role_sync",
        },
    )
    log.warning(
        "role sync: member %s holds the top rank but only %s on Discord; not demoted",
        member.id,
        discord_rank.name,
    )


async def _check_no_guild_role(
    session: AsyncSession, context: _Context, member: GuildMember
) -> None:
    """`no_guild_role` for a member with ranked in-guild characters and no guild role (85 §9)."""
    with_role = await session.scalar(
        select(func.count()).where(
            DiscordMember.member_id == member.id,
            DiscordMember.is_present.is_(True),
            DiscordMember.highest_guild_role.is_not(None),
        )
    )
    if with_role:
        return
    characters = (
        await session.execute(
            select(Character.game_rank, Character.name).where(
                Character.member_id == member.id, Character.removed_at.is_(None)
            )
        )
    ).all()
    best: GuildRank | None = None
    names: list[str] = []
    for game_rank, name in characters:
        rank_name = (
            context.game_rank_names[game_rank]
            if game_rank is not None and 0 <= game_rank < len(context.game_rank_names)
            else None
        )
        rank = context.rank_by_name.get(rank_name.casefold()) if rank_name else None
        if rank is None:
            continue
        names.append(name)
        if best is None or rank.level > best.level:
            best = rank
    if best is None:
        return
    await raise_issue(
        session,
        issue_type="no_guild_role",
        severity="warning",
        summary=f"'{member.display_name}' is {best.name} in game but has no guild role on Discord",
        keys=[member.id],
        member_id=member.id,
        details={"member": member.display_name, "game_rank": best.name, "characters": names},
    )
