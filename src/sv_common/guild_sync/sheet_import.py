"""One-time import of the old Google Sheet (60 §10, 80 §8).

Three halves, read top to bottom:
1. **Input rules** shared with the roster form (Discord names, character names, booleans,
   snowflakes) — pure functions.
2. **Loading and planning** — `load_json_export` / `load_csv_dir` / `load_csv_files` turn a source
   into a `SheetExport`; `plan_import` normalises it into an `ImportPlan` (members, availability,
   merged characters, Discord IDs, Mito texts) and raises the input flags. Pure, no database.
3. **Writing** — `apply_plan` writes a plan in the caller's transaction with a constant number of
   set-based statements and returns an `ImportSummary` (text or JSON via `format_summary`).

Choices where the spec is silent:
- Loading failures (unreadable file, truncated or wrongly shaped JSON, `success: false`) abort
  before anything is written, including the `sync_log` row; failures while writing roll back and
  are logged as an `error` row by the caller.
- Dates in CSV display format (`M/D/YYYY H:MM:SS`) are read in the guild time zone (the sheet
  belonged to the guild), ISO dates without offset as UTC.
- `invalid_discord_format` is raised once per person (first row naming them); names longer than
  the column (100 characters) are skipped with that flag.
- The import counts a Discord-ID conflict as "rejected", like an invalid ID.
- Mito quotes over 500 and titles over 200 characters (the tables' limits) are skipped and
  counted with the duplicates; an unusable `Realm` cell falls back to the usual realm choice.
- Existing characters and members are only written when a value really changes, so a second
  run leaves every row (and its `updated_at`) as it was.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sv_common.db.models import (
    Character,
    DiscordMember,
    GuildMember,
    GuildRank,
    IdentityLink,
    MemberAvailability,
    MitoQuote,
    MitoTitle,
)
from sv_common.guild_sync import sync_log
from sv_common.identity import classes, realms

DAYS = classes.DAYS
MAX_SAFE_JSON_INTEGER = 2**53 - 1
MAX_URL_BYTES = 10 * 1024 * 1024
USERNAME_COLUMN_MAX = 100
DISCORD_MEMBER_USERNAME_MAX = 50
MITO_QUOTE_MAX = 500  # the tables' CHECK limits (60 §3)
MITO_TITLE_MAX = 200
LOCK_NAMESPACE = 1346458708  # "PATT" (80 §9.4)
SHEET_IMPORT_LOCK = 6
TABS = ("Availability", "Characters", "DiscordIDs", "MitoQuotes", "MitoTitles")
SHEET_ISSUE_STATUSES = {
    "invalid format": "Invalid Format",
    "pending id": "Pending ID",
    "unknown": "Unknown",
}


class SheetImportError(Exception):
    """A fatal import problem (bad source, wrong shape, writing failed); nothing is written."""


class SheetUsageError(SheetImportError):
    """The command was called wrongly (exit code 2)."""


# =================================================================== 1. input rules (pure)
_CURRENT_USERNAME = re.compile(r"[A-Za-z0-9_.]{2,32}")
_LEGACY_USERNAME = re.compile(r"[^#@\x00-\x1f\x7f]{2,32}#[0-9]{4}")
_SNOWFLAKE = re.compile(r"[0-9]{17,20}")


def normalise_discord_name(value: str) -> str | None:
    """Stored form of a Discord username (60 §9.3), or None when it is not one.

    Current style: 2–32 of `a-z 0-9 _ .` (stored lower-case). Old style `name#1234` (stored as
    typed). A leading `@` is dropped; surrounding spaces are trimmed.
    """
    text_value = value.strip()
    if text_value.startswith("@"):
        text_value = text_value[1:].strip()
    if _CURRENT_USERNAME.fullmatch(text_value):
        return text_value.lower()
    if _LEGACY_USERNAME.fullmatch(text_value) and text_value == text_value.strip():
        return text_value
    return None


def normalise_character_name(value: str) -> str | None:
    """NFC, 2–12 letters, first letter upper-case and the rest lower-case; None when invalid."""
    name = unicodedata.normalize("NFC", value.strip())
    if not realms.is_valid_character_name(name, max_length=realms.WOW_CHARACTER_NAME_MAX_LENGTH):
        return None
    return name[:1].upper() + name[1:].lower()


def parse_sheet_bool(value: Any) -> tuple[bool, bool]:
    """(value, understood) for a sheet cell: true/1/"yes"… and false/0/""/None/"no"…"""
    if value is None or isinstance(value, bool):
        return bool(value), True
    if isinstance(value, int | float):
        if value == 1:
            return True, True
        if value == 0:
            return False, True
        return False, False
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("true", "yes", "1"):
            return True, True
        if word in ("false", "no", "0", ""):
            return False, True
    return False, False


def parse_snowflake(value: Any) -> str | None:
    """A Discord ID as 17–20 digits; JSON numbers only while exact (≤ 2^53−1); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if value < 0 or value > MAX_SAFE_JSON_INTEGER:
            return None
        value = str(value)
    if not isinstance(value, str):
        return None
    candidate = value.strip()
    return candidate if _SNOWFLAKE.fullmatch(candidate) else None


