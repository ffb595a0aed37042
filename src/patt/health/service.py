"""Facts for the operators' health detail: database latency, scheduler leadership, the last
runs of every job. Nothing secret: no settings values, no error texts, no addresses."""

from __future__ import annotations

import os
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from patt.core import jobs
from sv_common.db import locks

PROCESS_STARTED = time.monotonic()

_LAST_SYNC_RUNS = """
SELECT DISTINCT ON (source) source, status, triggered_by, started_at, completed_at,
       duration_seconds
FROM guild_identity.sync_log
ORDER BY source, started_at DESC, id DESC
"""


async def database_latency_ms(engine: AsyncEngine) -> float:
    """Milliseconds for a `SELECT 1` round trip on a pooled connection (raises when down)."""
    started = time.perf_counter()
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    return round((time.perf_counter() - started) * 1000, 2)


async def shared_facts(engine: AsyncEngine) -> dict[str, Any]:
    """What the database knows: whether any process leads, the newest run of every sync
    source, and how many throttle rows are stored."""
    async with engine.connect() as connection:
        leader = await locks.is_held(connection, locks.LEADER)
        runs = (await connection.execute(text(_LAST_SYNC_RUNS))).mappings().all()
        throttle_rows = await connection.scalar(text("SELECT count(*) FROM common.throttle_hits"))
    return {
        "leader_elected": leader,
        "last_sync_runs": [dict(row) for row in runs],
        "throttle_rows": int(throttle_rows or 0),
    }


def process_facts() -> dict[str, Any]:
    """This process: id, uptime and the last run of each background job it ran."""
    return {
        "pid": os.getpid(),
        "uptime_seconds": round(time.monotonic() - PROCESS_STARTED, 1),
        "jobs": [vars(run) for run in sorted(jobs.LAST_RUNS.values(), key=lambda r: r.job)],
    }
