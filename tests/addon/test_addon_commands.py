"""PATTSync in a Lua 5.1 game session: loading, slash commands, cooldown, export sequence
(empty-roster retries, watchdog) and the globals it leaves behind."""

from __future__ import annotations

import re

from tests.addon.conftest import ADDON_DIR, GameSession

SIX_HOURS = 6 * 60 * 60


def test_runs_on_real_lua_51(game: GameSession) -> None:
    assert game.version == "Lua 5.1"
    # 5.2+ syntax must not compile here, or the check above would be worthless
    chunk, error = game._loadstring("local x = 7 // 2", "=probe")
    assert chunk is None and "unexpected symbol" in str(error)


def test_load_prints_one_line_and_creates_defaults(game: GameSession) -> None:
    game.load()
    assert game.chat() == ["[PATTSync] v1.0.0 loaded, type /pattsync for commands."]
    assert game.raw_chat()[0].startswith("|cFFD4A84B[PATTSync]|r ")
    assert game.db() == {"totalExports": 0}


def test_load_keeps_previous_session_data(game: GameSession) -> None:
    saved = {
        "lastExportTime": 1771600000,
        "totalExports": 7,
        "lastExport": {"exportTime": 1771600000, "memberCount": 1, "characters": [{"name": "A"}]},
    }
    game.load(saved)
    assert game.db() == saved


def test_other_addons_loading_does_not_initialise(game: GameSession) -> None:
    game.load(announce=False)
    game.fire("ADDON_LOADED", "SomeOtherAddon")
    assert game.db() is None
    assert game.chat() == []


def test_export_writes_the_roster_and_reminds_about_reload(with_members) -> None:
    addon = with_members(3)
    addon.slash("/pattsync")
    assert addon.roster_requests == 1
    assert addon.db().get("lastExport") is None, "nothing is written before the server answers"
    addon.roster_arrives()
    db = addon.db()
    assert db["totalExports"] == 1
    assert db["lastExportTime"] == addon.now
    export = db["lastExport"]
    assert export["memberCount"] == 3
    assert [c["name"] for c in export["characters"]] == ["Member1", "Member2", "Member3"]
    assert export["exportTime"] == addon.now
    assert export["exportTimeISO"] == "2026-02-21T18:40:00Z"
    assert export["addonVersion"] == "1.0.0"
    assert export["guildName"] == "Pull All The Things"
    assert "3 characters exported." in addon.chat()[-2]
    assert "|cFF4ADE80" in addon.raw_chat()[-2], "the result line is green"
    assert "/reload" in addon.chat()[-1] and "companion" in addon.chat()[-1]


def test_short_alias_patt_exports_too(with_members) -> None:
    addon = with_members(1)
    addon.export("/patt")
    assert addon.db()["totalExports"] == 1


def test_cooldown_blocks_a_second_export_and_says_how_long(with_members) -> None:
    addon = with_members(2)
    addon.export()
    addon.advance(2 * 3600 + 30 * 60)
    addon.clear_chat()
    addon.slash("/pattsync")
    assert addon.roster_requests == 1, "no new roster request during the cooldown"
    assert addon.db()["totalExports"] == 1
    assert any("3h 30m" in line for line in addon.chat()), addon.chat()


def test_cooldown_ends_after_six_hours(with_members) -> None:
    addon = with_members(2)
    addon.export()
    addon.advance(SIX_HOURS - 1)
    addon.slash("/pattsync")
    assert addon.roster_requests == 1
    addon.advance(1)
    addon.export()
    assert addon.roster_requests == 2
    assert addon.db()["totalExports"] == 2
    assert addon.db()["lastExportTime"] == addon.now


def test_force_ignores_the_cooldown(with_members) -> None:
    addon = with_members(2)
    addon.export()
    addon.advance(60)
    addon.add_member("Newcomer-Senjin")
    addon.export("/pattsync force")
    db = addon.db()
    assert db["totalExports"] == 2
    assert db["lastExport"]["memberCount"] == 3
    assert db["lastExport"]["exportTime"] == addon.now


def test_export_replaces_the_previous_one(with_members) -> None:
    addon = with_members(3)
    addon.export()
    addon.clear_roster()
    addon.add_member("Only-Senjin")
    addon.export("/pattsync force")
    characters = addon.db()["lastExport"]["characters"]
    assert [c["name"] for c in characters] == ["Only"], "no history is kept"


