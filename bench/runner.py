"""Scenario registry, the shared benchmark context and the report.

A scenario is an async function `run(bench)` registered with `@scenario(name, order, rows=…)`;
it seeds what it needs through `bench.session()`, then records rows with `bench.load(...)`
(requests/s driven by wrk against the running server) or `bench.timing(...)` (a measured
duration). Every row has a short name so `--only` can pick single rows; a scenario runs when it
or one of its rows is chosen, and measures only the chosen rows. A scenario whose endpoint or
service does not exist yet raises `NotBuilt` and is reported as "SKIPPED (not built)". New
scenarios: add a module to `SCENARIO_MODULES` in `bench/__main__.py`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bench.server import BENCH_SECRET
from bench.wrk import WrkResult, WrkRun, run_wrk
from sv_common.auth.jwt import create_access_token

# A row whose responses are mostly errors cannot pass, whatever its rate.
MOSTLY_ERRORS = 0.5


class NotBuilt(Exception):
    """The endpoint or service a scenario measures does not exist yet."""


@dataclass
class Scenario:
    """A registered benchmark scenario and the rows it can produce."""

    name: str
    order: int
    run: Callable[[Bench], Awaitable[None]]
    rows: tuple[str, ...]
    description: str = ""
    opt_in: bool = False  # runs only when named with --only (long, not part of the full run)


SCENARIOS: list[Scenario] = []


def scenario(
    name: str, order: int, *, rows: tuple[str, ...] = (), opt_in: bool = False
) -> Callable[[Callable[[Bench], Awaitable[None]]], Any]:
    """Register `run(bench)` under `name` with its row names; lower `order` runs first."""

    def register(run: Callable[[Bench], Awaitable[None]]) -> Callable[[Bench], Awaitable[None]]:
        description = (run.__doc__ or "").strip().splitlines()[0]
        SCENARIOS.append(Scenario(name, order, run, rows or (name,), description, opt_in))
        return run

    return register


@dataclass
class Line:
    """One row of the report."""

    label: str
    result: WrkResult | None = None
    ms: float | None = None
    goal_ratio: float | None = None
    goal_ms: float | None = None
    verdict: str | None = None  # set directly by rows without figures (sub-benchmarks)
    skipped: str | None = None
    problem: str = ""  # why the row cannot pass (mostly errors …)
    note: str = ""


@dataclass
class Bench:
    """Everything a scenario needs: server URL, database sessions, tokens and load settings."""

    url: str
    database_url: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    wrk: str
    duration: int
    connections: int
    threads: int
    quick: bool
    chosen_rows: frozenset[str] | None = None  # None = every row
    cpu_probe: Callable[[], float | None] | None = None
    lines: list[Line] = field(default_factory=list)
    health_runs: list[WrkResult] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def health_rps(self) -> float:
        """The /api/health baseline: the mean rate of its plain runs (start and end of the run),
        so a machine that got busier or quieter meanwhile moves the baseline too."""
        if not self.health_runs:
            return 0.0
        return sum(run.rps for run in self.health_runs) / len(self.health_runs)

    def wants(self, row: str) -> bool:
        """Whether the row named `row` was chosen (all rows are, without --only)."""
        return self.chosen_rows is None or row in self.chosen_rows

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One committed transaction on the benchmark database."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    @staticmethod
    def token(member_id: int, user_id: int, level: int) -> str:
        """A bearer token the server accepts (same fixed secret), without a bcrypt login."""
        return create_access_token(
            BENCH_SECRET,
            user_id=user_id,
            member_id=member_id,
            rank_level=level,
            expires_minutes=120,
        )

    async def login(self, username: str, password: str) -> str:
        """Sign in through the API (`POST /api/v1/auth/login`) and return the bearer token."""
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            response = await client.post(
                "/api/v1/auth/login", json={"discord_username": username, "password": password}
            )
        if response.status_code != 200:
            raise RuntimeError(
                f"login as {username} failed: {response.status_code} {response.text}"
            )
        return str(response.json()["data"]["token"])

    async def probe(self, method: str, path: str, **kwargs: Any) -> tuple[bool, httpx.Response]:
        """Send one request; (route exists, response). A 404/405 "Not found." for a route the
        server does not have counts as missing."""
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            response = await client.request(method, path, **kwargs)
        if response.status_code in (404, 405):
            try:
                body = response.json()
            except ValueError:
                return "Page Not Found" not in response.text, response
            return body.get("error") not in ("Not found.", "Method not allowed."), response
        return True, response

    async def load(
        self,
        label: str,
        path: str,
        *,
        goal_ratio: float | None = None,
        headers: Mapping[str, str] | None = None,
        script: str | None = None,
        connections: int | None = None,
        warm_up: bool = True,
        note: str = "",
    ) -> Line:
        """Drive `path` with wrk for the configured duration and add a report line. `script`
        (Lua) replaces the plain GET for POSTs and rotating credentials."""
        run = WrkRun(
            url=self.url + path,
            duration=self.duration,
            connections=connections or self.connections,
            threads=self.threads,
            headers=headers,
            script=script,
        )
        print(f"  {label} …", file=sys.stderr, flush=True)
        if warm_up and not self.quick:
            warm = WrkRun(run.url, 1, run.connections, run.threads, headers, script)
            await asyncio.to_thread(run_wrk, self.wrk, warm, None)
        result = await asyncio.to_thread(run_wrk, self.wrk, run, self.cpu_probe)
        line = Line(label, result=result, goal_ratio=goal_ratio, note=note)
        self.lines.append(line)
        return line

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
def verdict(line: Line, health_rps: float) -> str:
    """PASS, MISS, info (no goal) or SKIP for one line."""
    if line.skipped:
        return "SKIP"
    if line.verdict:
        return line.verdict
    if line.result is not None:
        result = line.result
        mostly_errors = result.errors > MOSTLY_ERRORS * max(1, result.requests)
        if line.problem or mostly_errors or result.successes == 0:
            return "MISS" if line.goal_ratio is not None or mostly_errors else "info"
        if line.goal_ratio is None:
            return "info"
        ratio = result.rps / health_rps if health_rps else 0.0
        return "PASS" if ratio >= line.goal_ratio else "MISS"
    if line.ms is not None and line.goal_ms is not None:
        return "PASS" if line.ms < line.goal_ms else "MISS"
    return "info"


def _notes(line: Line) -> str:
    parts = []
    result = line.result
    if result is not None:
        if result.requests and result.errors > MOSTLY_ERRORS * result.requests:
            parts.append("mostly errors")
        if result.errors:
            parts.append(
                f"{result.errors}/{result.requests} errors ({result.not_2xx} not 2xx/3xx, "
                f"{result.socket_errors} socket)"
            )
    if line.problem:
        parts.append(line.problem)
    if line.note:
        parts.append(line.note)
    return "; ".join(parts)


def format_report(bench: Bench) -> str:
    """The results table: req/s, p50, p99, server CPU per request, ratio to /api/health, goal,
    PASS/MISS and notes."""
    health_rps = bench.health_rps
    width = max([len(line.label) for line in bench.lines] + [30])
    header = (
        f"{'row':<{width}} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms/req':>10} "
        f"{'× health':>9} {'goal':>8}  {'':4}  notes"
    )
    rows = [header, "-" * len(header)]
    for line in bench.lines:
        mark = verdict(line, health_rps)
        if line.skipped:
            rows.append(f"{line.label:<{width}} {line.skipped}")
            continue
        goal = ""
        if line.goal_ratio is not None:
            goal = f"≥ {line.goal_ratio:g}×"
        elif line.goal_ms is not None:
            goal = (
                f"< {line.goal_ms / 1000:g} s" if line.goal_ms >= 1000 else f"< {line.goal_ms:g} ms"
            )
        if line.result is not None:
            result = line.result
            ratio = f"{result.rps / health_rps:>8.2f}×" if health_rps else f"{'':>9}"
            cpu = result.cpu_ms_per_request
            shown_cpu = f"{cpu:>10.2f}" if cpu is not None else f"{'':>10}"
            figures = (
                f"{result.rps:>8.1f} {result.p50_ms:>8.1f} {result.p99_ms:>8.1f} {shown_cpu} "
                f"{ratio}"
            )
        elif line.ms is not None:
            shown = f"{line.ms / 1000:.2f} s" if line.ms >= 1000 else f"{line.ms:.1f} ms"
            figures = f"{shown:>46}"
        else:
            figures = f"{'':>46}"
        rows.append(
            f"{line.label:<{width}} {figures} {goal:>8}  {mark:<4}  {_notes(line)}".rstrip()
        )
    return "\n".join(rows)


def misses(bench: Bench) -> list[Line]:
    """The lines that missed their goal."""
    health_rps = bench.health_rps
    return [line for line in bench.lines if verdict(line, health_rps) == "MISS"]
