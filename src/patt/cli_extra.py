"""Feature commands of `patt` (import-sheets, sync …): each feature adds its parser here."""

from __future__ import annotations

import argparse
from typing import Any


def sync_steps(sub: Any) -> Any:
    """The `patt sync STEP` sub-parsers, created once and shared by every guild-sync feature."""
    steps = getattr(sub, "_patt_sync_steps", None)
    if steps is None:
        sync = sub.add_parser(
            "sync",
            help="run one guild-sync step now and print its stats",
            description="Run one guild-sync step now, then the steps that depend on it "
            "(decision 12). Exit codes: 0 success, 1 error, 2 bad usage, "
            "3 already running, 4 not configured, 5 partial.",
        )
        steps = sync.add_subparsers(dest="sync_step", metavar="STEP")
        sub._patt_sync_steps = steps
    return steps


def register(sub: Any) -> None:
    """Add feature subcommands to the `patt` parser (handlers take (args, settings) → exit code)."""
    _ = argparse  # features import what they need inside their handlers

    # Discord (70): patt sync discord, patt sync report [--full]
    from patt.services import discord_runtime

    steps = sync_steps(sub)
    discord = steps.add_parser(
        "discord",
        help="Discord member + role sync, then matching, integrity and the report",
        description="Fetch the Discord member list, update accounts and ranks, then run "
        "matching, the integrity check, the report of new issues and, when members left or "
        "issues are new, the sync summary (both to the audit channel, PATT_AUDIT_CHANNEL_ID). "
        "Prints the counts. Applies database migrations and seeds the default ranks first.",
    )
    discord.set_defaults(handler=discord_runtime.cmd_sync_discord)
    report = steps.add_parser(
        "report",
        help="post new audit issues to the audit channel",
        description="Post audit issues not reported yet to the Discord audit channel "
        "(PATT_AUDIT_CHANNEL_ID); --full posts every open issue. Applies database migrations "
        "and seeds the default ranks first.",
    )
    report.add_argument(
        "--full", action="store_true", help="post every open issue, reported before or not"
    )
    report.set_defaults(handler=discord_runtime.cmd_sync_report)

    # Guild tools (60 §10): patt import-sheets
    register_import_sheets(sub)

    # Campaigns (40 §9.2): patt campaign recount <id>
    register_campaign(sub)


# --------------------------------------------------------------- patt import-sheets (60 §10)
def register_import_sheets(sub: Any) -> None:
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

    from patt import cli
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
            print("Fetching the sheet…", file=sys.stderr)
            export = sheets.load_json_export(sheets.fetch_export(url), source=url)
    except sheets.SheetUsageError as exc:
        return usage(str(exc))
    except sheets.SheetImportError as exc:
        raise cli.UserError(f"{exc} Nothing was written.") from exc

    try:
        sheet_tz = ZoneInfo(settings.guild_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        sheet_tz = ZoneInfo("America/New_York")
    plan = sheets.plan_import(export, sheet_tz=sheet_tz)
    database = cli.database_url(settings)
    cli.upgrade_database(database)

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
            return await sheets.run_import(
                sessionmaker,
                plan,
                options,
                dry_run=args.dry_run,
                progress=lambda step: print(step, file=sys.stderr),
            )
        finally:
            await engine.dispose()

    try:
        summary = asyncio.run(work())
    except sheets.SheetImportError as exc:
        raise cli.UserError(str(exc)) from exc
    if args.summary_json:
        print(json.dumps(summary.as_json(), indent=2, ensure_ascii=False))
    else:
        print(sheets.format_summary(summary))
    if not args.dry_run:
        print(
            "Identity matching picks up the imported people with the next guild sync.",
            file=sys.stderr,
        )
    return 0


# ------------------------------------------------------------- patt campaign recount (40 §9.2)
RECOUNT_MISMATCH = 3


def register_campaign(sub: Any) -> None:
    """`patt campaign recount <id>`: recompute a closed campaign from its ballots."""
    campaign = sub.add_parser(
        "campaign",
        help="campaign tools (recount)",
        description="Campaign tools for officers and operators.",
    )
    actions = campaign.add_subparsers(dest="campaign_command", metavar="ACTION")
    recount = actions.add_parser(
        "recount",
        help="recompute a closed campaign's results from its ballots and compare",
        description="Recompute the results of a closed or archived campaign from its ballots "
        "(independently of the calculation stored at close) and compare them with the stored "
        "results. Exit codes: 0 results match, 1 error (unknown or still open campaign), "
        "2 bad usage, 3 mismatch.",
    )
    recount.add_argument("campaign_id", type=int, help="the campaign id")
    recount.set_defaults(handler=cmd_campaign_recount)


async def recount_campaign(session: Any, campaign_id: int) -> dict[str, Any]:
    """The recount report of one campaign (see `vote_service.recount`)."""
    from patt.services import vote_service

    return await vote_service.recount(session, campaign_id)


def cmd_campaign_recount(args: argparse.Namespace, settings: Any) -> int:
    """Print the recount table; exit 3 when it differs from the stored results."""
    from patt import cli
    from sv_common.errors import DomainError

    url = cli.database_url(settings)

    async def work(session: Any) -> dict[str, Any]:
        return await recount_campaign(session, args.campaign_id)

    try:
        report = cli.run_async(url, work)
    except DomainError as exc:
        raise cli.UserError(exc.message) from exc
    print(
        f"Campaign {report['campaign_id']} \u2014 {report['title']} "
        f"({report['method']}, {report['ballots']} ballots)"
    )
    print(f"{'rank':>4}  {'score':>6}  {'stored':>6}  entry")
    for row in report["rows"]:
        print(
            f"{row['final_rank']:>4}  {row['score']:>6}  "
            f"{'' if row['stored_score'] is None else row['stored_score']:>6}  {row['name']}"
        )
    if report["matches"]:
        print("Recount matches the stored results.")
        return 0
    print("MISMATCH between the recount and the stored results:")
    for line in report["differences"]:
        print(f"  - {line}")
    return RECOUNT_MISMATCH
