"""Request ids, access and JSON logs, job timings, the operators' health detail and the
optional Prometheus endpoint."""

from __future__ import annotations

import json
import logging
import logging.config
import re
import sys
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import text
from tests.conftest import TEST_SECRET, Factory, make_settings

from patt.app import create_app
from patt.core import jobs, metrics
from patt.core.logutil import JsonFormatter, RequestIdFilter, uvicorn_log_config
from patt.guild_sync.scheduler import Scheduler

HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
async def metrics_app(database_url: str, tmp_path: Any) -> Any:
    application = create_app(
        make_settings(tmp_path, metrics_enabled=True), database_url=database_url
    )
    yield application
    metrics.enable(False)
    await application.state.engine.dispose()
    await application.state.state_engine.dispose()


def client_for(application: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


# ------------------------------------------------------------------------------ request ids
async def test_every_answer_carries_a_new_request_id(client: httpx.AsyncClient):
    first = await client.get("/api/health")
    second = await client.get("/no-such-page")
    assert HEX_ID.fullmatch(first.headers["x-request-id"])
    assert HEX_ID.fullmatch(second.headers["x-request-id"]) and second.status_code == 404
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_a_sane_incoming_request_id_is_kept(client: httpx.AsyncClient):
    response = await client.get("/api/health", headers={"X-Request-ID": "proxy-7f3a.1:2_b"})
    assert response.headers["x-request-id"] == "proxy-7f3a.1:2_b"


@pytest.mark.parametrize(
    "incoming", ["", "x" * 65, "has space", "semi;colon", "new\\nline", "<script>", "é"]
)
async def test_an_unusable_incoming_request_id_is_replaced(
    client: httpx.AsyncClient, incoming: str
):
    response = await client.get("/api/health", headers={"X-Request-ID": incoming.encode()})
    assert HEX_ID.fullmatch(response.headers["x-request-id"])
    assert response.headers.get_list("x-request-id") == [response.headers["x-request-id"]]


async def test_errors_and_refused_bodies_carry_the_request_id(client: httpx.AsyncClient):
    too_big = await client.post(
        "/api/v1/auth/login",
        content=b"{" + b" " * (70 * 1024) + b"}",
        headers={"Content-Type": "application/json", "X-Request-ID": "big-body-1"},
    )
    assert too_big.status_code == 413 and too_big.headers["x-request-id"] == "big-body-1"
    unauth = await client.get("/api/v1/auth/me", headers={"X-Request-ID": "no-auth-1"})
    assert unauth.status_code == 401 and unauth.headers["x-request-id"] == "no-auth-1"


# ---------------------------------------------------------------------------------- logging
async def test_access_log_has_route_template_request_id_and_no_secrets(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="patt.access")
    await client.get("/register?code=SECRET99", headers={"X-Request-ID": "reg-1"})
    await client.get("/api/v1/campaigns/12345", headers={"X-Request-ID": "camp-1"})
    records = [r for r in caplog.records if r.name == "patt.access"]
    register = next(r for r in records if r.http["path"].startswith("/register"))  # type: ignore[attr-defined]
    assert "SECRET99" not in register.getMessage()
    assert register.http["path"] == "/register?code=[redacted]"  # type: ignore[attr-defined]
    campaign = next(r for r in records if r.http["path"] == "/api/v1/campaigns/12345")  # type: ignore[attr-defined]
    assert campaign.http["route"] == "/api/v1/campaigns/{campaign_id}"  # type: ignore[attr-defined]
    assert campaign.http["status"] in (401, 404)  # type: ignore[attr-defined]
    assert campaign.http["duration_ms"] >= 0  # type: ignore[attr-defined]
    assert getattr(campaign, "request_id", "camp-1") == "camp-1"


async def test_log_records_written_during_a_request_carry_its_id(
    app: Any, client: httpx.AsyncClient
):
    seen: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.name == "patt.access":
                seen.append(JsonFormatter().format(record))

    handler = Capture()
    handler.addFilter(RequestIdFilter())
    access = logging.getLogger("patt.access")
    access.addHandler(handler)
    old_level = access.level
    access.setLevel(logging.INFO)
    try:
        await client.get("/api/health", headers={"X-Request-ID": "json-check-1"})
    finally:
        access.removeHandler(handler)
        access.setLevel(old_level)
    entry = json.loads(seen[-1])
    assert entry["request_id"] == "json-check-1"
    assert entry["logger"] == "patt.access" and entry["level"] == "info"
    assert entry["http"]["route"] == "/api/health" and entry["http"]["status"] == 200
    assert isinstance(entry["pid"], int) and entry["ts"].endswith("+00:00")


def test_json_formatter_outside_requests_and_with_exceptions() -> None:
    logger = logging.getLogger("patt.test")
    try:
        raise ValueError("boom")
    except ValueError:
        record = logger.makeRecord(
            "patt.test", logging.ERROR, __file__, 1, "failed %s", ("x",), None
        )
        record.exc_info = sys.exc_info()
    RequestIdFilter().filter(record)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "failed x" and entry["request_id"] == "-"
    assert "ValueError: boom" in entry["exc"]


def test_serve_log_config_follows_log_format_and_level() -> None:
    plain = uvicorn_log_config()
    assert plain["handlers"]["default"]["formatter"] == "app"
    assert "request_id" in plain["formatters"]["app"]["format"]
    as_json = uvicorn_log_config("json", "warning")
    assert as_json["handlers"]["default"]["formatter"] == "json"
    assert as_json["loggers"]["patt"]["level"] == "WARNING"
    assert as_json["handlers"]["access"]["filters"] == ["redact_secrets"]
    logging.config.dictConfig(as_json)  # a valid configuration
    logging.config.dictConfig(uvicorn_log_config())


def test_log_settings_are_validated(tmp_path: Any) -> None:
    assert make_settings(tmp_path, log_format="JSON").log_format == "json"
    with pytest.raises(ValidationError):
        make_settings(tmp_path, log_format="xml")
    with pytest.raises(ValidationError):
        make_settings(tmp_path, log_level="loud")


# ------------------------------------------------------------------------------ job timings
async def test_a_timed_job_is_logged_and_kept_as_the_last_run(
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.INFO, logger="patt.jobs")
    async with jobs.timed("test_job"):
        pass
    with pytest.raises(RuntimeError):
        async with jobs.timed("test_failing_job"):
            raise RuntimeError("nope")
    assert jobs.LAST_RUNS["test_job"].status == "success"
    assert jobs.LAST_RUNS["test_failing_job"].status == "error"
    lines = [r.getMessage() for r in caplog.records if r.name == "patt.jobs"]
    assert any(re.fullmatch(r"job test_job success in \d+\.\d{3}s", line) for line in lines)
    assert any(line.startswith("job test_failing_job error in ") for line in lines)


async def test_the_daily_housekeeping_leaves_a_timed_sync_log_row(app: Any, db: Any):
    scheduler = Scheduler(app.state.guild_sync)
    await scheduler._guarded("housekeeping", scheduler._logged_housekeeping)
    row = (
        await db.execute(
            text(
                "SELECT status, triggered_by, duration_seconds, details "
                "FROM guild_identity.sync_log WHERE source = 'housekeeping'"
            )
        )
    ).one()
    assert row.status == "success" and row.triggered_by == "schedule"
    assert row.duration_seconds is not None and row.duration_seconds >= 0
    assert row.details == {"interrupted": 0, "deleted": 0}
    assert jobs.LAST_RUNS["housekeeping"].status == "success"


# ----------------------------------------------------------------------------- health detail
async def test_anonymous_health_stays_small(client: httpx.AsyncClient):
    response = await client.get("/api/health")
    assert response.status_code == 200
    assert set(response.json()["data"]) == {"db", "version", "discord"}


async def test_health_detail_needs_an_officer(client: httpx.AsyncClient, factory: Factory):
    assert (await client.get("/api/health/detail")).status_code == 401
    member = await factory.member(username="plainmember")
    assert (await client.get("/api/health/detail", headers=member.headers)).status_code == 403


async def test_health_detail_for_officers_without_secrets(
    app: Any, client: httpx.AsyncClient, factory: Factory, database_url: str
):
    officer = await factory.officer(username="opsofficer")
    await app.state.throttles["login_ip"].hit("198.51.100.9")
    async with jobs.timed("campaign_checker", quiet=True):
        pass
    response = await client.get("/api/health/detail", headers=officer.headers)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["db"]["status"] == "connected" and data["db"]["latency_ms"] >= 0
    assert data["scheduler"] == {
        "enabled": False,
        "this_process_leader": False,
        "leader_elected": False,
    }
    assert data["throttle_rows"] == 1
    assert any(run["job"] == "campaign_checker" for run in data["jobs"])
    assert data["metrics_enabled"] is False and data["log_format"] == "text"
    assert isinstance(data["pid"], int) and data["uptime_seconds"] >= 0
    assert TEST_SECRET not in response.text and database_url not in response.text
    assert response.headers["cache-control"] == "no-store"


async def test_health_detail_lists_the_newest_run_of_each_sync_source(
    app: Any, client: httpx.AsyncClient, factory: Factory
):
    officer = await factory.officer(username="opsofficer2")
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO guild_identity.sync_log (source, status, started_at, completed_at, "
                "duration_seconds, triggered_by, error_message) VALUES "
                "('blizzard_api', 'error', now() - interval '2 hours', now() - interval '2 hours',"
                " 3.5, 'schedule', 'token secret-in-error'),"
                "('blizzard_api', 'success', now() - interval '1 hour', now(), 12.25, 'manual',"
                " NULL)"
            )
        )
    data = (await client.get("/api/health/detail", headers=officer.headers)).json()["data"]
    (blizzard,) = [r for r in data["last_sync_runs"] if r["source"] == "blizzard_api"]
    assert blizzard["status"] == "success" and blizzard["duration_seconds"] == 12.25
    assert "secret-in-error" not in json.dumps(data)


