"""Discord inside the app: which service runs and its background tasks.

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
- With `SCHEDULER_ENABLED`, only the scheduler leader connects to Discord (the scheduler calls
  `start_gateway` when this process becomes leader and `stop_gateway` when it steps down) and
  runs the periodic member + role sync (`patt.guild_sync.scheduler`); without it, the process
  connects at startup. Member events request the pipeline with a 60 s debounce.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from patt.config import Settings
from patt.discord.flows import ensure_discord_config, sync_discord, take_sync_lock
from sv_common.db.enums import SyncSource
from sv_common.discord.fake import FakeDiscordService
from sv_common.discord.interface import DiscordService
from sv_common.discord.null import NullDiscordService
from sv_common.guild_sync import sync_log
from sv_common.guild_sync.discord_sync import MemberEventHandler
from sv_common.identity.realms import is_snowflake

log = logging.getLogger(__name__)

DEMO_FILE = Path(__file__).resolve().parent.parent / "data" / "demo_discord.json"
STOP_TIMEOUT = 10.0
NOT_CONFIGURED = (
    "Discord is not configured: set DISCORD_BOT_TOKEN and DISCORD_GUILD_ID "
    "(or DISCORD_BACKEND=fake with DISCORD_FAKE_FILE)."
)
FAKE_WITHOUT_FILE = (
    "DISCORD_BACKEND=fake needs DISCORD_FAKE_FILE (the bundled demo Discord server is used "
    "only in demo mode); Discord stays disabled."
)


# ------------------------------------------------------------------------------ building


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


# ---------------------------------------------------------------------- in the app
class DiscordRuntime:
    """The app's Discord service: built at startup; its gateway connection runs only in the
    scheduler leader (or in every process when the scheduler is off: one-process set-ups)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.bot_task: asyncio.Task[None] | None = None

    @property
    def settings(self) -> Settings:
        return self.app.state.settings  # type: ignore[no-any-return]

    @property
    def service(self) -> Any:
        return self.app.state.discord

    async def start(self, app: FastAPI) -> None:
        """Startup hook: build and subscribe; connect now unless the leader will do it."""
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
                game_rank_names=self.settings.game_rank_names,
            )
        )
        if not self.settings.scheduler_enabled:
            await self.start_gateway()

    async def start_gateway(self) -> None:
        """Connect to Discord in the background (the app never waits for it)."""
        starter = getattr(self.service, "start", None)
        if starter is not None and (self.bot_task is None or self.bot_task.done()):
            self.bot_task = asyncio.create_task(starter(), name="discord-bot")

    async def stop_gateway(self) -> None:
        """Close the client within 10 s and cancel its task."""
        closer = getattr(self.service, "close", None)
        if closer is not None and self.bot_task is not None:
            try:
                await asyncio.wait_for(closer(), STOP_TIMEOUT)
            except Exception:
                log.warning("Discord client did not close cleanly within %ss", STOP_TIMEOUT)
        if self.bot_task is not None:
            self.bot_task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self.bot_task, 1)
            self.bot_task = None

    async def stop(self, app: FastAPI) -> None:
        """Shutdown hook."""
        await self.stop_gateway()

    async def sync_now(
        self,
        *,
        triggered_by: str,
        scheduled: bool = False,
        held: Any = None,
        log_id: int | None = None,
    ) -> dict[str, Any] | None:
        """One full sync with follow-ups (API, page, scheduler)."""
        return await sync_discord(
            service=self.service,
            sessionmaker=self.app.state.sessionmaker,
            engine=self.app.state.engine,
            settings=self.settings,
            triggered_by=triggered_by,
            scheduled=scheduled,
            held=held,
            log_id=log_id,
        )

    async def start_sync(self, *, triggered_by: str) -> int:
        """Take the sync's job lock and insert its log row now (Conflict when one is running),
        then run the sync in the background; returns the log row's id (for a 202 answer)."""
        held = await take_sync_lock(self.app.state.engine, scheduled=False)
        assert held is not None  # a manual run raises Conflict instead
        try:
            log_id = await sync_log.start_sync(
                self.app.state.sessionmaker,
                source=SyncSource.DISCORD_BOT,
                triggered_by=triggered_by,
            )
        except BaseException:
            await held.release()
            raise
        self.app.state.guild_sync.spawn(
            self.sync_now(triggered_by=triggered_by, held=held, log_id=log_id),
            name="discord-sync",
        )
        return log_id

    def request_pipeline(self, reason: str) -> None:
        """Member events ask for matching → integrity → report, debounced (60 s)."""
        self.app.state.guild_sync.pipeline.request(reason, debounce=True)


def install(app: FastAPI) -> None:
    """Null service now (create_app time); the real one from the startup hook."""
    app.state.discord = NullDiscordService()
    runtime = DiscordRuntime(app)
    app.state.discord_runtime = runtime
    app.state.startup_hooks.append(runtime.start)
    app.state.shutdown_hooks.append(runtime.stop)


__all__ = ["DiscordRuntime", "DiscordService", "build_service", "install"]
