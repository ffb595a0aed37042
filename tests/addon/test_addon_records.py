"""PATTSync export records: name/realm split, the §1.5 keys and their nil defaults, last-online
texts, officer-note visibility, and the pure helpers exported on ns."""

from __future__ import annotations

import pytest

from tests.addon.conftest import GameSession

RECORD_TYPES = {
    "name": str,
    "realm": str,
    "class": str,
    "classFile": str,
    "level": int,
    "rank": int,
    "rankName": str,
    "zone": str,
    "note": str,
    "officerNote": str,
    "isOnline": bool,
    "lastOnline": str,
    "achievementPoints": int,
}


def _export_one(addon: GameSession, name: str | None, **fields) -> dict:
    addon.clear_roster()
    addon.add_member(name, **fields)  # type: ignore[arg-type]
    addon.export("/pattsync force")
    return addon.db()["lastExport"]


@pytest.mark.parametrize(
    ("roster_name", "name", "realm"),
    [
        ("Aldrameth-Senjin", "Aldrameth", "Senjin"),
        ("Zoëlle-BleedingHollow", "Zoëlle", "BleedingHollow"),
        ("Brañix-Azjol-Nerub", "Brañix", "Azjol-Nerub"),
        ("Homebody", "Homebody", None),
        ("Trailing-", "Trailing", None),
    ],
)
def test_split_name_realm_on_the_first_dash(
    addon: GameSession, roster_name: str, name: str, realm: str | None
) -> None:
    assert addon.ns.SplitNameRealm(roster_name) == (name, realm)


def test_realm_of_a_member_on_the_home_realm_comes_from_the_game(addon: GameSession) -> None:
    export = _export_one(addon, "Homebody")
    assert export["characters"][0]["realm"] == "Senjin"  # GetNormalizedRealmName
    addon.g.GetNormalizedRealmName = None
    export = _export_one(addon, "Homebody")
    assert export["characters"][0]["realm"] == "Sen'jin"  # older clients: GetRealmName


def test_realm_with_a_dash_reaches_the_export_intact(addon: GameSession) -> None:
    export = _export_one(addon, "Brañix-Azjol-Nerub")
    assert (export["characters"][0]["name"], export["characters"][0]["realm"]) == (
        "Brañix",
        "Azjol-Nerub",
    )


def test_every_record_has_exactly_the_specified_keys_and_types(addon: GameSession) -> None:
    export = _export_one(
        addon,
        "Aldrameth-Senjin",
        rankName="Guild Leader",
        rankIndex=0,
        level=80,
        **{"class": "Druid"},
        classFile="DRUID",
        zone="Dornogal",
        note="GM",
        officerNote="Discord: stonehoof",
        isOnline=True,
        achievementPoints=14210,
    )
    record = export["characters"][0]
    assert set(record) == set(RECORD_TYPES)
    for key, expected_type in RECORD_TYPES.items():
        assert type(record[key]) is expected_type, key
    assert record == {
        "name": "Aldrameth",
        "realm": "Senjin",
        "class": "Druid",
        "classFile": "DRUID",
        "level": 80,
        "rank": 0,
        "rankName": "Guild Leader",
        "zone": "Dornogal",
        "note": "GM",
        "officerNote": "Discord: stonehoof",
        "isOnline": True,
        "lastOnline": "Online",
        "achievementPoints": 14210,
    }


def test_missing_roster_values_get_the_specified_defaults(addon: GameSession) -> None:
    nothing = dict.fromkeys(
        (
            "rankName",
            "rankIndex",
            "level",
            "class",
            "classFile",
            "zone",
            "note",
            "officerNote",
            "isOnline",
            "achievementPoints",
            "lastOnline",
        )
    )
    record = _export_one(addon, "Ghost-Senjin", **nothing)["characters"][0]
    assert record == {
        "name": "Ghost",
        "realm": "Senjin",
        "class": "Unknown",
        "classFile": "UNKNOWN",
        "level": 0,
        "rank": 99,
        "rankName": "Unknown",
        "zone": "",
        "note": "",
        "officerNote": "",
        "isOnline": False,
        "lastOnline": "",
        "achievementPoints": 0,
    }


