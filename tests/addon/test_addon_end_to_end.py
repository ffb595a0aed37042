"""Addon → SavedVariables text (written like the game, via sv_writer.lua) → the companion's
parser → the upload payload, with accented names kept intact all the way."""

from __future__ import annotations

from pathlib import Path

from companion_upload import build_payload
from lua_parser import load_pattsync, parse_saved_variables
from lupa.lua51 import LuaRuntime

from tests.addon.conftest import ADDON_DIR, ROOT, GameSession


def _export_guild(game: GameSession) -> None:
    game.add_member(
        "Aldrameth-Senjin",
        rankName="Guild Leader",
        rankIndex=0,
        **{"class": "Druid"},
        classFile="DRUID",
        note="GM",
        officerNote="Discord: stonehoof",
        isOnline=True,
        achievementPoints=14210,
    )
    game.add_member(
        "Zoëlle-BleedingHollow",
        zone="",
        note="alt of Brañix",
        lastOnline=[0, 0, 2, 4],
        achievementPoints=9050,
    )
    game.add_member("Brañix-Azjol-Nerub", note='quotes " and \\ and\nnewline', level=None)
    game.load()
    game.export()


def test_saved_variables_text_looks_like_the_games(game: GameSession) -> None:
    _export_guild(game)
    text = game.saved_variables_text()
    assert text.startswith("\nPATTSyncDB = {\n")
    assert '\t["totalExports"] = 1,\n' in text
    assert "\t\t\t}, -- [1]\n" in text and "\t\t\t}, -- [3]\n" in text
    assert '\t\t\t\t["name"] = "Zoëlle",\n' in text, "UTF-8 written as is"
    assert '["note"] = "quotes \\" and \\\\ and\\nnewline",' in text


def test_addon_export_reaches_the_upload_payload_intact(game: GameSession, tmp_path: Path) -> None:
    _export_guild(game)
    path = tmp_path / "PATTSync.lua"
    path.write_bytes(game.saved_variables_text().encode("utf-8"))

    database = load_pattsync(path)
    assert database == game.db()
    payload = build_payload(database["lastExport"])

    assert payload["uploaded_by"] == "companion_app"
    assert payload["addon_version"] == "1.0.0"
    assert payload["guild_name"] == "Pull All The Things"
    assert payload["export_time"] == game.now
    assert payload["can_view_officer_note"] is True
    aldrameth, zoelle, branix = payload["characters"]
    assert aldrameth == {
        "name": "Aldrameth",
        "realm": "Senjin",
        "class": "Druid",
        "class_file": "DRUID",
        "level": 80,
        "rank": 0,
        "rank_name": "Guild Leader",
        "guild_note": "GM",
        "officer_note": "Discord: stonehoof",
        "is_online": True,
        "last_online": "Online",
        "zone": "Dornogal",
    }
    assert (zoelle["name"], zoelle["realm"], zoelle["guild_note"]) == (
        "Zoëlle",
        "BleedingHollow",
        "alt of Brañix",
    )
    assert zoelle["last_online"] == "2d 4h" and zoelle["zone"] == ""
    assert (branix["name"], branix["realm"]) == ("Brañix", "Azjol-Nerub")
    assert branix["guild_note"] == 'quotes " and \\ and\nnewline'
    assert branix["level"] == 0


def test_officer_notes_hidden_end_to_end(game: GameSession) -> None:
    game.g.CAN_VIEW_OFFICER_NOTE = False
    _export_guild(game)
    export = parse_saved_variables(game.saved_variables_text())["PATTSyncDB"]["lastExport"]
    payload = build_payload(export)
    assert payload["can_view_officer_note"] is False
    assert {c["officer_note"] for c in payload["characters"]} == {""}


def test_command_line_harness_runs_under_lua_51(monkeypatch) -> None:
    """tests/addon/run.lua (for `lua5.1 tests/addon/run.lua`) works; run here through lupa."""
    monkeypatch.chdir(ROOT)
    lua = LuaRuntime(unpack_returned_tuples=True)
    written: list[str] = []
    lua.globals().io.write = lambda *parts: written.extend(str(p) for p in parts)
    lua.eval("function() io.stderr = { write = function() end } end")()
    lua.execute('assert(loadfile("tests/addon/run.lua"))()')
    database = parse_saved_variables("".join(written))["PATTSyncDB"]
    names = [c["name"] for c in database["lastExport"]["characters"]]
    assert names == ["Aldrameth", "Zoëlle"]


def test_addon_readme_covers_install_commands_and_file_location() -> None:
    readme = (ADDON_DIR / "README.md").read_text(encoding="utf-8")
    for required in (
        "World of Warcraft\\_retail_\\Interface\\AddOns\\PATTSync\\",
        "World of Warcraft\\_retail_\\WTF\\Account\\<ACCOUNT>\\SavedVariables\\PATTSync.lua",
        "`/pattsync`",
        "`/pattsync force`",
        "`/pattsync status`",
        "`/pattsync help`",
        "`/patt`",
        "**J**",
        "6 hours",
        "`/reload`",
        "GetBuildInfo",
        "## Interface:",
        "Officer notes are exported only by characters",
    ):
        assert required in readme, required
