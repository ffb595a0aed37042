"""Scenario registry, the shared benchmark context and the report.

A scenario is an async function `run(bench)` registered with `@scenario(name, order)`; it seeds
what it needs through `bench.session()`, then records figures with `bench.throughput(...)`
(requests/s against the running server) or `bench.timing(...)` (a measured duration). A
scenario whose endpoint or service does not exist yet raises `NotBuilt` and is reported as
"SKIPPED (not built)". New scenarios: add a module to `SCENARIO_MODULES` in `bench/__main__.py`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bench.load import RequestMaker, Stats, hammer
from bench.server import BENCH_SECRET
from sv_common.auth.jwt import create_access_token


class NotBuilt(Exception):
    """The endpoint or service a scenario measures does not exist yet."""


@dataclass
class Scenario:
    """A registered benchmark scenario."""

    name: str
    order: int
    run: Callable[[Bench], Awaitable[None]]
    description: str = ""


SCENARIOS: list[Scenario] = []


def scenario(name: str, order: int) -> Callable[[Callable[[Bench], Awaitable[None]]], Any]:
    """Register `run(bench)` under `name`; lower `order` runs first."""

    def register(run: Callable[[Bench], Awaitable[None]]) -> Callable[[Bench], Awaitable[None]]:
        SCENARIOS.append(Scenario(name, order, run, (run.__doc__ or "").strip()))
        return run

    return register


@dataclass
class Line:
    """One row of the report."""

    label: str
    stats: Stats | None = None
    ms: float | None = None
    goal_ratio: float | None = None
    goal_ms: float | None = None
    skipped: str | None = None
    note: str = ""


@dataclass
class Bench:
    """Everything a scenario needs: server URL, database sessions, tokens and load settings."""

    url: str
    database_url: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    duration: float
    concurrency: int
    quick: bool
    cpu_probe: Callable[[], float | None] | None = None
    lines: list[Line] = field(default_factory=list)
    health: Stats | None = None
    state: dict[str, Any] = field(default_factory=dict)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One committed transaction on the benchmark database."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    @staticmethod
    def token(member_id: int, user_id: int, level: int) -> str:
        """A bearer token the server accepts (same fixed secret)."""
        return create_access_token(
            BENCH_SECRET,
            user_id=user_id,
            member_id=member_id,
            rank_level=level,
            expires_minutes=120,
        )

    async def exists(self, method: str, path: str, **kwargs: Any) -> bool:
        """False when the server answers 404/405 "Not found." for a route it does not have."""
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            response = await client.request(method, path, **kwargs)
        if response.status_code in (404, 405):
            try:
                body = response.json()
            except ValueError:
                return "Page Not Found" not in response.text
            return body.get("error") not in ("Not found.", "Method not allowed.")
        return True

    async def throughput(
        self,
        label: str,
        make: RequestMaker,
        *,
        goal_ratio: float | None = None,
        expect: Collection[int] = (200,),
        max_requests: int | None = None,
        concurrency: int | None = None,
        duration: float | None = None,
        warmup: bool = True,
        note: str = "",
    ) -> Stats:
        """Measure requests/s of `make` and add a report line."""
        print(f"  {label} …", file=sys.stderr, flush=True)
        stats = await hammer(
            self.url,
            make,
            duration=duration or self.duration,
            concurrency=concurrency or self.concurrency,
            max_requests=max_requests,
            expect=expect,
            warmup=min(0.5, self.duration / 4) if warmup else 0.0,
            cpu_probe=self.cpu_probe,
        )
        self.lines.append(Line(label, stats=stats, goal_ratio=goal_ratio, note=note))
        return stats

    def timing(
        self, label: str, ms: float, *, goal_ms: float | None = None, note: str = ""
    ) -> None:
        """Add a measured duration to the report."""
        self.lines.append(Line(label, ms=ms, goal_ms=goal_ms, note=note))

    def skipped(self, label: str, reason: str) -> None:
        """Add a line for something that could not be measured."""
        self.lines.append(Line(label, skipped=reason))


async def timed(work: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    """Median wall time of `work()` in milliseconds over `repeat` runs, and the last result."""
    samples = []
    result: Any = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = await work()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return samples[len(samples) // 2], result


# ---------------------------------------------------------------------------------- report
def _verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def format_report(bench: Bench) -> str:
    """The results table: req/s, p50, p99, ratio to /api/health, goal and PASS/MISS."""
    health_rps = bench.health.rps if bench.health else 0.0
    health_cpu = bench.health.server_cpu_ms if bench.health else None
    width = max([len(line.label) for line in bench.lines] + [40])
    header = (
        f"{'scenario':<{width}} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'srv ms':>7} "
        f"{'cpu ×':>6} {'× health':>9}  goal"
    )
    rows = [header, "-" * len(header)]
    for line in bench.lines:
        if line.skipped:
            rows.append(f"{line.label:<{width}} {line.skipped}")
            continue
        if line.stats is not None:
            stats = line.stats
            ratio = stats.rps / health_rps if health_rps else 0.0
            goal = ""
            if line.goal_ratio is not None:
                goal = f"≥ {line.goal_ratio:g}× health  {_verdict(ratio >= line.goal_ratio)}"
            if stats.errors:
                goal += f"  ({stats.errors}/{stats.requests} failed: {stats.first_error})"
            if line.note:
                goal += f"  [{line.note}]"
            cpu = f"{'':>7} {'':>6}"
            if stats.server_cpu_ms:
                # health's server CPU per request ÷ this one's: the ratio an idle machine would show
                capacity = (
                    f"{health_cpu / stats.server_cpu_ms:>5.2f}×" if health_cpu else f"{'':>6}"
                )
                cpu = f"{stats.server_cpu_ms:>7.2f} {capacity}"
            rows.append(
                f"{line.label:<{width}} {stats.rps:>8.1f} {stats.p50:>8.1f} {stats.p99:>8.1f} {cpu} "
                f"{ratio:>8.2f}×  {goal}".rstrip()
            )
            continue
        assert line.ms is not None
        goal = ""
        if line.goal_ms is not None:
            limit = f"{line.goal_ms / 1000:g} s" if line.goal_ms >= 1000 else f"{line.goal_ms:g} ms"
            goal = f"< {limit}  {_verdict(line.ms < line.goal_ms)}"
        if line.note:
            goal += f"  [{line.note}]"
        shown = f"{line.ms / 1000:.2f} s" if line.ms >= 1000 else f"{line.ms:.1f} ms"
        rows.append(f"{line.label:<{width}} {shown:>50}  {goal}".rstrip())
    return "\n".join(rows)
