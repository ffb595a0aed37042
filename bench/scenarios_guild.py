"""Guild tools (60): roster data and the roster view page for the benchmark guild (200 members
on the raid roster, 600 characters, a week of availability each), and the one-time import of a
300-member spreadsheet."""

from __future__ import annotations

import importlib
import json
import random
from typing import Any

from bench.database import letters, snowflake
from bench.runner import Bench, scenario, timed
from bench.scenarios_core import GUILD, guild, measure_get
from sv_common.identity import classes

SHEET_MEMBERS = 300
LEGACY_ROLE = {"tank": "Tank", "healer": "Healer", "melee_dps": "Melee", "ranged_dps": "Ranged"}


@scenario("guild-tools", order=15, rows=("roster-view", "roster-data"))
async def guild_tools(bench: Bench) -> None:
    """/roster-view and roster-data for 200 members, 600 characters, availability."""
    await guild(bench)
    label = GUILD.replace(")", ", availability)")
    if bench.wants("roster-view"):
        await measure_get(bench, f"GET /roster-view {label}", "/roster-view", 0.4)
    if bench.wants("roster-data"):
        await measure_get(
            bench, f"GET /api/v1/guild/roster-data {label}", "/api/v1/guild/roster-data", 0.4
        )


def sheet_export(count: int, seed: int = 3) -> dict[str, Any]:
    """A Google-Sheet export (60 §10.2) of `count` people with 3 characters each."""
    rng = random.Random(seed)
    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    availability, characters, discord_ids = [], [], {}
    for n in range(count):
        name = f"sheet{n:04d}"
        row: dict[str, Any] = {"discord": name}
        row.update({day: rng.random() < 0.6 for day in days})
        row.update(
            {
                "autoSignup": rng.random() < 0.3,
                "wantsReminders": "FALSE",
                "notes": "",
                "updated": "2025-01-10T02:15:00.000Z",
            }
        )
        availability.append(row)
        for k in range(3):
            spec = classes.SPECS[(n * 3 + k) % len(classes.SPECS)]
            characters.append(
                {
                    "discord": name,
                    "character": ("Sht" + letters(n * 3 + k)).title(),
                    "class": spec.class_name,
                    "spec": spec.spec_name,
                    "role": LEGACY_ROLE[spec.role],
                    "mainAlt": "Main" if k == 0 else "Alt",
                }
            )
        discord_ids[name] = snowflake(500_000 + n)
    return {
        "success": True,
        "availability": availability,
        "characters": characters,
        "discordIds": discord_ids,
        "validationIssues": [],
        "mitoQuotes": [f"Benchmark quote {n}" for n in range(20)],
        "mitoTitles": [f"Benchmark title {n}" for n in range(10)],
    }


@scenario("sheet-import", order=40)
async def sheet_import(bench: Bench) -> None:
    """One-time import of a 300-member sheet (parse, plan, write, commit)."""
    label = f"sheet import ({SHEET_MEMBERS} members, {SHEET_MEMBERS * 3} characters)"
    try:
        module = importlib.import_module("sv_common.guild_sync.sheet_import")
        parts = [getattr(module, n) for n in ("load_json_export", "plan_import", "apply_plan")]
        options_class = module.ImportOptions
    except (ImportError, AttributeError):
        bench.skipped(label, "SKIPPED (not built)")
        return
    load_json_export, plan_import, apply_plan = parts
    raw = json.dumps(sheet_export(SHEET_MEMBERS))

    async def run_import() -> Any:
        export = load_json_export(raw, source="bench.json")
        plan = plan_import(export)
        async with bench.session() as session:
            return await apply_plan(session, plan, options_class())

    ms, summary = await timed(run_import, 1)
    note = (
        f"{getattr(summary, 'members_created', '?')} members, "
        f"{getattr(summary, 'characters_created', '?')} characters created"
    )
    bench.timing(label, ms, goal_ms=5000, note=note)
    if not bench.quick:  # idempotent re-run: everything already there
        ms, _ = await timed(run_import, 1)
        bench.timing(f"{label}, second run (no changes)", ms, goal_ms=5000)
