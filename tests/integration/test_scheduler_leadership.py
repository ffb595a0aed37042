"""Scheduler leadership on one database (80 §9.4): exactly one process holds the leader lock
(advisory lock 1346458708/1) and runs the scheduled jobs; when the leader's connection or the
whole process dies, another process takes over. First with two schedulers on two engines in
this process (explicit ticks), then with two real app processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from patt.guild_sync.runtime import GuildSync
from patt.guild_sync.scheduler import Scheduler
from sv_common import clock
from sv_common.db import locks
from sv_common.db.engine import make_engine, make_sessionmaker
from sv_common.db.models import SyncLog
from sv_common.discord.null import NullDiscordService

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"

_HOLDERS = text(
    """
    SELECT pid FROM pg_locks
     WHERE locktype = 'advisory' AND granted AND classid = :ns AND objid = :n AND objsubid = 2
       AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    """
)


async def leader_lock_holders(app: Any) -> list[int]:
    """Backend pids holding the leader lock in this test's database."""
    async with app.state.engine.connect() as conn:
        return [row[0] for row in (await conn.execute(_HOLDERS, {"ns": locks.NAMESPACE, "n": 1}))]


async def wait_until(condition: Any, patience: float, message: str) -> None:
    """Poll an async `condition()` until it is true (no fixed sleeps)."""
    give_up = time.monotonic() + patience
    while not await condition():
        assert time.monotonic() < give_up, f"timed out: {message}"
        await asyncio.sleep(0.05)


# ------------------------------------------------------------- two schedulers, two engines
class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []

    async def lead(self) -> None:
        self.events.append("lead")

    async def follow(self) -> None:
        self.events.append("follow")


@pytest.fixture
async def two_schedulers(app: Any) -> AsyncIterator[list[tuple[Scheduler, Recorder]]]:
    """Two "processes": a scheduler each, on engines of their own (SCHEDULER_ENABLED=true)."""
    settings = app.state.settings.model_copy(update={"scheduler_enabled": True})
    made: list[tuple[Scheduler, Recorder]] = []
    engines = []
    for _ in range(2):
        engine = make_engine(app.state.database_url, pool_size=3, max_overflow=1)
        engines.append(engine)
        guild_sync = GuildSync(
            settings=settings,
            engine=engine,
            sessionmaker=make_sessionmaker(engine),
            discord=NullDiscordService,
        )
        recorder = Recorder()
        made.append(
            (Scheduler(guild_sync, on_lead=recorder.lead, on_follow=recorder.follow), recorder)
        )
    try:
        yield made
    finally:
        for scheduler, _ in made:
            await scheduler.stop()
            await scheduler.guild_sync.close()
        for engine in engines:
            await engine.dispose()


async def test_only_one_of_two_becomes_leader_and_the_other_takes_over(
    app: Any, two_schedulers: list[tuple[Scheduler, Recorder]]
) -> None:
    (first, first_hooks), (second, second_hooks) = two_schedulers
    # a run left `running` by a crashed leader three hours ago
    async with app.state.sessionmaker() as session, session.begin():
        session.add(
            SyncLog(
                source="blizzard_api",
                status="running",
                triggered_by="schedule",
                started_at=clock.now() - timedelta(hours=3),
            )
        )

    await first.tick()
    await second.tick()
    assert (first.is_leader, second.is_leader) == (True, False)
    assert first_hooks.events == ["lead"] and second_hooks.events == []  # the Discord gateway
    holders = await leader_lock_holders(app)
    assert len(holders) == 1
    async with app.state.sessionmaker() as session:
        status, message = (
            await session.execute(text("SELECT status, error_message FROM guild_identity.sync_log"))
        ).one()
    assert (status, message) == ("error", "interrupted")  # housekeeping at leader start

    for _ in range(3):  # later checks change nothing
        await first.tick()
        await second.tick()
    assert (first.is_leader, second.is_leader) == (True, False)
    assert await leader_lock_holders(app) == holders

    # the leader's database connection dies (server restart, network cut …)
    async with app.state.engine.connect() as conn:
        await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": holders[0]})

    async def second_leads() -> bool:
        await second.tick()
        return second.is_leader

    await wait_until(second_leads, 10, "the follower never took the lead")
    await first.tick()  # the old leader notices its lost connection and steps down
    assert (first.is_leader, second.is_leader) == (False, True)
    assert first_hooks.events == ["lead", "follow"] and second_hooks.events == ["lead"]
    await first.tick()  # and cannot take the lead back while the other holds it
    assert not first.is_leader
    new_holders = await leader_lock_holders(app)
    assert len(new_holders) == 1 and new_holders != holders


async def test_scheduler_disabled_never_leads(app: Any) -> None:
    scheduler = app.state.scheduler  # SCHEDULER_ENABLED=false in tests
    await scheduler.start()
    try:
        assert not scheduler.is_leader and await leader_lock_holders(app) == []
    finally:
        await scheduler.stop()


