"""Automatic export when the guild window opens: CommunitiesFrame (load-on-demand) and
ToggleGuildFrame hooks, once per cooldown window, and clients missing parts of the API."""

from __future__ import annotations

from tests.addon.conftest import GameSession

SIX_HOURS = 6 * 60 * 60


def _game_with_roster(game: GameSession) -> GameSession:
    game.add_member("Aldrameth-Senjin")
    game.add_member("Zoëlle-BleedingHollow")
    return game


def test_opening_the_guild_window_exports_once_per_cooldown(game: GameSession) -> None:
    _game_with_roster(game).load()
    game.open_guild_window()
    # both hooks (ToggleGuildFrame and CommunitiesFrame:OnShow) fire, one request goes out
    assert game.roster_requests == 1
    game.roster_arrives()
    assert game.db()["totalExports"] == 1
    for _ in range(3):
        game.close_guild_window()
        game.advance(3600)
        game.open_guild_window()
        game.roster_arrives()
    assert game.roster_requests == 1
    assert game.db()["totalExports"] == 1
    game.close_guild_window()
    game.advance(SIX_HOURS)
    game.open_guild_window()
    game.roster_arrives()
    assert game.db()["totalExports"] == 2


def test_automatic_attempts_stay_quiet_when_nothing_is_due(game: GameSession) -> None:
    _game_with_roster(game).load()
    game.open_guild_window()
    game.roster_arrives()
    game.close_guild_window()
    game.clear_chat()
    game.open_guild_window()
    assert game.chat() == [], "no cooldown message every time the window opens"


def test_hook_works_when_blizzard_communities_loads_later(game: GameSession) -> None:
    # Only the CommunitiesFrame hook can trigger here: no hooksecurefunc in this client.
    game.g.hooksecurefunc = None
    _game_with_roster(game).load()
    assert game.g.CommunitiesFrame is None, "load-on-demand: the frame does not exist yet"
    game.open_guild_window()  # loads Blizzard_Communities, then shows the frame
    assert game.roster_requests == 1
    game.roster_arrives()
    assert game.db()["lastExport"]["memberCount"] == 2


def test_hook_works_when_blizzard_communities_was_already_loaded(game: GameSession) -> None:
    game.g.hooksecurefunc = None
    game.g.LOAD_BLIZZARD_COMMUNITIES()
    _game_with_roster(game).load()
    game.g.CommunitiesFrame.Show(game.g.CommunitiesFrame)
    assert game.roster_requests == 1


def test_communities_frame_is_hooked_only_once(game: GameSession) -> None:
    game.g.LOAD_BLIZZARD_COMMUNITIES()
    _game_with_roster(game).load()
    game.fire("ADDON_LOADED", "Blizzard_Communities")  # a second announcement must not re-hook
    assert len(game.g.CommunitiesFrame.hooks.OnShow) == 1


def test_toggle_guild_frame_hook_alone_is_enough(game: GameSession) -> None:
    # A client whose guild window is not CommunitiesFrame: only ToggleGuildFrame is hooked.
    game.lua.execute("LOAD_BLIZZARD_COMMUNITIES = function() end")
    game.lua.execute("ToggleGuildFrame = function() end")
    _game_with_roster(game).load()
    game.open_guild_window()
    assert game.roster_requests == 1


def test_guild_window_without_guild_membership_does_nothing(game: GameSession) -> None:
    _game_with_roster(game).load()
    game.g.IN_GUILD = False
    game.clear_chat()
    game.open_guild_window()
    assert game.roster_requests == 0
    assert game.chat() == []


def test_addon_loads_without_optional_game_functions(game: GameSession) -> None:
    for name in (
        "C_GuildInfo",
        "GetNormalizedRealmName",
        "hooksecurefunc",
        "ToggleGuildFrame",
        "GetGuildRosterLastOnline",
    ):
        game.g[name] = None
    _game_with_roster(game).load()
    game.slash("/pattsync")
    game.roster_arrives()
    export = game.db()["lastExport"]
    assert export["memberCount"] == 2
    assert export["canViewOfficerNote"] is False
    assert export["characters"][0]["lastOnline"] == ""
    assert export["characters"][0]["realm"] == "Senjin"


def test_without_timers_a_stuck_export_expires_by_time(game: GameSession) -> None:
    game.g.C_Timer = None
    _game_with_roster(game).load()
    game.slash("/pattsync")  # the server never answers and no watchdog timer can run
    game.advance(16)
    game.slash("/pattsync")
    assert game.roster_requests == 2
    game.roster_arrives()
    assert game.db()["totalExports"] == 1
