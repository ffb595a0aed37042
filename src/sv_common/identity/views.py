"""Read queries behind the officers' identity screens: persons with their characters and
Discord accounts, orphans, rank mismatches, issues and links.

Each function returns plain dicts with exactly the keys of the identity API's JSON (timestamps
as ISO 8601 strings), built with a fixed number of queries whatever the page size.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import case, exists, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from sv_common.db.enums import SEVERITY_ORDER, IssueType, LinkSource
from sv_common.db.models import (
    AuditIssue,
    Character,
    DiscordMember,
    GuildMember,
    GuildRank,
    IdentityLink,
)
from sv_common.errors import Invalid
from sv_common.identity.integrity.issues import issue_dict

PERSONS_LIMIT_MAX = 1000
LIST_LIMIT_MAX = 1000
QUERY_MAX = 100
ISSUE_STATUSES = ("open", "resolved", "all")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _check_page(limit: int, offset: int, maximum: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise Invalid(f"limit must be between 1 and {maximum}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise Invalid("offset must be 0 or more")


def _like(q: str) -> str:
    """A LIKE pattern matching `q` anywhere, with LIKE's own wildcards taken literally."""
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def account_shown_name(account: Any) -> str:
    """Display name of an account: stored display name, else nickname, global name, username."""
    return str(account.display_name or account.nickname or account.global_name or account.username)


# -------------------------------------------------------------------------------- links
def _link_query() -> Any:
    return (
        select(
            IdentityLink,
            GuildMember.display_name.label("member_display_name"),
            Character.name.label("character_name"),
            DiscordMember.display_name.label("account_display_name"),
            DiscordMember.nickname.label("account_nickname"),
            DiscordMember.global_name.label("account_global_name"),
            DiscordMember.username.label("account_username"),
        )
        .join(GuildMember, GuildMember.id == IdentityLink.member_id)
        .outerjoin(Character, Character.id == IdentityLink.character_id)
        .outerjoin(DiscordMember, DiscordMember.id == IdentityLink.discord_member_id)
    )


def _link_row_dict(row: Any) -> dict[str, Any]:
    link: IdentityLink = row[0]
    account_name = None
    if link.discord_member_id is not None:
        account_name = (
            row.account_display_name
            or row.account_nickname
            or row.account_global_name
            or row.account_username
        )
    return {
        "id": link.id,
        "member_id": link.member_id,
        "member_display_name": row.member_display_name,
        "character_id": link.character_id,
        "character_name": row.character_name,
        "discord_member_id": link.discord_member_id,
        "discord_display_name": account_name,
        "source": link.source,
        "confidence": link.confidence,
        "confirmed": link.confirmed,
        "confirmed_by": link.confirmed_by,
        "confirmed_at": _iso(link.confirmed_at),
        "created_at": _iso(link.created_at),
    }


async def link_dicts(session: AsyncSession, link_ids: list[int]) -> list[dict[str, Any]]:
    """Link objects for these ids, in the given order."""
    if not link_ids:
        return []
    rows = (
        await session.execute(
            _link_query()
            .where(IdentityLink.id.in_(link_ids))
            .execution_options(populate_existing=True)
        )
    ).all()
    by_id = {row[0].id: _link_row_dict(row) for row in rows}
    return [by_id[i] for i in link_ids if i in by_id]


