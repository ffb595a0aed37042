"""Audit issues in the database: opening findings in bulk, resolving them automatically or by
an officer, ignoring and re-opening.

At most one issue per hash is open at a time (partial unique index on `issue_hash` where
`resolved_at IS NULL`); a finding whose hash is already open refreshes that row. While an
officer has ignored a hash, nothing opens it again. An issue resolved without `ignore` comes
back as a new row (and a new report) when the problem is still there on the next run.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from sv_common import clock
from sv_common.db.enums import IssueType
from sv_common.db.models import AuditIssue
from sv_common.errors import Conflict, Invalid, NotFound
from sv_common.identity.integrity.rules import DetectedIssue, issue_hash

__all__ = [
    "DetectedIssue",
    "issue_dict",
    "issue_hash",
    "open_issues",
    "reopen_issue",
    "resolve_issue",
    "resolve_issues",
]

NOTE_MAX = 2000
RESOLVED_BY_MAX = 100  # audit_issues.resolved_by varchar(100)

# One statement for any number of findings: arrays in, `unnest` spreads them into rows. A hash
# already open is refreshed (not new); `first_detected` of a refreshed row is kept.
_UPSERT = text(
    """
    INSERT INTO guild_identity.audit_issues
        (issue_type, severity, character_id, discord_member_id, member_id, summary, details,
         issue_hash, first_detected, last_detected)
    SELECT t.issue_type, t.severity, t.character_id, t.discord_member_id, t.member_id, t.summary,
           CAST(t.details AS jsonb), t.issue_hash,
           CAST(:now AS timestamptz), CAST(:now AS timestamptz)
    FROM unnest(CAST(:types AS text[]), CAST(:severities AS text[]), CAST(:characters AS int[]),
                CAST(:accounts AS int[]), CAST(:members AS int[]), CAST(:summaries AS text[]),
                CAST(:details AS text[]), CAST(:hashes AS text[]))
         AS t(issue_type, severity, character_id, discord_member_id, member_id, summary, details,
              issue_hash)
    ON CONFLICT (issue_hash) WHERE resolved_at IS NULL DO UPDATE
       SET last_detected = EXCLUDED.last_detected,
           summary = EXCLUDED.summary,
           details = EXCLUDED.details,
           severity = EXCLUDED.severity
    """
)

_RESOLVE = text(
    """
    UPDATE guild_identity.audit_issues AS i
       SET resolved_at = CAST(:now AS timestamptz), resolved_by = CAST(:by AS text), resolution_note = t.note
      FROM unnest(CAST(:ids AS int[]), CAST(:notes AS text[])) AS t(id, note)
     WHERE i.id = t.id AND i.resolved_at IS NULL
    RETURNING i.id
    """
)


async def blocked_hashes(session: AsyncSession, hashes: Sequence[str]) -> tuple[set[str], set[str]]:
    """(open hashes, ignored hashes) among `hashes`, in one query."""
    if not hashes:
        return set(), set()
    rows = await session.execute(
        select(AuditIssue.issue_hash, AuditIssue.resolved_at.is_(None), AuditIssue.ignored).where(
            AuditIssue.issue_hash.in_(list(set(hashes))),
            AuditIssue.resolved_at.is_(None) | AuditIssue.ignored.is_(True),
        )
    )
    open_hashes: set[str] = set()
    ignored: set[str] = set()
    for digest, is_open, is_ignored in rows.all():
        if is_open:
            open_hashes.add(digest)
        if is_ignored:
            ignored.add(digest)
    return open_hashes, ignored


async def upsert_issues(
    session: AsyncSession,
    detected: Sequence[DetectedIssue],
    *,
    open_hashes: set[str],
    ignored_hashes: set[str],
    now: datetime | None = None,
) -> Counter[str]:
    """Store findings whose hash is not ignored; returns how many were new, per type."""
    at = now or clock.now()
    rows: dict[str, DetectedIssue] = {}
    for issue in detected:
        digest = issue.issue_hash
        if digest not in ignored_hashes:
            rows.setdefault(digest, issue)  # one row per hash even if found twice
    if not rows:
        return Counter()
    issues = list(rows.values())
    await session.execute(
        _UPSERT,
        {
            "now": at,
            "types": [str(i.issue_type) for i in issues],
            "severities": [str(i.severity) for i in issues],
            "characters": [i.character_id for i in issues],
            "accounts": [i.discord_member_id for i in issues],
            "members": [i.member_id for i in issues],
            "summaries": [i.summary for i in issues],
            "details": [json.dumps(i.details, ensure_ascii=False, default=str) for i in issues],
            "hashes": list(rows),
        },
    )
    return Counter(str(i.issue_type) for d, i in rows.items() if d not in open_hashes)


async def open_issues(
    session: AsyncSession, detected: Sequence[DetectedIssue], *, now: datetime | None = None
) -> dict[str, int]:
    """Open (or refresh) these findings; hashes an officer ignored are skipped.

    For writers outside the checker (the Blizzard sync's `rank_change`, built with
    `rules.rank_change_issue`). Returns the number of new issues per type.
    """
    open_hashes, ignored = await blocked_hashes(session, [i.issue_hash for i in detected])
    new = await upsert_issues(
        session, detected, open_hashes=open_hashes, ignored_hashes=ignored, now=now
    )
    return dict(new)


async def resolve_issues(
    session: AsyncSession,
    resolutions: Sequence[tuple[int, str]],
    *,
    resolved_by: str = "auto",
    now: datetime | None = None,
) -> int:
    """Resolve open issues by id with a note each; returns how many were still open."""
    if not resolutions:
        return 0
    result = await session.execute(
        _RESOLVE,
        {
            "now": now or clock.now(),
            "by": resolved_by,
            "ids": [issue_id for issue_id, _ in resolutions],
            "notes": [note for _, note in resolutions],
        },
    )
    return len(result.all())


# --------------------------------------------------------------------------- officers
def issue_dict(issue: AuditIssue) -> dict[str, Any]:
    """Every column of an issue, timestamps as ISO 8601."""
    return {
        "id": issue.id,
        "issue_type": issue.issue_type,
        "severity": issue.severity,
        "character_id": issue.character_id,
        "discord_member_id": issue.discord_member_id,
        "member_id": issue.member_id,
        "summary": issue.summary,
        "details": issue.details,
        "issue_hash": issue.issue_hash,
        "first_detected": _iso(issue.first_detected),
        "last_detected": _iso(issue.last_detected),
        "notified_at": _iso(issue.notified_at),
        "resolved_at": _iso(issue.resolved_at),
        "resolved_by": issue.resolved_by,
        "resolution_note": issue.resolution_note,
        "ignored": issue.ignored,
    }


async def _get_issue(session: AsyncSession, issue_id: int, *, lock: bool = False) -> AuditIssue:
    query = select(AuditIssue).where(AuditIssue.id == issue_id)
    if lock:
        query = query.with_for_update()
    issue = (
        await session.execute(query.execution_options(populate_existing=True))
    ).scalar_one_or_none()
    if issue is None:
        raise NotFound("issue not found")
    return issue


async def resolve_issue(
    session: AsyncSession,
    *,
    issue_id: int,
    officer_name: str,
    note: str | None = None,
    ignore: bool = False,
) -> dict[str, Any]:
    """An officer resolves an open issue (404 unknown, 409 already resolved); with `ignore` the
    same problem is never opened again until the issue is re-opened."""
    if note is not None and len(note) > NOTE_MAX:
        raise Invalid(f"note must be at most {NOTE_MAX} characters")
    issue = await _get_issue(session, issue_id, lock=True)
    if issue.resolved_at is not None:
        raise Conflict("issue is already resolved")
    issue.resolved_at = clock.now()
    issue.resolved_by = officer_name[:RESOLVED_BY_MAX]
    issue.resolution_note = note
    issue.ignored = bool(ignore)
    await session.flush()
    return issue_dict(issue)


async def reopen_issue(session: AsyncSession, *, issue_id: int) -> dict[str, Any]:
    """Lift an ignore (409 when the issue is not ignored); the row stays resolved and the next
    run opens a new issue if the problem is still there."""
    issue = await _get_issue(session, issue_id, lock=True)
    if not issue.ignored:
        raise Conflict("issue is not ignored")
    issue.ignored = False
    await session.flush()
    return issue_dict(issue)


async def open_issue_counts(session: AsyncSession) -> dict[str, int]:
    """Open issues per type, every type present (zero when none)."""
    rows = await session.execute(
        select(AuditIssue.issue_type, func.count())
        .where(AuditIssue.resolved_at.is_(None))
        .group_by(AuditIssue.issue_type)
    )
    counts = {str(t): 0 for t in IssueType}
    counts.update({str(kind): int(n) for kind, n in rows.all()})
    return counts


async def resolve_entity_issues(
    session: AsyncSession,
    *,
    character_id: int | None = None,
    discord_member_id: int | None = None,
    resolved_by: str,
    note: str,
) -> None:
    """Resolve the open "not linked" findings (orphans and suggestions) about an entity."""
    if character_id is not None:
        await session.execute(
            update(AuditIssue)
            .where(
                AuditIssue.character_id == character_id,
                AuditIssue.resolved_at.is_(None),
                AuditIssue.issue_type.in_((IssueType.ORPHAN_WOW, IssueType.AUTO_LINK_SUGGESTION)),
            )
            .values(resolved_at=clock.now(), resolved_by=resolved_by, resolution_note=note)
        )
    if discord_member_id is not None:
        await session.execute(
            update(AuditIssue)
            .where(
                AuditIssue.discord_member_id == discord_member_id,
                AuditIssue.resolved_at.is_(None),
                AuditIssue.issue_type.in_(
                    (IssueType.ORPHAN_DISCORD, IssueType.AUTO_LINK_SUGGESTION)
                ),
            )
            .values(resolved_at=clock.now(), resolved_by=resolved_by, resolution_note=note)
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