# ---------------------------------------------------------------------------------- metrics
async def test_metrics_are_off_by_default(client: httpx.AsyncClient):
    assert (await client.get("/metrics")).status_code == 404


async def test_metrics_count_requests_by_route_template_and_jobs(metrics_app: Any):
    async with client_for(metrics_app) as http:
        for campaign_id in (101, 202, 303):
            await http.get(f"/api/v1/campaigns/{campaign_id}")
        async with jobs.timed("metrics_test_job"):
            pass
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    body = response.text
    assert 'route="/api/v1/campaigns/{campaign_id}"' in body
    assert "/api/v1/campaigns/101" not in body  # raw paths never become labels
    assert re.search(
        r'patt_http_requests_total\{method="GET",route="/api/v1/campaigns/\{campaign_id\}",'
        r'status="\d+"\} 3\.0',
        body,
    )
    assert "patt_http_request_duration_seconds_bucket" in body
    assert 'patt_job_duration_seconds_count{job="metrics_test_job",status="success"}' in body


async def test_metrics_token_is_required_when_set(database_url: str, tmp_path: Any):
    application = create_app(
        make_settings(tmp_path, metrics_enabled=True, metrics_token="scrape-token-0123456789"),
        database_url=database_url,
    )
    try:
        async with client_for(application) as http:
            assert (await http.get("/metrics")).status_code == 401
            wrong = {"Authorization": "Bearer nope"}
            assert (await http.get("/metrics", headers=wrong)).status_code == 401
            right = {"Authorization": "Bearer scrape-token-0123456789"}
            assert (await http.get("/metrics", headers=right)).status_code == 200
    finally:
        metrics.enable(False)
        await application.state.engine.dispose()
        await application.state.state_engine.dispose()
