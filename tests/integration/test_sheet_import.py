"""`patt import-sheets` (60 §10): the §10.9 fixture from JSON and CSV, idempotency, dry run,
fatal errors that write nothing, flags against existing data, and the 300-member benchmark."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import _psycopg_dsn, count_rows, make_settings

from patt import cli
from patt.cli import sheets as cli_sheets
from patt.config import Settings
from sv_common.guild_sync import sheet_import

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE = FIXTURES / "sheet_export.json"
CSV_DIR = FIXTURES / "sheet_csv"

EXPECTED_FLAGS = sorted(
    [
        ("missing_discord_name", "availability", 5),
        ("duplicate_character", "characters", 6),
        ("role_derived", "characters", 5),
        ("unknown_class", "characters", 8),
        ("missing_discord_name", "characters", 9),
        ("invalid_discord_id", "discordIds", None),
        ("missing_discord_id", "discordIds", None),
        ("missing_discord_id", "discordIds", None),
    ],
    key=repr,
)
SNAPSHOT_QUERIES = {
    "members": "SELECT id, discord_username, display_name, discord_id, rank_id, rank_source, "
    "on_raid_roster, updated_at FROM common.guild_members ORDER BY id",
    "availability": "SELECT member_id, day_of_week, available, notes, auto_signup, "
    "wants_reminders, updated_at FROM common.member_availability ORDER BY member_id, day_of_week",
    "characters": "SELECT id, member_id, name, realm_slug, realm_name, class, spec, role, "
    "main_alt, armory_url, origin, updated_at FROM common.characters ORDER BY id",
    "links": "SELECT id, member_id, character_id, discord_member_id, source, confidence, "
    "confirmed, confirmed_by, confirmed_at FROM guild_identity.identity_links ORDER BY id",
    "discord_members": "SELECT id, member_id, discord_id, username, is_present "
    "FROM guild_identity.discord_members ORDER BY id",
    "quotes": "SELECT id, quote FROM patt.mito_quotes ORDER BY id",
    "titles": "SELECT id, title FROM patt.mito_titles ORDER BY id",
}


@pytest.fixture
def import_settings(app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings the CLI reads: the test database and the default home realm."""
    settings = make_settings(tmp_path, database_url=app.state.database_url)
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    # migrated by the fixture
    monkeypatch.setattr(cli_sheets, "upgrade_database", lambda url: None)
    return settings


async def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run `patt …` in a worker thread (it has its own event loop); (exit code, out, err)."""
    capsys.readouterr()
    code = await asyncio.to_thread(cli.main, list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def rows(db: AsyncSession, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Fresh rows (the session may hold an older snapshot)."""
    await db.rollback()
    return [tuple(r) for r in (await db.execute(text(sql), params)).all()]


async def snapshot(db: AsyncSession) -> dict[str, list[tuple[Any, ...]]]:
    """Every table the import writes (sync_log aside), in full."""
    return {name: await rows(db, sql) for name, sql in SNAPSHOT_QUERIES.items()}


async def table_counts(db: AsyncSession) -> dict[str, int]:
    await db.rollback()
    return {
        table: await count_rows(db, table)
        for table in (
            "common.guild_members",
            "common.member_availability",
            "common.characters",
            "guild_identity.identity_links",
            "guild_identity.discord_members",
            "guild_identity.sync_log",
            "patt.mito_quotes",
            "patt.mito_titles",
        )
    }


def flag_keys(flags: list[dict[str, Any]]) -> list[tuple[str, str, int | None]]:
    return sorted(((f["code"], f["source"], f["row"]) for f in flags), key=repr)


