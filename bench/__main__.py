"""`python -m bench`: seed a guild in a throw-away database, start the app with one uvicorn
worker, drive loopback load with httpx and print requests/s, latency and goals.

Usage: python -m bench [--quick] [--only NAME ...] [--duration S] [--concurrency N] [--list]
The database is created on the embedded PostgreSQL (PATT_DATA_DIR, default ./.patt-data) or on
the server of BENCH_DATABASE_URL, and dropped at the end. See docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import platform
import sys
import time
from collections.abc import Awaitable

import httpx

from bench.load import hammer
from bench.runner import SCENARIOS, Bench, NotBuilt, format_report
from bench.server import ServerProcess

# Each module registers its scenarios with @scenario; later features add theirs here.
SCENARIO_MODULES = (
    "bench.scenarios_core",
    "bench.scenarios_campaigns",
    "bench.scenarios_guild",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the PATT platform: one uvicorn worker, loopback httpx load.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="short smoke run (0.5 s per endpoint, 400 ballots)"
    )
    parser.add_argument("--duration", type=float, help="seconds per endpoint (default 3)")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="concurrent connections (default 8)"
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these scenarios")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace, database_url: str, server: ServerProcess) -> Bench:
    from sv_common.db.engine import make_engine, make_sessionmaker

    engine = make_engine(database_url, pool_size=4, max_overflow=4)
    bench = Bench(
        url=server.url,
        database_url=database_url,
        engine=engine,
        sessionmaker=make_sessionmaker(engine),
        duration=args.duration or (0.5 if args.quick else 3.0),
        concurrency=args.concurrency,
        quick=args.quick,
        cpu_probe=server.cpu_seconds,
    )
    try:
        chosen = [s for s in sorted(SCENARIOS, key=lambda s: s.order) if _wanted(s.name, args)]
        print("warming the server up …", file=sys.stderr, flush=True)
        await hammer(
            server.url, _warm_up, duration=0.3 if args.quick else 1.0, concurrency=args.concurrency
        )
        bench.health = await bench.throughput(
            "GET /api/health (baseline)", lambda client, _: client.get("/api/health")
        )
        for item in chosen:
            print(f"scenario {item.name}: {item.description}", file=sys.stderr, flush=True)
            started = time.perf_counter()
            try:
                await item.run(bench)
            except NotBuilt as exc:
                bench.skipped(item.name, f"SKIPPED (not built: {exc})")
            print(f"  done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    finally:
        await engine.dispose()
    return bench


def _warm_up(client: httpx.AsyncClient, index: int) -> Awaitable[httpx.Response]:
    return client.get(("/api/health", "/", "/static/css/main.css")[index % 3])


def _wanted(name: str, args: argparse.Namespace) -> bool:
    return not args.only or name in args.only


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for module in SCENARIO_MODULES:
        importlib.import_module(module)
    if args.list:
        for item in sorted(SCENARIOS, key=lambda s: s.order):
            print(f"{item.name:<14} {item.description}")
        return 0
    unknown = set(args.only or ()) - {s.name for s in SCENARIOS}
    if unknown:
        print(f"error: unknown scenario(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2

    from bench.database import BenchDatabase

    print("creating the benchmark database …", file=sys.stderr)
    database = BenchDatabase()
    server = ServerProcess(database.url)
    try:
        print(f"starting the server (1 uvicorn worker) on {server.url} …", file=sys.stderr)
        server.start()
        bench = asyncio.run(run(args, database.url, server))
    except Exception:
        tail = server.log_tail()
        if tail:
            print(f"--- server log ---\n{tail}", file=sys.stderr)
        raise
    finally:
        server.stop()
        database.drop()
    mode = "quick" if args.quick else "full"
    print(
        f"\nPATT benchmark ({mode}: {bench.duration:g} s per endpoint, {bench.concurrency} "
        f"connections, 1 uvicorn worker; Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs shared by server and load)\n"
    )
    print(format_report(bench))
    return 0


if __name__ == "__main__":
    sys.exit(main())
