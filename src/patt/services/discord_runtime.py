"""Discord inside the app: which service runs, its background tasks, syncs and follow-up steps.

- `install(app)` puts a `NullDiscordService` on `app.state.discord` at once (every app has one,
  even without a lifespan), then the startup hook swaps in the configured service: the
  file-backed fake (`DISCORD_BACKEND=fake`, or demo mode without a token), the real bot
  (`auto` with a token and a valid `DISCORD_GUILD_ID`) or the null service. The bot logs in
  as a background task; the app never waits for Discord. Shutdown closes it within 10 s.
- The fake reads `DISCORD_FAKE_FILE`. Only demo mode (`DEMO_MODE` / `patt serve --demo`) falls
  back to the bundled demo server when that is empty: anywhere else `DISCORD_BACKEND=fake`
  without a file counts as not configured (an error is logged, the app runs with Discord
  `disabled`, and `patt sync discord|report` exit 4 saying so), so the 36 demo members can
  never land in a real database by accident. Never a fake in production.
- With `SCHEDULER_ENABLED`, a full member + role sync runs 60 s after Discord is ready and
  then every `DISCORD_SYNC_INTERVAL_MINUTES` (advisory lock 3, so one process at a time).
- A sync is followed by the dependent steps (decision 12): matching → integrity → report of
  new issues → the "📡 Sync finished: Discord" summary (70 §8.5) in the audit channel when
  accounts departed or there are new issues (new accounts alone are not notable; no audit
  channel or Discord down ⇒ silently skipped). The summary is posted where the follow-ups run
  (scheduled sync, trigger endpoint and page, CLI); when a scheduled sync hands its follow-ups
  to the scheduler's pipeline (`app.state.request_pipeline`), that pipeline owns the summary.
  Matching and the integrity check are the identity engine's
  (`sv_common.guild_sync.identity_engine.run_matching`, `integrity_checker.run_integrity_check`)
  and are skipped while that module is not installed. Member events request that pipeline
  through `app.state.request_pipeline` when the scheduler provides one, else through a local
  60 s debounce.

Not done here (multi-process deployments): every process opens its own gateway connection;
scheduled syncs still run once at a time thanks to the advisory lock, and event handling is
idempotent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from patt.config import Settings
from sv_common.db.models import DiscordConfig
from sv_common.discord.fake import FakeDiscordService
from sv_common.discord.interface import DiscordService, DiscordUnavailable
from sv_common.discord.null import NullDiscordService
from sv_common.errors import Conflict, Unavailable
from sv_common.guild_sync import locks
from sv_common.guild_sync.discord_sync import (
    MemberEventHandler,
    MemberSyncStats,
    run_discord_sync,
)
from sv_common.guild_sync.reporter import (
    NO_ISSUES,
    ReportResult,
    deliver_issue_report,
    post_sync_summary,
)
from sv_common.identity.realms import is_snowflake

log = logging.getLogger(__name__)

DEMO_FILE = Path(__file__).resolve().parent.parent / "data" / "demo_discord.json"
FIRST_SYNC_DELAY = 60.0
PIPELINE_DEBOUNCE = 60.0
STOP_TIMEOUT = 10.0
NOT_CONNECTED = "Discord is not connected."
NOT_CONFIGURED = (
    "Discord is not configured: set DISCORD_BOT_TOKEN and DISCORD_GUILD_ID "
    "(or DISCORD_BACKEND=fake with DISCORD_FAKE_FILE)."
)
NO_CHANNEL = "No audit channel is configured (PATT_AUDIT_CHANNEL_ID)."
FAKE_WITHOUT_FILE = (
    "DISCORD_BACKEND=fake needs DISCORD_FAKE_FILE (the bundled demo Discord server is used "
    "only in demo mode); Discord stays disabled."
)
SUMMARY_LABEL = "Discord"


# ------------------------------------------------------------------------------ building
def game_rank_names(settings: Settings) -> list[str]:
    """PATT_GAME_RANK_NAMES as a list (index = in-game rank)."""
    return [n.strip() for n in settings.patt_game_rank_names.split(",") if n.strip()]


def build_service(settings: Settings) -> Any:
    """The configured Discord service (not started)."""
    backend = settings.discord_backend
    if backend == "null":
        return NullDiscordService()
    use_fake = backend == "fake" or (
        backend == "auto" and not settings.discord_bot_token and settings.demo_mode
    )
    if use_fake and not settings.is_production:
        path = settings.discord_fake_file or (str(DEMO_FILE) if settings.demo_mode else "")
        if not path:
            log.error("%s", FAKE_WITHOUT_FILE)
            return NullDiscordService()
        return FakeDiscordService.from_file(path, outbox=settings.discord_fake_outbox or None)
    if not settings.discord_bot_token:
        return NullDiscordService()
    if not is_snowflake(settings.discord_guild_id):
        log.error(
            "DISCORD_BOT_TOKEN is set but DISCORD_GUILD_ID is missing or not a snowflake; "
            "Discord stays disabled"
        )
        return NullDiscordService()
    from sv_common.discord.bot import DiscordBotService

    return DiscordBotService(settings.discord_bot_token, settings.discord_guild_id)


def not_configured_message(settings: Settings) -> str:
    """Why `build_service` gave the null service, for the CLI."""
    if settings.discord_backend == "fake" and not settings.discord_fake_file.strip():
        return FAKE_WITHOUT_FILE
    return NOT_CONFIGURED


def is_configured(service: Any) -> bool:
    """False for the null service (no token, or DISCORD_BACKEND=null)."""
    return not isinstance(service, NullDiscordService)


def usable(service: Any) -> bool:
    """Ready, or a file-backed fake (which re-reads its file and may recover on the next sync)."""
    return bool(service.available or getattr(service, "is_file_fake", False))


async def audit_channel_id(session: AsyncSession, settings: Settings) -> str | None:
    """PATT_AUDIT_CHANNEL_ID, else `common.discord_config.audit_channel_id`, else None."""
    if settings.patt_audit_channel_id.strip():
        return settings.patt_audit_channel_id.strip()
    return await session.scalar(select(DiscordConfig.audit_channel_id).where(DiscordConfig.id == 1))


async def ensure_discord_config(session: AsyncSession, settings: Settings) -> None:
    """Create the single `discord_config` row from the settings when a bot is configured."""
    if not settings.discord_bot_token or not is_snowflake(settings.discord_guild_id):
        return
    channel = settings.patt_audit_channel_id.strip()
    await session.execute(
        insert(DiscordConfig)
        .values(
            id=1,
            guild_discord_id=settings.discord_guild_id,
            audit_channel_id=channel if is_snowflake(channel) else None,
        )
        .on_conflict_do_nothing(index_elements=[DiscordConfig.id])
    )


# ---------------------------------------------------------------------- the steps
def _engine_step(module: str, name: str) -> Callable[[AsyncSession], Awaitable[Any]] | None:
    """A step of the identity engine when that module is installed."""
    try:
        loaded = importlib.import_module(f"sv_common.guild_sync.{module}")
    except ImportError:
        return None
    step = getattr(loaded, name, None)
    return step if callable(step) else None


def _plain(value: Any) -> Any:
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(value)
    return value


async def report_new_issues(
    *,
    service: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    full: bool = False,
) -> ReportResult:
    """Post the audit report (new issues, or all open ones with `full`) in its own transaction."""
    async with sessionmaker() as session, session.begin():
        channel = await audit_channel_id(session, settings)
        return await deliver_issue_report(
            session, service, channel, full=full, guild_name=settings.patt_guild_name
        )


async def run_followups(
    *,
    service: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    settings: Settings,
) -> dict[str, Any]:
    """Matching → integrity → report of new issues, under the pipeline lock (80 §9)."""
    held = await locks.try_acquire(engine, locks.PIPELINE)
    if held is None:
        return {"skipped": "pipeline already running"}
    outcome: dict[str, Any] = {}
    try:
        for key, module, name in (
            ("matching", "identity_engine", "run_matching"),
            ("integrity", "integrity_checker", "run_integrity_check"),
        ):
            step = _engine_step(module, name)
            if step is None:
                continue
            try:
                async with sessionmaker() as session, session.begin():
                    outcome[key] = _plain(await step(session))
            except Exception:
                log.exception("pipeline step %s failed", key)
                outcome[key] = {"error": "failed (see log)"}
        report = await report_new_issues(
            service=service, sessionmaker=sessionmaker, settings=settings
        )
        outcome["reported"] = report.reported
        if report.skipped:
            outcome["report_skipped"] = report.skipped
        if report.skipped in (None, NO_ISSUES):  # the report looked: its un-notified issues
            outcome["new_issues"] = report.total
        if report.error:
            outcome["report_error"] = report.error
    finally:
        await held.release()
    return outcome


async def sync_discord(
    *,
    service: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    settings: Settings,
    triggered_by: str,
    scheduled: bool = False,
    followups: bool = True,
) -> dict[str, Any] | None:
    """A full Discord sync under lock 3, then its dependent steps when anything changed, then
    the §8.5 summary (with `followups`; `result["summary"]` is "posted" or why not).

    Manual runs: Conflict when another sync holds the lock, Unavailable when Discord is down.
    Scheduled runs return None instead of raising.
    """
    started = time.monotonic()
    held = await locks.try_acquire(engine, locks.DISCORD_SYNC)
    if held is None:
        if scheduled:
            return None
        raise Conflict("A Discord sync is already running.")
    try:
        stats: MemberSyncStats | None = await run_discord_sync(
            service,
            sessionmaker,
            triggered_by=triggered_by,
            scheduled=scheduled,
            game_rank_names=game_rank_names(settings),
        )
    except DiscordUnavailable as exc:
        raise Unavailable(exc.message) from exc
    finally:
        await held.release()
    if stats is None:
        return None
    result: dict[str, Any] = {"sync": stats.as_dict(), "changed": stats.changed}
    if not followups:
        return result
    if stats.changed or not scheduled:
        result["pipeline"] = await run_followups(
            service=service, sessionmaker=sessionmaker, engine=engine, settings=settings
        )
    result["summary"] = await post_summary(
        service=service,
        sessionmaker=sessionmaker,
        settings=settings,
        stats=stats,
        issues=int(result.get("pipeline", {}).get("new_issues", 0)),
        seconds=time.monotonic() - started,
    )
    return result


async def post_summary(
    *,
    service: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    stats: MemberSyncStats,
    issues: int,
    seconds: float,
) -> str:
    """The "📡 Sync finished: Discord" message (70 §8.5) when accounts left or issues are new."""
    try:
        async with sessionmaker() as session:
            channel = await audit_channel_id(session, settings)
    except Exception:
        log.exception("sync summary: could not read the audit channel")
        return "failed: could not read the audit channel"
    return await post_sync_summary(
        service,
        channel,
        source_label=SUMMARY_LABEL,
        found=stats.found,
        new=stats.new,
        departed=stats.departed,
        issues=issues,
        seconds=seconds,
        noun="accounts",
        new_is_notable=False,
    )


# ---------------------------------------------------------------------- in the app
class DiscordRuntime:
    """The app's Discord service and its background tasks."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.bot_task: asyncio.Task[None] | None = None
        self.sync_task: asyncio.Task[None] | None = None
        self.debounce_task: asyncio.Task[None] | None = None
        self.first_sync_delay = FIRST_SYNC_DELAY
        self.pipeline_debounce = PIPELINE_DEBOUNCE

    @property
    def settings(self) -> Settings:
        return self.app.state.settings  # type: ignore[no-any-return]

    @property
    def service(self) -> Any:
        return self.app.state.discord

    async def start(self, app: FastAPI) -> None:
        """Startup hook: build, subscribe, start the bot in the background, schedule syncs."""
        service = build_service(self.settings)
        app.state.discord = service
        try:
            async with app.state.sessionmaker() as session, session.begin():
                await ensure_discord_config(session, self.settings)
        except Exception:
            log.exception("could not create the discord_config row")
        if not is_configured(service):
            return
        service.subscribe(
            MemberEventHandler(
                app.state.sessionmaker,
                request_pipeline=self.request_pipeline,
                game_rank_names=game_rank_names(self.settings),
            )
        )
        starter = getattr(service, "start", None)
        if starter is not None:
            self.bot_task = asyncio.create_task(starter(), name="discord-bot")
        if self.settings.scheduler_enabled:
            self.sync_task = asyncio.create_task(self._periodic_sync(), name="discord-sync")

    async def stop(self, app: FastAPI) -> None:
        """Shutdown hook: cancel timers, close the client within 10 s, cancel its task."""
        for task in (self.sync_task, self.debounce_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        closer = getattr(self.service, "close", None)
        if closer is not None:
            try:
                await asyncio.wait_for(closer(), STOP_TIMEOUT)
            except Exception:
                log.warning("Discord client did not close cleanly within %ss", STOP_TIMEOUT)
        if self.bot_task is not None:
            self.bot_task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self.bot_task, 1)

    async def sync_now(
        self, *, triggered_by: str, scheduled: bool = False
    ) -> dict[str, Any] | None:
        """One full sync with follow-ups (API, page, scheduler)."""
        return await sync_discord(
            service=self.service,
            sessionmaker=self.app.state.sessionmaker,
            engine=self.app.state.engine,
            settings=self.settings,
            triggered_by=triggered_by,
            scheduled=scheduled,
        )

    async def _periodic_sync(self) -> None:
        first = True
        while True:
            if not usable(self.service):
                await self.service.wait_ready(30)
                if not usable(self.service):
                    await asyncio.sleep(5)
                    continue
            interval = self.settings.discord_sync_interval_minutes * 60
            await asyncio.sleep(self.first_sync_delay if first else interval)
            try:
                await self._scheduled_sync(triggered_by="startup" if first else "schedule")
            except Exception:
                log.exception("scheduled Discord sync failed")
            first = False

    async def _scheduled_sync(self, *, triggered_by: str) -> None:
        """A scheduled sync; its follow-ups go through the scheduler's pipeline when there is one."""
        external = getattr(self.app.state, "request_pipeline", None)
        result = await sync_discord(
            service=self.service,
            sessionmaker=self.app.state.sessionmaker,
            engine=self.app.state.engine,
            settings=self.settings,
            triggered_by=triggered_by,
            scheduled=True,
            followups=external is None,
        )
        if external is not None and result is not None and result["changed"]:
            external("discord sync")

    def request_pipeline(self, reason: str) -> None:
        """Ask for matching → integrity → report: the scheduler's pipeline, else a local debounce."""
        external = getattr(self.app.state, "request_pipeline", None)
        if external is not None:
            external(reason)
            return
        if self.debounce_task is not None and not self.debounce_task.done():
            self.debounce_task.cancel()
        self.debounce_task = asyncio.create_task(
            self._debounced_pipeline(), name="discord-pipeline"
        )

    async def _debounced_pipeline(self) -> None:
        await asyncio.sleep(self.pipeline_debounce)
        try:
            await run_followups(
                service=self.service,
                sessionmaker=self.app.state.sessionmaker,
                engine=self.app.state.engine,
                settings=self.settings,
            )
        except Exception:
            log.exception("pipeline after Discord events failed")


