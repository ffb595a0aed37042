"""`python -m bench`: seed a guild in a throw-away database, start the app with one uvicorn
worker, drive loopback load with wrk and print requests/s, latency, server CPU per request and
PASS/MISS against the goals.

Usage: python -m bench [--quick] [--only NAME ...] [--duration S] [--connections N] [--list]
                       [--strict]
The database is created on the embedded PostgreSQL (PATT_DATA_DIR, default ./.patt-data) or on
the server of BENCH_DATABASE_URL, and dropped at the end. See docs/BENCHMARKS.md.
Exit status: 0 = ran (misses included), 1 = a goal was missed with --strict, 2 = bad options,
3 = wrk is missing and could not be installed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import platform
import sys
import time

from bench.runner import SCENARIOS, Bench, NotBuilt, Scenario, format_report, misses
from bench.server import ServerProcess
from bench.wrk import WrkMissing, WrkRun, ensure_wrk, run_wrk

# Each module registers its scenarios with @scenario; later features add theirs here.
SCENARIO_MODULES = (
    "bench.scenarios_core",
    "bench.scenarios_campaigns",
    "bench.scenarios_guild",
    "bench.scenarios_standalone",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Benchmark the PATT platform: one uvicorn worker, load from wrk on the same machine. "
            "Exit status 0 even when goals are missed (unless --strict), 2 for bad options, "
            "3 when wrk is missing and cannot be installed."
        ),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short smoke run: 1 s per row, no warm-up run before each row (figures only indicative)",
    )
    parser.add_argument(
        "--duration", type=int, help="seconds of wrk load per row (default 5; 1 with --quick)"
    )
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="run only these scenarios or rows (see --list); /api/health is always measured",
    )
    parser.add_argument("--list", action="store_true", help="list scenarios and rows, and exit")
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a goal is missed"
    )
    args = parser.parse_args(argv)
    if args.duration is not None and args.duration < 1:
        parser.error("--duration must be at least 1 (wrk counts whole seconds)")
    if args.connections < 1 or args.threads < 1:
        parser.error("--connections and --threads must be at least 1")
    return args


def ordered() -> list[Scenario]:
    return sorted(SCENARIOS, key=lambda s: s.order)


def choose(only: list[str] | None) -> tuple[list[Scenario], frozenset[str] | None]:
    """The scenarios to run and the rows they should measure (None = all of them)."""
    if not only:
        return [s for s in ordered() if not s.opt_in], None
    rows: set[str] = set()
    chosen = []
    for item in ordered():
        if item.name in only:
            rows.update(item.rows)
        rows.update(row for row in item.rows if row in only)
        if item.name in only or rows.intersection(item.rows):
            chosen.append(item)
    return chosen, frozenset(rows)


def known_names() -> set[str]:
    return {s.name for s in SCENARIOS} | {row for s in SCENARIOS for row in s.rows}


async def run(
    args: argparse.Namespace, wrk: str, database_url: str, server: ServerProcess
) -> Bench:
    from sv_common.db.engine import make_engine, make_sessionmaker

    engine = make_engine(database_url, pool_size=4, max_overflow=4)
    chosen, rows = choose(args.only)
    bench = Bench(
        url=server.url,
        database_url=database_url,
        engine=engine,
        sessionmaker=make_sessionmaker(engine),
        wrk=wrk,
        duration=args.duration or (1 if args.quick else 5),
        connections=args.connections,
        threads=args.threads,
        quick=args.quick,
        chosen_rows=rows,
        cpu_probe=server.cpu_seconds,
    )
    try:
        print("warming the server up …", file=sys.stderr, flush=True)
        for path in (
            ("/api/health",) if args.quick else ("/api/health", "/", "/static/css/main.css")
        ):
            warm = WrkRun(server.url + path, 1, args.connections, args.threads)
            await asyncio.to_thread(run_wrk, wrk, warm, None)
        await measure_health(bench, "GET /api/health (baseline, start)")
        for item in chosen:
            print(f"scenario {item.name}: {item.description}", file=sys.stderr, flush=True)
            started = time.perf_counter()
            try:
                await item.run(bench)
            except NotBuilt as exc:
                bench.skipped(item.name, f"SKIPPED (not built: {exc})")
            print(f"  done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        await measure_health(bench, "GET /api/health (baseline, end)")
    finally:
        await engine.dispose()
    return bench


async def measure_health(bench: Bench, label: str) -> None:
    """A plain /api/health row; the ratios use the mean of the start and end rows."""
    line = await bench.load(label, "/api/health", warm_up=False)
    assert line.result is not None
    bench.health_runs.append(line.result)


def print_list() -> None:
    for item in ordered():
        extra = "  (only with --only)" if item.opt_in else ""
        print(f"{item.name:<14} {item.description}{extra}")
        if item.rows != (item.name,):
            print(f"{'':<14}   rows: {', '.join(item.rows)}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for module in SCENARIO_MODULES:
        importlib.import_module(module)
    if args.list:
        print_list()
        return 0
    unknown = set(args.only or ()) - known_names()
    if unknown:
        print(
            f"error: unknown scenario or row: {', '.join(sorted(unknown))} (see --list)",
            file=sys.stderr,
        )
        return 2
    try:
        wrk = ensure_wrk()
    except WrkMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3

    from bench.database import BenchDatabase

    print("creating the benchmark database …", file=sys.stderr)
    database = BenchDatabase()
    server = ServerProcess(database.url)
    load_before = os.getloadavg()[0]
    try:
        print(f"starting the server (1 uvicorn worker) on {server.url} …", file=sys.stderr)
        server.start()
        bench = asyncio.run(run(args, wrk, database.url, server))
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
        f"\nPATT benchmark ({mode}: wrk, {bench.duration} s per row, {bench.connections} "
        f"connections, {bench.threads} threads; 1 uvicorn worker; Python "
        f"{platform.python_version()}; {os.cpu_count()} CPUs shared by server, PostgreSQL and wrk; "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after)\n"
    )
    print(format_report(bench))
    for title, report in bench.state.get("reports", []):
        print(f"\n{title}:\n{report}")
    missed = misses(bench)
    print(f"\n{len(missed)} goal(s) missed" if missed else "\nevery goal met")
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
