"""One matching run against the database: read a snapshot (six queries), let the planner
decide, write every link in bulk inside the caller's transaction.

Each write is conditional on the row still being unlinked (`member_id IS NULL`): a row another
writer linked since the snapshot is skipped, and whatever depended on it (a member created for
an account someone else claimed) is dropped with it, so the run never overwrites a link.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from sv_common import clock
from sv_common.db.enums import IssueType
from sv_common.db.models import (
    AuditIssue,
    Character,
    DiscordMember,
    GuildMember,
    GuildRank,
    LinkRejection,
)
from sv_common.db.rows import load_as
from sv_common.identity.integrity.issues import upsert_issues
from sv_common.identity.integrity.rules import suggestion_issue
from sv_common.identity.matching.model import (
    AccountRow,
    CharacterRow,
    MatchingStats,
    MemberRow,
    Plan,
    PlannedLink,
    RankRow,
    Snapshot,
)
from sv_common.identity.matching.planner import FUZZY_AUTO_LINK, FUZZY_SUGGEST, plan_matching

AUTO = "auto"


async def _load_rows(session: AsyncSession) -> Snapshot:
    """Ranks, members, present or linked accounts, and every character (four queries)."""
    ranks = await load_as(session, RankRow, GuildRank)
    members = await load_as(session, MemberRow, GuildMember)
    accounts = await load_as(
        session,
        AccountRow,
        DiscordMember,
        DiscordMember.is_present.is_(True) | DiscordMember.member_id.is_not(None),
    )
    characters = await load_as(
        session, CharacterRow, Character, in_guild=Character.removed_at.is_(None)
    )
    return Snapshot(ranks=ranks, members=members, accounts=accounts, characters=characters)


async def load_snapshot(session: AsyncSession) -> tuple[Snapshot, set[str]]:
    """Everything the planner needs, and the open suggestion hashes (six queries)."""
    snapshot = await _load_rows(session)
    for character_id, account_id, member_id in (
        await session.execute(
            select(
                LinkRejection.character_id,
                LinkRejection.discord_member_id,
                LinkRejection.member_id,
            )
        )
    ).all():
        if character_id is not None and member_id is not None:
            snapshot.rejected_character_member.add((character_id, member_id))
        if character_id is not None and account_id is not None:
            snapshot.rejected_character_account.add((character_id, account_id))
        if character_id is None and account_id is not None and member_id is not None:
            snapshot.rejected_account_member.add((account_id, member_id))
    open_suggestions: set[str] = set()
    for digest, is_open, ignored in (
        await session.execute(
            select(AuditIssue.issue_hash, AuditIssue.resolved_at.is_(None), AuditIssue.ignored)
            .where(AuditIssue.issue_type == IssueType.AUTO_LINK_SUGGESTION)
            .where(AuditIssue.resolved_at.is_(None) | AuditIssue.ignored.is_(True))
        )
    ).all():
        if ignored:
            snapshot.ignored_hashes.add(digest)
        if is_open:
            open_suggestions.add(digest)
    return snapshot, open_suggestions


# ------------------------------------------------------------------------------ writes
_ALLOCATE_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('common.guild_members', 'id')) "
    "FROM generate_series(1, :n)"
)
# New members get ids drawn from the sequence up front, so the rows that really went in are
# known by id even when a concurrent writer took a username or snowflake meanwhile.
_INSERT_MEMBERS = text(
    """
    INSERT INTO common.guild_members
        (id, display_name, discord_username, discord_id, rank_id, rank_source)
    SELECT * FROM unnest(CAST(:ids AS int[]), CAST(:names AS text[]), CAST(:usernames AS text[]),
                         CAST(:snowflakes AS text[]), CAST(:ranks AS int[]), CAST(:sources AS text[]))
    ON CONFLICT DO NOTHING
    RETURNING id
    """
)
_CLAIM_ACCOUNTS = text(
    """
    UPDATE guild_identity.discord_members AS d SET member_id = t.member_id
      FROM unnest(CAST(:ids AS int[]), CAST(:members AS int[])) AS t(id, member_id)
     WHERE d.id = t.id AND d.member_id IS NULL
    RETURNING d.id
    """
)
_DROP_MEMBERS = text("DELETE FROM common.guild_members WHERE id = ANY(CAST(:ids AS int[]))")
_SET_DISCORD_IDS = text(
    """
    UPDATE common.guild_members AS m SET discord_id = t.discord_id
      FROM unnest(CAST(:ids AS int[]), CAST(:snowflakes AS text[])) AS t(id, discord_id)
     WHERE m.id = t.id AND m.discord_id IS NULL
       AND NOT EXISTS (SELECT 1 FROM common.guild_members o WHERE o.discord_id = t.discord_id)
    """
)
_CLAIM_CHARACTERS = text(
    """
    UPDATE common.characters AS c SET member_id = t.member_id, main_alt = t.main_alt
      FROM unnest(CAST(:ids AS int[]), CAST(:members AS int[]), CAST(:main_alt AS text[]))
           AS t(id, member_id, main_alt)
     WHERE c.id = t.id AND c.member_id IS NULL AND c.removed_at IS NULL
    RETURNING c.id
    """
)
_PROMOTE_MAINS = text(
    """
    UPDATE common.characters AS c SET main_alt = 'main'
      FROM unnest(CAST(:ids AS int[]), CAST(:members AS int[])) AS t(id, member_id)
     WHERE c.id = t.id AND c.member_id = t.member_id
       AND NOT EXISTS (SELECT 1 FROM common.characters o
                        WHERE o.member_id = t.member_id AND o.main_alt = 'main')
    """
)
# A link row left behind for an entity that is unlinked contradicts it; the fresh row replaces it.
_INSERT_LINKS = """
    INSERT INTO guild_identity.identity_links
        ({target}, member_id, source, confidence, confirmed, confirmed_by, confirmed_at, created_at)
    SELECT t.target, t.member_id, t.source, t.confidence, t.confirmed,
           CASE WHEN t.confirmed THEN CAST(:auto AS text) END,
           CASE WHEN t.confirmed THEN CAST(:now AS timestamptz) END,
           CAST(:now AS timestamptz)
      FROM unnest(CAST(:targets AS int[]), CAST(:members AS int[]), CAST(:sources AS text[]),
                  CAST(:confidences AS text[]), CAST(:confirmed AS boolean[]))
           AS t(target, member_id, source, confidence, confirmed)
    ON CONFLICT ({target}) DO UPDATE
       SET member_id = EXCLUDED.member_id, source = EXCLUDED.source,
           confidence = EXCLUDED.confidence, confirmed = EXCLUDED.confirmed,
           confirmed_by = EXCLUDED.confirmed_by, confirmed_at = EXCLUDED.confirmed_at,
           created_by = NULL, created_at = EXCLUDED.created_at