def install(app: FastAPI) -> None:
    """Null service now (create_app time); the real one from the startup hook."""
    app.state.discord = NullDiscordService()
    runtime = DiscordRuntime(app)
    app.state.discord_runtime = runtime
    app.state.startup_hooks.append(runtime.start)
    app.state.shutdown_hooks.append(runtime.stop)


# ---------------------------------------------------------------------------- the CLI
async def _cli_service(settings: Settings) -> tuple[Any, asyncio.Task[None] | None]:
    """Build and connect the service for a one-shot command (UserError when it cannot)."""
    from patt.cli import NotConfigured

    service = build_service(settings)
    if not is_configured(service):
        raise NotConfigured(not_configured_message(settings))
    task = None
    starter = getattr(service, "start", None)
    if starter is not None:
        print("Connecting to Discord…", flush=True)
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
    from patt.cli import NotConfigured, UserError
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
            return 3
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
            return 5
        print(f"Discord sync finished ({sync['status']}).")
        return 0
    finally:
        if service is not None:
            await _cli_close(service, task)
        await engine.dispose()


async def _cli_sync_report(url: str, settings: Settings, *, full: bool) -> int:
    from patt.cli import NotConfigured
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
    from patt import cli

    url = cli.database_url(settings)
    cli.upgrade_database(url)
    cli.run_async(url, cli._seed)  # role sync needs the ranks, like serve/create-admin/demo
    return asyncio.run(_cli_sync_discord(url, settings))


def cmd_sync_report(args: argparse.Namespace, settings: Settings) -> int:
    """`patt sync report [--full]`: post new (or all open) audit issues."""
    from patt import cli

    url = cli.database_url(settings)
    cli.upgrade_database(url)
    cli.run_async(url, cli._seed)
    return asyncio.run(_cli_sync_report(url, settings, full=bool(args.full)))


__all__ = [
    "DiscordRuntime",
    "DiscordService",
    "build_service",
    "cmd_sync_discord",
    "cmd_sync_report",
    "install",
    "sync_discord",
]