def test_status_before_any_export(addon: GameSession) -> None:
    addon.slash("/pattsync status")
    assert addon.chat() == [
        "[PATTSync] Last export: never.",
        "[PATTSync] Cooldown: ready.",
        "[PATTSync] Exports (all time): 0.",
    ]


def test_status_after_an_export(with_members) -> None:
    addon = with_members(4)
    addon.export()
    addon.advance(90 * 60)
    addon.clear_chat()
    addon.slash("/pattsync status")
    assert addon.chat() == [
        "[PATTSync] Last export: 1h 30m ago, 4 members exported.",
        "[PATTSync] Cooldown: 4h 30m remaining.",
        "[PATTSync] Exports (all time): 1.",
    ]
    addon.advance(SIX_HOURS)
    addon.clear_chat()
    addon.slash("/patt STATUS")
    assert addon.chat()[1] == "[PATTSync] Cooldown: ready."


def _help_lines(addon: GameSession) -> list[str]:
    addon.clear_chat()
    addon.slash("/pattsync help")
    return addon.chat()


def test_help_lists_every_command(addon: GameSession) -> None:
    text = "\n".join(_help_lines(addon))
    for command in ("/pattsync ", "/pattsync force", "/pattsync status", "/pattsync help", "/patt"):
        assert command in text
    assert "6 hours" in text or "6-hour" in text


def test_help_text_and_behaviour_agree(with_members) -> None:
    addon = with_members(1)
    listed = set(re.findall(r"/pattsync (\w+) -", "\n".join(_help_lines(addon))))
    assert listed == {"force", "status", "help"}
    for argument in sorted(listed):
        addon.clear_chat()
        addon.slash(f"/pattsync {argument}")
        assert not any("Unknown command" in line for line in addon.chat()), argument


def test_unknown_command_says_so_and_shows_help(addon: GameSession) -> None:
    help_lines = _help_lines(addon)
    addon.clear_chat()
    addon.slash("/pattsync frobnicate")
    lines = addon.chat()
    assert lines[0] == "[PATTSync] Unknown command: frobnicate"
    assert "|cFFF87171" in addon.raw_chat()[0]
    assert lines[1:] == help_lines
    assert addon.roster_requests == 0


def test_not_in_guild_prints_red_and_stops(addon: GameSession) -> None:
    addon.g.IN_GUILD = False
    addon.slash("/pattsync force")
    assert addon.roster_requests == 0
    assert addon.chat() == ["[PATTSync] You are not in a guild - nothing to export."]
    assert addon.raw_chat()[0].startswith("|cFFD4A84B[PATTSync]|r |cFFF87171")
    assert "lastExport" not in addon.db()


def test_second_request_while_in_progress_is_refused(with_members) -> None:
    addon = with_members(1)
    addon.slash("/pattsync")
    addon.slash("/pattsync force")
    assert addon.roster_requests == 1
    assert "already in progress" in addon.chat()[-1]
    addon.roster_arrives()
    assert addon.db()["totalExports"] == 1


def test_empty_roster_is_requested_again_three_times_then_fails(addon: GameSession) -> None:
    addon.slash("/pattsync")
    for retry in range(1, 4):
        addon.roster_arrives()  # 0 members
        assert addon.roster_requests == retry, "the new request waits 2 s"
        addon.advance(2)
        assert addon.roster_requests == retry + 1
    addon.roster_arrives()
    assert addon.roster_requests == 4
    assert "Export failed" in addon.chat()[-1]
    assert "|cFFF87171" in addon.raw_chat()[-1]
    assert "lastExport" not in addon.db()
    # the failure cleared the in-progress flag: a new export can start at once
    addon.add_member("Late-Senjin")
    addon.export()
    assert addon.db()["lastExport"]["memberCount"] == 1


def test_roster_filled_on_a_retry_is_exported(addon: GameSession) -> None:
    addon.slash("/pattsync")
    addon.roster_arrives()
    addon.advance(2)
    addon.add_member("Arrived-Senjin")
    addon.roster_arrives()
    assert addon.db()["lastExport"]["memberCount"] == 1
    assert addon.db()["totalExports"] == 1


