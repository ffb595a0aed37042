"""Health for load balancers and operators, and the optional Prometheus endpoint.

- `GET /api/health` (anyone): database up or not, version, Discord state; 503 when the database
  is down. One `SELECT 1`, no authentication, so a load balancer may poll it often.
- `GET /api/health/detail` (Officer+): database latency, scheduler leadership, the last run of
  every job — for operators; no secrets. A separate route so the anonymous check stays cheap.
- `GET /metrics` (METRICS_ENABLED, else 404): Prometheus text format; when METRICS_TOKEN is set
  the scraper sends it as `Authorization: Bearer …`.
"""

from __future__ import annotations

import hmac
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import text

from patt import __version__
from patt.core import metrics
from patt.core.envelope import Envelope, ok
from patt.core.fields import IsoTime
from patt.core.schemas import ReadModel
from patt.deps import OfficerOutsideTransaction
from patt.health import service
from sv_common.errors import NotFound, Unauthorized

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


def discord_state(request: Request) -> str:
    """`disabled|connecting|ready|error`, or `fake` with a working file-backed fake."""
    service = getattr(request.app.state, "discord", None)
    if service is None:
        return "disabled"
    if getattr(service, "is_file_fake", False):
        # a fake whose file cannot be read is as broken as a bot that cannot log in
        return "error" if getattr(service, "file_error", None) else "fake"
    return str(getattr(service, "state", "disabled"))


class HealthRead(BaseModel):
    """What an operator needs to know at a glance (no secrets, no exception text)."""

    db: str
    version: str
    discord: str


@router.get("/api/health", response_model=Envelope[HealthRead])
async def health(request: Request) -> JSONResponse:
    """Report database connectivity without exception text."""
    data = {"db": "connected", "version": __version__, "discord": discord_state(request)}
    try:
        async with request.app.state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:
        log.warning("health check: database unavailable", exc_info=True)
        data["db"] = "error"
        return JSONResponse(
            {"ok": False, "error": "Database unavailable.", "data": data}, status_code=503
        )
    return JSONResponse({"ok": True, "data": data})


class DatabaseDetail(ReadModel):
    """The database as this process sees it."""

    status: str  # connected | error
    latency_ms: float | None


class SchedulerDetail(ReadModel):
    """Scheduled jobs: on or off, and who leads (80 §9.4)."""

    enabled: bool
    this_process_leader: bool
    leader_elected: bool | None  # some process holds the leader lock (None: database down)


class JobRunRead(ReadModel):
    """The last run of one background job in this process."""

    job: str
    status: str
    finished_at: IsoTime
    duration_seconds: float


class SyncRunRead(ReadModel):
    """The newest `sync_log` row of one source (any process)."""

    source: str
    status: str
    triggered_by: str | None
    started_at: IsoTime
    completed_at: IsoTime | None
    duration_seconds: float | None


class HealthDetail(ReadModel):
    """What an operator needs to judge one process and the shared database."""

    version: str
    pid: int
    uptime_seconds: float
    db: DatabaseDetail
    discord: str
    scheduler: SchedulerDetail
    jobs: list[JobRunRead]
    last_sync_runs: list[SyncRunRead]
    throttle_rows: int | None
    metrics_enabled: bool
    log_format: str


@router.get("/api/health/detail", response_model=Envelope[HealthDetail])
async def health_detail(request: Request, officer: OfficerOutsideTransaction) -> Response:
    """Operator detail (Officer+); still answers, with `db.status = error`, while the database
    is down."""
    state = request.app.state
    settings = state.settings
    scheduler = getattr(state, "scheduler", None)
    facts: dict[str, object] = {"leader_elected": None, "last_sync_runs": [], "throttle_rows": None}
    try:
        latency: float | None = await service.database_latency_ms(state.engine)
        facts = await service.shared_facts(state.engine)
    except Exception:
        log.warning("health detail: database unavailable", exc_info=True)
        latency = None
    process = service.process_facts()
    detail = HealthDetail(
        version=__version__,
        pid=process["pid"],
        uptime_seconds=process["uptime_seconds"],
        db=DatabaseDetail(
            status="connected" if latency is not None else "error", latency_ms=latency
        ),
        discord=discord_state(request),
        scheduler=SchedulerDetail(
            enabled=settings.scheduler_enabled,
            this_process_leader=bool(scheduler is not None and scheduler.is_leader),
            leader_elected=facts["leader_elected"],  # type: ignore[arg-type]
        ),
        jobs=[JobRunRead.model_validate(run) for run in process["jobs"]],
        last_sync_runs=[SyncRunRead.model_validate(run) for run in facts["last_sync_runs"]],  # type: ignore[attr-defined]
        throttle_rows=facts["throttle_rows"],  # type: ignore[arg-type]
        metrics_enabled=metrics.enabled(),
        log_format=settings.log_format,
    )
    return ok(detail)


def _metrics_token_ok(request: Request, expected: str) -> bool:
    supplied = request.headers.get("authorization", "")
    scheme, _, token = supplied.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), expected.encode()
    )


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request) -> Response:
    """Prometheus text format; 404 unless METRICS_ENABLED."""
    settings = request.app.state.settings
    if not settings.metrics_enabled:
        raise NotFound("Not found.")
    if settings.metrics_token and not _metrics_token_ok(request, settings.metrics_token):
        raise Unauthorized("Not authenticated.")
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})
