"""Planning the import without a database: the loaded sheet normalised into members, their
weeks, merged characters, Discord IDs and Mito texts, with a flag for every problem found.

Choices where the spec is silent:
- `invalid_discord_format` is raised once per person (first row naming them); names longer than
  the column (100 characters) are skipped with that flag.
- Mito quotes over 500 and titles over 200 characters (the tables' limits) are skipped and
  counted with the duplicates; an unusable `Realm` cell falls back to the usual realm choice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from sv_common.guild_sync.sheet_import.load import SheetExport
from sv_common.guild_sync.sheet_import.rules import (
    Flag,
    cell_text,
    parse_sheet_bool,
    parse_sheet_date,
    parse_snowflake,
)
from sv_common.identity import classes, realms
from sv_common.identity.names import normalise_character_name, normalise_discord_name

DAYS = classes.DAYS
USERNAME_COLUMN_MAX = 100  # guild_members.discord_username and display_name
MITO_QUOTE_MAX = 500  # the tables' CHECK limits (60 §3)
MITO_TITLE_MAX = 200


@dataclass
class PlannedAvailability:
    """A person's week from the Availability tab."""

    days: dict[str, bool]
    auto_signup: bool
    wants_reminders: bool
    notes: str
    updated: datetime | None


@dataclass
class PlannedMember:
    """One person of the sheet, keyed by lower-case username."""

    key: str
    username: str
    display_name: str
    availability: PlannedAvailability | None = None
    sheet_discord_id: str | None = None
    sheet_discord_name: str | None = None  # the discordIds key it came from


@dataclass
class PlannedCharacter:
    """One character row after validation and merging."""

    row: int
    member_key: str
    name: str
    realm_name: str | None
    class_name: str
    spec: str | None
    role: str
    main_alt: str


@dataclass
class ImportPlan:
    """Everything the writing steps need, plus the input flags and counts."""

    source: str
    members: dict[str, PlannedMember]
    characters: list[PlannedCharacter]
    quotes: list[str]
    titles: list[str]
    mito_skipped: int
    flags: list[Flag]
    sheet_issues: list[dict[str, Any]]
    input_counts: dict[str, int]
    missing_tabs: list[str]
    unmatched_discord_ids: list[str]
    characters_skipped: int = 0  # rows dropped with a flag (merged duplicates are not skipped)


def _member_for_name(
    raw_name: Any,
    *,
    source: str,
    row: int,
    members: dict[str, PlannedMember],
    flags: list[Flag],
    format_flagged: set[str],
) -> PlannedMember | None:
    """Find or add the planned member of a tab row; None (and a flag) when the name is unusable."""
    written = cell_text(raw_name)
    if not written:
        flags.append(Flag("missing_discord_name", source, row, "", "no Discord name — row skipped"))
        return None
    if len(written) > USERNAME_COLUMN_MAX:
        flags.append(
            Flag(
                "invalid_discord_format",
                source,
                row,
                written[:40],
                "Discord name longer than 100 characters — row skipped",
            )
        )
        return None
    normalised = normalise_discord_name(written)
    username = normalised if normalised is not None else written
    key = username.lower()
    if normalised is None and key not in format_flagged:
        format_flagged.add(key)
        flags.append(
            Flag(
                "invalid_discord_format",
                source,
                row,
                written,
                f"'{written}' is not a Discord username — kept as written",
            )
        )
    member = members.get(key)
    if member is None:
        member = PlannedMember(key=key, username=username, display_name=written)
        members[key] = member
    return member


def _plan_availability(
    export: SheetExport,
    members: dict[str, PlannedMember],
    flags: list[Flag],
    format_flagged: set[str],
    sheet_tz: tzinfo,
) -> None:
    """Each Availability row into its person's week (a later row wins), flagging odd cells."""
    seen: set[str] = set()
    for index, raw in enumerate(export.availability):
        row = index + 2
        member = _member_for_name(
            raw.get("discord"),
            source="availability",
            row=row,
            members=members,
            flags=flags,
            format_flagged=format_flagged,
        )
        if member is None:
            continue
        values: dict[str, bool] = {}
        for key in (*DAYS, "autoSignup", "wantsReminders"):
            value, understood = parse_sheet_bool(raw.get(key))
            if not understood:
                flags.append(
                    Flag(
                        "bad_boolean",
                        "availability",
                        row,
                        member.username,
                        f"'{key}' value {cell_text(raw.get(key))!r} is not true/false — read as false",
                    )
                )
            values[key] = value
        if member.key in seen:
            flags.append(
                Flag(
                    "duplicate_availability",
                    "availability",
                    row,
                    member.username,
                    f"{member.username} has several availability rows — the later row wins",
                )
            )
        seen.add(member.key)
        member.availability = PlannedAvailability(
            days={day: values[day] for day in DAYS},
            auto_signup=values["autoSignup"],
            wants_reminders=values["wantsReminders"],
            notes=cell_text(raw.get("notes")),
            updated=parse_sheet_date(raw.get("updated"), sheet_tz),
        )


