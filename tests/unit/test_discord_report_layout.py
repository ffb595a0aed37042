"""Audit report layout (70 §8.2–8.5): grouping, order, colours, caps, packing, escaping."""

from __future__ import annotations

from datetime import UTC, datetime

from sv_common.discord import limits
from sv_common.guild_sync.reporter import (
    ReportIssue,
    build_report,
    group_embed,
    sort_issues,
    sync_summary_embed,
)

RUN_AT = datetime(2026, 2, 21, 19, 0, tzinfo=UTC)
TYPES = (
    "orphan_wow",
    "orphan_discord",
    "role_mismatch",
    "no_guild_role",
    "stale_character",
    "rank_change",
    "auto_link_suggestion",
)


def issue(
    n: int, issue_type: str = "orphan_wow", severity: str = "warning", summary: str = ""
) -> ReportIssue:
    return ReportIssue(n, issue_type, severity, summary or f"Character 'Char{n}' is not linked")


def test_severity_order_is_by_importance_not_alphabetical() -> None:
    issues = [
        issue(1, "stale_character", "info"),
        issue(2, "orphan_wow", "warning"),
        issue(3, "role_mismatch", "critical"),
    ]
    assert [i.id for i in sort_issues(issues)] == [3, 2, 1]


def test_one_embed_per_type_in_severity_order_with_header_first() -> None:
    issues = [
        issue(1, "stale_character", "info"),
        issue(2, "orphan_wow", "warning"),
        issue(3, "role_mismatch", "warning"),
        issue(4, "role_mismatch", "critical"),
        issue(5, "mystery_type", "info"),
    ]
    [message] = build_report(issues, run_at=RUN_AT, guild_name="PATT")
    titles = [e.title for e in message.embeds]
    assert titles == [
        "🔍 Guild Identity Audit",
        "⚠️ In-game rank ≠ Discord role (2)",
        "🎮 Characters not linked to a member (1)",
        "❓ mystery_type (1)",
        "💤 Inactive characters (1)",
    ]
    header = message.embeds[0]
    assert header.colour == 0xD4A84B
    assert header.description == f"**5 new issues**\nRun at: <t:{int(RUN_AT.timestamp())}:F>"
    assert header.footer == "PATT"
    # group colour = its worst severity
    assert [e.colour for e in message.embeds[1:]] == [0xFF0000, 0xFFA500, 0x3498DB, 0x3498DB]
    assert sorted(message.issue_ids) == [1, 2, 3, 4, 5]


def test_full_report_header_says_open() -> None:
    [message] = build_report([issue(1)], full=True, run_at=RUN_AT)
    assert message.embeds[0].description.startswith("**1 open issue**")


def test_twenty_lines_then_and_n_more() -> None:
    embed = group_embed("orphan_wow", [issue(n) for n in range(1, 31)])
    lines = embed.description.split("\n")
    assert len(lines) == 21
    assert lines[0] == "• Character 'Char1' is not linked"
    assert lines[-1] == "…and 10 more"
    assert embed.title.endswith("(30)")


def test_summaries_are_markdown_escaped() -> None:
    embed = group_embed("orphan_wow", [issue(1, summary="Character '*Zo_ë*' ~`|>@everyone")])
    assert embed.description == "• Character '\\*Zo\\_ë\\*' \\~\\`\\|\\>@everyone"


def test_long_descriptions_drop_lines_and_say_truncated() -> None:
    embed = group_embed("orphan_wow", [issue(n, summary="x" * 290 + str(n)) for n in range(20)])
    assert len(embed.description) <= limits.MAX_DESCRIPTION
    assert embed.description.endswith("…truncated")


def test_five_hundred_issues_fit_discord_limits() -> None:
    issues = [
        issue(n, TYPES[n % len(TYPES)], ("critical", "warning", "info")[n % 3], "Name " * 60)
        for n in range(500)
    ]
    messages = build_report(issues, run_at=RUN_AT)
    assert len(messages) > 1
    counted: list[int] = []
    for message in messages:
        limits.check_message(None, message.embeds)  # raises on any violation
        assert len(message.embeds) <= 10
        assert sum(limits.embed_size(e) for e in message.embeds) <= 6000
        counted += message.issue_ids
    assert sorted(counted) == list(range(500))  # every issue counted exactly once
    titles = [e.title for m in messages for e in m.embeds]
    assert len(titles) == 1 + len(TYPES)


def test_packing_respects_ten_embeds_per_message() -> None:
    issues = [issue(n, f"type_{n:02d}", "info") for n in range(25)]
    messages = build_report(issues, run_at=RUN_AT)
    assert [len(m.embeds) for m in messages] == [10, 10, 6]


def test_sync_summary_only_when_something_notable_happened() -> None:
    assert (
        sync_summary_embed(
            source_label="Blizzard", found=800, new=0, departed=0, issues=0, seconds=3
        )
        is None
    )
    embed = sync_summary_embed(
        source_label="Discord", found=812, new=2, departed=0, issues=3, seconds=13.94
    )
    assert embed is not None
    assert embed.title == "📡 Sync finished: Discord"
    assert embed.colour == 0x2ECC71
    assert embed.description == "**812** characters | **2** new | **3** new issues"
    assert embed.footer == "Took 13.9s"
