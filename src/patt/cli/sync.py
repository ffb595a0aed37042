"""`patt sync STEP`: run one guild-sync step now, then the steps that depend on it, and print
its counts. Exit codes: 0 success, 1 error, 2 bad usage, 3 already running, 4 not configured,
5 partial.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
    audit_channel_id,
    report_new_issues,
    sync_discord,
)
from patt.discord.runtime import STOP_TIMEOUT, build_service, is_configured, not_configured_message
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
        pipeline = result.get("pipeline", {})
        for key in ("matching", "integrity"):
            if key in pipeline:
                print(f"{key.capitalize()}: {pipeline[key]}")
        if pipeline.get("report_skipped"):
            print(f"Audit report skipped: {pipeline['report_skipped']}.")
        elif "reported" in pipeline:
            print(f"Audit report: {pipeline['reported']} new issues posted")
        if pipeline.get("report_error"):
            print(f"Audit report stopped: {pipeline['report_error']}")
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


def register(sub: Any) -> None:
    """Add `sync` and its steps to the parser."""
    sync = sub.add_parser(
        "sync",
        help="run one guild-sync step now and print its stats",
        description="Run one guild-sync step now, then the steps that depend on it. "
        "Exit codes: 0 success, 1 error, 2 bad usage, 3 already running, 4 not configured, "
        "5 partial.",
    )
    steps = sync.add_subparsers(dest="sync_step", metavar="STEP")
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