async def list_links(
    session: AsyncSession,
    *,
    confirmed: bool | None = None,
    source: str | None = None,
    member_id: int | None = None,
    limit: int = 200,
    offset: int = 0,
) -> dict[str, Any]:
    """Links, newest first, filtered by confirmation (the review queue is `confirmed=False`),
    source and member."""
    _check_page(limit, offset, LIST_LIMIT_MAX)
    conditions: list[Any] = []
    if confirmed is not None:
        conditions.append(IdentityLink.confirmed.is_(bool(confirmed)))
    if source is not None:
        if source not in {s.value for s in LinkSource}:
            raise Invalid(f"Unknown link source '{source}'.")
        conditions.append(IdentityLink.source == source)
    if member_id is not None:
        conditions.append(IdentityLink.member_id == member_id)
    total = await session.scalar(select(func.count()).select_from(IdentityLink).where(*conditions))
    rows = (
        await session.execute(
            _link_query()
            .where(*conditions)
            .order_by(IdentityLink.created_at.desc(), IdentityLink.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return {"total": int(total or 0), "links": [_link_row_dict(row) for row in rows]}


# ------------------------------------------------------------------------------ persons
def _link_brief(link_id: Any, source: Any, confidence: Any, confirmed: Any) -> Any:
    if link_id is None:
        return None
    return {"id": link_id, "source": source, "confidence": confidence, "confirmed": confirmed}


def _person_filter(q: str | None, character_visible: Any, account_visible: Any) -> list[Any]:
    """WHERE conditions of the persons search: `q` in a member, account or character name."""
    if q is None or not q.strip():
        return []
    if len(q) > QUERY_MAX:
        raise Invalid(f"q must be at most {QUERY_MAX} characters")
    pattern = _like(q.strip())

    def matches(column: Any) -> Any:
        return func.lower(column).like(pattern, escape="\\")

    account_names = (
        DiscordMember.username,
        DiscordMember.global_name,
        DiscordMember.nickname,
        DiscordMember.display_name,
    )
    return [
        or_(
            matches(GuildMember.display_name),
            matches(GuildMember.discord_username),
            exists().where(
                DiscordMember.member_id == GuildMember.id,
                account_visible,
                or_(*(matches(column) for column in account_names)),
            ),
            exists().where(
                Character.member_id == GuildMember.id,
                character_visible,
                matches(Character.name),
            ),
        )
    ]


async def _person_characters(
    session: AsyncSession, member_ids: list[int], visible: Any
) -> dict[int, list[dict[str, Any]]]:
    """Each member's characters with their link, mains first (one query)."""
    rows = await session.execute(
        select(
            Character,
            IdentityLink.id,
            IdentityLink.source,
            IdentityLink.confidence,
            IdentityLink.confirmed,
        )
        .outerjoin(IdentityLink, IdentityLink.character_id == Character.id)
        .where(Character.member_id.in_(member_ids), visible)
        .order_by(
            case((Character.main_alt == "main", 0), else_=1),
            func.lower(Character.name),
            Character.id,
        )
    )
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for character, *link in rows.all():
        found[int(character.member_id or 0)].append(
            {
                "id": character.id,
                "name": character.name,
                "realm_slug": character.realm_slug,
                "class": character.character_class,
                "spec": character.spec,
                "role": character.role,
                "main_alt": character.main_alt,
                "level": character.level,
                "item_level": character.item_level,
                "game_rank_name": character.game_rank_name,
                "in_guild": character.removed_at is None,
                "link": _link_brief(*link),
            }
        )
    return found


async def _person_accounts(
    session: AsyncSession, member_ids: list[int], visible: Any
) -> dict[int, list[dict[str, Any]]]:
    """Each member's Discord accounts with their link, present ones first (one query)."""
    rows = await session.execute(
        select(
            DiscordMember,
            IdentityLink.id,
            IdentityLink.source,
            IdentityLink.confidence,
            IdentityLink.confirmed,
        )
        .outerjoin(IdentityLink, IdentityLink.discord_member_id == DiscordMember.id)
        .where(DiscordMember.member_id.in_(member_ids), visible)
        .order_by(DiscordMember.is_present.desc(), DiscordMember.id)
    )
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for account, *link in rows.all():
        found[int(account.member_id or 0)].append(
            {
                "id": account.id,
                "discord_id": account.discord_id,
                "username": account.username,
                "display_name": account_shown_name(account),
                "highest_guild_role": account.highest_guild_role,
                "is_present": account.is_present,
                "link": _link_brief(*link),
            }
        )
    return found


async def list_persons(
    session: AsyncSession,
    *,
    q: str | None = None,
    include_removed: bool = False,
    limit: int = 200,
    offset: int = 0,
) -> dict[str, Any]:
    """Members with their characters, Discord accounts, links and open issue counts; `q`
    filters case-insensitively on member, account and character names (five queries)."""
    _check_page(limit, offset, PERSONS_LIMIT_MAX)
    character_visible = Character.removed_at.is_(None) if not include_removed else text("true")
    account_visible = DiscordMember.is_present.is_(True) if not include_removed else text("true")
    conditions = _person_filter(q, character_visible, account_visible)
    total = await session.scalar(select(func.count()).select_from(GuildMember).where(*conditions))
    members = (
        await session.execute(
            select(GuildMember, GuildRank)
            .join(GuildRank, GuildRank.id == GuildMember.rank_id)
            .where(*conditions)
            .order_by(func.lower(GuildMember.display_name), GuildMember.id)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    ids = [member.id for member, _ in members]
    characters: dict[int, list[dict[str, Any]]] = {}
    accounts: dict[int, list[dict[str, Any]]] = {}
    issue_counts: dict[int, int] = {}
    if ids:
        characters = await _person_characters(session, ids, character_visible)
        accounts = await _person_accounts(session, ids, account_visible)
        issue_counts = await _open_issue_counts(session, ids)
    persons = [
        {
            "id": member.id,
            "display_name": member.display_name,
            "discord_username": member.discord_username,
            "discord_id": member.discord_id,
            "rank": {"id": rank.id, "name": rank.name, "level": rank.level},
            "rank_source": member.rank_source,
            "registered": member.user_id is not None,
            "characters": characters.get(member.id, []),
            "discord_accounts": accounts.get(member.id, []),
            "open_issues": issue_counts.get(member.id, 0),
        }
        for member, rank in members
    ]
    return {"total": int(total or 0), "persons": persons}


_OPEN_ISSUES_PER_MEMBER = text(
    """
    SELECT owner, count(DISTINCT issue_id) FROM (
        SELECT i.id AS issue_id, i.member_id AS owner
          FROM guild_identity.audit_issues i
         WHERE i.resolved_at IS NULL AND i.member_id = ANY(CAST(:ids AS int[]))
        UNION ALL
        SELECT i.id, c.member_id
          FROM guild_identity.audit_issues i JOIN common.characters c ON c.id = i.character_id
         WHERE i.resolved_at IS NULL AND c.member_id = ANY(CAST(:ids AS int[]))
        UNION ALL
        SELECT i.id, d.member_id
          FROM guild_identity.audit_issues i
          JOIN guild_identity.discord_members d ON d.id = i.discord_member_id
         WHERE i.resolved_at IS NULL AND d.member_id = ANY(CAST(:ids AS int[]))
    ) AS about GROUP BY owner
    """
)


async def _open_issue_counts(session: AsyncSession, member_ids: list[int]) -> dict[int, int]:
    """Open issues about each member, its characters or its accounts (one query)."""
    rows = await session.execute(_OPEN_ISSUES_PER_MEMBER, {"ids": member_ids})
    return {int(owner): int(count) for owner, count in rows.all()}


# ------------------------------------------------------------------------------ orphans
async def list_wow_orphans(session: AsyncSession) -> dict[str, Any]:
    """Unlinked in-guild characters with their open suggestions, by in-game rank then name."""
    characters = (
        await session.scalars(
            select(Character)
            .where(Character.member_id.is_(None), Character.removed_at.is_(None))
            .order_by(
                Character.game_rank.asc().nulls_last(), func.lower(Character.name), Character.id
            )
        )
    ).all()
    suggestions: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if characters:
        rows = await session.execute(
            select(AuditIssue.id, AuditIssue.character_id, AuditIssue.details, DiscordMember)
            .join(DiscordMember, DiscordMember.id == AuditIssue.discord_member_id)
            .where(
                AuditIssue.issue_type == IssueType.AUTO_LINK_SUGGESTION,
                AuditIssue.resolved_at.is_(None),
                AuditIssue.character_id.in_([c.id for c in characters]),
            )
        )
        for issue_id, character_id, details, account in rows.all():
            score = (details or {}).get("score")
            suggestions[character_id].append(
                {
                    "discord_member_id": account.id,
                    "display_name": account_shown_name(account),
                    "score": float(score) if score is not None else None,
                    "issue_id": issue_id,
                }
            )
        for found in suggestions.values():
            found.sort(key=lambda s: (-(s["score"] or 0.0), s["discord_member_id"]))
    return {
        "characters": [
            {
                "id": c.id,
                "name": c.name,
                "realm_slug": c.realm_slug,
                "class": c.character_class,
                "active_spec": c.active_spec,
                "level": c.level,
                "item_level": c.item_level,
                "game_rank": c.game_rank,
                "game_rank_name": c.game_rank_name,
                "guild_note": c.guild_note,
                "officer_note": c.officer_note,
                "last_login_at": _iso(c.last_login_at),
                "suggestions": suggestions.get(c.id, []),
            }
            for c in characters
        ]
    }


async def list_discord_orphans(session: AsyncSession) -> dict[str, Any]:
    """Present accounts with a guild role whose member is missing or has no in-guild
    character, highest rank first, then username."""
    in_guild = aliased(Character)
    has_character = exists().where(
        in_guild.member_id == DiscordMember.member_id, in_guild.removed_at.is_(None)
    )
    rows = await session.execute(
        select(DiscordMember)
        .outerjoin(
            GuildRank, func.lower(GuildRank.name) == func.lower(DiscordMember.highest_guild_role)
        )
        .where(
            DiscordMember.is_present.is_(True),
            DiscordMember.highest_guild_role.is_not(None),
            or_(DiscordMember.member_id.is_(None), ~has_character),
        )
        .order_by(
            GuildRank.level.desc().nulls_last(),
            func.lower(DiscordMember.username),
            DiscordMember.id,
        )
    )
    return {
        "accounts": [
            {
                "id": a.id,
                "discord_id": a.discord_id,
                "username": a.username,
                "display_name": account_shown_name(a),
                "highest_guild_role": a.highest_guild_role,
                "joined_server_at": _iso(a.joined_server_at),
                "member_id": a.member_id,
            }
            for a in rows.scalars().all()
        ]
    }


# ------------------------------------------------------------------------------- issues
def _severity_rank() -> Any:
    """SQL expression ordering severities by importance, most important first."""
    return case(
        *((AuditIssue.severity == name, -order) for name, order in SEVERITY_ORDER.items()),
        else_=0,
    )


async def list_mismatches(session: AsyncSession) -> dict[str, Any]:
    """Open `role_mismatch` and `no_guild_role` issues, critical first."""
    issues = (
        await session.scalars(
            select(AuditIssue)
            .where(
                AuditIssue.resolved_at.is_(None),
                AuditIssue.issue_type.in_((IssueType.ROLE_MISMATCH, IssueType.NO_GUILD_ROLE)),
            )
            .order_by(_severity_rank(), AuditIssue.first_detected, AuditIssue.id)
        )
    ).all()
    return {
        "issues": [
            {
                "id": i.id,
                "issue_type": i.issue_type,
                "severity": i.severity,
                "summary": i.summary,
                "details": i.details,
                "member_id": i.member_id,
                "first_detected": _iso(i.first_detected),
                "last_detected": _iso(i.last_detected),
                "notified_at": _iso(i.notified_at),
            }
            for i in issues
        ]
    }


async def list_issues(
    session: AsyncSession,
    *,
    issue_type: str | None = None,
    status: str = "open",
    limit: int = 100,
    offset: int = 0,
    most_important_first: bool = False,
) -> dict[str, Any]:
    """Issues with every column, newest first (critical first, then newest, for officers'
    work lists with `most_important_first`); `status` is open, resolved or all."""
    _check_page(limit, offset, LIST_LIMIT_MAX)
    if status not in ISSUE_STATUSES:
        raise Invalid("status must be open, resolved or all")
    conditions = []
    if issue_type is not None:
        if issue_type not in {t.value for t in IssueType}:
            raise Invalid(f"Unknown issue type '{issue_type}'.")
        conditions.append(AuditIssue.issue_type == issue_type)
    if status == "open":
        conditions.append(AuditIssue.resolved_at.is_(None))
    elif status == "resolved":
        conditions.append(AuditIssue.resolved_at.is_not(None))
    total = await session.scalar(select(func.count()).select_from(AuditIssue).where(*conditions))
    issues = (
        await session.scalars(
            select(AuditIssue)
            .where(*conditions)
            .order_by(
                *((_severity_rank(),) if most_important_first else ()),
                AuditIssue.first_detected.desc(),
                AuditIssue.id.desc(),
            )
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return {"total": int(total or 0), "issues": [issue_dict(i) for i in issues]}
