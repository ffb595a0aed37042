"""One integrity check: read the guild in a few queries, evaluate every rule in memory, then
open/refresh findings and resolve what went away in bulk, all in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sv_common import clock
from sv_common.db.enums import IssueType
from sv_common.db.models import AuditIssue, Character, DiscordMember, GuildMember, GuildRank
from sv_common.db.rows import load_as
from sv_common.identity.integrity.issues import resolve_issues, upsert_issues
from sv_common.identity.integrity.rules import (
    DEFAULT_GAME_RANK_NAMES,
    AccountInfo,
    CharacterInfo,
    CheckSettings,
    CheckSnapshot,
    Evaluation,
    MemberInfo,
    OpenIssue,
    RankInfo,
)


@dataclass
class IntegrityStats:
    """New issues per type, how many are new in total, and how many were resolved."""

    new: dict[str, int] = field(default_factory=lambda: {str(t): 0 for t in IssueType})
    total_new: int = 0
    resolved: int = 0

    def as_dict(self) -> dict[str, Any]:
        """`{orphan_wow: 2, …, total_new: 5, resolved: 1}` for logs, sync_log and JSON."""
        return {**self.new, "total_new": self.total_new, "resolved": self.resolved}


async def load_snapshot(session: AsyncSession) -> CheckSnapshot:
    """Ranks, members, in-guild characters and present accounts (four queries)."""
    ranks = await load_as(session, RankInfo, GuildRank)
    members = await load_as(session, MemberInfo, GuildMember)
    characters = await load_as(session, CharacterInfo, Character, Character.removed_at.is_(None))
    accounts = await load_as(
        session,
        AccountInfo,
        DiscordMember,
        DiscordMember.is_present.is_(True),
        # the name people see: server nickname, else global name, else the username
        display=func.coalesce(
            func.nullif(DiscordMember.display_name, ""),
            func.nullif(DiscordMember.nickname, ""),
            func.nullif(DiscordMember.global_name, ""),
            DiscordMember.username,
        ),
    )
    return CheckSnapshot(ranks=ranks, members=members, characters=characters, accounts=accounts)


async def _issue_state(session: AsyncSession) -> tuple[list[OpenIssue], set[str]]:
    """Open issues and the hashes officers ignored (one query)."""
    rows = await session.execute(
        select(
            AuditIssue.id,
            AuditIssue.issue_type,
            AuditIssue.issue_hash,
            AuditIssue.character_id,
            AuditIssue.discord_member_id,
            AuditIssue.member_id,
            AuditIssue.first_detected,
            AuditIssue.resolved_at.is_(None),
            AuditIssue.ignored,
        ).where(AuditIssue.resolved_at.is_(None) | AuditIssue.ignored.is_(True))
    )
    open_issues: list[OpenIssue] = []
    ignored: set[str] = set()
    for row in rows.all():
        issue_id, kind, digest, character_id, account_id, member_id, first, is_open, is_ign = row
        if is_open:
            open_issues.append(
                OpenIssue(
                    id=issue_id,
                    issue_type=kind,
                    issue_hash=digest,
                    character_id=character_id,
                    discord_member_id=account_id,
                    member_id=member_id,
                    first_detected=first,
                )
            )
        if is_ign:
            ignored.add(digest)
    return open_issues, ignored


async def run_integrity_check(
    session: AsyncSession,
    *,
    stale_days: int = 30,
    rank_change_expiry_days: int = 7,
    game_rank_names: Sequence[str] = DEFAULT_GAME_RANK_NAMES,
    admin_rank_level: int = 4,
    now: datetime | None = None,
) -> IntegrityStats:
    """Detect every checker-owned problem, keep one open issue per problem, and resolve open
    issues whose problem is gone (five reads, two bulk writes; no commit)."""
    if stale_days < 1 or rank_change_expiry_days < 1:
        raise ValueError("stale_days and rank_change_expiry_days must be at least 1")
    settings = CheckSettings(
        now=now or clock.now(),
        stale_days=stale_days,
        rank_change_expiry_days=rank_change_expiry_days,
        game_rank_names=list(game_rank_names),
        admin_rank_level=admin_rank_level,
    )
    snapshot = await load_snapshot(session)
    open_issues, ignored = await _issue_state(session)
    evaluation = Evaluation(snapshot, settings)
    detected = evaluation.issues()
    open_hashes = {issue.issue_hash for issue in open_issues}
    new = await upsert_issues(
        session, detected, open_hashes=open_hashes, ignored_hashes=ignored, now=settings.now
    )
    detected_hashes = {issue.issue_hash for issue in detected}
    resolved = await resolve_issues(
        session, evaluation.resolutions(open_issues, detected_hashes), now=settings.now
    )
    stats = IntegrityStats(resolved=resolved)
    for kind, count in new.items():
        stats.new[kind] = count
    stats.total_new = sum(new.values())
    return stats
