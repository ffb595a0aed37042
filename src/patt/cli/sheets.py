"""`patt import-sheets`: the one-time import of the old Google Sheet (JSON or CSV exports)."""

from __future__ import annotations

import argparse
from typing import Any

from patt.cli.common import UserError, database_url, note, upgrade_database
from patt.guild_sync.pipeline import run_pipeline
from sv_common.discord.null import NullDiscordService


async def _match_imported(engine: Any, sessionmaker: Any, settings: Any) -> None:
    """The pipeline every import requests: matching and the integrity check (the report of new
    issues follows with the next sync, where Discord is connected)."""
    note("Matching the imported people and checking integrity…")
    outcome = await run_pipeline(
        service=NullDiscordService(),
        sessionmaker=sessionmaker,
        engine=engine,
        settings=settings,
        report=False,
    )
    if outcome is None:
        note("A pipeline is already running; it picks up the imported people.")
    else:
        counts = {**outcome["matching"], "new issues": outcome["integrity"]["total_new"]}
        note(
            "Matching: " + (", ".join(f"{k} {v}" for k, v in counts.items() if v) or "nothing new")
        )


def register(sub: Any) -> None:
    """`patt import-sheets`: one-time import of the old Google Sheet."""
    sheets = sub.add_parser(
        "import-sheets",
        help="one-time import of the old Google Sheet (roster, availability, IDs, Mito)",
        description="Import the old spreadsheet once: members, availability, characters, "
        "Discord IDs, Mito quotes and titles. Re-running is safe (no duplicates). With no "
        "source, --url defaults to GOOGLE_APPS_SCRIPT_URL. Exit codes: 0 success (even with "
        "flags), 1 fatal error (nothing written), 2 bad usage.",
    )
    source = sheets.add_mutually_exclusive_group()
    source.add_argument("--url", help="the Apps Script web-app URL (HTTPS)")
    source.add_argument("--json", metavar="FILE", help="a saved copy of the Apps Script JSON")
    source.add_argument("--csv", metavar="DIR", help="a folder of per-tab CSV exports")
    source.add_argument("--characters", metavar="FILE", help="a Characters CSV export alone")
    sheets.add_argument(
        "--discord-ids", metavar="FILE", help="a DiscordIDs CSV export (with --characters)"
    )
    sheets.add_argument(
        "--dry-run", action="store_true", help="do everything, then roll back (nothing written)"
    )
    sheets.add_argument(
        "--summary-json", action="store_true", help="print the summary as JSON instead of text"
    )
    sheets.add_argument(
        "--default-rank",
        metavar="NAME",
        help="rank of people the import creates (default Member, else the lowest rank)",
    )
    sheets.set_defaults(handler=cmd_import_sheets)


def cmd_import_sheets(args: argparse.Namespace, settings: Any) -> int:
    """Load the sheet, plan, write in one transaction, print the summary."""
    import asyncio
    import json
    import sys
    from pathlib import Path
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from sv_common import clock
    from sv_common.guild_sync import sheet_import as sheets

    def usage(message: str) -> int:
        print(f"patt import-sheets: error: {message}", file=sys.stderr)
        return 2

    if args.discord_ids and not args.characters:
        return usage("--discord-ids only goes with --characters.")
    url = args.url
    if not (url or args.json or args.csv or args.characters):
        url = settings.google_apps_script_url
        if not url:
            return usage(
                "name a source (--url, --json, --csv or --characters) or set "
                "GOOGLE_APPS_SCRIPT_URL."
            )
    try:
        if args.json:
            path = Path(args.json)
            try:
                raw = path.read_bytes()
            except OSError as exc:
                return usage(f"cannot read {path}: {exc.strerror or exc}")
            export = sheets.load_json_export(raw, source=path.name)
        elif args.csv:
            export = sheets.load_csv_dir(Path(args.csv))
        elif args.characters:
            export = sheets.load_csv_files(
                Path(args.characters), Path(args.discord_ids) if args.discord_ids else None
            )
        else:
            note("Fetching the sheet…")
            export = sheets.load_json_export(sheets.fetch_export(url), source=url)
    except sheets.SheetUsageError as exc:
        return usage(str(exc))
    except sheets.SheetImportError as exc:
        raise UserError(f"{exc} Nothing was written.") from exc

    try:
        sheet_tz = ZoneInfo(settings.guild_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        sheet_tz = ZoneInfo("America/New_York")
    plan = sheets.plan_import(export, sheet_tz=sheet_tz)
    database = database_url(settings)
    upgrade_database(database)

    async def work() -> Any:
        from sv_common.db.engine import make_engine, make_sessionmaker, transaction
        from sv_common.db.seed import seed_ranks

        engine = make_engine(database, pool_size=2, max_overflow=1)
        try:
            sessionmaker = make_sessionmaker(engine)
            async with transaction(sessionmaker) as session:
                await seed_ranks(session)
            options = sheets.ImportOptions(
                home_realm_name=settings.patt_guild_realm_name,
                home_realm_slug=settings.patt_guild_realm_slug,
                region=settings.blizzard_region,
                default_rank=args.default_rank,
                now=clock.now(),
            )
            summary = await sheets.run_import(
                sessionmaker,
                plan,
                options,
                dry_run=args.dry_run,
                progress=note,
            )
            if not args.dry_run:
                await _match_imported(engine, sessionmaker, settings)
            return summary
        finally:
            await engine.dispose()

    try:
        summary = asyncio.run(work())
    except sheets.SheetImportError as exc:
        raise UserError(str(exc)) from exc
    if args.summary_json:
        print(json.dumps(summary.as_json(), indent=2, ensure_ascii=False))
    else:
        print(sheets.format_summary(summary))
    return 0
