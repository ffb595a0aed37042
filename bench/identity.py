"""`python -m bench.identity`: time the identity engine on a large labelled guild and measure
how well it matches.

A throw-away database (embedded PostgreSQL, or BENCH_DATABASE_URL's server) gets the synthetic
guild of `tests/fakes/synthetic_guild.py` (5,000 characters × 5,000 Discord accounts by default,
nothing linked, plus 900 members without Discord); then `run_matching` and
`run_integrity_check` are timed (each in its own transaction, commit included), run twice, and
the links are scored against the ground truth: precision, recall and alts grouped with their
main. The database is dropped at the end.

Usage: python -m bench.identity [--characters N] [--accounts N] [--separation P] [--strict]
Generated names of different people are kept below 70 % similarity by default, so every link
the engine should make is known; `--separation 101` keeps accidental look-alikes and shows
what name collisions between strangers cost in precision.
`--strict` exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import text
from tests.fakes.synthetic_guild import (
    SEPARATION,
    Quality,
    evaluate,
    generate_guild,
    load_guild,
)

from bench.database import BenchDatabase
from sv_common import clock
from sv_common.db.engine import make_engine, make_sessionmaker
from sv_common.db.seed import seed_ranks
from sv_common.identity.integrity.checker import run_integrity_check
from sv_common.identity.matching.engine import run_matching

MATCHING_GOAL = 3.0
INTEGRITY_GOAL = 2.0
PRECISION_GOAL = 0.995
RECALL_GOAL = 0.95
T = TypeVar("T")


@dataclass
class Timing:
    """A measured step."""

    label: str
    seconds: float
    goal: float | None = None
    note: str = ""

    @property
    def met(self) -> bool:
        return self.goal is None or self.seconds < self.goal


async def timed(
    label: str, step: Callable[[], Awaitable[T]], goal: float | None = None
) -> tuple[Timing, T]:
    started = time.perf_counter()
    value = await step()
    return Timing(label, time.perf_counter() - started, goal), value


async def run(
    characters: int, accounts: int, *, separation: int = SEPARATION
) -> tuple[list[Timing], Quality, dict[str, Any]]:
    """Build, load, match, check and score; returns the timings, the quality and the stats."""
    timings: list[Timing] = []
    started = time.perf_counter()
    guild = generate_guild(characters, accounts, separation=separation)
    timings.append(Timing("generate guild", time.perf_counter() - started))
    database = BenchDatabase()
    engine = make_engine(database.url)
    sessions = make_sessionmaker(engine)
    now = clock.now()
    stats: dict[str, Any] = {}
    try:

        async def load() -> None:
            async with sessions() as session, session.begin():
                await seed_ranks(session)
                await load_guild(session, guild, now=now)
                # planner statistics, as autovacuum would have gathered them on a running guild
                await session.execute(
                    text(
                        "ANALYZE common.characters, common.guild_members, "
                        "guild_identity.discord_members"
                    )
                )

        timing, _ = await timed("load into the database", load)
        timings.append(timing)

        async def match() -> Any:
            async with sessions() as session, session.begin():
                return await run_matching(session)

        async def check() -> Any:
            async with sessions() as session, session.begin():
                return await run_integrity_check(session)

        for label, step, goal, key in (
            ("run_matching", match, MATCHING_GOAL, "matching"),
            ("run_matching again", match, None, "matching_again"),
            ("run_integrity_check", check, INTEGRITY_GOAL, "integrity"),
            ("run_integrity_check again", check, None, "integrity_again"),
        ):
            timing, result = await timed(label, step, goal)
            stats[key] = result.as_dict()
            timings.append(timing)
        async with sessions() as session:
            quality = await evaluate(session, guild)
            stats["members"] = int(
                await session.scalar(text("SELECT count(*) FROM common.guild_members")) or 0
            )
    finally:
        await engine.dispose()
        database.drop()
    return timings, quality, stats


def report(
    characters: int, accounts: int, timings: list[Timing], quality: Quality, stats: dict[str, Any]
) -> tuple[str, bool]:
    """The printed report and whether every goal was met."""
    lines = [
        f"Identity engine: {characters} characters × {accounts} Discord accounts "
        f"({platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs)",
    ]
    for timing in timings:
        goal = (
            f"  (goal < {timing.goal:.0f} s{'' if timing.met else ' — MISSED'})"
            if timing.goal
            else ""
        )
        lines.append(f"  {timing.label:<28}{timing.seconds:7.2f} s{goal}")
    matching = stats["matching"]
    lines.append("  matching: " + ", ".join(f"{name} {value}" for name, value in matching.items()))
    again = stats["matching_again"]
    relinked = sum(
        again[name] for name in ("exact", "guild_note", "officer_note", "token", "fuzzy")
    )
    lines.append(
        f"  matching again: {relinked} characters and {again['accounts_linked']} accounts "
        f"linked, {again['suggestions']} new suggestions (a second run has nothing to do)"
    )
    integrity = stats["integrity"]
    lines.append(
        f"  integrity: {integrity['total_new']} new issues, {stats['integrity_again']['total_new']} "
        f"new on the second run; {stats['members']} members"
    )
    precision_ok = quality.precision >= PRECISION_GOAL
    recall_ok = quality.recall >= RECALL_GOAL
    alts_ok = quality.alts_grouped == quality.alts
    lines.append(
        f"  precision {quality.precision:.2%} ({quality.correct}/{quality.linked} links right; "
        f"goal ≥ {PRECISION_GOAL:.1%}{'' if precision_ok else ' — MISSED'})"
    )
    lines.append(
        f"  recall    {quality.recall:.2%} ({quality.discovered}/{quality.discoverable} "
        f"discoverable characters; goal ≥ {RECALL_GOAL:.0%}{'' if recall_ok else ' — MISSED'})"
    )
    lines.append(
        f"  alts grouped with their main: {quality.alts_grouped}/{quality.alts}"
        f"{'' if alts_ok else ' — MISSED'}"
    )
    met = precision_ok and recall_ok and alts_ok and all(t.met for t in timings)
    return "\n".join(lines), met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.identity", description=__doc__)
    parser.add_argument("--characters", type=int, default=5000)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument(
        "--separation",
        type=int,
        default=SEPARATION,
        help="generated names of different people score below this percent (default 70; "
        "101 keeps accidental look-alikes)",
    )
    args = parser.parse_args(argv)
    if args.characters < 10 or args.accounts < 10:
        parser.error("use at least 10 characters and 10 accounts")
    timings, quality, stats = asyncio.run(
        run(args.characters, args.accounts, separation=args.separation)
    )
    text_report, met = report(args.characters, args.accounts, timings, quality, stats)
    print(text_report)
    return 1 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