def cell_text(value: Any) -> str:
    """A cell as trimmed text (numbers written without a trailing `.0`)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        return str(int(value))
    return str(value).strip()


def parse_sheet_date(value: Any, sheet_tz: tzinfo) -> datetime | None:
    """ISO-8601 (JSON export) or `M/D/YYYY H:MM:SS` (CSV display) → aware UTC datetime."""
    if not isinstance(value, str) or not value.strip():
        return None
    raw = value.strip()
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except ValueError:
        pass
    for pattern in ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y"):
        try:
            local = datetime.strptime(raw, pattern)
        except ValueError:
            continue
        return local.replace(tzinfo=sheet_tz).astimezone(UTC)
    return None


# =========================================================== 2. loading and planning (pure)
@dataclass
class Flag:
    """One import finding (60 §10.7); flags never stop the import."""

    code: str
    source: str
    row: int | None
    name: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        """JSON shape of the summary."""
        return {
            "code": self.code,
            "source": self.source,
            "row": self.row,
            "name": self.name,
            "message": self.message,
        }

    def line(self) -> str:
        """One line of the text summary."""
        where = f"{self.source} row {self.row}" if self.row is not None else self.source
        return f"[{self.code}] {where}: {self.message}"


@dataclass
class SheetExport:
    """The Apps Script JSON shape (60 §10.2), however it was read."""

    source: str
    availability: list[dict[str, Any]] = field(default_factory=list)
    characters: list[dict[str, Any]] = field(default_factory=list)
    discord_ids: dict[str, Any] = field(default_factory=dict)
    validation_issues: list[dict[str, Any]] = field(default_factory=list)
    mito_quotes: list[Any] = field(default_factory=list)
    mito_titles: list[Any] = field(default_factory=list)
    missing_tabs: list[str] = field(default_factory=list)


def _require_list_of_objects(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise SheetImportError(f"The export's '{key}' must be a list of rows (objects).")
    return value


def _require_text_list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(
        isinstance(item, str | int | float) and not isinstance(item, bool) for item in value
    ):
        raise SheetImportError(f"The export's '{key}' must be a list of texts.")
    return value


def load_json_export(raw: str | bytes, *, source: str) -> SheetExport:
    """Parse and shape-check the Apps Script JSON; SheetImportError on any problem."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SheetImportError(f"The export is not valid JSON (truncated?): {exc}") from exc
    if not isinstance(data, dict):
        raise SheetImportError("The export must be a JSON object with the sheet's tabs.")
    success = data.get("success", True)
    if success is False:
        error = data.get("error")
        raise SheetImportError(
            f"The sheet reported an error: {error}" if error else "The sheet reported an error."
        )
    if not isinstance(success, bool):
        raise SheetImportError("The export's 'success' must be true or false.")
    if "availability" not in data and "characters" not in data:
        raise SheetImportError("The export has neither 'availability' nor 'characters'.")
    discord_ids = data.get("discordIds", {})
    if not isinstance(discord_ids, dict):
        raise SheetImportError("The export's 'discordIds' must be an object of name → ID.")
    issues = _require_list_of_objects(data, "validationIssues")
    return SheetExport(
        source=source,
        availability=_require_list_of_objects(data, "availability"),
        characters=_require_list_of_objects(data, "characters"),
        discord_ids=discord_ids,
        validation_issues=issues,
        mito_quotes=_require_text_list(data, "mitoQuotes"),
        mito_titles=_require_text_list(data, "mitoTitles"),
    )


