"""The load driver: N concurrent httpx clients hammer one request for a fixed time (or a fixed
number of requests) and report requests/s and latency percentiles."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field

import httpx

# make(client, index) sends one request; `index` counts requests from 0 (distinct voters …).
RequestMaker = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


@dataclass
class Stats:
    """What one measured run produced."""

    requests: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    errors: int = 0
    first_error: str | None = None
    server_cpu_seconds: float | None = None

    @property
    def server_cpu_ms(self) -> float | None:
        """Server CPU time per request in milliseconds (None when unknown)."""
        if self.server_cpu_seconds is None or not self.requests:
            return None
        return self.server_cpu_seconds * 1000 / self.requests

    @property
    def rps(self) -> float:
        """Successful requests per second."""
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """Latency percentile in milliseconds (nearest rank)."""
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[index]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)


async def hammer(
    base_url: str,
    make: RequestMaker,
    *,
    duration: float,
    concurrency: int,
    max_requests: int | None = None,
    expect: Collection[int] = (200,),
    warmup: float = 0.0,
    cpu_probe: Callable[[], float | None] | None = None,
) -> Stats:
    """Send requests from `concurrency` workers until `duration` s pass or `max_requests` are sent."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(30.0)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:
        if warmup > 0:
            await _run(client, make, warmup, concurrency, None, expect, [], 0)
        latencies: list[float] = []
        errors: list[str] = []
        cpu_before = cpu_probe() if cpu_probe else None
        started = time.perf_counter()
        sent = await _run(
            client, make, duration, concurrency, max_requests, expect, latencies, 0, errors
        )
        elapsed = time.perf_counter() - started
        cpu_after = cpu_probe() if cpu_probe else None
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return Stats(
        requests=sent,
        seconds=elapsed,
        latencies_ms=latencies,
        errors=len(errors),
        first_error=errors[0] if errors else None,
        server_cpu_seconds=cpu,
    )


async def _run(
    client: httpx.AsyncClient,
    make: RequestMaker,
    duration: float,
    concurrency: int,
    max_requests: int | None,
    expect: Collection[int],
    latencies: list[float],
    first_index: int,
    errors: list[str] | None = None,
) -> int:
    deadline = time.perf_counter() + duration
    counter = iter(range(first_index, 1 << 62))
    sent = 0

    async def worker() -> None:
        nonlocal sent
        while time.perf_counter() < deadline:
            index = next(counter)
            if max_requests is not None and index >= first_index + max_requests:
                return
            begin = time.perf_counter()
            try:
                response = await make(client, index)
                ok = response.status_code in expect
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                ok, problem = False, f"{type(exc).__name__}: {exc}"
            latencies.append((time.perf_counter() - begin) * 1000)
            sent += 1
            if not ok and errors is not None:
                errors.append(problem)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sent
