"""Scheduling arithmetic (next / previous sync hour, next daily time) and the pipeline runner's
coalescing and debounce (80 §9.1–9.2), without a database."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import pytest
from tests.conftest import make_settings

from patt.guild_sync import scheduler as scheduler_module
from patt.guild_sync.pipeline import PipelineRunner
from patt.guild_sync.scheduler import Scheduler, next_at_hours, next_daily, previous_at_hours
from sv_common import clock

HOURS = [1, 7, 13, 19]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# --------------------------------------------------------------------------- next_at_hours
@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2026, 2, 21, 0, 0), utc(2026, 2, 21, 1, 0)),  # midnight
        (utc(2026, 2, 21, 0, 59, 59, 999999), utc(2026, 2, 21, 1, 0)),
        (utc(2026, 2, 21, 1, 0), utc(2026, 2, 21, 7, 0)),  # exactly on a sync hour: the next
        (utc(2026, 2, 21, 1, 0, 0, 1), utc(2026, 2, 21, 7, 0)),
        (utc(2026, 2, 21, 18, 30), utc(2026, 2, 21, 19, 0)),
        (utc(2026, 2, 21, 19, 0), utc(2026, 2, 22, 1, 0)),  # last of the day: tomorrow
        (utc(2026, 2, 21, 23, 59, 59), utc(2026, 2, 22, 1, 0)),
        (utc(2025, 12, 31, 19, 30), utc(2026, 1, 1, 1, 0)),  # over the year end
        (utc(2028, 2, 28, 22, 0), utc(2028, 2, 29, 1, 0)),  # leap day
    ],
)
def test_next_at_hours(now: datetime, expected: datetime) -> None:
    assert next_at_hours(now, HOURS) == expected


def test_next_at_hours_with_one_hour_a_day_and_midnight() -> None:
    assert next_at_hours(utc(2026, 3, 1, 0, 0), [0]) == utc(2026, 3, 2, 0, 0)
    assert next_at_hours(utc(2026, 3, 1, 23, 0), [0]) == utc(2026, 3, 2, 0, 0)
    assert next_at_hours(utc(2025, 12, 31, 5, 0), [5]) == utc(2026, 1, 1, 5, 0)
    every_hour = list(range(24))
    assert next_at_hours(utc(2026, 3, 1, 10, 0), every_hour) == utc(2026, 3, 1, 11, 0)
    assert next_at_hours(utc(2026, 3, 1, 10, 0), every_hour).tzinfo is UTC


def test_next_at_hours_without_hours_is_an_error() -> None:
    with pytest.raises(ValueError, match="no sync hours"):
        next_at_hours(utc(2026, 3, 1), [])
    with pytest.raises(ValueError, match="no sync hours"):
        next_at_hours(utc(2026, 3, 1), [24])  # not an hour of any day


# ------------------------------------------------------------------------ previous_at_hours
@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2026, 2, 21, 1, 0), utc(2026, 2, 21, 1, 0)),  # at or before: the hour itself
        (utc(2026, 2, 21, 6, 59, 59), utc(2026, 2, 21, 1, 0)),
        (utc(2026, 2, 21, 7, 0, 0, 1), utc(2026, 2, 21, 7, 0)),
        (utc(2026, 2, 21, 0, 30), utc(2026, 2, 20, 19, 0)),  # after midnight: yesterday's last
        (utc(2026, 2, 21, 0, 0), utc(2026, 2, 20, 19, 0)),
        (utc(2026, 1, 1, 0, 59), utc(2025, 12, 31, 19, 0)),  # back over the year end
        (utc(2028, 3, 1, 0, 10), utc(2028, 2, 29, 19, 0)),
    ],
)
def test_previous_at_hours(now: datetime, expected: datetime) -> None:
    assert previous_at_hours(now, HOURS) == expected


def test_previous_at_hours_edges() -> None:
    assert previous_at_hours(utc(2026, 3, 1, 0, 0), [0]) == utc(2026, 3, 1, 0, 0)
    assert previous_at_hours(utc(2026, 3, 1, 22, 0), [23]) == utc(2026, 2, 28, 23, 0)
    with pytest.raises(ValueError, match="no sync hours"):
        previous_at_hours(utc(2026, 3, 1), [])


def test_previous_and_next_surround_now() -> None:
    moment = utc(2026, 6, 15, 0, 0)
    for _ in range(24 * 4):  # every quarter hour of a day
        before, after = previous_at_hours(moment, HOURS), next_at_hours(moment, HOURS)
        assert before <= moment < after
        assert after - before <= timedelta(hours=6)
        moment += timedelta(minutes=15)


# ------------------------------------------------------------------------------ next_daily
@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2026, 2, 21, 0, 0), utc(2026, 2, 21, 3, 30)),  # midnight: today
        (utc(2026, 2, 21, 3, 29, 59, 999999), utc(2026, 2, 21, 3, 30)),
        (utc(2026, 2, 21, 3, 30), utc(2026, 2, 22, 3, 30)),  # exactly at it: strictly after
        (utc(2026, 2, 21, 3, 30, 0, 1), utc(2026, 2, 22, 3, 30)),
        (utc(2026, 2, 21, 3, 30, 59), utc(2026, 2, 22, 3, 30)),  # same hour and minute
        (utc(2026, 2, 21, 23, 59, 59), utc(2026, 2, 22, 3, 30)),
        (utc(2025, 12, 31, 4, 0), utc(2026, 1, 1, 3, 30)),  # year end
        (utc(2028, 2, 28, 12, 0), utc(2028, 2, 29, 3, 30)),  # leap day
        (utc(2026, 2, 28, 12, 0), utc(2026, 3, 1, 3, 30)),  # no leap day this year
    ],
)
def test_next_daily(now: datetime, expected: datetime) -> None:
    assert next_daily(now, clock_time(3, 30)) == expected


def test_next_daily_at_midnight() -> None:
    assert next_daily(utc(2026, 2, 21, 0, 0), clock_time(0, 0)) == utc(2026, 2, 22, 0, 0)
    assert next_daily(utc(2025, 12, 31, 23, 0), clock_time(0, 0)) == utc(2026, 1, 1, 0, 0)


# ---------------------------------------------------------------------------- PipelineRunner
class Gate:
    """A fake pipeline run that waits until the test lets it finish."""

    def __init__(self) -> None:
        self.started = 0
        self.started_at: list[float] = []
        self.release = asyncio.Event()
        self.running = asyncio.Event()
        self.fail_next = False

    async def __call__(self) -> dict[str, int]:
        self.started += 1
        self.started_at.append(time.monotonic())
        self.running.set()
        await self.release.wait()
        self.running.clear()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("matching blew up")
        return {"run": self.started}


async def wait_for(condition: object, patience: float = 5.0) -> None:
    """Poll `condition()` until true (no fixed sleeps)."""
    give_up = time.monotonic() + patience
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < give_up, "timed out"
        await asyncio.sleep(0.005)


async def test_requests_during_a_run_coalesce_into_exactly_one_more_run() -> None:
    gate = Gate()
    runner = PipelineRunner(gate)
    runner.request("blizzard sync")
    await gate.running.wait()
    for reason in ("addon upload", "manual link", "manual link", "import", "addon upload"):
        runner.request(reason)
    assert runner.running and gate.started == 1
    gate.release.set()
    await runner.wait_idle()
    assert gate.started == 2 and runner.runs_done == 2
    assert runner.last_outcome == {"run": 2}
    assert not runner.running

    runner.request("later")  # idle again: a new request starts a new run
    await runner.wait_idle()
    assert gate.started == 3


async def test_a_request_when_idle_runs_once() -> None:
    gate = Gate()
    gate.release.set()
    runner = PipelineRunner(gate)
    runner.request("one")
    await runner.wait_idle()
    assert (gate.started, runner.runs_done) == (1, 1)
    assert runner.reasons == ["one"]


async def test_a_failed_run_does_not_stop_the_next() -> None:
    gate = Gate()
    gate.release.set()
    gate.fail_next = True
    runner = PipelineRunner(gate)
    runner.request("first")
    await runner.wait_idle()
    assert runner.runs_done == 1 and runner.last_outcome is None
    runner.request("second")
    await runner.wait_idle()
    assert runner.runs_done == 2 and runner.last_outcome == {"run": 2}


async def test_debounced_requests_run_once_after_the_quiet_period() -> None:
    gate = Gate()
    gate.release.set()
    quiet = 0.05
    runner = PipelineRunner(gate, debounce_seconds=quiet)
    last_request = 0.0
    for _ in range(5):  # a burst of member events
        runner.request("discord join", debounce=True)
        last_request = time.monotonic()
        # let the timer start sleeping, so the next request has to cancel a waiting timer
        await asyncio.sleep(0)
    assert gate.started == 0  # still inside the quiet period of the last request
    await wait_for(lambda: runner.runs_done >= 1)
    await runner.wait_idle()
    assert gate.started == 1 and runner.runs_done == 1
    assert gate.started_at[0] - last_request >= quiet


async def test_debounced_request_during_a_run_adds_one_run() -> None:
    gate = Gate()
    runner = PipelineRunner(gate, debounce_seconds=0.01)
    runner.request("blizzard sync")
    await gate.running.wait()
    runner.request("discord join", debounce=True)
    runner.request("discord leave", debounce=True)
    await wait_for(lambda: runner.reasons[-1] == "debounced")  # the quiet period is over
    gate.release.set()
    await runner.wait_idle()
    assert gate.started == 2


async def test_stop_cancels_a_pending_debounce_and_the_running_run() -> None:
    gate = Gate()
    runner = PipelineRunner(gate, debounce_seconds=60)
    runner.request("discord join", debounce=True)
    await runner.stop()
    assert gate.started == 0
    runner.request("now")
    await gate.running.wait()
    await runner.stop()
    assert not runner.running and runner.runs_done == 0


# ------------------------------------------------------ scheduled jobs with an early wake-up
class StubGuildSync:
    """What the Blizzard and housekeeping jobs use of GuildSync, counting the runs."""

    def __init__(self) -> None:
        self.settings = make_settings(Path("/nonexistent"), scheduler_enabled=True)
        self.blizzard_configured = True
        self.runs: list[datetime] = []

    async def blizzard_sync(self, **_: object) -> None:
        self.runs.append(clock.now())

    async def housekeeping(self) -> dict[str, int]:
        self.runs.append(clock.now())
        return {}


async def run_job_waking_early(
    monkeypatch: pytest.MonkeyPatch, job: str, *, start: datetime, slots: int
) -> tuple[list[datetime], StubGuildSync]:
    """Run a scheduled job whose sleeps end 2 s before the wall-clock target (asyncio sleeps on
    the monotonic clock; an NTP-slewed wall clock can lag behind it), for `slots` sleeps."""
    guild_sync = StubGuildSync()
    scheduler = Scheduler(guild_sync)  # type: ignore[arg-type]
    targets: list[datetime] = []

    async def recent_success(*_: object) -> datetime:
        return clock.now()  # no catch-up run at leader start

    async def sleep_until(moment: datetime) -> None:
        targets.append(moment)
        if len(targets) > slots:
            raise asyncio.CancelledError
        clock.set_now(moment - timedelta(seconds=2))

    monkeypatch.setattr(scheduler_module, "last_success", recent_success)
    monkeypatch.setattr(scheduler, "_sleep_until", sleep_until)
    # The stub has no database, so housekeeping's sync_log row is left out: these tests are
    # about when jobs run (the row itself is tested against PostgreSQL in test_observability).
    monkeypatch.setattr(scheduler, "_logged_housekeeping", guild_sync.housekeeping)
    clock.set_now(start)
    try:
        with pytest.raises(asyncio.CancelledError):
            await getattr(scheduler, job)()
    finally:
        clock.reset()
    return targets, guild_sync


async def test_blizzard_job_runs_once_per_slot_even_when_woken_early(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    targets, guild_sync = await run_job_waking_early(
        monkeypatch, "_blizzard_job", start=utc(2026, 2, 21, 6, 0), slots=3
    )
    assert targets[:3] == [utc(2026, 2, 21, 7), utc(2026, 2, 21, 13), utc(2026, 2, 21, 19)]
    assert len(guild_sync.runs) == 3  # not twice for 07:00


async def test_housekeeping_runs_once_a_day_even_when_woken_early(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    targets, guild_sync = await run_job_waking_early(
        monkeypatch, "_housekeeping_job", start=utc(2026, 12, 30, 12, 0), slots=3
    )
    assert targets[:3] == [
        utc(2026, 12, 31, 3, 30),
        utc(2027, 1, 1, 3, 30),
        utc(2027, 1, 2, 3, 30),
    ]
    assert len(guild_sync.runs) == 3