def test_extra_roster_updates_during_a_retry_wait_do_not_add_retries(addon: GameSession) -> None:
    addon.slash("/pattsync")
    for _ in range(5):
        addon.roster_arrives()
    addon.advance(2)
    assert addon.roster_requests == 2


def test_roster_updates_without_an_export_are_ignored(with_members) -> None:
    addon = with_members(2)
    addon.roster_arrives()
    assert "lastExport" not in addon.db()


def test_watchdog_fails_cleanly_when_the_server_never_answers(addon: GameSession) -> None:
    addon.slash("/pattsync")
    addon.advance(14)
    assert not any("failed" in line for line in addon.chat())
    addon.advance(1)
    assert "did not send the guild roster" in addon.chat()[-1]
    addon.add_member("Someone-Senjin")
    addon.export()
    assert addon.db()["totalExports"] == 1, "the stuck export no longer blocks"


def test_watchdog_exports_whatever_roster_data_exists(with_members) -> None:
    addon = with_members(2)
    addon.slash("/pattsync")
    addon.advance(15)  # the server throttled the request: no GUILD_ROSTER_UPDATE
    assert addon.db()["lastExport"]["memberCount"] == 2


def test_watchdog_of_an_old_export_leaves_a_new_one_alone(with_members) -> None:
    addon = with_members(1)
    addon.export("/pattsync force")  # finished at once; its watchdog still runs at +15 s
    addon.advance(10)
    addon.slash("/pattsync force")
    addon.advance(6)  # the first watchdog fires now
    assert addon.db()["totalExports"] == 1, "the second export still waits for its roster"
    addon.roster_arrives()
    assert addon.db()["totalExports"] == 2


def test_toc_version_matches_the_lua_constant(addon: GameSession) -> None:
    toc = (ADDON_DIR / "PATTSync.toc").read_text(encoding="utf-8")
    fields = dict(re.findall(r"^## (\w+): *(.*?)\s*$", toc, flags=re.MULTILINE))
    assert fields["Version"] == addon.ns.ADDON_VERSION == "1.0.0"
    source = (ADDON_DIR / "PATTSync.lua").read_text(encoding="utf-8")
    assert re.search(r'^local ADDON_VERSION = "1\.0\.0"$', source, flags=re.MULTILINE)
    assert fields["SavedVariables"] == "PATTSyncDB"
    assert fields["Title"] == "PATTSync - Guild Roster Exporter"
    assert fields["Author"] == "PATT officers"
    assert fields["DefaultState"] == "enabled"
    assert all(re.fullmatch(r"\d{6}", n.strip()) for n in fields["Interface"].split(","))
    assert toc.rstrip().splitlines()[-1] == "PATTSync.lua"
    assert source.startswith("local ADDON_NAME, ns = ...")


def test_only_the_allowed_globals_are_created(game: GameSession) -> None:
    before = set(game.g.keys())
    # Record every assignment to a new global, even one that is later set back to nil.
    written = game.lua.execute(
        """
        local written = {}
        setmetatable(_G, { __newindex = function(t, k, v)
            written[#written + 1] = k
            rawset(t, k, v)
        end })
        return written
        """
    )
    game.load()
    game.add_member("A-Senjin", officerNote="x")
    for line in ("/pattsync", "/pattsync status", "/pattsync help", "/pattsync nope"):
        game.slash(line)
        game.fire("GUILD_ROSTER_UPDATE")
    game.open_guild_window()
    game.advance(SIX_HOURS + 20)
    game.open_guild_window()
    game.fire("GUILD_ROSTER_UPDATE")
    game.slash("/patt force")
    game.advance(20)
    created = set(game.g.keys()) - before - {"CommunitiesFrame"}  # the stub's Blizzard frame
    allowed = {"PATTSyncDB", "SLASH_PATTSYNC1", "SLASH_PATTSYNC2"}
    assert created == allowed
    assert set(written.values()) <= allowed
    assert list(game.g.SlashCmdList.keys()) == ["PATTSYNC"]
    assert game.g.SLASH_PATTSYNC1 == "/pattsync" and game.g.SLASH_PATTSYNC2 == "/patt"