# --------------------------------------------------------------- two real app processes
CHECK_SECONDS = 1.0  # instead of 30 s, so a take-over happens within a test's patience

PROCESS = """
import asyncio, json, os, signal, sys, time
from pathlib import Path

from patt.app import create_app
from patt.config import Settings


async def main() -> None:
    url, data_dir, fake_file, status_path, check = sys.argv[1:6]
    settings = Settings(
        _env_file=None,
        app_env="testing",
        jwt_secret_key="leadership-test-secret-0123456789abcdef0123456789",
        patt_data_dir=data_dir,
        scheduler_enabled=True,
        campaign_checker_enabled=False,
        discord_backend="fake",
        discord_fake_file=fake_file,
        public_base_url="http://guild.test",
    )
    app = create_app(settings, database_url=url)
    scheduler = app.state.scheduler
    scheduler.check_seconds = float(check)
    scheduler.discord_first_delay = 0.0  # the leader's first Discord sync at once, not after 60 s
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    leader_since = None
    async with app.router.lifespan_context(app):
        while not stop.is_set():
            if scheduler.is_leader and leader_since is None:
                leader_since = time.time()
            state = {
                "pid": os.getpid(),
                "leader": scheduler.is_leader,
                "leader_since": leader_since,
                "discord_runs": scheduler.job_runs["discord"],
            }
            Path(status_path + ".tmp").write_text(json.dumps(state))
            os.replace(status_path + ".tmp", status_path)
            try:
                await asyncio.wait_for(stop.wait(), 0.05)
            except asyncio.TimeoutError:
                pass


asyncio.run(main())
"""


class AppProcess:
    """One `patt serve`-like process: the app with its lifespan (scheduler on), no HTTP."""

    def __init__(self, tmp_path: Path, name: str, database_url: str, fake_file: Path) -> None:
        self.status_path = tmp_path / f"{name}.json"
        self.log_path = tmp_path / f"{name}.log"
        script = tmp_path / "app_process.py"
        script.write_text(PROCESS)
        data_dir = tmp_path / name
        data_dir.mkdir()
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(script), database_url, str(data_dir), str(fake_file),
             str(self.status_path), str(CHECK_SECONDS)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    def status(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.status_path.read_text())  # type: ignore[no-any-return]
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def kill(self) -> None:
        """SIGKILL: the process dies without releasing anything (a crash)."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


async def discord_sync_runs(app: Any) -> list[tuple[str, str]]:
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            text(
                "SELECT triggered_by, status FROM guild_identity.sync_log "
                "WHERE source = 'discord_bot' ORDER BY id"
            )
        )
        return [tuple(row) for row in rows.all()]  # type: ignore[misc]


async def test_two_app_processes_elect_one_leader_and_fail_over(app: Any, tmp_path: Path) -> None:
    fake_file = tmp_path / "discord.json"
    fake_file.write_text((FIXTURES / "discord_basic.json").read_text())
    processes = [
        AppProcess(tmp_path, name, app.state.database_url, fake_file) for name in ("one", "two")
    ]
    try:

        async def settled() -> bool:
            for process in processes:
                assert process.alive, process.output()
            states = [p.status() for p in processes]
            return all(states) and any(s["leader"] and s["discord_runs"] >= 1 for s in states)  # type: ignore[index]

        # both processes start (imports take a few seconds) and one of them leads
        await wait_until(settled, 60, "no process became leader and ran the Discord sync")
        states = [p.status() or {} for p in processes]
        assert [s["leader"] for s in states].count(True) == 1
        leader = processes[[s["leader"] for s in states].index(True)]
        follower = processes[1 - processes.index(leader)]
        holders = await leader_lock_holders(app)
        assert len(holders) == 1

        # several leadership checks later still one leader, and the follower ran no job
        await asyncio.sleep(3 * CHECK_SECONDS)
        assert (leader.status() or {})["leader"] is True
        follower_state = follower.status() or {}
        assert (follower_state["leader"], follower_state["discord_runs"]) == (False, 0)
        assert await leader_lock_holders(app) == holders
        assert await discord_sync_runs(app) == [("startup", "success")]

        leader.kill()
        killed_at = time.time()

        async def took_over() -> bool:
            assert follower.alive, follower.output()
            state = follower.status() or {}
            return bool(state.get("leader")) and state.get("discord_runs", 0) >= 1

        await wait_until(took_over, 30, "the follower did not take over")
        state = follower.status() or {}
        delay = state["leader_since"] - killed_at
        # the lock died with the killed process's connection; the follower's next check
        # (every CHECK_SECONDS) takes it — allow some slack for a busy machine
        assert delay < CHECK_SECONDS + 2.0, f"take-over took {delay:.2f} s"
        new_holders = await leader_lock_holders(app)
        assert len(new_holders) == 1 and new_holders != holders
        assert await discord_sync_runs(app) == [("startup", "success")] * 2
    finally:
        for process in processes:
            process.stop()
