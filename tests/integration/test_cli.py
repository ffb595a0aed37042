"""The `patt` command line: help everywhere, exit codes, seed idempotency, create-admin."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.conftest import _psycopg_dsn

from patt import cli
from patt.config import Settings
from sv_common.db.models import ALL_TABLES

COMMANDS = [
    [],
    ["serve"],
    ["db"],
    ["db", "upgrade"],
    ["db", "current"],
    ["db", "status"],
    ["db", "stop"],
    ["seed"],
    ["backup"],
    ["restore"],
    ["doctor"],
    ["create-admin"],
    ["demo"],
]


@pytest.mark.parametrize("words", COMMANDS, ids=lambda w: " ".join(w) or "patt")
def test_every_command_has_help(words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*words, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: patt" in out


def test_unknown_command_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["frobnicate"])
    assert exit_info.value.code == 2


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "serve" in capsys.readouterr().out


@pytest.fixture
def cli_settings(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        patt_data_dir=tmp_path,  # type: ignore[call-arg]
        app_env="testing",
        jwt_secret_key="cli-tests-secret-0123456789abcdef0123456789",
    )
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    return settings


def sql(url: str, query: str) -> list[tuple[Any, ...]]:
    """Run one statement synchronously (the CLI runs its own event loop, so these tests are sync)."""
    with psycopg.connect(_psycopg_dsn(url), autocommit=True) as conn:
        cursor = conn.execute(query)
        return list(cursor.fetchall()) if cursor.description else []


@pytest.fixture
def clean_db(database_url: str) -> str:
    """Empty tables with the default ranks, like the `app` fixture but without an event loop."""
    sql(database_url, f"TRUNCATE {', '.join(ALL_TABLES)} RESTART IDENTITY CASCADE")
    assert cli.main(["seed"]) == 0
    return database_url


def members(url: str) -> list[tuple[Any, ...]]:
    return sql(
        url,
        "SELECT m.discord_username, r.level, m.user_id IS NOT NULL FROM common.guild_members m "
        "JOIN common.guild_ranks r ON r.id = m.rank_id ORDER BY m.id",
    )


def test_seed_is_idempotent_and_keeps_edits(
    cli_settings: Settings, clean_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sql(clean_db, "UPDATE common.guild_ranks SET name = 'Raider' WHERE level = 2")
    capsys.readouterr()
    assert cli.main(["seed"]) == 0
    assert "nothing changed" in capsys.readouterr().out
    names = [row[0] for row in sql(clean_db, "SELECT name FROM common.guild_ranks ORDER BY level")]
    assert names == ["Initiate", "Raider", "Veteran", "Officer", "Guild Leader"]


def test_create_admin_then_refuses_second_time_without_reset(
    cli_settings: Settings,
    clean_db: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-strong-password\n"))
    code = cli.main(
        [
            "create-admin",
            "--discord-username",
            "Stonehoof",
            "--display-name",
            "Stone",
            "--password-stdin",
        ]
    )
    assert code == 0
    assert "Created Guild Leader Stone" in capsys.readouterr().out
    assert members(clean_db) == [("Stonehoof", 5, True)]

    monkeypatch.setattr(sys, "stdin", io.StringIO("another-password\n"))
    assert cli.main(["create-admin", "--discord-username", "stonehoof", "--password-stdin"]) == 1
    assert "already registered" in capsys.readouterr().err

    monkeypatch.setattr(sys, "stdin", io.StringIO("another-password\n"))
    assert (
        cli.main(
            [
                "create-admin",
                "--discord-username",
                "stonehoof",
                "--password-stdin",
                "--reset-password",
            ]
        )
        == 0
    )


def test_create_admin_rejects_short_password_and_writes_nothing(
    cli_settings: Settings,
    clean_db: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert cli.main(["create-admin", "--discord-username", "gm", "--password-stdin"]) == 1
    assert "at least 8 characters" in capsys.readouterr().err
    assert members(clean_db) == []


def test_db_current_reports_head(
    cli_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["db", "current"]) == 0
    out = capsys.readouterr().out
    assert "current:" in out and "upgrade needed" not in out


def test_production_without_secret_refuses_to_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(
        _env_file=None,
        app_env="production",
        patt_data_dir=tmp_path,  # type: ignore[call-arg]
        public_base_url="http://insecure.example",
    )
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    assert cli.main(["serve"]) == 1
    err = capsys.readouterr().err
    assert "JWT_SECRET_KEY" in err and "https://" in err
