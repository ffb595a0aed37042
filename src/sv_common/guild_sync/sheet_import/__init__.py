"""One-time import of the old Google Sheet (60 §10, 80 §8): load a source, plan, then apply.

`load` turns the JSON export, a CSV folder or CSV files into a `SheetExport`; `plan` normalises
it into an `ImportPlan` with the input flags (no database); `apply` writes the plan in one
transaction with a constant number of set-based statements and returns an `ImportSummary`
(`summary`: JSON or text). `rules` holds the cell rules and errors shared by all of them.
"""

from __future__ import annotations

from sv_common.guild_sync.sheet_import.apply import apply_plan, run_import
from sv_common.guild_sync.sheet_import.load import (
    SheetExport,
    fetch_export,
    load_csv_dir,
    load_csv_files,
    load_json_export,
)
from sv_common.guild_sync.sheet_import.plan import (
    ImportPlan,
    PlannedAvailability,
    PlannedCharacter,
    PlannedMember,
    plan_import,
)
from sv_common.guild_sync.sheet_import.rules import (
    Flag,
    SheetImportError,
    SheetUsageError,
    cell_text,
    parse_sheet_bool,
    parse_sheet_date,
    parse_snowflake,
)
from sv_common.guild_sync.sheet_import.summary import ImportOptions, ImportSummary, format_summary

__all__ = [
    "Flag",
    "ImportOptions",
    "ImportPlan",
    "ImportSummary",
    "PlannedAvailability",
    "PlannedCharacter",
    "PlannedMember",
    "SheetExport",
    "SheetImportError",
    "SheetUsageError",
    "apply_plan",
    "cell_text",
    "fetch_export",
    "format_summary",
    "load_csv_dir",
    "load_csv_files",
    "load_json_export",
    "parse_sheet_bool",
    "parse_sheet_date",
    "parse_snowflake",
    "plan_import",
    "run_import",
]
