"""`patt doctor`: names a broken setting plainly and exits 1; a sound install exits 0; Discord and
Blizzard are checked for real when configured (here against fakes of their HTTP answers)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from tests.conftest import make_settings

from patt import cli
from patt.config import get_settings
from patt.ops import doctor
from patt.ops.doctor import Level

GOOD_SECRET = "doctor-tests-secret-0123456789abcdef0123456789"


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A clean environment for `Settings()`: no .env, nothing configured but what tests set."""
    get_settings.cache_clear()
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("DISCORD_", "BLIZZARD_", "PATT_", "APP_", "JWT_", "COOKIE_")):
            monkeypatch.delenv(name)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    monkeypatch.setenv("PATT_DATA_DIR", str(tmp_path / "data"))
    yield monkeypatch
    get_settings.cache_clear()


def run_doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["doctor"])
    return code, capsys.readouterr().out


def test_sound_install_passes(
    environment: pytest.MonkeyPatch, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    environment.setenv("DATABASE_URL", database_url)
    environment.setenv("JWT_SECRET_KEY", GOOD_SECRET)
    assert cli.main(["seed"]) == 0
    code, out = run_doctor(capsys)
    assert code == 0, out
    assert "at the newest revision" in out
    assert "discord: not configured" in out and "blizzard: not configured" in out
    assert "FAIL" not in out


def test_unreachable_database_is_named_with_its_fix(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment.setenv("DATABASE_URL", "postgresql://patt:s3cret-pw@127.0.0.1:1/patt")
    code, out = run_doctor(capsys)
    assert code == 1
    assert "FAIL  database: cannot connect to postgresql://patt:***@127.0.0.1:1/patt" in out
    assert "fix: check DATABASE_URL" in out
    assert "s3cret-pw" not in out  # the password never shows


def test_a_database_url_that_is_not_postgresql(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment.setenv("DATABASE_URL", "mysql://root@localhost/patt")
    code, out = run_doctor(capsys)
    assert code == 1
    assert "DATABASE_URL is not a PostgreSQL URL" in out


def test_short_jwt_secret_in_production_fails(
    environment: pytest.MonkeyPatch, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    environment.setenv("DATABASE_URL", database_url)
    environment.setenv("APP_ENV", "production")
    environment.setenv("JWT_SECRET_KEY", "too-short")
    environment.setenv("PUBLIC_BASE_URL", "https://guild.example")
    code, out = run_doctor(capsys)
    assert code == 1
    assert "FAIL  production: JWT_SECRET_KEY must be at least 32 bytes" in out
    assert "secrets.token_urlsafe" in out  # how to make a good one
    assert "too-short" not in out
    assert "1 problem(s) to fix" in out


def test_unreadable_setting_is_named(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment.setenv("APP_PORT", "eighty")
    code, out = run_doctor(capsys)
    assert code == 1
    assert "FAIL  configuration: Bad configuration: APP_PORT" in out


def test_migrations_behind_say_run_upgrade(
    environment: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg
    from tests.conftest import _psycopg_dsn, _server_admin_url, _with_database

    admin = _server_admin_url()
    name = f"patt_doctor_{os.getpid()}"
    with psycopg.connect(_psycopg_dsn(admin), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        environment.setenv("DATABASE_URL", _with_database(admin, name))
        code, out = run_doctor(capsys)
        assert code == 1
        assert "migrations: the database has no tables yet" in out
        assert "patt db upgrade" in out
    finally:
        with psycopg.connect(_psycopg_dsn(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- Discord, Blizzard and the clock, against fakes of their HTTP answers -------------------


def fake_http(answer: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(answer))


def checks(tmp_path: Path, http: httpx.Client, **settings: object) -> list[doctor.Finding]:
    values = {"discord_backend": "auto", **settings}
    return doctor.run(
        http=http,
        settings=make_settings(tmp_path, **values),
        database_url=lambda s: "postgresql://nobody@127.0.0.1:1/none",
    )


def failures(findings: list[doctor.Finding], area: str) -> list[str]:
    return [f.text for f in findings if f.level is Level.FAIL and f.area == area]


def test_rejected_discord_token_is_named(tmp_path: Path) -> None:
    http = fake_http(lambda request: httpx.Response(401, json={"message": "401: Unauthorized"}))
    found = checks(tmp_path, http, discord_bot_token="x" * 60, discord_guild_id="123")
    assert failures(found, "discord") == ["Discord rejects DISCORD_BOT_TOKEN"]


def test_discord_bot_outside_the_server_and_without_members_intent(tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bot " + "t" * 60
        if request.url.path.endswith("/users/@me"):
            return httpx.Response(200, json={"username": "PATT Bot"})
        if request.url.path.endswith("/applications/@me"):
            return httpx.Response(200, json={"flags": 0})
        return httpx.Response(404, json={"message": "Unknown Guild"})

    found = checks(tmp_path, fake_http(answer), discord_bot_token="t" * 60, discord_guild_id="42")
    assert failures(found, "discord") == [
        "the Server Members intent is off",
        "the bot cannot see server 42 (Discord answered 404)",
    ]


def test_healthy_discord_passes(tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/users/@me"):
            return httpx.Response(200, json={"username": "PATT Bot"})
        if path.endswith("/applications/@me"):
            return httpx.Response(200, json={"flags": 1 << 15})
        return httpx.Response(200, json={"name": "Pull All The Things"})

    found = checks(tmp_path, fake_http(answer), discord_bot_token="t" * 60, discord_guild_id="42")
    assert failures(found, "discord") == []
    assert any("bot is in server 'Pull All The Things'" in f.text for f in found)


def test_unreachable_discord_says_check_network_or_discord_status(tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route", request=request)

    found = checks(tmp_path, fake_http(answer), discord_bot_token="t" * 60, discord_guild_id="42")
    bad = [f for f in found if f.area == "discord" and f.level is Level.FAIL]
    assert bad and "cannot reach Discord" in bad[0].text and "discordstatus.com" in bad[0].fix


def test_wrong_blizzard_secret_and_unknown_guild(tmp_path: Path) -> None:
    refused = fake_http(lambda request: httpx.Response(401, json={"error": "invalid_client"}))
    found = checks(tmp_path, refused, blizzard_client_id="id", blizzard_client_secret="nope")
    assert failures(found, "blizzard") == [
        "Blizzard refuses BLIZZARD_CLIENT_ID / BLIZZARD_CLIENT_SECRET (answer 401)"
    ]

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 86399})
        assert request.headers["Authorization"] == "Bearer tok"
        return httpx.Response(404, json={"code": 404})

    found = checks(
        tmp_path,
        fake_http(answer),
        blizzard_client_id="id",
        blizzard_client_secret="secret",
        patt_guild_name_slug="no-such-guild",
    )
    assert failures(found, "blizzard") == [
        "no guild 'no-such-guild' on realm 'senjin' in region us"
    ]


def test_clock_far_from_discords_fails(tmp_path: Path) -> None:
    late = format_datetime(datetime.now(UTC) + timedelta(minutes=10), usegmt=True)

    def answer(request: httpx.Request) -> httpx.Response:
        headers = {"Date": late}
        if request.url.path.endswith("/users/@me"):
            return httpx.Response(200, json={"username": "b"}, headers=headers)
        if request.url.path.endswith("/applications/@me"):
            return httpx.Response(200, json={"flags": 1 << 14}, headers=headers)
        return httpx.Response(200, json={"name": "g"}, headers=headers)

    found = checks(tmp_path, fake_http(answer), discord_bot_token="t" * 60, discord_guild_id="42")
    clock = failures(found, "clock")
    assert len(clock) == 1 and "behind Discord's" in clock[0]
