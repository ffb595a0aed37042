"""The pure half of the sheet import (60 §10.2–§10.7): input rules, loading JSON and CSV,
planning with flags, fetching a URL, and the text summary."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from sv_common.guild_sync.sheet_import import (
    Flag,
    ImportSummary,
    SheetExport,
    SheetImportError,
    SheetUsageError,
    cell_text,
    fetch_export,
    format_summary,
    load_csv_dir,
    load_csv_files,
    load_json_export,
    parse_sheet_bool,
    parse_sheet_date,
    parse_snowflake,
    plan_import,
)
from sv_common.identity import realms
from sv_common.identity.names import normalise_character_name, normalise_discord_name

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sheet_export.json"
EASTERN = ZoneInfo("America/New_York")


def character(**values: Any) -> dict[str, Any]:
    row = {"discord": "tester", "character": "Testy", "class": "Mage", "spec": "Fire",
           "role": "Ranged", "mainAlt": "Main"}  # fmt: skip
    row.update(values)
    return row


def plan_characters(*rows: dict[str, Any]) -> Any:
    return plan_import(SheetExport(source="t", characters=list(rows)))


# ------------------------------------------------------------------------- input rules
@pytest.mark.parametrize(
    "raw, stored",
    [
        ("leafybug", "leafybug"),
        ("  LeafyBug ", "leafybug"),
        ("@leafy.bug_2", "leafy.bug_2"),
        ("Old Timer#0042", "Old Timer#0042"),
        ("Leafy Bug", None),
        ("a", None),
        ("x" * 33, None),
        ("name#123", None),
        ("name#12345", None),
        ("ünïcode", None),
        ("\u212aelvin", None),  # the Kelvin sign lower-cases to "k": not a username
        ("", None),
    ],
)
def test_discord_names(raw: str, stored: str | None) -> None:
    assert normalise_discord_name(raw) == stored


@pytest.mark.parametrize(
    "raw, stored",
    [
        ("moonpie ", "Moonpie"),
        ("SHIELDWALL", "Shieldwall"),
        ("zoe\u0308lle", "Zoëlle"),
        ("Ab", "Ab"),
        ("A", None),
        ("Abcdefghijklm", None),
        ("Shiv vy", None),
        ("Shivvy2", None),
        ("O'Neil", None),
    ],
)
def test_character_names(raw: str, stored: str | None) -> None:
    assert normalise_character_name(raw) == stored


@pytest.mark.parametrize(
    "value, expected",
    [
        (True, (True, True)),
        (False, (False, True)),
        ("TRUE", (True, True)),
        (" true ", (True, True)),
        ("false", (False, True)),
        ("Yes", (True, True)),
        ("no", (False, True)),
        ("", (False, True)),
        (None, (False, True)),
        (1, (True, True)),
        (0, (False, True)),
        ("1", (True, True)),
        ("maybe", (False, False)),
        (2, (False, False)),
        ([], (False, False)),
    ],
)
def test_sheet_booleans(value: Any, expected: tuple[bool, bool]) -> None:
    assert parse_sheet_bool(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("100000000000000001", "100000000000000001"),
        (" 100000000000000001 ", "100000000000000001"),
        ("12345678901234567890", "12345678901234567890"),
        ("1234567890123456", None),  # 16 digits
        ("123456789012345678901", None),  # 21 digits
        ("1.00E+17", None),
        (100000000000000000, None),  # above 2^53: already lost precision
        (9007199254740991, None),  # exact, but only 16 digits
        (True, None),
        (1.0e17, None),
        (None, None),
    ],
)
def test_snowflakes(value: Any, expected: str | None) -> None:
    assert parse_snowflake(value) == expected


def test_cell_text() -> None:
    assert cell_text("  x ") == "x"
    assert cell_text(None) == ""
    assert cell_text(3.0) == "3"
    assert cell_text(True) == "TRUE"


def test_armory_url_uses_the_slug_without_apostrophe() -> None:
    slug = realms.realm_slug("Sen'jin")
    assert slug == "senjin"
    assert realms.armory_url("Moonpie", slug) == (
        "https://worldofwarcraft.blizzard.com/en-us/character/us/senjin/moonpie"
    )


def test_sheet_dates() -> None:
    assert parse_sheet_date("2025-01-10T02:15:00.000Z", EASTERN) == datetime(
        2025, 1, 10, 2, 15, tzinfo=UTC
    )
    assert parse_sheet_date("1/9/2025 21:15:00", EASTERN) == datetime(
        2025, 1, 10, 2, 15, tzinfo=UTC
    )
    assert parse_sheet_date("7/4/2025 12:00:00", EASTERN) == datetime(2025, 7, 4, 16, 0, tzinfo=UTC)
    assert parse_sheet_date("next tuesday", EASTERN) is None
    assert parse_sheet_date("", EASTERN) is None
    assert parse_sheet_date(45678, EASTERN) is None


# ---------------------------------------------------------------------- normalisation
@pytest.mark.parametrize(
    "values, role, flags",
    [
        ({"role": "Tank", "class": "Warrior", "spec": "Protection"}, "tank", []),
        ({"role": "  Melee  ", "class": "Rogue", "spec": "Outlaw"}, "melee_dps", []),
        ({"role": "melee_dps", "class": "Rogue", "spec": "Outlaw"}, "melee_dps", []),
        ({"role": "DPS", "class": "Hunter", "spec": "Survival"}, "melee_dps", ["role_derived"]),
        ({"role": "DPS", "class": "Mage", "spec": "Fire"}, "ranged_dps", ["role_derived"]),
        ({"role": "", "class": "Druid", "spec": "Restoration"}, "healer", []),
        ({"role": "Bard", "class": "Paladin", "spec": "Protection"}, "tank", ["unknown_role"]),
        ({"role": "DPS", "class": "Warrior", "spec": "Gladiator"}, "ranged_dps",
         ["unknown_spec", "role_derived"]),
    ],
)  # fmt: skip
def test_roles(values: dict[str, Any], role: str, flags: list[str]) -> None:
    plan = plan_characters(character(**values))
    assert plan.characters[0].role == role
    assert [f.code for f in plan.flags] == flags


@pytest.mark.parametrize(
    "written, stored, flagged",
    [("Main", "main", False), (" ALT ", "alt", False), ("main", "main", False),
     ("Both", "alt", True), ("", "alt", True)],
)  # fmt: skip
def test_main_alt(written: str, stored: str, flagged: bool) -> None:
    plan = plan_characters(character(mainAlt=written))
    assert plan.characters[0].main_alt == stored
    assert [f.code for f in plan.flags] == (["invalid_main_alt"] if flagged else [])


@pytest.mark.parametrize(
    "wow_class, spec, expected",
    [
        ("death knight", "frost", ("Death Knight", "Frost", "melee_dps")),
        ("DeathKnight", "Blood", ("Death Knight", "Blood", "tank")),
        ("hunter", "beast-mastery", ("Hunter", "Beast Mastery", "ranged_dps")),
        (" MAGE ", "frost", ("Mage", "Frost", "ranged_dps")),
        ("demon_hunter", "Devourer", ("Demon Hunter", "Devourer", "ranged_dps")),
    ],
)
def test_class_and_spec_matching(wow_class: str, spec: str, expected: tuple[str, str, str]) -> None:
    plan = plan_characters(character(**{"class": wow_class, "spec": spec, "role": ""}))
    planned = plan.characters[0]
    assert (planned.class_name, planned.spec, planned.role) == expected


def test_rows_that_cannot_be_imported_are_flagged_and_skipped() -> None:
    plan = plan_characters(
        character(character=""),
        character(character="Not Valid"),
        character(**{"class": "Bard"}),
        character(discord="  "),
        character(discord="Leafy Bug", character="Leafy"),
    )
    assert [(f.code, f.row) for f in plan.flags] == [
        ("missing_character_name", 2),
        ("invalid_character_name", 3),
        ("unknown_class", 4),
        ("missing_discord_name", 5),
        ("invalid_discord_format", 6),
    ]
    assert [c.name for c in plan.characters] == ["Leafy"]
    assert plan.members["leafy bug"].username == "Leafy Bug"
    assert plan.characters_skipped == 4


def test_merging_duplicates_conflicts_and_several_mains() -> None:
    plan = plan_characters(
        character(character="Alpha", spec="Arcane"),
        character(character="alpha", spec="Fire"),
        character(discord="other", character="Alpha"),
        character(character="Beta", mainAlt="Main"),
    )
    assert [(f.code, f.row, f.name) for f in plan.flags] == [
        ("duplicate_character", 3, "Alpha"),
        ("character_conflict", 4, "Alpha"),
        ("multiple_mains", 5, "Beta"),
    ]
    assert [(c.name, c.spec, c.main_alt, c.member_key) for c in plan.characters] == [
        ("Alpha", "Fire", "alt", "tester"),
        ("Beta", "Fire", "main", "tester"),
    ]
    assert plan.characters_skipped == 1  # the conflicting claim; the duplicate was merged


def test_availability_rows() -> None:
    export = SheetExport(
        source="t",
        availability=[
            {"discord": "ab", "monday": "maybe", "autoSignup": 1, "notes": "  hi  "},
            {"discord": "AB", "friday": "TRUE", "updated": "1/2/2025 3:04:05"},
        ],
    )
    plan = plan_import(export, sheet_tz=EASTERN)
    assert [(f.code, f.row) for f in plan.flags] == [
        ("bad_boolean", 2),
        ("duplicate_availability", 3),
    ]
    week = plan.members["ab"].availability
    assert week is not None
    assert [day for day, on in week.days.items() if on] == ["friday"]
    assert week.auto_signup is False and week.notes == ""
    assert week.updated == datetime(2025, 1, 2, 8, 4, 5, tzinfo=UTC)


def test_the_fixture_plan() -> None:
    plan = plan_import(load_json_export(FIXTURE.read_bytes(), source="sheet_export.json"))
    assert sorted(plan.members) == ["leafybug", "pewpewpat", "stabbyrae", "tankyhank"]
    assert plan.members["leafybug"].display_name == "Leafybug"
    assert plan.members["tankyhank"].sheet_discord_id == "100000000000000001"
    assert plan.members["leafybug"].sheet_discord_id == "100000000000000002"
    assert plan.members["pewpewpat"].sheet_discord_id is None
    assert sorted((f.code, f.row) for f in plan.flags if f.row) == [
        ("duplicate_character", 6),
        ("missing_discord_name", 5),
        ("missing_discord_name", 9),
        ("role_derived", 5),
        ("unknown_class", 8),
    ]
    assert [f.code for f in plan.flags if f.row is None] == ["invalid_discord_id"]
    assert plan.quotes == [
        "Bubble first, ask questions never.",
        "Stand in the good stuff, not the fire.",
    ]
    assert plan.mito_skipped == 1
    assert plan.characters_skipped == 2


# ----------------------------------------------------------------------------- loading
@pytest.mark.parametrize(
    "raw, message",
    [
        (b'{"success": true, "characters": [', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'{"success": false, "error": "boom"}', "boom"),
        (b'{"success": false}', "reported an error"),
        (b'{"success": "yes", "characters": []}', "'success'"),
        (b'{"availability": {"a": 1}}', "'availability' must be a list"),
        (b'{"characters": [1, 2]}', "'characters' must be a list"),
        (b'{"characters": [], "mitoQuotes": [{"q": 1}]}', "'mitoQuotes'"),
        (b'{"characters": [], "validationIssues": "x"}', "'validationIssues'"),
    ],
)
def test_bad_json_exports(raw: bytes, message: str) -> None:
    with pytest.raises(SheetImportError) as error:
        load_json_export(raw, source="x.json")
    assert message in str(error.value)


def test_csv_headers_aliases_and_bom(tmp_path: Path) -> None:
    (tmp_path / "Guild - characters.csv").write_text(
        "\ufeff Discord ,CHARACTER,Class,Spec,Role,MainAlt,Realm,Extra\n"
        "stonehoof,Aldrameth,Druid,Balance,Ranged,Main,Area 52,x\n"
        "stonehoof,Aldrabank,Mage,Frost,,Alt,,\n\n\n",
        encoding="utf-8",
    )
    (tmp_path / "Guild - DiscordIDs.csv").write_text(
        "Discord,DiscordID\nstonehoof,100000000000000001\nnoid,\n", encoding="utf-8"
    )
    export = load_csv_dir(tmp_path)
    assert export.characters == [
        {"discord": "stonehoof", "character": "Aldrameth", "class": "Druid", "spec": "Balance",
         "role": "Ranged", "mainAlt": "Main", "realm": "Area 52"},
        {"discord": "stonehoof", "character": "Aldrabank", "class": "Mage", "spec": "Frost",
         "role": "", "mainAlt": "Alt", "realm": ""},
    ]  # fmt: skip
    assert export.discord_ids == {"stonehoof": "100000000000000001"}
    assert export.missing_tabs == ["Availability", "MitoQuotes", "MitoTitles"]
    plan = plan_import(export)
    assert plan.characters[0].realm_name == "Area 52"
    assert plan.characters[1].role == "ranged_dps"
    single = load_csv_files(tmp_path / "Guild - characters.csv", None)
    assert len(single.characters) == 2 and single.discord_ids == {}


def test_csv_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(SheetUsageError):
        load_csv_dir(tmp_path / "missing")
    (tmp_path / "x - MitoQuotes.csv").write_text("Quote\nhi\n", encoding="utf-8")
    with pytest.raises(SheetUsageError):
        load_csv_dir(tmp_path)
    with pytest.raises(SheetUsageError):
        load_csv_files(tmp_path / "nope.csv", None)
    (tmp_path / "bad - Characters.csv").write_bytes(b"Discord\n\xff\xfe\n")
    with pytest.raises(SheetImportError):
        load_csv_dir(tmp_path)


# ------------------------------------------------------------------------------ fetching
def test_fetch_follows_the_redirect_and_returns_the_body() -> None:
    body = FIXTURE.read_bytes()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "script.google.com":
            return httpx.Response(
                302, headers={"Location": "https://script.googleusercontent.com/echo"}
            )
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    assert fetch_export("https://script.google.com/macros/s/x/exec",
                        transport=httpx.MockTransport(handler)) == body  # fmt: skip


@pytest.mark.parametrize(
    "response, message",
    [
        (httpx.Response(500, text="oops"), "HTTP 500"),
        (httpx.Response(200, content=b"x" * (10 * 1024 * 1024 + 1)), "larger than 10 MiB"),
    ],
)
def test_fetch_errors(response: httpx.Response, message: str) -> None:
    with pytest.raises(SheetImportError) as error:
        fetch_export(
            "https://script.example/exec", transport=httpx.MockTransport(lambda r: response)
        )
    assert message in str(error.value)


def test_fetch_network_failure_and_plain_http() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(SheetImportError) as error:
        fetch_export("https://script.example/exec", transport=httpx.MockTransport(boom))
    assert "Could not fetch" in str(error.value)
    with pytest.raises(SheetUsageError):
        fetch_export("http://script.example/exec")


# ------------------------------------------------------------------------------ summary
def test_text_summary_format() -> None:
    summary = ImportSummary(
        source="fixture.json",
        input_counts={"availabilityRows": 1, "characterRows": 2, "discordIds": 0,
                      "sheetIssues": 0, "quotes": 1, "titles": 0},
        members_created=1,
        availability_members=1,
        availability_rows=7,
        characters_created=2,
        quotes_added=1,
        flags=[Flag("missing_discord_id", "discordIds", None, "a", "a has no Discord ID yet")],
        dry_run=True,
    )  # fmt: skip
    text = format_summary(summary)
    lines = text.splitlines()
    assert lines[0] == "DRY RUN — nothing written"
    assert lines[1] == "PATT sheet import — source: fixture.json"
    assert "Input:        1 availability row, 2 character rows, 0 Discord IDs, 0 sheet issues, "\
        "1 quote, 0 titles" in lines  # fmt: skip
    assert "Availability: 1 member (7 day rows)" in lines
    assert "Mito:         1 quote added, 0 titles added, 0 skipped (duplicate/empty)" in lines
    assert "  [missing_discord_id] discordIds: a has no Discord ID yet" in lines
    assert json.loads(json.dumps(summary.as_json()))["dryRun"] is True


def test_texts_the_tables_cannot_hold_are_skipped() -> None:
    export = SheetExport(
        source="t",
        characters=[character(realm="x" * 120), character(character="Other", realm="'''")],
        mito_quotes=["q" * 501, "ok", 7],
        mito_titles=["t" * 201, "  "],
    )
    plan = plan_import(export)
    assert [c.realm_name for c in plan.characters] == [None, None]
    assert plan.quotes == ["ok", "7"]
    assert plan.titles == []
    assert plan.mito_skipped == 3
