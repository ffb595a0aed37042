"""`patt sync blizzard | match | integrity` (80 §9.3, decision 12): output and exit codes — 0
success, 1 error, 3 already running, 4 not configured, 5 partial — with the real Blizzard client
talking HTTP to the fake Blizzard server on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.conftest import _psycopg_dsn

from patt import cli
from patt.config import Settings
from sv_common.db import locks
from sv_common.db.models import ALL_TABLES
from sv_common.guild_sync.fake_blizzard import (
    FakeBlizzard,
    FakeBlizzardServer,
    RosterMode,
    generate_guild,
)

STEPS = ("blizzard", "match", "integrity", "discord", "report")


def sql(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """One statement on its own connection (the CLI runs its own event loop: these tests are
    synchronous)."""
    with psycopg.connect(_psycopg_dsn(url), autocommit=True) as conn:
        cursor = conn.execute(query, params)
        return list(cursor.fetchall()) if cursor.description else []


@pytest.fixture
def clean_db(database_url: str) -> str:
    sql(database_url, f"TRUNCATE {', '.join(ALL_TABLES)} RESTART IDENTITY CASCADE")
    return database_url


@pytest.fixture
def fake() -> Iterator[FakeBlizzard]:
    """The example guild (Aldrameth, Zoëlle) served over HTTP."""
    blizzard = FakeBlizzard()
    with FakeBlizzardServer(blizzard) as server:
        blizzard.server = server  # type: ignore[attr-defined]
        yield blizzard


def use_settings(
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    tmp_path: Path,
    fake: FakeBlizzard | None,
    **overrides: Any,
) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "patt_data_dir": tmp_path,
        "app_env": "testing",
        "jwt_secret_key": "sync-cli-tests-secret-0123456789abcdef0123456789",
        "scheduler_enabled": False,
        "discord_backend": "null",
    }
    if fake is not None:
        server: FakeBlizzardServer = fake.server  # type: ignore[attr-defined]
        values.update(
            blizzard_client_id=fake.client_id,
            blizzard_client_secret=fake.client_secret,
            blizzard_api_base_url=server.url,
            blizzard_oauth_url=server.oauth_url,
        )
    values.update(overrides)
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    return settings


def blizzard_rows(url: str) -> list[tuple[Any, ...]]:
    return sql(
        url,
        "SELECT status, characters_found, characters_new, characters_removed, error_message, "
        "triggered_by FROM guild_identity.sync_log WHERE source = 'blizzard_api' ORDER BY id",
    )


def removed(url: str) -> int:
    return int(
        sql(url, "SELECT count(*) FROM common.characters WHERE removed_at IS NOT NULL")[0][0]
    )


# ------------------------------------------------------------------------------------ help
def test_sync_help_lists_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["sync", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for step in STEPS:
        assert f"    {step}" in out, step
    assert "3 already running, 4 not configured" in out
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["sync", "blizzard", "--help"])
    assert exit_info.value.code == 0
    assert "--force-removals" in capsys.readouterr().out


def test_unknown_step_or_flag_is_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    for words in (["sync", "everything"], ["sync", "blizzard", "--bogus"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(words)
        assert exit_info.value.code == 2, words
    assert cli.main(["sync"]) == 2  # no step: the help, as bad usage


# -------------------------------------------------------------------------- patt sync blizzard
def test_blizzard_without_credentials_exits_4_and_writes_nothing(
    clean_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_settings(monkeypatch, clean_db, tmp_path, None)
    assert cli.main(["sync", "blizzard"]) == 4
    err = capsys.readouterr().err
    assert "BLIZZARD_CLIENT_ID" in err and "BLIZZARD_CLIENT_SECRET" in err
    assert blizzard_rows(clean_db) == []


def test_blizzard_success_prints_progress_and_a_summary(
    clean_db: str,
    tmp_path: Path,
    fake: FakeBlizzard,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_settings(monkeypatch, clean_db, tmp_path, fake)
    assert cli.main(["sync", "blizzard"]) == 0
    captured = capsys.readouterr()
    # progress on stderr, results on stdout
    assert "Fetching the guild roster and character profiles from Blizzard" in captured.err
    lines = captured.out.splitlines()
    assert "Blizzard roster: found 2, new 2, updated 0, unchanged 0, removed 0, rejoined 0" in lines
    assert "Profiles: ok 2, missing 0, failed 0; requests 3" in lines
    assert any(line.startswith("Matching: ") for line in lines)
    assert any(line.startswith("Integrity: ") for line in lines)
    assert lines[-1] == "Blizzard sync finished (success)."
    assert blizzard_rows(clean_db) == [("success", 2, 2, 0, None, "cli")]
    names = sql(clean_db, "SELECT name, realm_slug FROM common.characters ORDER BY name")
    assert names == [("Aldrameth", "senjin"), ("Zoëlle", "bleeding-hollow")]
    assert fake.token_requests == 1 and fake.requests == 3

    # a second run changes nothing
    assert cli.main(["sync", "blizzard"]) == 0
    assert "found 2, new 0, updated 0, unchanged 2" in capsys.readouterr().out


def test_blizzard_exits_3_while_another_sync_holds_the_lock(
    clean_db: str,
    tmp_path: Path,
    fake: FakeBlizzard,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_settings(monkeypatch, clean_db, tmp_path, fake)
    # another process (this connection) is running a Blizzard sync
    with psycopg.connect(_psycopg_dsn(clean_db), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", (locks.NAMESPACE, locks.BLIZZARD_SYNC))
        assert cli.main(["sync", "blizzard"]) == 3
    assert "error: A Blizzard sync is already running." in capsys.readouterr().out
    assert blizzard_rows(clean_db) == []
    assert fake.requests == 0
    assert cli.main(["sync", "blizzard"]) == 0  # the lock went with the other connection


def test_blizzard_with_a_missing_guild_exits_1_and_removes_nobody(
    clean_db: str,
    tmp_path: Path,
    fake: FakeBlizzard,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_settings(monkeypatch, clean_db, tmp_path, fake)
    assert cli.main(["sync", "blizzard"]) == 0
    fake.roster_mode = RosterMode.NOT_FOUND
    capsys.readouterr()
    assert cli.main(["sync", "blizzard"]) == 1
    err = capsys.readouterr().err
    assert "error: Blizzard sync failed: guild not found: senjin/pull-all-the-things" in err
    assert blizzard_rows(clean_db)[-1][0] == "error"
    assert removed(clean_db) == 0


def test_blizzard_with_a_shrunken_roster_exits_5_and_force_removals_removes(
    clean_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    guild = generate_guild(12, seed=5, not_found_fraction=0)
    fake = FakeBlizzard(roster=guild.roster, profiles=guild.profiles)
    with FakeBlizzardServer(fake) as server:
        fake.server = server  # type: ignore[attr-defined]
        use_settings(monkeypatch, clean_db, tmp_path, fake)
        assert cli.main(["sync", "blizzard"]) == 0
        fake.roster_mode, fake.shrink_to = RosterMode.SHRUNK, 4
        capsys.readouterr()
        assert cli.main(["sync", "blizzard"]) == 5
        out = capsys.readouterr().out
        assert "Partial: roster shrank from 12 to 4; removals skipped" in out
        assert removed(clean_db) == 0
        assert blizzard_rows(clean_db)[-1][:4] == ("partial", 4, 0, 0)

        assert cli.main(["sync", "blizzard", "--force-removals"]) == 0
        assert "removed 8" in capsys.readouterr().out
    assert removed(clean_db) == 8
    assert blizzard_rows(clean_db)[-1][:4] == ("success", 4, 0, 8)


# ------------------------------------------------------------------ patt sync match / integrity
def test_match_and_integrity_print_their_summaries(
    clean_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_settings(monkeypatch, clean_db, tmp_path, None)
    assert cli.main(["seed"]) == 0
    sql(
        clean_db,
        "INSERT INTO common.guild_members (display_name, discord_username, rank_id, rank_source) "
        "SELECT 'Stonehoof', 'stonehoof', id, 'manual' FROM common.guild_ranks WHERE level = 2",
    )
    sql(
        clean_db,
        "INSERT INTO common.characters (name, realm_slug, officer_note, game_rank, origin, "
        "main_alt) VALUES ('Aldrameth', 'senjin', 'Discord: stonehoof', 0, 'addon', 'alt'), "
        "('Lonely', 'senjin', NULL, 3, 'addon', 'alt')",
    )
    capsys.readouterr()

    assert cli.main(["sync", "match"]) == 0
    captured = capsys.readouterr()
    assert "Matching…" in captured.err
    assert "Discord is not configured: the audit report is skipped." in captured.err
    lines = captured.out.splitlines()
    [matching] = [line for line in lines if line.startswith("Matching: ")]
    assert "officer_note 1" in matching and "unmatched 1" in matching
    [integrity] = [line for line in lines if line.startswith("Integrity: ")]
    assert "orphan_wow 1" in integrity
    assert lines[-1] == "Done."
    owner = sql(clean_db, "SELECT m.display_name FROM common.characters c JOIN "
                "common.guild_members m ON m.id = c.member_id WHERE c.name = 'Aldrameth'")  # fmt: skip
    assert owner == [("Stonehoof",)]

    assert cli.main(["sync", "integrity"]) == 0
    captured = capsys.readouterr()
    assert "Checking integrity…" in captured.err
    lines = captured.out.splitlines()
    assert not any(line.startswith("Matching: ") for line in lines)
    [integrity] = [line for line in lines if line.startswith("Integrity: ")]
    assert integrity.startswith("Integrity: ") and lines[-1] == "Done."
    open_orphans = sql(
        clean_db,
        "SELECT count(*) FROM guild_identity.audit_issues "
        "WHERE issue_type = 'orphan_wow' AND resolved_at IS NULL",
    )
    assert open_orphans == [(1,)]  # the second run kept the one issue, no duplicate


def test_match_exits_3_while_a_pipeline_runs(
    clean_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_settings(monkeypatch, clean_db, tmp_path, None)
    with psycopg.connect(_psycopg_dsn(clean_db), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", (locks.NAMESPACE, locks.PIPELINE))
        assert cli.main(["sync", "match"]) == 3
        assert cli.main(["sync", "integrity"]) == 3
    assert capsys.readouterr().out.count("error: The pipeline is already running.") == 2
