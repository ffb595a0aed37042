"""`python -m bench.blizzard_sync`: the Blizzard roster sync end to end and the roster write alone.

1. A full sync of a generated guild (default 1,000 members) through the real `BlizzardClient`
   against the fake Blizzard **HTTP server** in its own process (default 50 ms per request, and
   a Blizzard-like 100 requests/s limit that answers 429), then `apply_roster_snapshot` into a throw-away
   database — exactly what the scheduler runs. Reports wall time, requests, the most requests
   the server saw in any 1-second window, 429s and peak memory.
2. The database write of a 5,000-character roster: first sync (all new), a sync with changes
   (levels, ranks, renames, leavers) and an unchanged sync.
3. A 1,000-row addon upload.

The database is created on BENCH_DATABASE_URL's server (or the embedded PostgreSQL) and dropped
at the end. Goals: ≤ 13 s for 1,000 members (90 requests/s allows about 11 s) and < 2 s for the
5,000-character write.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
from sqlalchemy import text

from bench.database import BenchDatabase
from sv_common.db.engine import make_engine, make_sessionmaker
from sv_common.guild_sync.addon_ingest import ingest_addon_upload
from sv_common.guild_sync.blizzard_client import BlizzardClient, BlizzardConfig
from sv_common.guild_sync.blizzard_models import (
    DEFAULT_RANK_NAMES,
    GuildSnapshot,
    ProfileStatus,
    SnapshotCharacter,
    merge_character,
    parse_profile,
    parse_roster,
)
from sv_common.guild_sync.blizzard_sync import run_blizzard_sync
from sv_common.guild_sync.fake_blizzard import STATS_PATH, generate_guild, max_in_window
from sv_common.guild_sync.roster_sync import RosterWriteResult, apply_roster_snapshot

SYNC_GOAL_SECONDS = 13.0
WRITE_GOAL_SECONDS = 2.0


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def snapshot_of(members: int, *, seed: int) -> GuildSnapshot:
    """A parsed snapshot of a generated guild, as `fetch_guild` would return it."""
    guild = generate_guild(members, seed=seed, first_id=300_000_000, not_found_fraction=0.02)
    roster = parse_roster(guild.roster)
    characters = []
    for entry in roster.entries:
        document = guild.profiles.get((entry.realm_slug, entry.name.lower()))
        profile = parse_profile(document) if document is not None else None
        status = ProfileStatus.OK if profile is not None else ProfileStatus.MISSING
        characters.append(
            merge_character(
                entry,
                profile,
                status,
                rank_names=DEFAULT_RANK_NAMES,
                home_realm_slug="senjin",
                home_realm_name="Sen'jin",
            )
        )
    return GuildSnapshot(roster.guild_name, tuple(characters), profiles_ok=len(characters))


def changed_snapshot(base: GuildSnapshot, *, seed: int) -> GuildSnapshot:
    """The next sync: 10 % level-ups, 5 % rank changes, 1 % renames, 2 % leavers, 2 % joiners."""
    rng = random.Random(seed)
    characters: list[SnapshotCharacter] = []
    for index, character in enumerate(base.characters):
        roll = rng.random()
        if roll < 0.02:
            continue  # left the guild
        if roll < 0.12:
            character = replace(character, level=min(80, (character.level or 70) + 1))
        elif roll < 0.17 and character.game_rank is not None:
            rank = (character.game_rank + 1) % 5
            character = replace(character, game_rank=rank, game_rank_name=DEFAULT_RANK_NAMES[rank])
        elif roll < 0.18:
            character = replace(character, name=f"Renamed{index:05d}"[:12])
        characters.append(character)
    joiners = snapshot_of(len(base.characters) // 50, seed=seed + 1).characters
    characters.extend(replace(c, blizzard_id=c.blizzard_id + 10_000_000) for c in joiners)
    return GuildSnapshot(base.guild_name, tuple(characters), profiles_ok=len(characters))


class RecordingTransport(httpx.AsyncHTTPTransport):
    """Notes when each API request leaves the client (token calls aside)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent_at: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/token"):
            self.sent_at.append(time.monotonic())
        return await super().handle_async_request(request)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def fake_server_process(members: int, latency_ms: float) -> Iterator[str]:
    """`python -m sv_common.guild_sync.fake_blizzard` in its own process, like the real API."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "sv_common.guild_sync.fake_blizzard", "--members", str(members),
            "--latency-ms", str(latency_ms), "--port", str(port), "--seed", "11",
        ],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        give_up = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + STATS_PATH, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > give_up or process.poll() is not None:
                raise RuntimeError("the fake Blizzard server did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


async def full_sync(database_url: str, members: int, latency_ms: float) -> dict[str, Any]:
    engine = make_engine(database_url, pool_size=4, max_overflow=2)
    sessionmaker = make_sessionmaker(engine)
    with fake_server_process(members, latency_ms) as url:
        config = BlizzardConfig(
            client_id="fake-client-id",
            client_secret="fake-client-secret",
            api_base_url=url,
            oauth_url=url + "/token",
        )
        transport = RecordingTransport()
        async with BlizzardClient(config, transport=transport) as client:
            started = time.perf_counter()
            result = await run_blizzard_sync(
                sessionmaker, client, engine=engine, triggered_by="cli"
            )
            wall = time.perf_counter() - started
            max_in_flight = client.max_in_flight
        async with httpx.AsyncClient() as http:
            server = (await http.get(url + STATS_PATH)).json()
    await engine.dispose()
    return {
        "members": members,
        "status": str(result.status),
        "new": result.new,
        "wall": wall,
        "fetch": result.details.get("fetch_seconds"),
        "requests": server["requests"],
        "token_requests": server["token_requests"],
        "server_max_per_second": server["max_per_second"],
        "client_max_per_second": max_in_window(transport.sent_at, 1.0),
        "throttled": server["throttled"],
        "max_in_flight": max_in_flight,
        "profiles_missing": result.details.get("profiles_missing"),
        "rss_peak": peak_rss_mb(),
    }


async def roster_writes(
    database_url: str, members: int
) -> dict[str, tuple[float, RosterWriteResult]]:
    """Seconds and result of three consecutive writes of a `members`-character roster."""
    engine = make_engine(database_url, pool_size=2, max_overflow=0)
    sessionmaker = make_sessionmaker(engine)
    first = snapshot_of(members, seed=21)
    second = changed_snapshot(first, seed=22)
    async with sessionmaker() as session, session.begin():  # start from an empty roster
        await session.execute(text("TRUNCATE common.characters CASCADE"))
    timings: dict[str, tuple[float, RosterWriteResult]] = {}
    for label, snapshot in (("insert", first), ("changes", second), ("unchanged", second)):
        started = time.perf_counter()
        async with sessionmaker() as session, session.begin():
            result = await apply_roster_snapshot(session, snapshot, force_removals=True)
        timings[label] = (time.perf_counter() - started, result)
    await engine.dispose()
    return timings


async def addon_upload(database_url: str, rows: int) -> float:
    engine = make_engine(database_url, pool_size=2, max_overflow=0)
    sessionmaker = make_sessionmaker(engine)
    guild = generate_guild(rows, seed=11)  # the guild the full sync wrote
    body = {
        "guild_name": "Pull All The Things",
        "export_time": int(time.time()) - 60,
        "characters": [
            {
                "name": m["character"]["name"],
                "realm": m["character"]["realm"]["slug"].replace("-", " ").title().replace(" ", ""),
                "guild_note": f"note {i}",
                "officer_note": "officer",
                "rank": m["rank"],
            }
            for i, m in enumerate(guild.roster["members"])
        ],
    }
    started = time.perf_counter()
    async with sessionmaker() as session, session.begin():
        result = await ingest_addon_upload(
            session,
            body,
            guild_name="Pull All The Things",
            home_realm_slug="senjin",
            home_realm_name="Sen'jin",
            creates_characters=True,
        )
    elapsed = time.perf_counter() - started
    await engine.dispose()
    assert result.updated + result.new == rows, result
    return elapsed


def mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


async def main_async(args: argparse.Namespace) -> int:
    database = BenchDatabase()
    try:
        sync = await full_sync(database.url, args.members, args.latency_ms)
        upload_seconds = await addon_upload(database.url, args.members)
        writes = await roster_writes(database.url, args.write_rows)
    finally:
        database.drop()
    print(f"Blizzard sync benchmark (Python {sys.version.split()[0]}, database {database.name})")
    print(
        f"  full sync, {sync['members']} members, {args.latency_ms:g} ms latency: "
        f"{sync['wall']:.2f} s wall (fetch {sync['fetch']:.2f} s), status {sync['status']}, "
        f"{sync['new']} characters written  [goal ≤ {SYNC_GOAL_SECONDS:g} s: "
        f"{mark(sync['wall'] <= SYNC_GOAL_SECONDS)}]"
    )
    print(
        f"    requests {sync['requests']} (+{sync['token_requests']} token); most in any 1-s "
        f"window: {sync['client_max_per_second']} leaving the client's socket layer / "
        f"{sync['server_max_per_second']} arriving at the server (client limit 90, server "
        f"429s above 100); 429s {sync['throttled']}, max in flight "
        f"{sync['max_in_flight']}, profiles missing {sync['profiles_missing']}"
    )
    print(f"    peak RSS of the client process after the sync: {sync['rss_peak']:.0f} MiB")
    for label, (seconds, result) in writes.items():
        print(
            f"  roster write, {args.write_rows} characters, {label}: {seconds:.3f} s "
            f"(new {result.new}, updated {result.updated}, unchanged {result.unchanged}, "
            f"removed {result.removed}, rank changes {result.rank_changes})  "
            f"[goal < {WRITE_GOAL_SECONDS:g} s: {mark(seconds < WRITE_GOAL_SECONDS)}]"
        )
    print(f"  addon upload, {args.members} rows: {upload_seconds:.3f} s")
    print(f"  peak RSS at the end: {peak_rss_mb():.0f} MiB")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.blizzard_sync",
        description="Benchmark the Blizzard roster sync against the fake Blizzard HTTP server.",
    )
    parser.add_argument("--members", type=int, default=1000, help="guild size (default 1000)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="fake latency (default 50)")
    parser.add_argument(
        "--write-rows", type=int, default=5000, help="roster size of the write test (default 5000)"
    )
    args = parser.parse_args(argv)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
