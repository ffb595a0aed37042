"""Browser-test harness: the real app under uvicorn on a free loopback port, headless Chromium.

- `live_server`: one uvicorn server per e2e run (background thread, its own event loop), with
  tables truncated, ranks re-seeded, throttles and the setup token cleared before every test.
  Background work is off (campaign checker, scheduler); Discord is the file-backed fake with an
  empty member list and an outbox file, so invite DMs can be read back.
- `browser`, `new_context`, `page`, `phone_page`: Playwright (sync API) driving /usr/bin/chromium
  at 1280×800, or 390×844 for phones.
- `screenshot(page, name)`: a PNG in the run's artifact folder; a failing test gets one of each
  open page automatically.
- Every context watches for Content-Security-Policy violations (the browser's console message
  and the `securitypolicyviolation` event): any violation fails the test that caused it
  (`csp_log` holds them; a test that provokes one on purpose clears it).

E2E tests are plain `def` functions (the sync Playwright API cannot run inside an asyncio
loop); async work against the database goes through `live_server.run(coro)`, which runs it on
the server's own loop. Playwright and the server are package-scoped so they are gone before
the async integration tests of the same pytest run start.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from patt.app import create_app
from patt.config import Settings
from sv_common.db.engine import transaction
from tests.conftest import DEFAULT_PASSWORD, make_settings, reset_database

E2E_DIR = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
DEFAULT_TIMEOUT_MS = 10_000
# Chromium words its console reports "Refused to … because it violates the following Content
# Security Policy directive" (older) or "… violates the following Content Security Policy …".
CSP_MARK = "Content Security Policy"
# Runs in every frame before the page's own scripts (injected by the browser, so the policy does
# not apply to it): reports each violation on the console in case its wording changes.
CSP_WATCH_SCRIPT = """
document.addEventListener("securitypolicyviolation", function (event) {
  console.error("Content Security Policy violation: " + event.violatedDirective + " blocked " +
    (event.blockedURI || "inline code") + " at " + event.sourceFile + ":" + event.lineNumber);
});
"""
# The fake Discord server's roles, named like the default ranks (70 §4 matches by name).
FAKE_DISCORD_ROLES = [
    {"id": "200000000000000001", "name": "GM", "position": 10},
    {"id": "200000000000000002", "name": "Officer", "position": 9},
    {"id": "200000000000000003", "name": "Veteran", "position": 8},
    {"id": "200000000000000004", "name": "Member", "position": 7},
    {"id": "200000000000000005", "name": "Initiate", "position": 6},
]


# ------------------------------------------------------------------------------ markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/e2e gets the `e2e` marker; async tests are refused early."""
    for item in items:
        if E2E_DIR not in Path(str(item.path)).parents:
            continue
        item.add_marker(pytest.mark.e2e)
        function = getattr(item, "function", None)
        if function is not None and asyncio.iscoroutinefunction(function):
            raise pytest.UsageError(
                f"{item.nodeid}: e2e tests must be plain `def` functions (sync Playwright); "
                "use live_server.run(coro) for async work."
            )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Remember each phase's report on the item so fixtures can see a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _chromium_or_skip() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing: install Debian's chromium to run the browser tests"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (required in CI)", pytrace=False)
    pytest.skip(message)


