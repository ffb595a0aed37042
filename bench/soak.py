"""`python -m bench.soak`: sustained mixed traffic against `patt serve` with 4 workers while
PostgreSQL is restarted and the Discord and Blizzard fakes fail; then proof that no
acknowledged write was lost or written twice.

Usage: python -m bench.soak [--minutes N | --seconds S] [--users N] [--outage S] [--json PATH]

Timeline (fractions of the run): PostgreSQL of a private throw-away cluster is shut down at
25 % and started again `--outage` seconds later; from 45 % to 70 % the fakes fail (first half:
Blizzard answers 500 and the Discord file is not valid JSON; second half: nothing listens on
Blizzard's port and the Discord file is gone); from 70 % on everything works.

Exit status: 0 when every acknowledged write is stored exactly once and the app recovered
(every kind of request succeeded again after the restart, no failures in the final phase, and
Blizzard and Discord syncs succeeded after the fakes came back); 1 otherwise. See
docs/BENCHMARKS.md ("Soak test").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.database import BenchDatabase, seed_members
from bench.load import Stats
from bench.runner import Bench
from bench.scenarios_campaigns import create_campaign
from bench.soak_env import WORKERS, Fakes, SoakCluster, SoakServer
from bench.soak_traffic import MIX, Attempt, Guild, Ledger, Traffic
from bench.soak_verify import Verification, summarise_syncs, sync_runs, verify
from sv_common.db.engine import make_engine, make_sessionmaker

PG_STOP_AT = 0.25
FAULT_START_AT = 0.45
FAULT_END_AT = 0.70
CAMPAIGNS = 4
TRAFFIC_KINDS = tuple(MIX)  # every kind must succeed again after the restart
FINAL_SETTLE = 3.0  # seconds after the fakes are back before the final phase counts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description="Soak test: mixed traffic against `patt serve` (4 workers) on loopback while "
        "PostgreSQL restarts and the Discord/Blizzard fakes fail; checks that no acknowledged "
        "write is lost or duplicated and that the app recovers. Exit 1 when it does not.",
    )
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, help="length of the traffic (default 4)")
    length.add_argument("--seconds", type=float, help="length in seconds (smoke runs)")
    parser.add_argument("--users", type=int, default=8, help="concurrent virtual users (default 8)")
    parser.add_argument(
        "--outage",
        type=float,
        help="seconds PostgreSQL stays down (default 5; 2 for runs under a minute)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the report as JSON")
    parser.add_argument(
        "--server-log", type=Path, metavar="PATH", help="keep the server's log at PATH"
    )
    args = parser.parse_args(argv)
    args.duration = args.seconds if args.seconds is not None else (args.minutes or 4.0) * 60
    if args.duration < 10:
        parser.error("the soak needs at least 10 seconds")
    if args.users < 1:
        parser.error("--users must be at least 1")
    if args.outage is None:
        args.outage = 2.0 if args.duration < 60 else 5.0
    return args


# ---------------------------------------------------------------------------------- seeding
async def seed(database_url: str, duration: float) -> Guild:
    """A guild leader, 120 raiders with accounts, characters and availability, and enough voters
    for `CAMPAIGNS` live campaigns to take ballots for the whole run."""
    engine = make_engine(database_url, pool_size=2, max_overflow=0)
    bench = Bench(
        url="",
        database_url=database_url,
        engine=engine,
        sessionmaker=make_sessionmaker(engine),
        wrk="",  # the soak drives its own traffic; the Bench is only used for seeding
        duration=0,
        connections=0,
        threads=0,
        quick=False,
    )
    try:
        async with bench.session() as session:
            leader = (
                await seed_members(
                    session, prefix="leader", count=1, levels=(5,), registered_every=0,
                    id_offset=50_000, characters_each=1,
                )
            )[0]  # fmt: skip
            members = await seed_members(
                session,
                prefix="member",
                count=120,
                characters_each=2,
                registered_every=0,
                levels=(1, 2, 2, 3, 3),
            )
            voters = await seed_members(
                session,
                prefix="voter",
                count=max(100, int(duration * 1.5)),
                characters_each=0,
                registered_every=0,
                availability=False,
                on_raid_roster=False,
                levels=(2,),
                id_offset=100_000,
            )
        campaigns = [
            await create_campaign(bench, f"Soak campaign {n + 1}") for n in range(CAMPAIGNS)
        ]
    finally:
        await engine.dispose()
    return Guild(leader=leader, members=members, voters=voters, campaigns=campaigns)


# --------------------------------------------------------------------------------- the run
async def drive(
    args: argparse.Namespace,
    server: SoakServer,
    cluster: SoakCluster,
    fakes: Fakes,
    guild: Guild,
    ledger: Ledger,
) -> None:
    """Traffic for `args.duration` seconds, with the restart and the fake failures on time."""
    stop = asyncio.Event()
    traffic = Traffic(server.url, guild, ledger, users=args.users)
    sync_every = max(2.0, min(10.0, args.duration / 30))
    running = asyncio.create_task(traffic.run(stop, sync_every=sync_every))
    duration = args.duration

    async def at(fraction_or_seconds: float) -> None:
        await asyncio.sleep(max(0.0, fraction_or_seconds - ledger.now()))

    def say(text: str) -> None:
        print(f"  {ledger.now():7.1f} s  {text}", file=sys.stderr, flush=True)

    try:
        say("traffic started")
        await at(PG_STOP_AT * duration)
        ledger.event("pg_stop")
        say("stopping PostgreSQL")
        await asyncio.to_thread(cluster.stop)
        ledger.event("pg_down")
        await asyncio.sleep(args.outage)
        ledger.event("pg_start")
        say("starting PostgreSQL")
        await asyncio.to_thread(cluster.start)
        ledger.event("pg_up")
        say("PostgreSQL is up")

        await at(FAULT_START_AT * duration)
        fakes.fail_with_errors()
        ledger.event("fakes_errors")
        say("fakes fail: Blizzard 500, Discord file broken")
        await at((FAULT_START_AT + FAULT_END_AT) / 2 * duration)
        fakes.make_unreachable()
        ledger.event("fakes_unreachable")
        say("fakes fail: Blizzard unreachable, Discord file gone")
        await at(FAULT_END_AT * duration)
        fakes.restore()
        ledger.event("fakes_restored")
        say("fakes restored")
        await at(duration)
    finally:
        stop.set()
        await running
        ledger.event("traffic_end")
        say("traffic stopped")


# -------------------------------------------------------------------------------- analysis
def latency_stats(attempts: list[Attempt]) -> Stats:
    """Stats of a group of attempts (for p50/p99)."""
    return Stats(
        requests=len(attempts),
        seconds=1.0,
        latencies_ms=[a.latency_ms for a in attempts],
        errors=sum(1 for a in attempts if not a.acknowledged),
    )


def recovery(ledger: Ledger) -> dict[str, Any]:
    """How the app came back after PostgreSQL was restarted, and how the final phase went."""
    attempts = ledger.attempts
    pg_up = ledger.when("pg_up") or 0.0
    pg_stop = ledger.when("pg_stop") or 0.0
    restored = ledger.when("fakes_restored") or 0.0
    first_ok: dict[str, float | None] = {}
    for kind in TRAFFIC_KINDS:
        done = [
            a.sent + a.latency_ms / 1000 for a in attempts if a.kind == kind and a.acknowledged
            and a.sent >= pg_up
        ]  # fmt: skip
        first_ok[kind] = min(done) - pg_up if done else None
    missing = [kind for kind, seconds in first_ok.items() if seconds is None]
    during = [a for a in attempts if pg_stop <= a.sent < pg_up and a.kind != "health"]
    final = [a for a in attempts if a.sent >= restored + FINAL_SETTLE and a.kind in TRAFFIC_KINDS]
    final_failures = [a for a in final if a.failed]
    seconds = [s for s in first_ok.values() if s is not None]
    health_back = [
        a.sent + a.latency_ms / 1000 - pg_up
        for a in attempts
        if a.kind == "health" and a.sent >= pg_up and a.status == 200
    ]
    return {
        "pg_down_seconds": round(pg_up - pg_stop, 2),
        "first_success_after_restart": {k: _round(v) for k, v in first_ok.items()},
        "all_kinds_back_after_seconds": round(max(seconds), 2) if seconds and not missing else None,
        "health_ok_after_seconds": round(min(health_back), 2) if health_back else None,
        "kinds_never_back": missing,
        "requests_while_down": len(during),
        "failed_while_down": sum(1 for a in during if a.failed),
        "final_phase_requests": len(final),
        "final_phase_failures": len(final_failures),
        "final_phase_failure_examples": sorted({f"{a.kind} {a.outcome}" for a in final_failures})[
            :5
        ],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def server_log_summary(path: Path) -> dict[str, Any]:
    """Tracebacks and ERROR lines the server printed, with a few distinct examples."""
    if not path.exists():
        return {"tracebacks": 0, "error_lines": 0, "examples": []}
    text = path.read_text(errors="replace")
    errors = [line for line in text.splitlines() if re.search(r"\bERROR\b", line)]
    examples = sorted({re.sub(r"\d+", "N", line)[:160] for line in errors})[:8]
    return {
        "tracebacks": text.count("Traceback (most recent call last)"),
        "error_lines": len(errors),
        "examples": examples,
    }


def build_report(
    args: argparse.Namespace,
    ledger: Ledger,
    verification: Verification,
    syncs: dict[str, Any],
    log_summary: dict[str, Any],
) -> dict[str, Any]:
    """Everything the run found, as one JSON-able dictionary."""
    attempts = ledger.attempts
    statuses = Counter(a.outcome for a in attempts if not a.acknowledged)
    kinds: dict[str, Any] = {}
    for kind in (*TRAFFIC_KINDS, "sync_blizzard", "sync_discord", "health"):
        mine = [a for a in attempts if a.kind == kind]
        if not mine:
            continue
        stats = latency_stats(mine)
        kinds[kind] = {
            "requests": len(mine),
            "ok": sum(1 for a in mine if a.acknowledged),
            "statuses": dict(sorted(Counter(a.outcome for a in mine).items())),
            "p50_ms": round(stats.p50, 1),
            "p99_ms": round(stats.p99, 1),
        }
    traffic = [a for a in attempts if a.kind in TRAFFIC_KINDS]
    overall = latency_stats(traffic)
    rec = recovery(ledger)
    db_recovered = not rec["kinds_never_back"] and rec["final_phase_failures"] == 0
    fakes_recovered = all(syncs[s]["succeeded_after"] > 0 for s in ("blizzard", "discord"))
    return {
        "duration_seconds": args.duration,
        "users": args.users,
        "workers": WORKERS,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "timeline": [{"at": round(t, 2), "event": name} for t, name in ledger.events],
        "requests": len(attempts),
        "traffic_requests": len(traffic),
        "traffic_rps": round(len(traffic) / max(args.duration, 1e-9), 1),
        "errors_by_status": dict(sorted(statuses.items())),
        "p50_ms": round(overall.p50, 1),
        "p99_ms": round(overall.p99, 1),
        "kinds": kinds,
        "writes": {
            "acknowledged": verification.acknowledged,
            "verified": verification.verified,
            "lost": verification.lost,
            "duplicated": verification.duplicated,
            "by_kind": {k: asdict(v) for k, v in verification.kinds.items()},
        },
        "recovery": {**rec, "database_recovered": db_recovered},
        "fakes": {**syncs, "recovered": fakes_recovered},
        "server_log": log_summary,
        "recovered": db_recovered and fakes_recovered,
        "passed": verification.lost == 0
        and verification.duplicated == 0
        and db_recovered
        and fakes_recovered,
    }


def format_report(report: dict[str, Any]) -> str:
    """The human-readable report."""
    lines = [
        f"PATT soak: {report['duration_seconds']:g} s of traffic, {report['users']} virtual users, "
        f"patt serve with {report['workers']} workers (Python {report['python']}, "
        f"{report['cpus']} CPUs shared by server, PostgreSQL and load)",
        "",
        "timeline: " + ", ".join(f"{e['event']} {e['at']:.1f} s" for e in report["timeline"]),
        "",
        f"requests: {report['requests']:,} ({report['traffic_requests']:,} traffic, "
        f"{report['traffic_rps']} /s), p50 {report['p50_ms']} ms, p99 {report['p99_ms']} ms",
        "not 2xx: "
        + (", ".join(f"{k}: {v}" for k, v in report["errors_by_status"].items()) or "none"),
        "",
        f"{'kind':<14} {'requests':>9} {'2xx':>7} {'p50 ms':>8} {'p99 ms':>8}  statuses",
    ]
    for kind, figures in report["kinds"].items():
        statuses = ", ".join(f"{k}×{v}" for k, v in figures["statuses"].items())
        lines.append(
            f"{kind:<14} {figures['requests']:>9,} {figures['ok']:>7,} {figures['p50_ms']:>8} "
            f"{figures['p99_ms']:>8}  {statuses}"
        )
    writes = report["writes"]
    lines += [
        "",
        f"writes: {writes['acknowledged']:,} acknowledged, {writes['verified']:,} verified in the "
        f"database, {writes['lost']} lost, {writes['duplicated']} duplicated",
    ]
    for kind, check in writes["by_kind"].items():
        lines.append(
            f"  {kind:<13} sent {check['attempted']:>6,}  acknowledged {check['acknowledged']:>6,}"
            f"  lost {check['lost']}  duplicated {check['duplicated']}  unacknowledged: "
            f"{check['unacknowledged_present']} stored, {check['unacknowledged_absent']} not"
        )
        for problem in check["problems"]:
            lines.append(f"      ! {problem}")
    rec = report["recovery"]
    back = rec["all_kinds_back_after_seconds"]
    lines += [
        "",
        f"PostgreSQL restart: down {rec['pg_down_seconds']} s; {rec['requests_while_down']} "
        f"requests sent meanwhile, {rec['failed_while_down']} failed (5xx or no answer); "
        f"/api/health 200 again after {rec['health_ok_after_seconds']} s; every kind of request "
        + (f"succeeded again within {back} s" if back is not None else "did NOT succeed again")
        + (f" (never: {', '.join(rec['kinds_never_back'])})" if rec["kinds_never_back"] else ""),
        f"final phase: {rec['final_phase_requests']:,} requests, "
        f"{rec['final_phase_failures']} failed"
        + (
            f" ({'; '.join(rec['final_phase_failure_examples'])})"
            if rec["final_phase_failures"]
            else ""
        ),
    ]
    for source in ("blizzard", "discord"):
        figures = report["fakes"][source]
        lines.append(
            f"{source} syncs: {figures['runs']} runs; while the fake failed {figures['failed_during_fault']} "
            f"failed, {figures['succeeded_during_fault']} succeeded; finished after it came back: "
            f"{figures['succeeded_after']} succeeded, {figures['failed_after']} failed"
        )
    log = report["server_log"]
    lines.append(f"server log: {log['tracebacks']} tracebacks, {log['error_lines']} ERROR lines")
    for example in log["examples"]:
        lines.append(f"    {example}")
    lines += [
        "",
        f"recovered: {'yes' if report['recovered'] else 'NO'}   lost: {writes['lost']}   "
        f"duplicated: {writes['duplicated']}   result: {'PASS' if report['passed'] else 'FAIL'}",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ main
async def check_database(database_url: str, ledger: Ledger) -> tuple[Verification, dict[str, Any]]:
    """Verify the writes and read the sync log (after the server has stopped)."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with make_sessionmaker(engine)() as session:
            verification = await verify(session, ledger.attempts)
            runs = await sync_runs(session)
    finally:
        await engine.dispose()
    wall = ledger.wall_started
    start = wall + timedelta(seconds=ledger.when("fakes_errors") or 0.0)
    end = wall + timedelta(seconds=ledger.when("fakes_restored") or 0.0)
    return verification, summarise_syncs(runs, wall, start, end)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print("creating a private PostgreSQL cluster …", file=sys.stderr, flush=True)
    cluster = SoakCluster()
    folder = Path(tempfile.mkdtemp(prefix="patt-soak-fakes-"))
    fakes: Fakes | None = None
    server: SoakServer | None = None
    try:
        database = BenchDatabase(cluster.url("postgres"))
        print("seeding …", file=sys.stderr, flush=True)
        guild = asyncio.run(seed(database.url, args.duration))
        fakes = Fakes(folder)
        server = SoakServer(database.url, fakes)
        print(f"starting patt serve ({WORKERS} workers) on {server.url} …", file=sys.stderr)
        server.start(timeout=180)
        _warm_up(server.url)
        ledger = Ledger()
        print(f"soaking for {args.duration:g} s …", file=sys.stderr, flush=True)
        asyncio.run(drive(args, server, cluster, fakes, guild, ledger))
        time.sleep(1.0)  # let background syncs started at the very end write their log rows
        log_summary = server_log_summary(server.log_path)
        if args.server_log:
            shutil.copyfile(server.log_path, args.server_log)
        server.stop()
        server = None
        verification, syncs = asyncio.run(check_database(database.url, ledger))
    finally:
        if server is not None:
            tail = server.log_tail()
            if tail:
                print(f"--- server log ---\n{tail}", file=sys.stderr)
            server.stop()
        if fakes is not None:
            fakes.close()
        cluster.destroy()
        shutil.rmtree(folder, ignore_errors=True)
    report = build_report(args, ledger, verification, syncs, log_summary)
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    return 0 if report["passed"] else 1


def _warm_up(url: str) -> None:
    """A few requests so every worker has imported and connected before the clock starts."""
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(4 * WORKERS):
            with contextlib.suppress(httpx.HTTPError):
                client.get("/")
                client.get("/api/v1/guild/roster")


if __name__ == "__main__":
    sys.exit(main())