def fetch_export(url: str, *, transport: httpx.BaseTransport | None = None) -> bytes:
    """GET the Apps Script URL (HTTPS, redirects followed, 30 s, ≤ 10 MiB); the raw body."""
    if not url.lower().startswith("https://"):
        raise SheetUsageError("The sheet URL must start with https://.")
    try:
        with (
            httpx.Client(follow_redirects=True, timeout=30, transport=transport) as client,
            client.stream("GET", url, headers={"Accept": "application/json"}) as response,
        ):
            if not 200 <= response.status_code < 300:
                raise SheetImportError(f"The sheet URL answered HTTP {response.status_code}.")
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > MAX_URL_BYTES:
                    raise SheetImportError("The sheet export is larger than 10 MiB.")
            return bytes(body)
    except httpx.HTTPError as exc:
        raise SheetImportError(f"Could not fetch the sheet: {type(exc).__name__}: {exc}") from exc


def _header_key(header: str) -> str:
    return "".join(ch for ch in header.strip().lower() if ch.isalnum())


# CSV header (normalised) → the JSON key of 60 §10.2, per tab.
_AVAILABILITY_KEYS = {"autosignup": "autoSignup", "wantsreminders": "wantsReminders"}
_CHARACTER_KEYS = {
    "discord": "discord",
    "character": "character",
    "class": "class",
    "spec": "spec",
    "role": "role",
    "mainalt": "mainAlt",
    "realm": "realm",
}
_DISCORD_ID_KEYS = {
    "discord": "discord",
    "discordname": "discord",
    "discordid": "discordId",
    "discorduserid": "discordId",
    "status": "status",
    "updated": "updated",
}


def _read_csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        content = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise SheetImportError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise SheetImportError(f"{path.name} is not UTF-8 text.") from exc
    try:
        rows = list(csv.reader(io.StringIO(content, newline="")))
    except csv.Error as exc:
        raise SheetImportError(f"{path.name} is not a readable CSV file: {exc}") from exc
    if not rows:
        return [], []
    return [cell.strip() for cell in rows[0]], rows[1:]


def _csv_dicts(path: Path, key_map: dict[str, str] | None) -> list[dict[str, Any]]:
    headers, rows = _read_csv_rows(path)
    keys: list[str | None] = []
    for header in headers:
        normalised = _header_key(header)
        if key_map is None:
            keys.append(_AVAILABILITY_KEYS.get(normalised, normalised) or None)
        else:
            keys.append(key_map.get(normalised))
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()  # blank lines at the end of an export (inner ones keep the row numbers)
    result = []
    for cells in rows:
        row: dict[str, Any] = {}
        for index, key in enumerate(keys):
            if key is not None and key not in row:
                row[key] = cells[index] if index < len(cells) else ""
        result.append(row)
    return result