# ---------------------------------------------------------------------------- the server
def free_port_socket() -> socket.socket:
    """A listening-ready socket bound to a free 127.0.0.1 port (no race with other runs)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class CreatedMember:
    """A member made by `LiveServer.create_member`."""

    id: int
    discord_username: str
    display_name: str
    password: str | None


class LiveServer:
    """The app under uvicorn in a background thread with its own event loop."""

    def __init__(self, app: Any, settings: Settings, data_dir: Path) -> None:
        self.app = app
        self.settings = settings
        self.data_dir = data_dir
        self.discord_file = Path(settings.discord_fake_file) if settings.discord_fake_file else None
        self.outbox = Path(settings.discord_fake_outbox) if settings.discord_fake_outbox else None
        self._sock = free_port_socket()
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve, name="e2e-uvicorn", daemon=True)
        self._error: BaseException | None = None

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._server.serve(sockets=[self._sock]))
        except BaseException as exc:  # reported by start()
            self._error = exc
        finally:
            self._loop.close()

    def start(self, timeout: float = 30) -> None:
        """Start serving; raises when startup (lifespan hooks included) fails."""
        self._thread.start()
        waited = 0.0
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"live server failed to start: {self._error!r}")
            if waited > timeout:
                raise RuntimeError("live server did not start in time")
            threading.Event().wait(0.02)
            waited += 0.02

    def stop(self) -> None:
        """Run the shutdown hooks and stop the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()

    # ---- running async work on the server's loop
    def run(self, work: Coroutine[Any, Any, Any] | Awaitable[Any], timeout: float = 30) -> Any:
        """Run a coroutine on the server's event loop and return its result."""
        assert self._loop is not None, "server not started"

        async def wrapper() -> Any:
            return await work

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(timeout)

    def in_session(self, work: Callable[[Any], Awaitable[Any]]) -> Any:
        """Run `work(session)` in one committed transaction of the app's database."""

        async def run() -> Any:
            async with transaction(self.app.state.sessionmaker) as session:
                return await work(session)

        return self.run(run())

    def reset(self) -> None:
        """Clean tables with default ranks, fresh throttles, no setup token, empty outbox."""
        from sv_common import clock

        clock.reset()
        self.run(reset_database(self.app))  # throttle hits and the setup token are tables too
        if self.outbox is not None and self.outbox.exists():
            self.outbox.write_text("")
        if self.discord_file is not None:
            self.write_discord_members([])

    # ---- setup mode, Discord fake
    def set_setup_token(self, token: str) -> None:
        """Accept `token` on /setup (as `patt serve` stores it in the database)."""
        from sv_common.auth import setup_token

        self.in_session(lambda session: setup_token.arm(session, setup_token.token_hash(token)))

    def write_discord_members(self, members: list[dict[str, Any]]) -> None:
        """Replace the fake Discord server's members (file and, when running, the service)."""
        if self.discord_file is None:
            return
        self.discord_file.write_text(
            json.dumps({"roles": FAKE_DISCORD_ROLES, "members": members}), encoding="utf-8"
        )
        service = getattr(self.app.state, "discord", None)
        reload = getattr(service, "reload", None)
        if callable(reload):
            reload()

    def outbox_messages(self) -> list[dict[str, Any]]:
        """Every DM/post the fake Discord delivered since the test began."""
        if self.outbox is None or not self.outbox.exists():
            return []
        return [json.loads(line) for line in self.outbox.read_text().splitlines() if line.strip()]

    # ---- data
    def create_member(
        self,
        username: str,
        *,
        level: int = 2,
        display_name: str | None = None,
        password: str | None = DEFAULT_PASSWORD,
        discord_id: str | None = None,
    ) -> CreatedMember:
        """A member at the rank with `level`, registered with `password` unless it is None."""
        from sqlalchemy import select

        from sv_common.db.models import GuildMember, GuildRank
        from sv_common.identity import accounts, members

        async def work(session: Any) -> int:
            rank_id = await session.scalar(select(GuildRank.id).where(GuildRank.level == level))
            member = await members.create_member(
                session,
                actor=None,
                discord_username=username,
                display_name=display_name or username.title(),
                rank_id=rank_id,
                discord_id=discord_id,
            )
            if password is not None:
                await accounts.create_guild_leader(
                    session, discord_username=username, password=password, reset_password=True
                )
                row = await session.get(GuildMember, member.id)
                row.rank_id = rank_id  # create_guild_leader gives the top rank
                await session.flush()
            return int(member.id)

        member_id = self.in_session(work)
        return CreatedMember(member_id, username, display_name or username.title(), password)


def _e2e_settings(tmp: Path, **overrides: Any) -> Settings:
    discord: dict[str, Any] = {"discord_backend": "null"}
    try:
        import sv_common.discord.fake  # noqa: F401  (the file-backed fake exists)

        discord = {
            "discord_backend": "fake",
            "discord_fake_file": str(tmp / "discord.json"),
            "discord_fake_outbox": str(tmp / "discord-outbox.jsonl"),
        }
        (tmp / "discord.json").write_text(
            json.dumps({"roles": FAKE_DISCORD_ROLES, "members": []}), encoding="utf-8"
        )
    except ImportError:
        pass
    values: dict[str, Any] = {
        **discord,
        "campaign_checker_enabled": False,
        "scheduler_enabled": False,
        "public_base_url": "http://127.0.0.1",
    }
    values.update(overrides)
    return make_settings(tmp, **values)


