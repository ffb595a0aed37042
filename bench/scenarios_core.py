"""Core endpoints with 200 members / 600 characters: public roster, own profile, landing page,
login, and /api/health while logins are hammered (20 §1)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable

import httpx

from bench.database import BENCH_PASSWORD, seed_members
from bench.load import hammer
from bench.runner import Bench, Line, scenario

MEMBERS = 200
CHARACTERS_EACH = 3


@scenario("core", order=10)
async def core(bench: Bench) -> None:
    """Roster, /me, landing, login (200 members, 600 characters)."""
    async with bench.session() as session:
        members = await seed_members(
            session, prefix="bench", count=MEMBERS, characters_each=CHARACTERS_EACH
        )
    accounts = [m for m in members if m.user_id is not None]
    me = accounts[0]
    assert me.user_id is not None
    headers = {"Authorization": f"Bearer {bench.token(me.id, me.user_id, me.level)}"}
    label = f"({MEMBERS} members, {MEMBERS * CHARACTERS_EACH} characters)"

    if await bench.exists("GET", "/api/v1/guild/roster"):
        await bench.throughput(
            f"GET /api/v1/guild/roster {label}",
            lambda client, _: client.get("/api/v1/guild/roster"),
            goal_ratio=0.5,
        )
    else:
        bench.skipped("GET /api/v1/guild/roster", "SKIPPED (not built)")

    if await bench.exists("GET", "/api/v1/auth/me", headers=headers):
        await bench.throughput(
            "GET /api/v1/auth/me (bearer token)",
            lambda client, _: client.get("/api/v1/auth/me", headers=headers),
        )
    else:
        bench.skipped("GET /api/v1/auth/me", "SKIPPED (not built)")

    if await bench.exists("GET", "/"):
        await bench.throughput(
            "GET / (landing, anonymous)", lambda c, _: c.get("/"), goal_ratio=0.4
        )
    else:
        bench.skipped("GET / (landing)", "SKIPPED (not built)")

    usernames = itertools.cycle([m.username for m in accounts])

    def login(client: httpx.AsyncClient, _: int) -> Awaitable[httpx.Response]:
        body = {"discord_username": next(usernames), "password": BENCH_PASSWORD}
        return client.post("/api/v1/auth/login", json=body)

    if not await bench.exists("POST", "/api/v1/auth/login", json={}):
        bench.skipped("POST /api/v1/auth/login", "SKIPPED (not built)")
        return
    await bench.throughput(
        "POST /api/v1/auth/login (bcrypt cost 12)", login, note="CPU-bound by design", warmup=False
    )
    # 20 §1: /api/health keeps at least half its idle rate under a 4-connection login storm.
    storm, health = await asyncio.gather(
        hammer(bench.url, login, duration=bench.duration, concurrency=4),
        hammer(
            bench.url,
            lambda c, _: c.get("/api/health"),
            duration=bench.duration,
            concurrency=bench.concurrency,
        ),
    )
    bench.lines.append(
        Line(
            "GET /api/health during a 4-connection login storm",
            stats=health,
            goal_ratio=0.5,
            note=f"{storm.rps:.1f} logins/s meanwhile",
        )
    )