def _single_column(path: Path, column: str) -> list[Any]:
    headers, rows = _read_csv_rows(path)
    wanted = [i for i, header in enumerate(headers) if _header_key(header) == column]
    if not wanted:
        raise SheetImportError(f"{path.name} has no '{column.title()}' column.")
    index = wanted[0]
    return [cells[index] if index < len(cells) else "" for cells in rows if cells]


def _discord_tab(export: SheetExport, path: Path) -> None:
    for row in _csv_dicts(path, _DISCORD_ID_KEYS):
        name = cell_text(row.get("discord"))
        discord_id = cell_text(row.get("discordId"))
        if name and discord_id:
            export.discord_ids[name] = discord_id
        status = SHEET_ISSUE_STATUSES.get(cell_text(row.get("status")).lower())
        if name and status:
            export.validation_issues.append(
                {"name": name, "status": status, "hasId": bool(discord_id)}
            )


def load_csv_dir(directory: Path) -> SheetExport:
    """Read the per-tab CSV exports of a folder (file names ending in `<Tab>.csv`)."""
    if not directory.is_dir():
        raise SheetUsageError(f"{directory} is not a folder.")
    found: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        for tab in TABS:
            if path.is_file() and path.name.lower().endswith(f"{tab.lower()}.csv"):
                found.setdefault(tab, path)
    if "Availability" not in found and "Characters" not in found:
        raise SheetUsageError(
            f"{directory} holds neither an Availability.csv nor a Characters.csv export."
        )
    export = SheetExport(source=str(directory))
    export.missing_tabs = [tab for tab in TABS if tab not in found]
    if "Availability" in found:
        export.availability = _csv_dicts(found["Availability"], None)
    if "Characters" in found:
        export.characters = _csv_dicts(found["Characters"], _CHARACTER_KEYS)
    if "DiscordIDs" in found:
        _discord_tab(export, found["DiscordIDs"])
    if "MitoQuotes" in found:
        export.mito_quotes = _single_column(found["MitoQuotes"], "quote")
    if "MitoTitles" in found:
        export.mito_titles = _single_column(found["MitoTitles"], "title")
    return export


def load_csv_files(characters: Path, discord_ids: Path | None) -> SheetExport:
    """`--characters FILE [--discord-ids FILE]`: only those two tabs are imported."""
    for path in (characters, discord_ids):
        if path is not None and not path.is_file():
            raise SheetUsageError(f"{path} is not a file.")
    export = SheetExport(source=characters.name)
    export.characters = _csv_dicts(characters, _CHARACTER_KEYS)
    if discord_ids is not None:
        _discord_tab(export, discord_ids)
    export.missing_tabs = [
        tab for tab in TABS if tab != "Characters" and (tab != "DiscordIDs" or discord_ids is None)
    ]
    return export


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
    """Everything the writing half needs, plus the input flags and counts."""

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


