"""Reading the sheet: the Apps Script JSON export (from a file or its HTTPS URL) and the per-tab
CSV exports, each shape-checked into one `SheetExport`.

Loading failures (unreadable file, truncated or wrongly shaped JSON, `success: false`) raise
before anything is written, not even the `sync_log` row (the spec leaves this open).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from sv_common.guild_sync.sheet_import.rules import SheetImportError, SheetUsageError, cell_text

MAX_URL_BYTES = 10 * 1024 * 1024
TABS = ("Availability", "Characters", "DiscordIDs", "MitoQuotes", "MitoTitles")
# The DiscordIDs tab's Status column → the `validationIssues` status of the JSON export; rows
# with any other status are not issues.
SHEET_ISSUE_STATUSES = {
    "invalid format": "Invalid Format",
    "pending id": "Pending ID",
    "unknown": "Unknown",
}


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