async def assert_fixture_state(db: AsyncSession) -> None:
    """The §10.9 expectations after one import on an empty database."""
    members = await rows(
        db,
        "SELECT m.discord_username, m.display_name, m.discord_id, r.name, m.rank_source, "
        "m.on_raid_roster FROM common.guild_members m JOIN common.guild_ranks r ON r.id = "
        "m.rank_id ORDER BY m.discord_username",
    )
    assert members == [
        ("leafybug", "Leafybug", "100000000000000002", "Member", "manual", True),
        ("pewpewpat", "pewpewpat", None, "Member", "manual", True),
        ("stabbyrae", "stabbyrae", None, "Member", "manual", True),
        ("tankyhank", "tankyhank", "100000000000000001", "Member", "manual", True),
    ]
    week = await rows(
        db,
        "SELECT m.discord_username, string_agg(a.day_of_week, ',' ORDER BY a.day_of_week) "
        "FILTER (WHERE a.available), bool_or(a.auto_signup), bool_or(a.wants_reminders), "
        "max(a.notes), count(*), max(a.updated_at) FROM common.member_availability a "
        "JOIN common.guild_members m ON m.id = a.member_id GROUP BY m.discord_username "
        "ORDER BY m.discord_username",
    )
    assert [w[:6] for w in week] == [
        ("leafybug", "friday,monday,thursday", False, True, "Saturdays I coach little league", 7),
        ("pewpewpat", "friday,saturday,sunday", False, False, "Late on Fridays (work)", 7),
        ("tankyhank", "friday,saturday,thursday", True, False, "", 7),
    ]
    assert week[0][6].isoformat() == "2025-01-11T19:40:00+00:00"
    characters = await rows(
        db,
        "SELECT c.name, m.discord_username, c.realm_name, c.realm_slug, c.class, c.spec, c.role, "
        "c.main_alt, c.origin, c.armory_url FROM common.characters c JOIN common.guild_members m "
        "ON m.id = c.member_id ORDER BY c.name",
    )
    base = "https://worldofwarcraft.blizzard.com/en-us/character/us/senjin/"
    assert characters == [
        ("Arrowmancer", "pewpewpat", "Sen'jin", "senjin", "Hunter", "Survival", "melee_dps", "main", "sheet_import", base + "arrowmancer"),
        ("Leafybug", "leafybug", "Sen'jin", "senjin", "Druid", "Restoration", "healer", "main", "sheet_import", base + "leafybug"),
        ("Moonpie", "tankyhank", "Sen'jin", "senjin", "Druid", "Balance", "ranged_dps", "alt", "sheet_import", base + "moonpie"),
        ("Shieldwall", "tankyhank", "Sen'jin", "senjin", "Warrior", "Protection", "tank", "main", "sheet_import", base + "shieldwall"),
        ("Shivvy", "stabbyrae", "Sen'jin", "senjin", "Rogue", "Outlaw", "melee_dps", "main", "sheet_import", base + "shivvy"),
    ]  # fmt: skip
    links = await rows(
        db,
        "SELECT (character_id IS NOT NULL), source, confidence, confirmed, confirmed_by, "
        "count(*) FROM guild_identity.identity_links GROUP BY 1, 2, 3, 4, 5 ORDER BY 1",
    )
    assert links == [
        (False, "migrated_sheet", "high", True, "import", 2),
        (True, "migrated_sheet", "high", True, "import", 5),
    ]
    accounts = await rows(
        db,
        "SELECT d.discord_id, d.username, d.is_present, m.discord_username FROM "
        "guild_identity.discord_members d JOIN common.guild_members m ON m.id = d.member_id "
        "ORDER BY d.discord_id",
    )
    assert accounts == [
        ("100000000000000001", "tankyhank", False, "tankyhank"),
        ("100000000000000002", "Leafybug", False, "leafybug"),
    ]
    assert await rows(db, "SELECT quote FROM patt.mito_quotes ORDER BY id") == [
        ("Bubble first, ask questions never.",),
        ("Stand in the good stuff, not the fire.",),
    ]
    assert await rows(db, "SELECT title FROM patt.mito_titles ORDER BY id") == [
        ("Keeper of the Holy Light Switch",),
        ("Master of the Hearthstone",),
    ]
    # Invariant 85 §8.2: every linked entity's member matches its link.
    mismatched = await rows(
        db,
        "SELECT l.id FROM guild_identity.identity_links l LEFT JOIN common.characters c ON "
        "c.id = l.character_id LEFT JOIN guild_identity.discord_members d ON d.id = "
        "l.discord_member_id WHERE coalesce(c.member_id, d.member_id) <> l.member_id",
    )
    assert mismatched == []


