"""Database outages: 503 (never 500) while PostgreSQL is unreachable, recovery by itself after
a restart, and no secrets in the log when a connection dies in the middle of a request."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import text
from tests.conftest import Factory, _psycopg_dsn, count_rows, make_settings

from patt.app import create_app
from sv_common.auth import invite_codes
from sv_common.identity import accounts


def kill_connections(database_url: str) -> int:
    """End every other session of the test database, as a PostgreSQL restart would."""
    with psycopg.connect(_psycopg_dsn(database_url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


async def test_pooled_connections_recover_after_a_restart(
    app: Any, client: httpx.AsyncClient, factory: Factory, database_url: str
) -> None:
    member = await factory.member()
    me = "/api/v1/auth/me"
    assert (await client.get(me, headers=member.headers)).status_code == 200
    assert kill_connections(database_url) >= 1
    # the pool's connections are dead now; the next requests must not notice
    for _ in range(3):
        assert (await client.get(me, headers=member.headers)).status_code == 200
    assert (await client.get("/")).status_code == 200


async def test_hot_reads_without_the_checkout_check_retry_on_a_fresh_connection(
    app: Any, client: httpx.AsyncClient, factory: Factory, database_url: str
) -> None:
    """The campaign list and results skip the pool's checkout check; a connection that died in
    the pool costs them one retry, never an error, whether anonymous or signed in."""
    member = await factory.member()
    for headers in ({}, member.headers):
        assert (await client.get("/api/v1/campaigns", headers=headers)).status_code == 200
        assert kill_connections(database_url) >= 1
        response = await client.get("/api/v1/campaigns", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json() == {"ok": True, "data": []}
        assert kill_connections(database_url) >= 1
        missing = await client.get("/api/v1/campaigns/999999/results", headers=headers)
        assert missing.status_code == 404, missing.text


@pytest.fixture
async def unreachable(tmp_path: Path) -> Any:
    """An app whose database does not answer (nothing listens on the port)."""
    url = "postgresql+asyncpg://postgres@127.0.0.1:9/patt"
    application = create_app(make_settings(tmp_path), database_url=url)
    yield application
    await application.state.engine.dispose()


async def test_api_answers_503_with_the_envelope_while_the_database_is_down(
    unreachable: Any,
) -> None:
    transport = httpx.ASGITransport(app=unreachable, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        for path in ("/api/v1/guild/ranks", "/api/v1/campaigns", "/api/v1/guild/roster"):
            response = await http.get(path)
            assert response.status_code == 503, path
            assert response.json() == {
                "ok": False,
                "error": "The guild database is unavailable for a moment. Please try again shortly.",
            }
            assert response.headers["Retry-After"] == "5"
        login = await http.post(
            "/api/v1/auth/login", json={"discord_username": "x", "password": "y"}
        )
        assert login.status_code == 503
        health = await http.get("/api/health")
        assert health.status_code == 503 and health.json()["data"]["db"] == "error"


async def test_pages_show_a_friendly_try_again_page(unreachable: Any) -> None:
    transport = httpx.ASGITransport(app=unreachable, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        for path in ("/", "/vote/1"):
            response = await http.get(path)
            assert response.status_code == 503, path
            assert "try again" in response.text and "Traceback" not in response.text


@pytest.fixture
async def stopped_socket_server(tmp_path: Path) -> Any:
    """An app configured for a Unix-socket server that is stopped (its socket file is gone), as
    the embedded PostgreSQL is while it restarts: connecting raises FileNotFoundError."""
    url = f"postgresql+asyncpg://postgres@/patt?host={tmp_path}"
    application = create_app(make_settings(tmp_path), database_url=url)
    yield application
    await application.state.engine.dispose()


async def test_a_stopped_unix_socket_server_is_an_outage_not_an_error(
    stopped_socket_server: Any,
) -> None:
    # raise_app_exceptions stays on: the error must be answered, not passed on to the server
    # (uvicorn would log a traceback and close the keep-alive connection)
    transport = httpx.ASGITransport(app=stopped_socket_server)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        for path in ("/api/v1/guild/roster", "/api/v1/guild/availability"):
            response = await http.get(path)
            assert response.status_code == 503, path
            assert response.json()["error"].startswith("The guild database is unavailable")
            assert response.headers["Retry-After"] == "5"
        page = await http.get("/")
        assert page.status_code == 503
        assert "try again" in page.text and "Traceback" not in page.text


async def test_a_connection_killed_mid_registration_writes_nothing_and_logs_no_secret(
    app: Any,
    client: httpx.AsyncClient,
    factory: Factory,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = await factory.member(username="newrecruit", registered=False)
    async with app.state.sessionmaker() as session, session.begin():
        invite = await invite_codes.generate_invite_code(
            session, member_id=target.id, created_by_id=None
        )
    code = invite.code
    hashed: list[str] = []
    real_hash = accounts.hash_password_async

    async def hash_then_lose_the_database(password: str) -> str:
        value = await real_hash(password)
        hashed.append(value)
        kill_connections(database_url)  # PostgreSQL goes away between two statements
        return value

    monkeypatch.setattr(accounts, "hash_password_async", hash_then_lose_the_database)
    caplog.set_level(logging.DEBUG)
    response = await client.post(
        "/api/v1/auth/register",
        json={"code": code, "discord_username": "newrecruit", "password": "a-good-passphrase"},
    )
    assert response.status_code == 503 and response.json()["ok"] is False
    assert hashed, "the request reached the point where the connection was killed"
    async with app.state.sessionmaker() as session:
        assert await count_rows(session, "common.users") == 0
        used = await session.scalar(
            text("SELECT used_at FROM common.invite_codes WHERE code = :c"), {"c": code}
        )
        assert used is None
    log_text = caplog.text
    assert code not in log_text and hashed[0] not in log_text and "$2b$" not in log_text
    # once the database is back the same registration works
    monkeypatch.setattr(accounts, "hash_password_async", real_hash)
    again = await client.post(
        "/api/v1/auth/register",
        json={"code": code, "discord_username": "newrecruit", "password": "a-good-passphrase"},
    )
    assert again.status_code == 201
