"""`patt backup` then `patt restore` into an empty database: the site shows the same guild, the
demo Guild Leader can log in, and a restore that does not match the side file is refused."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from tests.conftest import _psycopg_dsn, _server_admin_url, _with_database, make_settings

from patt import cli
from patt.app import create_app
from patt.config import Settings
from patt.demo.loader import DEMO_ACCOUNTS
from sv_common.db.models import ALL_TABLES


def sql(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(_psycopg_dsn(url), autocommit=True) as conn:
        cursor = conn.execute(query)
        return list(cursor.fetchall()) if cursor.description else []


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A second, empty database on the same server (no migrations)."""
    admin = _server_admin_url()
    name = f"patt_restore_{os.getpid()}_{secrets.token_hex(3)}"
    sql(admin, f'CREATE DATABASE "{name}"')
    yield _with_database(admin, name)
    sql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def use_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str) -> Settings:
    settings = make_settings(tmp_path, database_url=url)
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    return settings


def what_the_site_shows(url: str, tmp_path: Path) -> dict[str, Any]:
    """The public roster and the Guild Leader's own view, read over HTTP from an app on `url`."""

    async def visit() -> dict[str, Any]:
        app = create_app(make_settings(tmp_path), database_url=url)
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                roster = await http.get("/api/v1/guild/roster")
                username, password = DEMO_ACCOUNTS[5]
                login = await http.post(
                    "/api/v1/auth/login",
                    json={"discord_username": username, "password": password},
                )
                assert login.status_code == 200, login.text
                token = login.json()["data"]["token"]
                me = await http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
            return {"roster": roster.json(), "me": me.json()}
        finally:
            await app.state.engine.dispose()

    return asyncio.run(visit())


@pytest.fixture
def demo_guild(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The test database holding the demo guild, loaded by `patt demo`."""
    sql(database_url, f"TRUNCATE {', '.join(ALL_TABLES)} RESTART IDENTITY CASCADE")
    use_database(monkeypatch, tmp_path, database_url)
    assert cli.main(["seed"]) == 0
    assert cli.main(["demo"]) == 0
    return database_url


def test_backup_then_restore_into_an_empty_database_keeps_the_whole_site(
    demo_guild: str,
    empty_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = what_the_site_shows(demo_guild, tmp_path)
    assert len(before["roster"]["data"]["members"]) >= 35
    dump = tmp_path / "nightly.dump"
    capsys.readouterr()
    assert cli.main(["backup", "--output", str(dump)]) == 0
    out, err = capsys.readouterr()
    assert "Backup written" in out and "Saved table" in err
    side = json.loads((tmp_path / "nightly.dump.json").read_text())
    assert (
        side["tables"]["common.guild_members"]
        == sql(demo_guild, "SELECT count(*) FROM common.guild_members")[0][0]
    )

    use_database(monkeypatch, tmp_path, empty_database)
    assert cli.main(["restore", str(dump)]) == 0
    out, err = capsys.readouterr()
    assert "Restore complete" in out and "every table's row count matches" in out
    assert "Loaded table" in err

    assert what_the_site_shows(empty_database, tmp_path) == before
    # the database keeps working: new rows get fresh ids (sequences came back too)
    sql(empty_database, "INSERT INTO common.guild_ranks (name, level) VALUES ('Alt', 9)")

    # a second restore into the now full database is refused and changes nothing
    assert cli.main(["restore", str(dump)]) == 1
    assert "not empty" in capsys.readouterr().err
    assert sql(empty_database, "SELECT count(*) FROM common.guild_ranks WHERE name = 'Alt'") == [
        (1,)
    ]


def test_restore_that_does_not_match_the_side_file_is_reported_incomplete(
    demo_guild: str,
    empty_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dump = tmp_path / "b.dump"
    assert cli.main(["backup", "-o", str(dump)]) == 0
    side_file = tmp_path / "b.dump.json"
    side = json.loads(side_file.read_text())
    side["tables"]["common.guild_members"] += 1  # the backup claims one member more
    side_file.write_text(json.dumps(side))
    use_database(monkeypatch, tmp_path, empty_database)
    capsys.readouterr()
    assert cli.main(["restore", str(dump)]) == 1
    err = capsys.readouterr().err
    assert "INCOMPLETE" in err and "common.guild_members" in err


def test_restore_refuses_a_damaged_dump_or_a_missing_side_file(
    demo_guild: str,
    empty_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dump = tmp_path / "b.dump"
    assert cli.main(["backup", "-o", str(dump)]) == 0
    use_database(monkeypatch, tmp_path, empty_database)
    with open(dump, "r+b") as handle:
        handle.seek(200)
        handle.write(b"\x00\x01\x02")
    capsys.readouterr()
    assert cli.main(["restore", str(dump)]) == 1
    assert "does not match its side file" in capsys.readouterr().err
    (tmp_path / "b.dump.json").unlink()
    assert cli.main(["restore", str(dump)]) == 1
    assert "side file b.dump.json is missing" in capsys.readouterr().err
    assert sql(
        empty_database,
        "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    ) == [(0,)]


def test_backup_never_overwrites_a_file(
    demo_guild: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = tmp_path / "keep.dump"
    existing.write_bytes(b"precious")
    assert cli.main(["backup", "-o", str(existing)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert existing.read_bytes() == b"precious"