def _character_flag(flags: list[Flag], row: int, code: str, name: str, message: str) -> None:
    """Add a flag about a row of the Characters tab."""
    flags.append(Flag(code, "characters", row, name, message))


def _character_class(raw: dict[str, Any], row: int, name: str, flags: list[Flag]) -> str | None:
    """The row's class as the class table spells it; None (row skipped) when unknown."""
    written_class = cell_text(raw.get("class"))
    class_name = classes.match_class(written_class)
    if class_name is None:
        message = f"unknown class '{written_class}' for {name} — row skipped"
        _character_flag(flags, row, "unknown_class", name, message)
    return class_name


def _character_spec(
    raw: dict[str, Any], row: int, name: str, class_name: str, flags: list[Flag]
) -> str | None:
    """The row's spec of that class; None (spec left empty, flagged) when it is not one."""
    written_spec = cell_text(raw.get("spec"))
    spec = classes.match_spec(class_name, written_spec) if written_spec else None
    if spec is None:
        message = f"'{written_spec}' is not a {class_name} spec — spec left empty"
        _character_flag(flags, row, "unknown_spec", name, message)
    return spec


def _character_role(
    raw: dict[str, Any],
    row: int,
    name: str,
    class_name: str,
    spec: str | None,
    flags: list[Flag],
) -> str:
    """The written role, else the one the spec implies (ranged when even that is unknown)."""
    written_role = cell_text(raw.get("role"))
    role = classes.parse_role(written_role)
    if role is not None:
        return role
    role = classes.role_for(class_name, spec) or classes.RANGED_DPS
    label = classes.legacy_role_label(role)
    if written_role.lower() == "dps":
        message = f"role DPS for {name} read as {label} from {spec or 'the unknown spec'}"
        _character_flag(flags, row, "role_derived", name, message)
    elif written_role:
        message = f"unknown role '{written_role}' for {name} — {label} derived from the spec"
        _character_flag(flags, row, "unknown_role", name, message)
    return role


def _character_main_alt(raw: dict[str, Any], row: int, name: str, flags: list[Flag]) -> str:
    """'main' or 'alt'; anything else is stored as alt (flagged)."""
    written_main_alt = cell_text(raw.get("mainAlt")).lower()
    if written_main_alt in ("main", "alt"):
        return written_main_alt
    message = f"Main/Alt value '{cell_text(raw.get('mainAlt'))}' for {name} — stored as Alt"
    _character_flag(flags, row, "invalid_main_alt", name, message)
    return "alt"


def _character_realm(raw: dict[str, Any]) -> str | None:
    """The row's realm name, or None to fall back to the usual realm choice."""
    realm = cell_text(raw.get("realm")) or None
    if realm is not None and (len(realm) > 100 or not 0 < len(realms.realm_slug(realm)) <= 50):
        return None  # longer than the realm columns allow, or nothing to make a slug of
    return realm


def _plan_character_row(
    raw: dict[str, Any],
    row: int,
    members: dict[str, PlannedMember],
    flags: list[Flag],
    format_flagged: set[str],
) -> PlannedCharacter | None:
    """One Characters row checked field by field; None (with a flag) when it is skipped."""
    written_name = cell_text(raw.get("character"))
    member = _member_for_name(
        raw.get("discord"),
        source="characters",
        row=row,
        members=members,
        flags=flags,
        format_flagged=format_flagged,
    )
    if member is None:
        return None
    if not written_name:
        message = "no character name — row skipped"
        _character_flag(flags, row, "missing_character_name", member.username, message)
        return None
    name = normalise_character_name(written_name)
    if name is None:
        message = f"'{written_name}' is not a WoW character name (2–12 letters) — row skipped"
        _character_flag(flags, row, "invalid_character_name", written_name, message)
        return None
    class_name = _character_class(raw, row, name, flags)
    if class_name is None:
        return None
    spec = _character_spec(raw, row, name, class_name, flags)
    role = _character_role(raw, row, name, class_name, spec, flags)
    main_alt = _character_main_alt(raw, row, name, flags)
    return PlannedCharacter(
        row=row,
        member_key=member.key,
        name=name,
        realm_name=_character_realm(raw),
        class_name=class_name,
        spec=spec,
        role=role,
        main_alt=main_alt,
    )