def start_live_server(database_url: str, tmp: Path, **overrides: Any) -> LiveServer:
    """Build the app with e2e settings (plus `overrides`) and serve it."""
    settings = _e2e_settings(tmp, **overrides)
    app = create_app(settings, database_url=database_url)
    server = LiveServer(app, settings, tmp)
    server.start()
    return server


@pytest.fixture(scope="package")
def _live_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    server = start_live_server(database_url, tmp_path_factory.mktemp("live-server"))
    yield server
    server.stop()


@pytest.fixture
def live_server(_live_server: LiveServer) -> LiveServer:
    """The running app on clean tables (default ranks, no accounts, setup token unset)."""
    _live_server.reset()
    return _live_server


# --------------------------------------------------------------------------- the browser
@pytest.fixture(scope="package")
def playwright() -> Iterator[Any]:
    """The sync Playwright driver (skips, or fails in CI, without /usr/bin/chromium)."""
    _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Any) -> Iterator[Any]:
    """Headless Debian chromium, shared by every e2e test."""
    instance = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield instance
    instance.close()


@pytest.fixture(scope="package")
def artifact_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go (E2E_ARTIFACTS_DIR, else a pytest temp folder)."""
    configured = os.environ.get("E2E_ARTIFACTS_DIR")
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("e2e-artifacts")


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:120] or "page"


@pytest.fixture
def screenshot(artifact_dir: Path, request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """`screenshot(page, name)` → full-page PNG under the artifact folder."""

    def take(page: Any, name: str) -> Path:
        path = artifact_dir / f"{_safe_name(request.node.name)}--{_safe_name(name)}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def csp_log() -> list[str]:
    """Content-Security-Policy violations reported by this test's browser contexts."""
    return []


def watch_csp(context: Any, log: list[str]) -> None:
    """Record every CSP violation the context's pages report (console or DOM event)."""

    def on_console(message: Any) -> None:
        if CSP_MARK in message.text:
            where = message.page.url if message.page is not None else "?"
            log.append(f"{where}: {message.text}")

    context.add_init_script(CSP_WATCH_SCRIPT)
    context.on("console", on_console)


@pytest.fixture
def new_context(
    browser: Any,
    live_server: LiveServer,
    artifact_dir: Path,
    csp_log: list[str],
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., Any]]:
    """`new_context(phone=False, **options)` → a fresh browser context (own cookies) on the
    live server; closed after the test, with screenshots of its pages when the test failed.
    A Content-Security-Policy violation in any of its pages fails the test."""
    contexts: list[Any] = []

    def make(*, phone: bool = False, **options: Any) -> Any:
        settings: dict[str, Any] = {
            "viewport": PHONE if phone else DESKTOP,
            "base_url": live_server.url,
        }
        if phone:
            settings.update(is_mobile=True, has_touch=True, device_scale_factor=2)
        settings.update(options)
        context = browser.new_context(**settings)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        watch_csp(context, csp_log)
        contexts.append(context)
        return context

    yield make
    report = getattr(request.node, "report_call", None)
    failed = report is not None and report.failed
    for number, context in enumerate(contexts):
        if failed:
            for index, page in enumerate(context.pages):
                try:
                    name = f"{_safe_name(request.node.name)}--FAILED-{number}-{index}.png"
                    page.screenshot(path=str(artifact_dir / name), full_page=True)
                except Exception:  # a crashed page must not hide the real failure
                    pass
        context.close()
    if failed:
        print(f"\nscreenshots of the failed test: {artifact_dir}")
    elif csp_log:
        pytest.fail("Content-Security-Policy violations:\n" + "\n".join(csp_log), pytrace=False)


@pytest.fixture
def page(new_context: Callable[..., Any]) -> Any:
    """A desktop page (1280×800) in its own context."""
    return new_context().new_page()


@pytest.fixture
def phone_page(new_context: Callable[..., Any]) -> Any:
    """A phone page (390×844, touch) in its own context."""
    return new_context(phone=True).new_page()


def has_horizontal_scroll(page: Any) -> bool:
    """True when the document is wider than the viewport (the page scrolls sideways)."""
    return bool(
        page.evaluate(
            "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
        )
    )


def csrf_cookie(context: Any) -> str | None:
    """The `patt_csrf` cookie of a browser context (for API calls from tests)."""
    for cookie in context.cookies():
        if cookie["name"] == "patt_csrf":
            return str(cookie["value"])
    return None