"""
_INSERT_CHARACTER_LINKS = text(_INSERT_LINKS.format(target="character_id"))
_INSERT_ACCOUNT_LINKS = text(_INSERT_LINKS.format(target="discord_member_id"))


async def _insert_links(
    session: AsyncSession,
    links: Sequence[tuple[PlannedLink, int]],
    *,
    accounts: bool,
    now: datetime,
) -> None:
    """Provenance rows for links whose entity was claimed; `links` pairs each with its member."""
    if not links:
        return
    await session.execute(
        _INSERT_ACCOUNT_LINKS if accounts else _INSERT_CHARACTER_LINKS,
        {
            "auto": AUTO,
            "now": now,
            "targets": [(link.account_id if accounts else link.character_id) for link, _ in links],
            "members": [member_id for _, member_id in links],
            "sources": [str(link.source) for link, _ in links],
            "confidences": [str(link.confidence) for link, _ in links],
            "confirmed": [link.confirmed for link, _ in links],
        },
    )


async def _write_members(session: AsyncSession, plan: Plan) -> dict[int, int]:
    """Insert the planned members; returns planner ref → real id for those inserted."""
    if not plan.new_members:
        return {}
    allocated = (await session.execute(_ALLOCATE_IDS, {"n": len(plan.new_members)})).scalars().all()
    ids = [int(value) for value in allocated]
    inserted = set(
        (
            await session.execute(
                _INSERT_MEMBERS,
                {
                    "ids": ids,
                    "names": [m.display_name for m in plan.new_members],
                    "usernames": [m.discord_username for m in plan.new_members],
                    "snowflakes": [m.discord_id for m in plan.new_members],
                    "ranks": [m.rank_id for m in plan.new_members],
                    "sources": [m.rank_source for m in plan.new_members],
                },
            )
        ).scalars()
    )
    return {m.ref: i for m, i in zip(plan.new_members, ids, strict=True) if i in inserted}


@dataclass
class Applied:
    """What really went in: rows claimed by another writer since the snapshot are missing."""

    accounts: int = 0
    members: int = 0
    characters: Counter[str] = field(default_factory=Counter)  # per strategy (stat name)


async def apply_plan(session: AsyncSession, plan: Plan, *, now: datetime) -> Applied:
    """Write the plan in bulk, each write conditional on the row still being unlinked."""
    real = await _write_members(session, plan)

    def resolve(ref: int) -> int | None:
        return ref if ref > 0 else real.get(ref)

    account_links = [
        (link, member_id)
        for link in plan.account_links
        if (member_id := resolve(link.member_ref)) is not None
    ]
    claimed_accounts: set[int] = set()
    if account_links:
        claimed_accounts = set(
            (
                await session.execute(
                    _CLAIM_ACCOUNTS,
                    {
                        "ids": [link.account_id for link, _ in account_links],
                        "members": [member_id for _, member_id in account_links],
                    },
                )
            ).scalars()
        )
    # A member created for an account that someone else linked meanwhile owns nothing: remove it.
    source_account = {member.ref: member.account_id for member in plan.new_members}
    orphaned = [ref for ref in real if source_account[ref] not in claimed_accounts]
    if orphaned:
        await session.execute(_DROP_MEMBERS, {"ids": [real.pop(ref) for ref in orphaned]})
    account_links = [(link, m) for link, m in account_links if link.account_id in claimed_accounts]
    await _insert_links(session, account_links, accounts=True, now=now)

    claimed_members = {m for _, m in account_links}
    snowflakes = [(m, s) for m, s in plan.member_discord_ids if m in claimed_members]
    if snowflakes:
        await session.execute(
            _SET_DISCORD_IDS,
            {"ids": [m for m, _ in snowflakes], "snowflakes": [s for _, s in snowflakes]},
        )

    character_links = [
        (link, member_id)
        for link in plan.character_links
        if (member_id := resolve(link.member_ref)) is not None
    ]
    claimed_characters: set[int] = set()
    if character_links:
        claimed_characters = set(
            (
                await session.execute(
                    _CLAIM_CHARACTERS,
                    {
                        "ids": [link.character_id for link, _ in character_links],
                        "members": [member_id for _, member_id in character_links],
                        "main_alt": [link.main_alt for link, _ in character_links],
                    },
                )
            ).scalars()
        )
    character_links = [
        (link, m) for link, m in character_links if link.character_id in claimed_characters
    ]
    await _insert_links(session, character_links, accounts=False, now=now)

    promotions = [
        (character_id, member_id)
        for character_id, ref in plan.promote_to_main
        if (member_id := resolve(ref)) is not None
    ]
    if promotions:
        await session.execute(
            _PROMOTE_MAINS,
            {"ids": [c for c, _ in promotions], "members": [m for _, m in promotions]},
        )
    return Applied(
        accounts=len(account_links),
        members=len(real),
        characters=Counter(link.strategy for link, _ in character_links),
    )


async def run_matching(
    session: AsyncSession,
    *,
    fuzzy_auto_link: float = FUZZY_AUTO_LINK,
    fuzzy_suggest: float = FUZZY_SUGGEST,
    now: datetime | None = None,
) -> MatchingStats:
    """Link unlinked Discord accounts and in-guild characters to members (creating members for
    accounts that have none) and open suggestions for near misses; the caller commits."""
    at = now or clock.now()
    snapshot, open_suggestions = await load_snapshot(session)
    plan = plan_matching(snapshot, fuzzy_auto_link=fuzzy_auto_link, fuzzy_suggest=fuzzy_suggest)
    applied = await apply_plan(session, plan, now=at)
    stats = plan.stats
    # count what was written, not what was planned (a concurrent writer may have been first)
    stats.accounts_linked = applied.accounts
    stats.members_created = applied.members
    for strategy in ("exact", "guild_note", "officer_note", "token", "fuzzy"):
        setattr(stats, strategy, applied.characters.get(strategy, 0))
    if plan.suggestions:
        characters = {c.id: c for c in snapshot.characters}
        accounts = {a.id: a for a in snapshot.accounts}
        detected = [
            suggestion_issue(
                character_id=s.character_id,
                character_name=characters[s.character_id].name,
                realm_slug=characters[s.character_id].realm_slug,
                account_id=s.account_id,
                account_display=accounts[s.account_id].shown_name,
                score=s.score,
                member_id=s.member_id,
            )
            for s in plan.suggestions
        ]
        new = await upsert_issues(
            session,
            detected,
            open_hashes=open_suggestions,
            ignored_hashes=snapshot.ignored_hashes,
            now=at,
        )
        stats.suggestions = new.get(IssueType.AUTO_LINK_SUGGESTION, 0)
    return stats