def test_roster_slots_without_a_name_are_skipped(addon: GameSession) -> None:
    addon.add_member("Real-Senjin")
    addon.add_member(None)  # type: ignore[arg-type]
    addon.add_member("Other-Senjin")
    addon.export()
    export = addon.db()["lastExport"]
    assert [c["name"] for c in export["characters"]] == ["Real", "Other"]
    assert export["memberCount"] == 2


@pytest.mark.parametrize(
    ("online", "last_online", "text"),
    [
        (True, [0, 0, 3, 1], "Online"),
        (False, [1, 2, 3, 4], "1y 2m 3d"),
        (False, [0, 2, 3, 4], "2m 3d"),
        (False, [0, 0, 3, 4], "3d 4h"),
        (False, [0, 0, 0, 4], "4h"),
        (False, [0, 0, 0, 0], "0h"),
        (False, None, ""),
    ],
)
def test_last_online_formats(
    addon: GameSession, online: bool, last_online: list[int] | None, text: str
) -> None:
    record = _export_one(addon, "X-Senjin", isOnline=online, lastOnline=last_online)
    assert record["characters"][0]["lastOnline"] == text
    values = last_online or []
    assert addon.ns.FormatLastOnline(online, *values) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 seconds"),
        (59, "59 seconds"),
        (60, "1 minutes"),
        (3599, "59 minutes"),
        (3600, "1h 0m"),
        (21599, "5h 59m"),
        (90061, "25h 1m"),
    ],
)
def test_format_time_diff(addon: GameSession, seconds: int, text: str) -> None:
    assert addon.ns.FormatTimeDiff(seconds) == text


def test_is_cooldown_active(addon: GameSession) -> None:
    check = addon.ns.IsCooldownActive
    assert check(1000, None) == (False, 0)
    assert check(1000 + 21599, 1000) == (True, 1)
    assert check(1000 + 21600, 1000) == (False, 0)
    assert check(500, 1000) == (False, 0), "a clock moved back does not lock exports for hours"


def test_officer_notes_stay_empty_when_not_viewable(addon: GameSession) -> None:
    addon.g.CAN_VIEW_OFFICER_NOTE = False
    export = _export_one(addon, "A-Senjin", note="public", officerNote="secret")
    assert export["canViewOfficerNote"] is False
    assert export["characters"][0]["officerNote"] == ""
    assert export["characters"][0]["note"] == "public"


def test_officer_notes_exported_when_viewable(addon: GameSession) -> None:
    export = _export_one(addon, "A-Senjin", officerNote="secret")
    assert export["canViewOfficerNote"] is True
    assert export["characters"][0]["officerNote"] == "secret"


def test_legacy_officer_note_permission_and_missing_api(addon: GameSession) -> None:
    # Without C_GuildInfo the addon uses the legacy global, and without both it assumes
    # it cannot see officer notes (so the server keeps the ones it has).
    addon.g.C_GuildInfo = None
    addon.lua.execute("function GuildRoster() ROSTER_REQUESTS = ROSTER_REQUESTS + 1 end")
    addon.lua.execute("function CanViewOfficerNote() return true end")
    export = _export_one(addon, "A-Senjin", officerNote="secret")
    assert export["canViewOfficerNote"] is True
    assert addon.roster_requests == 1
    addon.g.CanViewOfficerNote = None
    export = _export_one(addon, "A-Senjin", officerNote="secret")
    assert export["canViewOfficerNote"] is False
    assert export["characters"][0]["officerNote"] == ""


def test_guild_name_falls_back_to_unknown(addon: GameSession) -> None:
    addon.lua.execute("function GetGuildInfo() return nil end")
    assert _export_one(addon, "A-Senjin")["guildName"] == "Unknown"


def test_build_record_is_pure(addon: GameSession) -> None:
    info = addon.lua.table_from({"fullName": "Zoëlle-BleedingHollow", "officerNote": "hidden"})
    record = addon.ns.BuildRecord(info, False, "Senjin")
    assert (record.name, record.realm, record.officerNote, record.rank) == (
        "Zoëlle",
        "BleedingHollow",
        "",
        99,
    )
    assert addon.ns.BuildRecord(addon.lua.table(), True, "Senjin") is None
