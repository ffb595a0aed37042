"""Audit reports to the officers' Discord channel (70 §8) and the sync summary embed (§8.5).

Issues are grouped into one embed per type (severity order critical > warning > info, then
type, then first detection), packed greedily into messages within Discord's limits, and an
issue is marked notified only once the message that counted it was delivered: when a send
fails the report stops there and the rest is retried next time.

`post_sync_summary` posts the one-embed "📡 Sync finished" message of §8.5 to the same audit
channel after a sync pipeline, only when something notable happened; it marks nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sv_common import clock
from sv_common.db.models import AuditIssue
from sv_common.discord import limits
from sv_common.discord.dm import escape_markdown
from sv_common.discord.interface import (
    DiscordError,
    DiscordService,
    Embed,
)

log = logging.getLogger(__name__)

HEADER_TITLE = "🔍 Guild Identity Audit"
HEADER_COLOUR = 0xD4A84B
SEVERITY_COLOURS = {"critical": 0xFF0000, "warning": 0xFFA500, "info": 0x3498DB}
SEVERITY_ORDER = ("critical", "warning", "info")
SUMMARY_COLOUR = 0x2ECC71
LINES_PER_TYPE = 20
MAX_LINE = 300
TRUNCATED = "…truncated"
NO_ISSUES = "no issues to report"
NO_CHANNEL = "no audit channel configured"
NOT_CONNECTED = "Discord is not connected"
ISSUE_TYPES: dict[str, tuple[str, str]] = {
    "orphan_wow": ("🎮", "Characters not linked to a member"),
    "orphan_discord": ("💬", "Discord members with no character"),
    "role_mismatch": ("⚠️", "In-game rank ≠ Discord role"),
    "no_guild_role": ("🏷️", "Guild characters, no Discord guild role"),
    "stale_character": ("💤", "Inactive characters"),
    "rank_change": ("📊", "In-game rank changes"),
    "auto_link_suggestion": ("🔗", "Possible links to review"),
}


@dataclass
class ReportIssue:
    """The part of an audit issue a report needs."""

    id: int
    issue_type: str
    severity: str
    summary: str


@dataclass
class ReportMessage:
    """One message of a report and the issue ids it accounts for."""

    embeds: list[Embed]
    issue_ids: list[int] = field(default_factory=list)


@dataclass
class ReportResult:
    """How a report went: issues reported (delivered) and the send error that stopped it."""

    reported: int = 0
    total: int = 0
    messages_sent: int = 0
    error: str | None = None
    skipped: str | None = None


def _rank(severity: str) -> int:
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


def sort_issues(issues: Sequence[ReportIssue]) -> list[ReportIssue]:
    """Severity order (critical, warning, info — never alphabetical), then type; stable otherwise."""
    return sorted(issues, key=lambda i: (_rank(i.severity), i.issue_type))


def group_embed(issue_type: str, issues: Sequence[ReportIssue]) -> Embed:
    """One type's embed: counted title, up to 20 lines then "…and N more", worst-severity colour."""
    emoji, label = ISSUE_TYPES.get(issue_type, ("❓", issue_type))
    worst = min((_rank(i.severity) for i in issues), default=len(SEVERITY_ORDER))
    colour = SEVERITY_COLOURS.get(SEVERITY_ORDER[worst] if worst < len(SEVERITY_ORDER) else "info")
    lines = []
    for issue in issues[:LINES_PER_TYPE]:
        line = "• " + escape_markdown(" ".join(issue.summary.split()))
        lines.append(line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…")
    if len(issues) > LINES_PER_TYPE:
        lines.append(f"…and {len(issues) - LINES_PER_TYPE} more")
    description = "\n".join(lines)
    if len(description) > limits.MAX_DESCRIPTION:
        kept: list[str] = []
        budget = limits.MAX_DESCRIPTION - len(TRUNCATED) - 1
        for line in lines:
            if sum(len(k) + 1 for k in kept) + len(line) > budget:
                break
            kept.append(line)
        description = "\n".join([*kept, TRUNCATED])
    title = f"{emoji} {label} ({len(issues)})"[: limits.MAX_TITLE]
    return Embed(title=title, description=description, colour=colour or 0)


def header_embed(count: int, *, full: bool, run_at: datetime, guild_name: str | None) -> Embed:
    """The report's first embed."""
    noun = "issue" if count == 1 else "issues"
    kind = "open" if full else "new"
    return Embed(
        title=HEADER_TITLE,
        description=f"**{count} {kind} {noun}**\nRun at: <t:{int(run_at.timestamp())}:F>",
        colour=HEADER_COLOUR,
        footer=guild_name[:200] if guild_name else None,
        timestamp=run_at,
    )


def build_report(
    issues: Sequence[ReportIssue],
    *,
    full: bool = False,
    run_at: datetime | None = None,
    guild_name: str | None = None,
) -> list[ReportMessage]:
    """Header + one embed per type, packed greedily into messages within §8.4 limits."""
    ordered = sort_issues(issues)
    groups: dict[str, list[ReportIssue]] = {}
    for issue in ordered:
        groups.setdefault(issue.issue_type, []).append(issue)
    header = header_embed(
        len(ordered), full=full, run_at=run_at or clock.now(), guild_name=guild_name
    )
    messages = [ReportMessage(embeds=[header])]
    size = limits.embed_size(header)
    for issue_type, members in groups.items():
        embed = group_embed(issue_type, members)
        current = messages[-1]
        if (
            len(current.embeds) >= limits.MAX_EMBEDS_PER_MESSAGE
            or size + limits.embed_size(embed) > limits.MAX_EMBED_CHARS_PER_MESSAGE
        ):
            current = ReportMessage(embeds=[])
            messages.append(current)
            size = 0
        current.embeds.append(embed)
        current.issue_ids.extend(i.id for i in members)
        size += limits.embed_size(embed)
    return messages


async def load_issues(session: AsyncSession, *, full: bool) -> list[ReportIssue]:
    """Open issues to report: un-notified ones, or every open one for a full report."""
    severity = case(
        {name: index for index, name in enumerate(SEVERITY_ORDER)},
        value=AuditIssue.severity,
        else_=len(SEVERITY_ORDER),
    )
    query = select(
        AuditIssue.id, AuditIssue.issue_type, AuditIssue.severity, AuditIssue.summary
    ).where(AuditIssue.resolved_at.is_(None))
    if not full:
        query = query.where(AuditIssue.notified_at.is_(None))
    query = query.order_by(
        severity, AuditIssue.issue_type, AuditIssue.first_detected, AuditIssue.id
    )
    return [ReportIssue(*row) for row in (await session.execute(query)).all()]


async def deliver_issue_report(
    session: AsyncSession,
    service: DiscordService,
    channel_id: str | None,
    *,
    full: bool = False,
    guild_name: str | None = None,
) -> ReportResult:
    """Post the report and mark delivered issues notified (flushed, committed by the caller)."""
    if not channel_id:
        return ReportResult(skipped=NO_CHANNEL)
    if not service.available:
        return ReportResult(skipped=NOT_CONNECTED)
    issues = await load_issues(session, full=full)
    result = ReportResult(total=len(issues))
    if not issues:
        result.skipped = NO_ISSUES
        return result
    for message in build_report(issues, full=full, guild_name=guild_name):
        try:
            await service.post(channel_id, None, message.embeds)
        except DiscordError as exc:
            result.error = getattr(exc, "message", None) or str(exc)
            log.warning(
                "audit report stopped after %s messages: %s", result.messages_sent, result.error
            )
            break
        result.messages_sent += 1
        if message.issue_ids:
            await session.execute(
                update(AuditIssue)
                .where(AuditIssue.id.in_(message.issue_ids))
                .values(notified_at=func.coalesce(AuditIssue.notified_at, clock.now()))
            )
            await session.flush()
            result.reported += len(message.issue_ids)
    return result


async def send_issue_report(
    session: AsyncSession,
    service: DiscordService,
    channel_id: str | None,
    full: bool = False,
    *,
    guild_name: str | None = None,
) -> int:
    """Report issues to the audit channel; returns how many were reported (70 §8)."""
    result = await deliver_issue_report(
        session, service, channel_id, full=full, guild_name=guild_name
    )
    return result.reported


def sync_summary_embed(
    *,
    source_label: str,
    found: int,
    new: int,
    departed: int,
    issues: int,
    seconds: float,
    noun: str = "characters",
) -> Embed | None:
    """The "sync finished" embed (§8.5), or None when nothing notable happened.

    `noun` names what was found ("characters"; a Discord sync counts "accounts").
    """
    if not (new or departed or issues):
        return None
    parts = [f"**{found}** {noun}"] if found else []
    if new:
        parts.append(f"**{new}** new")
    if departed:
        parts.append(f"**{departed}** left")
    if issues:
        parts.append(f"**{issues}** new issues")
    return Embed(
        title=f"📡 Sync finished: {source_label}"[: limits.MAX_TITLE],
        description=" | ".join(parts),
        colour=SUMMARY_COLOUR,
        footer=f"Took {seconds:.1f}s",
    )


async def post_sync_summary(
    service: DiscordService,
    channel_id: str | None,
    *,
    source_label: str,
    found: int,
    new: int,
    departed: int,
    issues: int,
    seconds: float,
    noun: str = "characters",
    new_is_notable: bool = True,
) -> str:
    """Post the §8.5 summary to the audit channel; returns "posted" or why it was not.

    Nothing notable, no audit channel or Discord not connected ⇒ skipped silently. A refused
    post is logged and reported in the result, never raised (the sync itself succeeded).
    Marks nothing: issues are marked notified only by the report.
    """
    if not (departed or issues or (new and new_is_notable)):
        return "nothing notable"
    embed = sync_summary_embed(
        source_label=source_label,
        found=found,
        new=new,
        departed=departed,
        issues=issues,
        seconds=seconds,
        noun=noun,
    )
    if embed is None:  # pragma: no cover - something above is non-zero
        return "nothing notable"
    if not channel_id:
        return NO_CHANNEL
    if not service.available:
        return "Discord is not connected"
    try:
        await service.post(channel_id, None, [embed])
    except DiscordError as exc:
        message = getattr(exc, "message", None) or str(exc)
        log.warning("sync summary not posted: %s", message)
        return f"failed: {message}"
    return "posted"
