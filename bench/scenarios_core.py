"""Core endpoints on a guild of 200 members with 600 characters: public roster, own profile,
landing page (anonymous and signed in), and /api/health while a login storm runs."""

from __future__ import annotations

import asyncio
import sys

from bench.database import BENCH_PASSWORD, SeededMember, seed_members
from bench.runner import Bench, Line, scenario
from bench.wrk import RunningWrk, WrkRun, lua_string, run_wrk

MEMBERS = 200
CHARACTERS_EACH = 3
GUILD = f"({MEMBERS} members, {MEMBERS * CHARACTERS_EACH} characters)"
STORM_CONNECTIONS = 4


async def guild(bench: Bench) -> list[SeededMember]:
    """The benchmark guild (seeded once per run): 200 members on the raid roster with 3
    characters each, a week of availability, and an account for every 4th member."""
    if "guild" not in bench.state:
        async with bench.session() as session:
            bench.state["guild"] = await seed_members(
                session, prefix="bench", count=MEMBERS, characters_each=CHARACTERS_EACH
            )
    members: list[SeededMember] = bench.state["guild"]
    return members


async def signed_in_guild_member(bench: Bench) -> str:
    """A bearer token of a guild member with an account, from a real API login (once per run)."""
    if "guild_token" not in bench.state:
        account = next(m for m in await guild(bench) if m.user_id is not None)
        bench.state["guild_token"] = await bench.login(account.username, BENCH_PASSWORD)
    token: str = bench.state["guild_token"]
    return token


@scenario("core", order=10, rows=("roster", "landing", "landing-signed-in", "me", "login-storm"))
async def core(bench: Bench) -> None:
    """Roster, landing (anonymous and signed in), /me, health under a login storm."""
    members = await guild(bench)
    token = await signed_in_guild_member(bench)
    bearer = {"Authorization": f"Bearer {token}"}
    cookie = {"Cookie": f"patt_token={token}"}

    if bench.wants("roster"):
        await measure_get(bench, f"GET /api/v1/guild/roster {GUILD}", "/api/v1/guild/roster", 0.5)
    if bench.wants("landing"):
        await measure_get(bench, "GET / (landing, anonymous)", "/", 0.5)
    if bench.wants("landing-signed-in"):
        await measure_get(bench, "GET / (landing, signed in, cookie)", "/", None, headers=cookie)
    if bench.wants("me"):
        await measure_get(
            bench, "GET /api/v1/auth/me (bearer token)", "/api/v1/auth/me", 0.5, headers=bearer
        )
    if bench.wants("login-storm"):
        usernames = [m.username for m in members if m.user_id is not None]
        await login_storm(bench, usernames)


async def measure_get(
    bench: Bench,
    label: str,
    path: str,
    goal_ratio: float | None,
    *,
    headers: dict[str, str] | None = None,
) -> Line | None:
    """One plain GET row: check the route answers, then drive it with wrk. A first answer
    that is not 200 is noted on the row (wrk then counts every such response as an error)."""
    exists, response = await bench.probe("GET", path, headers=headers)
    if not exists:
        bench.skipped(label, "SKIPPED (not built)")
        return None
    line = await bench.load(label, path, goal_ratio=goal_ratio, headers=headers)
    if response.status_code != 200:
        line.problem = f"first answer HTTP {response.status_code}: {response.text[:120]}"
    return line


def login_script(usernames: list[str], password: str) -> str:
    """Lua for wrk: every request signs in through the API as the next of `usernames`."""
    names = ", ".join(lua_string(name) for name in usernames)
    return f"""
local names = {{{names}}}
local password = {lua_string(password)}
local counter = 0
local headers = {{["Content-Type"] = "application/json"}}
function request()
  counter = counter + 1
  local name = names[(counter % #names) + 1]
  local body = '{{"discord_username":"' .. name .. '","password":"' .. password .. '"}}'
  return wrk.format("POST", "/api/v1/auth/login", headers, body)
end
"""


async def login_storm(bench: Bench, usernames: list[str]) -> None:
    """/api/health while 4 connections sign in with real credentials (bcrypt) without pause:
    the storm starts first and ends after the health measurement."""
    label = f"GET /api/health during a {STORM_CONNECTIONS}-connection login storm"
    exists, response = await bench.probe(
        "POST",
        "/api/v1/auth/login",
        json={"discord_username": usernames[0], "password": BENCH_PASSWORD},
    )
    if not exists:
        bench.skipped(label, "SKIPPED (login not built)")
        return
    print(f"  {label} …", file=sys.stderr, flush=True)
    storm = RunningWrk(
        bench.wrk,
        WrkRun(
            url=bench.url + "/api/v1/auth/login",
            duration=bench.duration + 2,
            connections=STORM_CONNECTIONS,
            threads=1,
            script=login_script(usernames, BENCH_PASSWORD),
        ),
    )
    await asyncio.sleep(1.0)  # let the storm fill the bcrypt pool before measuring
    health_run = WrkRun(
        url=bench.url + "/api/health",
        duration=bench.duration,
        connections=bench.connections,
        threads=bench.threads,
    )
    health = await asyncio.to_thread(run_wrk, bench.wrk, health_run, None)
    logins = await asyncio.to_thread(storm.result)
    line = Line(
        label,
        result=health,
        goal_ratio=0.5,
        note=f"{logins.rps:.1f} logins/s meanwhile (p50 {logins.p50_ms:.0f} ms)",
    )
    if response.status_code != 200:
        line.problem = f"login answered HTTP {response.status_code}: {response.text[:120]}"
    elif logins.successes == 0 or logins.errors > logins.requests / 2:
        line.problem = (
            f"the storm's logins mostly failed ({logins.errors}/{logins.requests} errors)"
        )
    bench.lines.append(line)