def _plan_character_row(
    raw: dict[str, Any],
    row: int,
    members: dict[str, PlannedMember],
    flags: list[Flag],
    format_flagged: set[str],
) -> PlannedCharacter | None:
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
        flags.append(
            Flag(
                "missing_character_name",
                "characters",
                row,
                member.username,
                "no character name — row skipped",
            )
        )
        return None
    name = normalise_character_name(written_name)
    if name is None:
        flags.append(
            Flag(
                "invalid_character_name",
                "characters",
                row,
                written_name,
                f"'{written_name}' is not a WoW character name (2–12 letters) — row skipped",
            )
        )
        return None
    written_class = cell_text(raw.get("class"))
    class_name = classes.match_class(written_class)
    if class_name is None:
        flags.append(
            Flag(
                "unknown_class",
                "characters",
                row,
                name,
                f"unknown class '{written_class}' for {name} — row skipped",
            )
        )
        return None
    written_spec = cell_text(raw.get("spec"))
    spec = classes.match_spec(class_name, written_spec) if written_spec else None
    if spec is None:
        flags.append(
            Flag(
                "unknown_spec",
                "characters",
                row,
                name,
                f"'{written_spec}' is not a {class_name} spec — spec left empty",
            )
        )
    written_role = cell_text(raw.get("role"))
    derived = classes.role_for(class_name, spec) or classes.RANGED_DPS
    role = classes.parse_role(written_role)
    if role is None:
        role = derived
        label = classes.legacy_role_label(role)
        if written_role.lower() == "dps":
            flags.append(
                Flag(
                    "role_derived",
                    "characters",
                    row,
                    name,
                    f"role DPS for {name} read as {label} from {spec or 'the unknown spec'}",
                )
            )
        elif written_role:
            flags.append(
                Flag(
                    "unknown_role",
                    "characters",
                    row,
                    name,
                    f"unknown role '{written_role}' for {name} — {label} derived from the spec",
                )
            )
    written_main_alt = cell_text(raw.get("mainAlt")).lower()
    main_alt = written_main_alt if written_main_alt in ("main", "alt") else "alt"
    if written_main_alt not in ("main", "alt"):
        flags.append(
            Flag(
                "invalid_main_alt",
                "characters",
                row,
                name,
                f"Main/Alt value '{cell_text(raw.get('mainAlt'))}' for {name} — stored as Alt",
            )
        )
    realm = cell_text(raw.get("realm")) or None
    if realm is not None and (len(realm) > 100 or not 0 < len(realms.realm_slug(realm)) <= 50):
        realm = None  # not a usable realm name: fall back to the usual realm choice
    return PlannedCharacter(
        row=row,
        member_key=member.key,
        name=name,
        realm_name=realm,
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


# ====================================================================== 3. writing (DB)
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


async def _default_rank_id(session: AsyncSession, name: str | None) -> int:
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
class _MemberRow:
    id: int
    discord_id: str | None
    discord_username: str | None
    on_raid_roster: bool


async def _write_members(
    session: AsyncSession, plan: ImportPlan, options: ImportOptions, summary: ImportSummary
) -> dict[str, _MemberRow]:
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
    existing = [
        _MemberRow(r.id, r.discord_id, r.discord_username, r.on_raid_roster) for r in result
    ]
    by_id = {row.discord_id: row for row in existing if row.discord_id}
    by_name = {row.discord_username.lower(): row for row in existing if row.discord_username}
    matched: dict[str, _MemberRow] = {}
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
            matched[str(username).lower()] = _MemberRow(new_id, None, username, True)
        summary.members_created = len(to_create)
    elif options.default_rank is not None:
        await _default_rank_id(session, options.default_rank)  # still report an unknown rank
    return matched


async def _write_availability(
    session: AsyncSession,
    plan: ImportPlan,
    members: dict[str, _MemberRow],
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


def _link_row(
    member_id: int,
    *,
    character_id: int | None = None,
    discord_member_id: int | None = None,
    now: datetime,
) -> dict[str, Any]:
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


async def _write_characters(
    session: AsyncSession,
    plan: ImportPlan,
    members: dict[str, _MemberRow],
    options: ImportOptions,
    summary: ImportSummary,
) -> None:
    """Step 3: upsert characters on (lower(name), realm_slug), link them, keep one main."""
    planned = [c for c in plan.characters if c.member_key in members]
    summary.characters_skipped = plan.characters_skipped
    summary.characters_found = len(planned)
    if not planned:
        return
    names = sorted({c.name.lower() for c in planned})
    existing_rows = list(
        (
            await session.execute(select(Character).where(func.lower(Character.name).in_(names)))
        ).scalars()
    )
    by_name: dict[str, list[Character]] = {}
    for character in existing_rows:
        by_name.setdefault(character.name.lower(), []).append(character)
    linked_ids = (
        set(
            (
                await session.scalars(
                    select(IdentityLink.character_id).where(
                        IdentityLink.character_id.in_([c.id for c in existing_rows])
                    )
                )
            ).all()
        )
        if existing_rows
        else set()
    )

    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    stale_links: list[int] = []
    main_member_ids: set[int] = set()
    main_character_ids: set[int] = set()
    new_mains: list[tuple[str, str]] = []  # (lower name, realm slug) of created mains
    for item in planned:
        member_id = members[item.member_key].id
        if item.realm_name:
            realm_name, slug = item.realm_name, realm_slug_or_home(item.realm_name, options)
        else:
            same_name = by_name.get(item.name.lower(), [])
            if len(same_name) == 1:
                realm_name = same_name[0].realm_name or options.home_realm_name
                slug = same_name[0].realm_slug
            else:
                realm_name, slug = options.home_realm_name, options.home_realm_slug
        current = next(
            (c for c in by_name.get(item.name.lower(), []) if c.realm_slug == slug), None
        )
        if current is None:
            inserts.append(
                {
                    "member_id": member_id,
                    "name": item.name,
                    "realm_slug": slug,
                    "realm_name": realm_name,
                    "character_class": item.class_name,
                    "spec": item.spec,
                    "role": item.role,
                    "main_alt": item.main_alt,
                    "armory_url": realms.armory_url(item.name, slug, region=options.region),
                    "origin": "sheet_import",
                }
            )
            if item.main_alt == "main":
                main_member_ids.add(member_id)
                new_mains.append((item.name.lower(), slug))
            continue
        if current.member_id is not None and current.member_id != member_id:
            summary.characters_skipped += 1
            plan_flag(
                summary,
                "character_owned_by_other_member",
                item,
                f"{current.name} belongs to another member — not moved",
            )
            continue
        changes: dict[str, Any] = {"main_alt": item.main_alt, "member_id": member_id}
        armory_class = current.blizzard_last_sync is not None and current.character_class
        if armory_class and current.character_class != item.class_name:
            plan_flag(
                summary,
                "class_mismatch",
                item,
                f"{current.name} is a {current.character_class} on the armory, not "
                f"{item.class_name} — class, spec and role kept",
            )
        else:
            changes.update(character_class=item.class_name, spec=item.spec, role=item.role)
        if not current.armory_url:
            changes["armory_url"] = realms.armory_url(current.name, slug, region=options.region)
        if any(getattr(current, key) != value for key, value in changes.items()):
            # Same keys in every row, so the bulk UPDATE runs as one executemany.
            row = {key: getattr(current, key) for key in _UPDATED_CHARACTER_FIELDS}
            row.update(changes, id=current.id, updated_at=options.now)
            updates.append(row)
        if current.member_id is None or current.id not in linked_ids:
            if current.id in linked_ids:
                stale_links.append(current.id)  # an orphan should have none; replace it
            links.append(_link_row(member_id, character_id=current.id, now=options.now))
        summary.characters_updated += 1
        if item.main_alt == "main":
            main_member_ids.add(member_id)
            main_character_ids.add(current.id)

    if stale_links:
        await session.execute(
            delete(IdentityLink).where(IdentityLink.character_id.in_(stale_links))
        )
    if updates:
        await session.execute(update(Character), updates)
    if inserts:
        created = await session.execute(
            pg_insert(Character).returning(
                Character.id, Character.member_id, Character.name, Character.realm_slug
            ),
            inserts,
        )
        new_main_keys = set(new_mains)
        for char_id, owner_id, name, slug in created:
            assert owner_id is not None  # every imported character has its member
            links.append(_link_row(owner_id, character_id=char_id, now=options.now))
            if (name.lower(), slug) in new_main_keys:
                main_character_ids.add(char_id)
        summary.characters_created = len(inserts)
    if links:
        await session.execute(pg_insert(IdentityLink), links)
    if main_member_ids:
        await session.execute(
            update(Character)
            .where(
                Character.member_id.in_(sorted(main_member_ids)),
                Character.main_alt == "main",
                Character.id.not_in(sorted(main_character_ids)),
            )
            .values(main_alt="alt", updated_at=options.now)
        )


_UPDATED_CHARACTER_FIELDS = (
    "main_alt",
    "member_id",
    "character_class",
    "spec",
    "role",
    "armory_url",
)


def realm_slug_or_home(realm_name: str, options: ImportOptions) -> str:
    """Slug of a realm named in the sheet (the home slug when it has no letters or digits)."""
    return realms.realm_slug(realm_name) or options.home_realm_slug


def plan_flag(summary: ImportSummary, code: str, item: PlannedCharacter, message: str) -> None:
    """Add a characters-tab flag raised while writing."""
    summary.flags.append(Flag(code, "characters", item.row, item.name, message))


async def _write_discord_ids(
    session: AsyncSession,
    plan: ImportPlan,
    members: dict[str, _MemberRow],
    options: ImportOptions,
    summary: ImportSummary,
) -> None:
    """Step 4: set valid sheet IDs (never overwriting), record the Discord accounts and links."""
    wanted = {
        key: m.sheet_discord_id
        for key, m in plan.members.items()
        if m.sheet_discord_id and key in members
    }
    rejected_invalid = sum(1 for f in plan.flags if f.code == "invalid_discord_id")
    holders: dict[str, int] = {}
    accounts: dict[str, tuple[int, int | None]] = {}
    if wanted:
        ids = sorted(set(wanted.values()))
        holders = {
            r.discord_id: r.id
            for r in await session.execute(
                select(GuildMember.id, GuildMember.discord_id).where(
                    GuildMember.discord_id.in_(ids)
                )
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
    id_updates: list[dict[str, Any]] = []
    new_accounts: list[dict[str, Any]] = []
    claim_accounts: list[dict[str, Any]] = []
    account_links: list[tuple[int, int]] = []  # (member id, discord_members id)
    has_id: set[str] = {key for key, row in members.items() if row.discord_id}
    claimed: set[str] = set()
    for key, snowflake in wanted.items():
        planned = plan.members[key]
        row = members[key]
        name = planned.sheet_discord_name or planned.username
        if row.discord_id and row.discord_id != snowflake:
            summary.ids_rejected += 1
            summary.flags.append(
                Flag(
                    "discord_id_conflict",
                    "discordIds",
                    None,
                    name,
                    f"{planned.username} already has Discord ID {row.discord_id}; sheet ID "
                    f"{snowflake} not used",
                )
            )
            continue
        holder = holders.get(snowflake)
        account = accounts.get(snowflake)
        other_account_owner = account is not None and account[1] not in (None, row.id)
        if (holder is not None and holder != row.id) or other_account_owner or snowflake in claimed:
            summary.ids_rejected += 1
            summary.flags.append(
                Flag(
                    "discord_id_conflict",
                    "discordIds",
                    None,
                    name,
                    f"Discord ID {snowflake} of {planned.username} belongs to another member "
                    "— skipped",
                )
            )
            continue
        claimed.add(snowflake)
        has_id.add(key)
        if row.discord_id == snowflake:
            summary.ids_unchanged += 1
        else:
            summary.ids_set += 1
            id_updates.append({"id": row.id, "discord_id": snowflake, "updated_at": options.now})
        if account is None:
            new_accounts.append(
                {
                    "discord_id": snowflake,
                    "username": name[:DISCORD_MEMBER_USERNAME_MAX],
                    "is_present": False,
                    "member_id": row.id,
                }
            )
        elif account[1] is None:
            claim_accounts.append({"id": account[0], "member_id": row.id})
            account_links.append((row.id, account[0]))
        else:
            account_links.append((row.id, account[0]))
    summary.ids_rejected += rejected_invalid
    if id_updates:
        await session.execute(update(GuildMember), id_updates)
    if claim_accounts:
        await session.execute(update(DiscordMember), claim_accounts)
    if new_accounts:
        created = await session.execute(
            pg_insert(DiscordMember).returning(DiscordMember.id, DiscordMember.member_id),
            new_accounts,
        )
        account_links.extend(
            (owner, account_id) for account_id, owner in created if owner is not None
        )
    if account_links:
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
            _link_row(member_id, discord_member_id=account_id, now=options.now)
            for member_id, account_id in account_links
            if account_id not in already
        ]
        if rows:
            await session.execute(pg_insert(IdentityLink), rows)
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


async def _write_mito(session: AsyncSession, plan: ImportPlan, summary: ImportSummary) -> None:
    """Step 6: new quotes and titles in input order; exact existing texts are skipped."""
    summary.mito_skipped = plan.mito_skipped
    for model, column, texts in (
        (MitoQuote, MitoQuote.quote, plan.quotes),
        (MitoTitle, MitoTitle.title, plan.titles),
    ):
        if not texts:
            continue
        present = set((await session.scalars(select(column).where(column.in_(texts)))).all())
        new = [t for t in texts if t not in present]
        summary.mito_skipped += len(texts) - len(new)
        if new:
            await session.execute(pg_insert(model), [{column.key: t} for t in new])
        if model is MitoQuote:
            summary.quotes_added = len(new)
        else:
            summary.titles_added = len(new)


async def apply_plan(
    session: AsyncSession,
    plan: ImportPlan,
    options: ImportOptions,
    *,
    progress: Callable[[str], None] | None = None,
) -> ImportSummary:
    """Write the plan in the caller's transaction (60 §10.4 steps 1–6); returns the summary."""
    say = progress or (lambda _message: None)
    locked = await session.scalar(
        text("SELECT pg_try_advisory_xact_lock(:ns, :n)"),
        {"ns": LOCK_NAMESPACE, "n": SHEET_IMPORT_LOCK},
    )
    if not locked:
        raise SheetImportError("Another sheet import is running; try again when it has finished.")
    summary = ImportSummary(
        source=plan.source,
        input_counts=dict(plan.input_counts),
        flags=list(plan.flags),
        sheet_issues=list(plan.sheet_issues),
        missing_tabs=list(plan.missing_tabs),
    )
    say("Members…")
    members = await _write_members(session, plan, options, summary)
    say("Availability…")
    await _write_availability(session, plan, members, options, summary)
    say("Characters…")
    await _write_characters(session, plan, members, options, summary)
    say("Discord IDs…")
    await _write_discord_ids(session, plan, members, options, summary)
    say("Mito's Corner…")
    await _write_mito(session, plan, summary)
    await session.flush()
    return summary


async def run_import(
    sessionmaker: async_sessionmaker[AsyncSession],
    plan: ImportPlan,
    options: ImportOptions,
    *,
    dry_run: bool = False,
    triggered_by: str = "cli",
    progress: Callable[[str], None] | None = None,
) -> ImportSummary:
    """Apply a plan in one transaction; a `sync_log` row records the run (none for a dry run,
    which rolls everything back). Any failure rolls back and raises SheetImportError."""
    if dry_run:
        async with sessionmaker() as session:
            try:
                summary = await apply_plan(session, plan, options, progress=progress)
            finally:
                await session.rollback()
        summary.dry_run = True
        return summary
    async with sync_log.sync_run(
        sessionmaker, source="sheet_import", triggered_by=triggered_by
    ) as run:
        try:
            async with sessionmaker() as session, session.begin():
                summary = await apply_plan(session, plan, options, progress=progress)
        except SheetImportError:
            raise
        except SQLAlchemyError as exc:
            raise SheetImportError(
                "Writing the import failed; nothing was written "
                f"({type(getattr(exc, 'orig', None) or exc).__name__})."
            ) from exc
        run.found = summary.characters_found
        run.new = summary.characters_created
        run.updated = summary.characters_updated
        run.details = summary.as_json()
    return summary