# ------------------------------------------------------------------------- the fixture
async def test_json_fixture_import_gives_the_documented_result(
    import_settings: Settings, db: AsyncSession, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await run_cli(
        capsys, "import-sheets", "--json", str(FIXTURE), "--summary-json"
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["dryRun"] is False
    assert summary["input"] == {
        "availabilityRows": 4,
        "characterRows": 8,
        "discordIds": 3,
        "sheetIssues": 1,
        "quotes": 3,
        "titles": 2,
    }
    assert summary["members"] == {"created": 4, "updated": 0}
    assert summary["availability"] == {"members": 3, "rows": 21}
    assert summary["characters"] == {"created": 5, "updated": 0, "skipped": 2}
    assert summary["discordIds"] == {"set": 2, "unchanged": 0, "rejected": 1}
    assert summary["mito"] == {"quotesAdded": 2, "titlesAdded": 2, "skipped": 1}
    assert flag_keys(summary["flags"]) == EXPECTED_FLAGS
    names = {(f["code"], f["name"]) for f in summary["flags"]}
    assert ("duplicate_character", "Shieldwall") in names
    assert ("role_derived", "Arrowmancer") in names
    assert ("unknown_class", "Glowbert") in names
    assert ("invalid_discord_id", "pewpewpat") in names
    assert {n for c, n in names if c == "missing_discord_id"} == {"pewpewpat", "stabbyrae"}
    assert all(f["message"] for f in summary["flags"])
    assert summary["sheetIssues"] == [{"name": "stabbyrae", "status": "Pending ID", "hasId": False}]
    await assert_fixture_state(db)
    log = await rows(
        db,
        "SELECT source, status, characters_found, characters_new, characters_updated, "
        "triggered_by FROM guild_identity.sync_log",
    )
    assert log == [("sheet_import", "success", 5, 5, 0, "cli")]


async def test_text_summary_lists_counts_flags_and_sheet_issues(
    import_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await run_cli(capsys, "import-sheets", "--json", str(FIXTURE))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "PATT sheet import — source: sheet_export.json"
    for expected in (
        "Input:        4 availability rows, 8 character rows, 3 Discord IDs, 1 sheet issue, "
        "3 quotes, 2 titles",
        "Members:      4 created, 0 updated",
        "Availability: 3 members (21 day rows)",
        "Characters:   5 created, 0 updated, 2 skipped",
        "Discord IDs:  2 set, 0 unchanged, 1 rejected",
        "Mito:         2 quotes added, 2 titles added, 1 skipped (duplicate/empty)",
        "Flags (8):",
        "  [missing_discord_name] availability row 5: no Discord name — row skipped",
        "Sheet issues (informational): stabbyrae — Pending ID",
    ):
        assert expected in lines
    assert lines[-1].startswith("Next: review the flags")


async def test_second_run_changes_nothing_and_reports_the_same_flags(
    import_settings: Settings, db: AsyncSession, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await run_cli(capsys, "import-sheets", "--json", str(FIXTURE), "--summary-json")
    assert code == 0
    first = json.loads(out)
    before = await snapshot(db)
    counts_before = await table_counts(db)

    code, out, _ = await run_cli(capsys, "import-sheets", "--json", str(FIXTURE), "--summary-json")
    assert code == 0
    second = json.loads(out)
    assert second["members"] == {"created": 0, "updated": 4}
    assert second["characters"] == {"created": 0, "updated": 5, "skipped": 2}
    assert second["discordIds"] == {"set": 0, "unchanged": 2, "rejected": 1}
    assert second["mito"] == {"quotesAdded": 0, "titlesAdded": 0, "skipped": 5}
    assert flag_keys(second["flags"]) == flag_keys(first["flags"]) == EXPECTED_FLAGS
    assert await snapshot(db) == before
    counts_after = await table_counts(db)
    assert counts_after.pop("guild_identity.sync_log") == 2
    counts_before.pop("guild_identity.sync_log")
    assert counts_after == counts_before


async def test_dry_run_writes_nothing(
    import_settings: Settings, db: AsyncSession, capsys: pytest.CaptureFixture[str]
) -> None:
    before = await table_counts(db)
    code, out, _ = await run_cli(capsys, "import-sheets", "--json", str(FIXTURE), "--dry-run")
    assert code == 0
    assert "DRY RUN — nothing written" in out
    assert "Members:      4 created, 0 updated" in out
    assert await table_counts(db) == before
    code, out, _ = await run_cli(
        capsys, "import-sheets", "--json", str(FIXTURE), "--dry-run", "--summary-json"
    )
    assert json.loads(out)["dryRun"] is True
    assert await table_counts(db) == before


# ------------------------------------------------------------------------- CSV exports
async def test_csv_exports_give_the_same_result(
    import_settings: Settings, db: AsyncSession, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await run_cli(capsys, "import-sheets", "--csv", str(CSV_DIR), "--summary-json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["members"] == {"created": 4, "updated": 0}
    assert summary["characters"] == {"created": 5, "updated": 0, "skipped": 2}
    assert summary["discordIds"] == {"set": 2, "unchanged": 0, "rejected": 1}
    assert summary["mito"] == {"quotesAdded": 2, "titlesAdded": 2, "skipped": 1}
    assert flag_keys(summary["flags"]) == EXPECTED_FLAGS
    rejected = [f for f in summary["flags"] if f["code"] == "invalid_discord_id"]
    assert "1.00E+17" in rejected[0]["message"]
    assert summary["sheetIssues"] == [{"name": "stabbyrae", "status": "Pending ID", "hasId": False}]
    await assert_fixture_state(db)


async def test_characters_and_discord_id_files_alone(
    import_settings: Settings, db: AsyncSession, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await run_cli(
        capsys,
        "import-sheets",
        "--characters",
        str(CSV_DIR / "PATT Roster - Characters.csv"),
        "--discord-ids",
        str(CSV_DIR / "PATT Roster - DiscordIDs.csv"),
        "--summary-json",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["characters"]["created"] == 5
    assert summary["availability"] == {"members": 0, "rows": 0}
    assert "Availability" in summary["missingTabs"]
    assert await count_rows(db, "common.member_availability") == 0
    assert await rows(
        db,
        "SELECT discord_username FROM common.guild_members WHERE discord_id IS NOT NULL ORDER BY 1",
    ) == [("leafybug",), ("tankyhank",)]


async def test_missing_tab_files_are_noted(
    import_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    shutil.copy(CSV_DIR / "PATT Roster - Characters.csv", folder / "roster - characters.CSV")
    code, out, err = await run_cli(capsys, "import-sheets", "--csv", str(folder))
    assert code == 0, err
    assert "Missing tabs: Availability, DiscordIDs, MitoQuotes, MitoTitles" in out


# ------------------------------------------------------------------ errors write nothing
@pytest.mark.parametrize(
    "content, message",
    [
        ('{"success": true, "availability": [{"discord": "tankyhank"', "not valid JSON"),
        ('{"success": false, "error": "Exception: sheet locked"}', "sheet locked"),
        ('{"success": true, "characters": {"discord": "x"}}', "'characters' must be a list"),
        ('["not", "an", "object"]', "must be a JSON object"),
        ('{"success": true, "mitoQuotes": ["ok"]}', "neither 'availability' nor 'characters'"),
        ('{"success": true, "characters": [], "discordIds": ["x"]}', "'discordIds' must be"),
    ],
    ids=["truncated", "success-false", "wrong-shape", "not-object", "no-tabs", "bad-ids"],
)
async def test_bad_exports_exit_1_and_write_nothing(
    import_settings: Settings,
    db: AsyncSession,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    message: str,
) -> None:
    before = await table_counts(db)
    path = tmp_path / "export.json"
    path.write_text(content, encoding="utf-8")
    code, out, err = await run_cli(capsys, "import-sheets", "--json", str(path))
    assert code == 1
    assert message in err and "Traceback" not in err
    assert await table_counts(db) == before


async def test_usage_errors_exit_2(
    import_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = await run_cli(capsys, "import-sheets")
    assert code == 2 and "GOOGLE_APPS_SCRIPT_URL" in err
    code, _, err = await run_cli(capsys, "import-sheets", "--discord-ids", "x.csv")
    assert code == 2 and "--characters" in err
    code, _, err = await run_cli(capsys, "import-sheets", "--csv", str(tmp_path))
    assert code == 2 and "Availability.csv" in err
    code, _, err = await run_cli(capsys, "import-sheets", "--json", str(tmp_path / "nope.json"))
    assert code == 2 and "cannot read" in err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["import-sheets", "--json", "a.json", "--csv", "dir"])
    assert exit_info.value.code == 2


async def test_url_source_uses_the_fetched_export(
    import_settings: Settings,
    db: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fetched: list[str] = []

    def fake_fetch(url: str, **_: Any) -> bytes:
        fetched.append(url)
        return FIXTURE.read_bytes()

    monkeypatch.setattr(sheet_import, "fetch_export", fake_fetch)
    import_settings.google_apps_script_url = "https://script.example/exec"
    code, _, err = await run_cli(capsys, "import-sheets")
    assert code == 0, err
    assert fetched == ["https://script.example/exec"]
    await assert_fixture_state(db)


async def test_unknown_default_rank_exits_1_and_writes_nothing(
    import_settings: Settings, db: AsyncSession, capsys: pytest.CaptureFixture[str]
) -> None:
    before = await table_counts(db)
    code, _, err = await run_cli(
        capsys, "import-sheets", "--json", str(FIXTURE), "--default-rank", "Raider"
    )
    assert code == 1 and "Raider" in err
    after = await table_counts(db)
    assert after.pop("guild_identity.sync_log") == 1  # the failed run is logged
    before.pop("guild_identity.sync_log")
    assert after == before
    log = await rows(db, "SELECT status, error_message FROM guild_identity.sync_log")
    assert log[0][0] == "error" and "Raider" in log[0][1]


async def test_default_rank_option(
    import_settings: Settings, db: AsyncSession, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = await run_cli(
        capsys, "import-sheets", "--json", str(FIXTURE), "--default-rank", "veteran"
    )
    assert code == 0
    assert await rows(
        db,
        "SELECT DISTINCT r.name FROM common.guild_members m JOIN common.guild_ranks r "
        "ON r.id = m.rank_id",
    ) == [("Veteran",)]


async def test_a_running_import_blocks_a_second_one(
    import_settings: Settings, db: AsyncSession, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(_psycopg_dsn(import_settings.database_url or "")) as other:
        other.execute("SELECT pg_advisory_lock(1346458708, 6)")
        code, _, err = await run_cli(capsys, "import-sheets", "--json", str(FIXTURE))
    assert code == 1 and "Another sheet import is running" in err
    assert await count_rows(db, "common.guild_members") == 0


# ------------------------------------------------------------- existing data and flags
async def test_existing_data_is_linked_or_flagged_never_taken(
    import_settings: Settings,
    app: Any,
    db: AsyncSession,
    factory: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    owner = await factory.member(level=3, username="someoneelse", registered=False)
    keeper = await factory.member(
        level=4, username="tankyhank", registered=False, discord_id="100000000000000009"
    )
    holder = await factory.member(
        level=2, username="idholder", registered=False, discord_id="100000000000000002"
    )
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO common.characters (name, realm_slug, realm_name, class, main_alt, "
                "origin, member_id, blizzard_last_sync) VALUES "
                "('Leafybug', 'senjin', 'Sen''jin', 'Druid', 'main', 'blizzard_sync', NULL, now()),"
                "('Arrowmancer', 'senjin', 'Sen''jin', 'Hunter', 'main', 'manual', :owner, NULL),"
                "('Shivvy', 'area-52', 'Area 52', 'Monk', 'alt', 'blizzard_sync', NULL, now())"
            ),
            {"owner": owner.id},
        )
    code, out, err = await run_cli(
        capsys, "import-sheets", "--json", str(FIXTURE), "--summary-json"
    )
    assert code == 0, err
    summary = json.loads(out)
    codes = {(f["code"], f["name"]) for f in summary["flags"]}
    assert ("character_owned_by_other_member", "Arrowmancer") in codes
    assert ("class_mismatch", "Shivvy") in codes
    assert ("discord_id_conflict", "tankyhank") in codes  # keeps its own different ID
    # Leafybug's sheet ID belongs to idholder: the ID identifies the person (step 1).
    assert summary["members"] == {"created": 2, "updated": 2}
    chars = {
        r[0]: r[1:]
        for r in await rows(
            db,
            "SELECT c.name, m.discord_username, c.realm_slug, c.class, c.origin FROM "
            "common.characters c LEFT JOIN common.guild_members m ON m.id = c.member_id",
        )
    }
    assert chars["Leafybug"] == ("idholder", "senjin", "Druid", "blizzard_sync")  # orphan linked
    assert chars["Arrowmancer"] == ("someoneelse", "senjin", "Hunter", "manual")  # not moved
    assert chars["Shivvy"] == ("stabbyrae", "area-52", "Monk", "blizzard_sync")  # only realm
    ids = dict(await rows(db, "SELECT discord_username, discord_id FROM common.guild_members"))
    assert ids["tankyhank"] == "100000000000000009"
    assert ids["idholder"] == "100000000000000002"
    assert "leafybug" not in ids
    notes = await rows(
        db,
        "SELECT DISTINCT notes FROM common.member_availability WHERE member_id = :id",
        id=holder.id,
    )
    assert notes == [("Saturdays I coach little league",)]
    rank = await rows(
        db,
        "SELECT r.level, m.display_name FROM common.guild_members m JOIN common.guild_ranks r "
        "ON r.id = m.rank_id WHERE m.id = :id",
        id=keeper.id,
    )
    assert rank == [(4, "Tankyhank")]  # an existing member keeps rank and display name


async def test_an_id_already_held_by_another_member_is_not_moved(
    import_settings: Settings,
    db: AsyncSession,
    factory: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await factory.member(level=2, username="first", registered=False)
    export = {
        "success": True,
        "availability": [],
        "characters": [
            {"discord": "first", "character": "Alpha", "class": "Mage", "spec": "Fire",
             "role": "Ranged", "mainAlt": "Main"},
            {"discord": "second", "character": "Beta", "class": "Mage", "spec": "Fire",
             "role": "Ranged", "mainAlt": "Main"},
            {"discord": "second", "character": "Gamma", "class": "Priest", "spec": "Holy",
             "role": "", "mainAlt": "Main"},
            {"discord": "third", "character": "Beta", "class": "Mage", "spec": "Fire",
             "role": "Ranged", "mainAlt": "Main"},
        ],
        "discordIds": {"first": "100000000000000042", "second": "100000000000000042",
                       "ghost": "100000000000000043"},
    }  # fmt: skip
    path = tmp_path / "ids.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    code, out, err = await run_cli(capsys, "import-sheets", "--json", str(path), "--summary-json")
    assert code == 0, err
    summary = json.loads(out)
    codes = sorted((f["code"], f["name"]) for f in summary["flags"])
    assert codes == [
        ("character_conflict", "Beta"),
        ("discord_id_conflict", "second"),
        ("missing_discord_id", "second"),
        ("missing_discord_id", "third"),
        ("multiple_mains", "Gamma"),
        ("unmatched_discord_id", "ghost"),
    ]
    assert summary["discordIds"] == {"set": 1, "unchanged": 0, "rejected": 1}
    owners = dict(
        await rows(
            db,
            "SELECT c.name || ':' || c.main_alt, m.discord_username FROM common.characters c "
            "JOIN common.guild_members m ON m.id = c.member_id",
        )
    )
    assert owners == {"Alpha:main": "first", "Beta:alt": "second", "Gamma:main": "second"}
    assert await rows(
        db, "SELECT discord_username FROM common.guild_members WHERE discord_id IS NOT NULL"
    ) == [("first",)]


# -------------------------------------------------------------------------- benchmark
def big_export(members: int = 300) -> dict[str, Any]:
    classes_cycle = [
        ("Warrior", "Protection", "Tank"),
        ("Druid", "Restoration", "Healer"),
        ("Rogue", "Outlaw", "Melee"),
        ("Mage", "Frost", "Ranged"),
    ]
    availability, characters, ids = [], [], {}
    letters = "abcdefghijklmnopqrstuvwxyz"
    for index in range(members):
        name = f"raider{index:03d}"
        availability.append(
            {
                "discord": name,
                **{
                    d: index % (k + 2) == 0
                    for k, d in enumerate(
                        [
                            "monday",
                            "tuesday",
                            "wednesday",
                            "thursday",
                            "friday",
                            "saturday",
                            "sunday",
                        ]
                    )
                },
                "autoSignup": index % 2 == 0,
                "wantsReminders": "FALSE",
                "notes": f"note {index}",
                "updated": "2025-01-10T02:15:00.000Z",
            }
        )
        for alt in range(3):
            wow_class, spec, role = classes_cycle[(index + alt) % 4]
            char_name = "Char" + letters[index // 26 % 26] + letters[index % 26] + letters[alt]
            characters.append(
                {
                    "discord": name,
                    "character": char_name,
                    "class": wow_class,
                    "spec": spec,
                    "role": role,
                    "mainAlt": "Main" if alt == 0 else "Alt",
                }
            )
        ids[name] = str(100000000000000000 + index + 1)
    return {"success": True, "availability": availability, "characters": characters,
            "discordIds": ids, "validationIssues": [], "mitoQuotes": [], "mitoTitles": []}  # fmt: skip


async def test_a_300_member_sheet_imports_quickly(
    import_settings: Settings, db: AsyncSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "big.json"
    path.write_text(json.dumps(big_export()), encoding="utf-8")
    started = time.monotonic()
    code, out, err = await run_cli(capsys, "import-sheets", "--json", str(path), "--summary-json")
    elapsed = time.monotonic() - started
    assert code == 0, err
    summary = json.loads(out)
    assert summary["members"]["created"] == 300
    assert summary["characters"]["created"] == 900
    assert summary["discordIds"]["set"] == 300
    assert await count_rows(db, "common.member_availability") == 2100
    assert elapsed < 5, f"import took {elapsed:.1f} s"


async def test_reimport_with_a_changed_day_stores_the_sheet_updated_date(
    import_settings: Settings,
    db: AsyncSession,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    code, _, _ = await run_cli(capsys, "import-sheets", "--json", str(FIXTURE))
    assert code == 0
    export = json.loads(FIXTURE.read_text())
    export["availability"][0]["monday"] = True
    export["availability"][0]["updated"] = "2025-02-01T12:00:00.000Z"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(export))
    code, _, _ = await run_cli(capsys, "import-sheets", "--json", str(changed))
    assert code == 0
    monday = await rows(
        db,
        "SELECT a.available, a.updated_at FROM common.member_availability a "
        "JOIN common.guild_members m ON m.id = a.member_id "
        "WHERE m.discord_username = 'tankyhank' AND a.day_of_week = 'monday'",
    )
    assert monday[0][0] is True
    assert monday[0][1].isoformat() == "2025-02-01T12:00:00+00:00"
