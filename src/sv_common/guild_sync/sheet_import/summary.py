"""The records of one import run: what the caller passes in (`ImportOptions`) and what the run
reports (`ImportSummary`, as the `--summary-json` shape or the text summary of 60 §10.8).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sv_common.guild_sync.sheet_import.rules import Flag


@dataclass
class ImportOptions:
    """Values the caller passes in (sv_common does not read settings)."""

    home_realm_name: str = "Sen'jin"
    home_realm_slug: str = "senjin"
    region: str = "us"
    default_rank: str | None = None  # None → Member, falling back to the lowest rank
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class ImportSummary:
    """Counts and flags of one run (60 §10.8)."""

    source: str
    dry_run: bool = False
    input_counts: dict[str, int] = field(default_factory=dict)
    members_created: int = 0
    members_updated: int = 0
    availability_members: int = 0
    availability_rows: int = 0
    characters_created: int = 0
    characters_updated: int = 0
    characters_skipped: int = 0
    characters_found: int = 0
    ids_set: int = 0
    ids_unchanged: int = 0
    ids_rejected: int = 0
    quotes_added: int = 0
    titles_added: int = 0
    mito_skipped: int = 0
    flags: list[Flag] = field(default_factory=list)
    sheet_issues: list[dict[str, Any]] = field(default_factory=list)
    missing_tabs: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The `--summary-json` shape."""
        return {
            "dryRun": self.dry_run,
            "source": self.source,
            "input": dict(self.input_counts),
            "missingTabs": list(self.missing_tabs),
            "members": {"created": self.members_created, "updated": self.members_updated},
            "availability": {"members": self.availability_members, "rows": self.availability_rows},
            "characters": {
                "created": self.characters_created,
                "updated": self.characters_updated,
                "skipped": self.characters_skipped,
            },
            "discordIds": {
                "set": self.ids_set,
                "unchanged": self.ids_unchanged,
                "rejected": self.ids_rejected,
            },
            "mito": {
                "quotesAdded": self.quotes_added,
                "titlesAdded": self.titles_added,
                "skipped": self.mito_skipped,
            },
            "flags": [flag.as_dict() for flag in self.flags],
            "sheetIssues": list(self.sheet_issues),
        }


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural or word + 's')}"


def format_summary(summary: ImportSummary) -> str:
    """The text summary (60 §10.8)."""
    counts = summary.input_counts
    lines = []
    if summary.dry_run:
        lines.append("DRY RUN — nothing written")
    lines.append(f"PATT sheet import — source: {summary.source}")
    lines.append(
        "Input:        "
        + ", ".join(
            [
                _plural(counts.get("availabilityRows", 0), "availability row"),
                _plural(counts.get("characterRows", 0), "character row"),
                _plural(counts.get("discordIds", 0), "Discord ID"),
                _plural(counts.get("sheetIssues", 0), "sheet issue"),
                _plural(counts.get("quotes", 0), "quote"),
                _plural(counts.get("titles", 0), "title"),
            ]
        )
    )
    if summary.missing_tabs:
        lines.append(f"Missing tabs: {', '.join(summary.missing_tabs)} (treated as empty)")
    lines.append(
        f"Members:      {summary.members_created} created, {summary.members_updated} updated"
    )
    lines.append(
        f"Availability: {_plural(summary.availability_members, 'member')} "
        f"({summary.availability_rows} day rows)"
    )
    lines.append(
        f"Characters:   {summary.characters_created} created, {summary.characters_updated} "
        f"updated, {summary.characters_skipped} skipped"
    )
    lines.append(
        f"Discord IDs:  {summary.ids_set} set, {summary.ids_unchanged} unchanged, "
        f"{summary.ids_rejected} rejected"
    )
    lines.append(
        f"Mito:         {_plural(summary.quotes_added, 'quote')} added, "
        f"{_plural(summary.titles_added, 'title')} added, {summary.mito_skipped} skipped "
        "(duplicate/empty)"
    )
    lines.append(f"Flags ({len(summary.flags)}):")
    lines.extend(f"  {flag.line()}" for flag in summary.flags)
    if summary.sheet_issues:
        issues = ", ".join(f"{i['name']} — {i['status']}" for i in summary.sheet_issues)
        lines.append(f"Sheet issues (informational): {issues}")
    lines.append(
        "Next: review the flags; new members have rank Member — adjust ranks and map Discord "
        "roles in the admin pages."
    )
    if summary.dry_run:
        lines.append("DRY RUN — nothing written")
    return "\n".join(lines)