def _merge_characters(rows: list[PlannedCharacter], flags: list[Flag]) -> list[PlannedCharacter]:
    """One row per character name: same person → later wins; other person → first claimant."""
    merged: dict[str, PlannedCharacter] = {}
    for planned in rows:
        key = planned.name.lower()
        existing = merged.get(key)
        if existing is None:
            merged[key] = planned
        elif existing.member_key == planned.member_key:
            flags.append(
                Flag(
                    "duplicate_character",
                    "characters",
                    planned.row,
                    planned.name,
                    f"{planned.name} is listed more than once — the later row wins",
                )
            )
            merged[key] = planned
        else:
            flags.append(
                Flag(
                    "character_conflict",
                    "characters",
                    planned.row,
                    planned.name,
                    f"{planned.name} is claimed by several Discord users — the first is kept",
                )
            )
    result = sorted(merged.values(), key=lambda c: c.row)
    mains_by_member: dict[str, list[PlannedCharacter]] = {}
    for planned in result:
        if planned.main_alt == "main":
            mains_by_member.setdefault(planned.member_key, []).append(planned)
    for mains in mains_by_member.values():
        if len(mains) > 1:
            keep = mains[-1]
            for demoted in mains[:-1]:
                demoted.main_alt = "alt"
            flags.append(
                Flag(
                    "multiple_mains",
                    "characters",
                    keep.row,
                    keep.name,
                    f"several mains for one person — {keep.name} kept as main, others set to Alt",
                )
            )
    return result


def _plan_discord_ids(
    export: SheetExport, members: dict[str, PlannedMember], flags: list[Flag]
) -> list[str]:
    """Attach valid sheet IDs to members; returns the discordIds names that matched nobody."""
    by_exact = {cell_text(name): name for name in export.discord_ids}
    by_lower: dict[str, str] = {}
    for name in export.discord_ids:
        by_lower.setdefault(cell_text(name).lower(), name)
    used: set[str] = set()
    for member in members.values():
        sheet_name = by_exact.get(member.display_name)
        if sheet_name is None:
            sheet_name = by_lower.get(member.display_name.lower()) or by_lower.get(member.key)
        if sheet_name is None:
            continue
        used.add(sheet_name)
        value = export.discord_ids[sheet_name]
        snowflake = parse_snowflake(value)
        if snowflake is None:
            shown = cell_text(value)
            if isinstance(value, int) and not isinstance(value, bool):
                problem = "is a number too large to be exact (it lost precision in the sheet)"
            else:
                problem = "is not 17–20 digits"
            flags.append(
                Flag(
                    "invalid_discord_id",
                    "discordIds",
                    None,
                    cell_text(sheet_name),
                    f"Discord ID {shown!r} for {cell_text(sheet_name)} {problem} — not set",
                )
            )
            continue
        member.sheet_discord_id = snowflake
        member.sheet_discord_name = cell_text(sheet_name)
    return [cell_text(name) for name in export.discord_ids if name not in used]


def _clean_texts(values: Iterable[Any], seen: set[str], limit: int) -> tuple[list[str], int]:
    kept: list[str] = []
    skipped = 0
    for value in values:
        text_value = cell_text(value)
        if not text_value or text_value in seen or len(text_value) > limit:
            skipped += 1
            continue
        seen.add(text_value)
        kept.append(text_value)
    return kept, skipped


def plan_import(export: SheetExport, *, sheet_tz: tzinfo = UTC) -> ImportPlan:
    """Normalise an export into an ImportPlan with the input flags (no database)."""
    flags: list[Flag] = []
    members: dict[str, PlannedMember] = {}
    format_flagged: set[str] = set()
    _plan_availability(export, members, flags, format_flagged, sheet_tz)
    character_rows = []
    for index, raw in enumerate(export.characters):
        planned = _plan_character_row(raw, index + 2, members, flags, format_flagged)
        if planned is not None:
            character_rows.append(planned)
    characters = _merge_characters(character_rows, flags)
    conflicts = sum(1 for flag in flags if flag.code == "character_conflict")
    unmatched = _plan_discord_ids(export, members, flags)
    quotes, quotes_skipped = _clean_texts(export.mito_quotes, set(), MITO_QUOTE_MAX)
    titles, titles_skipped = _clean_texts(export.mito_titles, set(), MITO_TITLE_MAX)
    return ImportPlan(
        source=export.source,
        members=members,
        characters=characters,
        quotes=quotes,
        titles=titles,
        mito_skipped=quotes_skipped + titles_skipped,
        flags=flags,
        sheet_issues=[
            {
                "name": cell_text(issue.get("name")),
                "status": cell_text(issue.get("status")),
                "hasId": bool(issue.get("hasId")),
            }
            for issue in export.validation_issues
        ],
        input_counts={
            "availabilityRows": len(export.availability),
            "characterRows": len(export.characters),
            "discordIds": len(export.discord_ids),
            "sheetIssues": len(export.validation_issues),
            "quotes": len(export.mito_quotes),
            "titles": len(export.mito_titles),
        },
        missing_tabs=list(export.missing_tabs),
        unmatched_discord_ids=unmatched,
        characters_skipped=len(export.characters) - len(character_rows) + conflicts,
    )
