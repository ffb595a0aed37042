"""`patt sync STEP`: run one guild-sync step now, then the steps that depend on it, and print
its counts. Exit codes: 0 success, 1 error, 2 bad usage, 3 already running, 4 not configured,
5 partial.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from patt.cli.common import (
    EXIT_PARTIAL,
    EXIT_RUNNING,
    NotConfigured,
    UserError,
    note,
    prepared_database,
)
from patt.config import Settings
from patt.discord.flows import (
    NO_CHANNEL,
    NOT_CONNECTED,
    sync_discord,
)
from patt.discord.runtime import STOP_TIMEOUT, build_service, is_configured, not_configured_message
from patt.guild_sync.pipeline import (
    NOT_RUNNING_AGAIN,
    audit_channel_id,
    report_new_issues,
    run_pipeline,
)
from patt.guild_sync.runtime import GuildSync
from sv_common.db.engine import make_engine, make_sessionmaker
from sv_common.discord.null import NullDiscordService
from sv_common.errors import Conflict, Unavailable


async def _cli_service(settings: Settings) -> tuple[Any, asyncio.Task[None] | None]:
    """Build and connect the service for a one-shot command (UserError when it cannot)."""

    service = build_service(settings)
    if not is_configured(service):
        raise NotConfigured(not_configured_message(settings))
    task = None
    starter = getattr(service, "start", None)
    if starter is not None:
        note("Connecting to Discord…")
        task = asyncio.create_task(starter())
        await service.wait_ready(30)
    return service, task


async def _cli_close(service: Any, task: asyncio.Task[None] | None) -> None:
    closer = getattr(service, "close", None)
    if closer is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(closer(), STOP_TIMEOUT)
    if task is not None:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


def _format_counts(data: dict[str, Any], keys: tuple[str, ...]) -> str:
    return ", ".join(f"{key} {data.get(key, 0)}" for key in keys)


def _nonzero(data: dict[str, Any]) -> str:
    """`key n, …` of the non-zero counts, or `nothing to do`."""
    shown = [f"{key} {value}" for key, value in data.items() if value]
    return ", ".join(shown) or "nothing to do"


def print_pipeline(pipeline: dict[str, Any]) -> None:
    """One line per step of the pipeline that ran."""
    if pipeline.get("skipped"):
        print(f"Pipeline skipped: {pipeline['skipped']}.")
    if "matching" in pipeline:
        print(f"Matching: {_nonzero(pipeline['matching'])}")
    if "integrity" in pipeline:
        print(f"Integrity: {_nonzero(pipeline['integrity'])}")
    if pipeline.get("report_skipped"):
        print(f"Audit report skipped: {pipeline['report_skipped']}.")
    elif "reported" in pipeline:
        print(f"Audit report: {pipeline['reported']} new issues posted")
    if pipeline.get("report_error"):
        print(f"Audit report stopped: {pipeline['report_error']}")


async def _cli_sync_discord(url: str, settings: Settings) -> int:
    from sv_common.db.engine import make_engine, make_sessionmaker

    engine = make_engine(url, pool_size=3, max_overflow=2)
    service: Any = None
    task = None
    try:
        service, task = await _cli_service(settings)
        try:
            result = await sync_discord(
                service=service,
                sessionmaker=make_sessionmaker(engine),
                engine=engine,
                settings=settings,
                triggered_by="cli",
            )
        except Conflict as exc:
            print(f"error: {exc.message}", flush=True)
            return EXIT_RUNNING
        except Unavailable as exc:
            # a malformed fake file is an input error (1); anything else means not connected (4)
            root = exc.__cause__.__cause__ if exc.__cause__ is not None else None
            error = UserError if isinstance(root, ValueError) else NotConfigured
            raise error(f"{exc.message} (Discord state: {service.state})") from exc
        assert result is not None
        sync = result["sync"]
        print(
            "Discord members: "
            + _format_counts(sync, ("found", "new", "updated", "unchanged", "departed", "rejoined"))
            + f", accounts linked {sync['accounts_linked']}"
        )
        print(
            "Role sync: "
            + _format_counts(
                sync["role_sync"],
                ("updated", "created", "unchanged", "skipped", "errors", "protected"),
            )
        )
        print_pipeline(result.get("pipeline", {}))
        if result.get("summary") == "posted":
            print("Sync summary posted to the audit channel.")
        elif str(result.get("summary", "")).startswith("failed"):
            print(f"Sync summary not posted: {result['summary'].removeprefix('failed: ')}")
        if sync["status"] == "partial":
            print(f"Partial: {sync['message']}")
            return EXIT_PARTIAL
        print(f"Discord sync finished ({sync['status']}).")
        return 0
    finally:
        if service is not None:
            await _cli_close(service, task)
        await engine.dispose()


async def _cli_sync_report(url: str, settings: Settings, *, full: bool) -> int:
    from sv_common.db.engine import make_engine, make_sessionmaker

    engine = make_engine(url, pool_size=2, max_overflow=0)
    service: Any = None
    task = None
    try:
        sessionmaker = make_sessionmaker(engine)
        async with sessionmaker() as session:
            channel = await audit_channel_id(session, settings)
        if not channel:
            raise NotConfigured(NO_CHANNEL)
        service, task = await _cli_service(settings)
        if not service.available:
            raise NotConfigured(f"{NOT_CONNECTED} (state: {service.state})")
        result = await report_new_issues(
            service=service, sessionmaker=sessionmaker, settings=settings, full=full
        )
        kind = "open" if full else "new"
        if result.error:
            print(
                f"Reported {result.reported} of {result.total} {kind} issues; stopped: {result.error}"
            )
            return 1
        if result.total == 0:
            print(f"No {kind} issues to report.")
        else:
            print(f"Reported {result.reported} {kind} issues to the audit channel.")
        return 0
    finally:
        if service is not None:
            await _cli_close(service, task)
        await engine.dispose()


def cmd_sync_discord(args: argparse.Namespace, settings: Settings) -> int:
    """`patt sync discord`: member + role sync, then matching, integrity and the report."""
    url = prepared_database(settings)  # role sync needs the ranks, like serve/create-admin/demo
    return asyncio.run(_cli_sync_discord(url, settings))


def cmd_sync_report(args: argparse.Namespace, settings: Settings) -> int:
    """`patt sync report [--full]`: post new (or all open) audit issues."""
    url = prepared_database(settings)
    return asyncio.run(_cli_sync_report(url, settings, full=bool(args.full)))


# ------------------------------------------------------------ blizzard, match, integrity
async def _report_service(settings: Settings) -> tuple[Any, asyncio.Task[None] | None]:
    """Discord for the report step when it is configured, else the null service (no report)."""
    if not is_configured(build_service(settings)):
        note("Discord is not configured: the audit report is skipped.")
        return NullDiscordService(), None
    try:
        return await _cli_service(settings)
    except UserError as exc:
        note(f"Discord unavailable ({exc}): the audit report is skipped.")
        return NullDiscordService(), None


async def _with_guild_sync(
    url: str, settings: Settings, work: Callable[[GuildSync], Awaitable[int]]
) -> int:
    """Run `work` with a GuildSync of this command (Discord connected for the report)."""
    engine = make_engine(url, pool_size=4, max_overflow=2)
    service: Any = None
    task = None
    try:
        service, task = await _report_service(settings)
        guild_sync = GuildSync(
            settings=settings,
            engine=engine,
            sessionmaker=make_sessionmaker(engine),
            discord=lambda: service,
        )
        try:
            return await work(guild_sync)
        finally:
            await guild_sync.close()
    finally:
        if service is not None and task is not None:
            await _cli_close(service, task)
        await engine.dispose()


async def _pipeline_step(guild_sync: GuildSync, *, matching: bool) -> int:
    note("Matching…" if matching else "Checking integrity…")
    outcome = await run_pipeline(
        service=guild_sync.discord,
        sessionmaker=guild_sync.sessionmaker,
        engine=guild_sync.engine,
        settings=guild_sync.settings,
        matching=matching,
    )
    if outcome is None:
        print(f"error: {NOT_RUNNING_AGAIN}", flush=True)
        return EXIT_RUNNING
    print_pipeline(outcome)
    print("Done." if not outcome.get("report_error") else "Done, but the report stopped.")
    return 0


async def _blizzard_step(guild_sync: GuildSync, *, force_removals: bool) -> int:
    note("Fetching the guild roster and character profiles from Blizzard…")
    try:
        result = await guild_sync.blizzard_sync(
            triggered_by="cli", force_removals=force_removals, request_pipeline=False
        )
    except Conflict as exc:
        print(f"error: {exc.message}", flush=True)
        return EXIT_RUNNING
    assert result is not None
    print(
        f"Blizzard roster: found {result.found}, new {result.new}, updated {result.updated}, "
        f"unchanged {result.unchanged}, removed {result.removed}, rejoined {result.rejoined}"
    )
    profiles = result.details
    print(
        f"Profiles: ok {profiles.get('profiles_ok', 0)}, missing {profiles.get('profiles_missing', 0)}, "
        f"failed {profiles.get('profiles_failed', 0)}; requests {profiles.get('requests', 0)}"
    )
    if result.status == "error":
        raise UserError(f"Blizzard sync failed: {result.error_message}")
    code = await _pipeline_step(guild_sync, matching=True)
    if code:
        return code
    if result.status == "partial":
        print(f"Partial: {result.error_message}")
        return EXIT_PARTIAL
    print("Blizzard sync finished (success).")
    return 0


def cmd_sync_blizzard(args: argparse.Namespace, settings: Settings) -> int:
    """`patt sync blizzard [--force-removals]`: roster sync, then matching, integrity, report."""
    if not settings.blizzard_configured:
        raise NotConfigured(
            "Blizzard sync is not configured: set BLIZZARD_CLIENT_ID and BLIZZARD_CLIENT_SECRET."
        )
    url = prepared_database(settings)
    force = bool(args.force_removals)
    return asyncio.run(
        _with_guild_sync(url, settings, lambda gs: _blizzard_step(gs, force_removals=force))
    )


def cmd_sync_match(args: argparse.Namespace, settings: Settings) -> int:
    """`patt sync match`: matching, then integrity and the report of new issues."""
    url = prepared_database(settings)
    return asyncio.run(
        _with_guild_sync(url, settings, lambda gs: _pipeline_step(gs, matching=True))
    )


def cmd_sync_integrity(args: argparse.Namespace, settings: Settings) -> int:
    """`patt sync integrity`: the integrity check, then the report of new issues."""
    url = prepared_database(settings)
    return asyncio.run(
        _with_guild_sync(url, settings, lambda gs: _pipeline_step(gs, matching=False))
    )


def register(sub: Any) -> None:
    """Add `sync` and its steps to the parser."""
    sync = sub.add_parser(
        "sync",
        help="run one guild-sync step now and print its stats",
        description="Run one guild-sync step now, then the steps that depend on it. "
        "Exit codes: 0 success, 1 error, 2 bad usage, 3 already running, 4 not configured, "
        "5 partial.",
    )
    sync.set_defaults(help_parser=sync)
    steps = sync.add_subparsers(dest="sync_step", metavar="STEP")
    blizzard = steps.add_parser(
        "blizzard",
        help="Blizzard roster sync, then matching, integrity and the report",
        description="Fetch the guild roster and every character profile from the Blizzard API "
        "(within its rate limits), write them in one transaction, then run matching, the "
        "integrity check and the report of new issues. A failed, empty or much smaller roster "
        "never marks anyone as gone; --force-removals overrides that safety rule. Needs "
        "BLIZZARD_CLIENT_ID and BLIZZARD_CLIENT_SECRET (exit 4 without).",
    )
    blizzard.add_argument(
        "--force-removals",
        action="store_true",
        help="mark missing characters as gone even when the roster shrank implausibly",
    )
    blizzard.set_defaults(handler=cmd_sync_blizzard)
    match = steps.add_parser(
        "match",
        help="link characters and Discord accounts to members, then integrity and the report",
        description="Run the identity matching (exact names, note hints, fuzzy names), then the "
        "integrity check and the report of new issues (skipped without Discord).",
    )
    match.set_defaults(handler=cmd_sync_match)
    integrity = steps.add_parser(
        "integrity",
        help="check the data for integrity issues, then the report",
        description="Run the integrity check (orphans, rank mismatches, stale characters …) and "
        "report new issues to the audit channel (skipped without Discord).",
    )
    integrity.set_defaults(handler=cmd_sync_integrity)
    discord = steps.add_parser(
        "discord",
        help="Discord member + role sync, then matching, integrity and the report",
        description="Fetch the Discord member list, update accounts and ranks, then run "
        "matching, the integrity check, the report of new issues and, when members left or "
        "issues are new, the sync summary (both to the audit channel, PATT_AUDIT_CHANNEL_ID). "
        "Prints the counts. Applies database migrations and seeds the default ranks first.",
    )
    discord.set_defaults(handler=cmd_sync_discord)
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
    report.set_defaults(handler=cmd_sync_report)
