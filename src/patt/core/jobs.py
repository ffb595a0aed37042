"""Timing of background jobs: each run leaves one log line with its duration, a metric
(METRICS_ENABLED) and the last run of each job in this process (`/api/health/detail`).

Jobs that also keep a history for officers (Blizzard and Discord syncs, the daily housekeeping)
write their `sync_log` row as well; this module is the timing every job shares.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from patt.core import metrics
from sv_common import clock

log = logging.getLogger("patt.jobs")


@dataclass(frozen=True)
class JobRun:
    """How one job's latest run in this process ended."""

    job: str
    status: str  # success | error | cancelled
    finished_at: datetime
    duration_seconds: float


LAST_RUNS: dict[str, JobRun] = {}


@asynccontextmanager
async def timed(job: str, *, quiet: bool = False) -> AsyncIterator[None]:
    """Time the block as one run of `job`. `quiet` jobs (every-minute checks) log a success at
    DEBUG level so the log is not flooded; failures and other jobs log at INFO."""
    started = time.perf_counter()
    status = "success"
    try:
        yield
    except asyncio.CancelledError:
        status = "cancelled"
        raise
    except BaseException:
        status = "error"
        raise
    finally:
        seconds = time.perf_counter() - started
        LAST_RUNS[job] = JobRun(job, status, clock.now(), round(seconds, 4))
        metrics.observe_job(job, status, seconds)
        level = logging.DEBUG if quiet and status == "success" else logging.INFO
        log.log(
            level,
            "job %s %s in %.3fs",
            job,
            status,
            seconds,
            extra={"job": {"name": job, "status": status, "duration_ms": round(seconds * 1000, 2)}},
        )
