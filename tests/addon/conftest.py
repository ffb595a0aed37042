"""Runs the PATTSync addon under a real Lua 5.1 interpreter (lupa) with the game API stubs of
wow_stubs.lua; `addon` is a fresh game session per test."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lupa.lua51 import LuaRuntime, lua_type

ROOT = Path(__file__).resolve().parents[2]
ADDON_DIR = ROOT / "wow_addon" / "PATTSync"
HERE = Path(__file__).resolve().parent
COMPANION_DIR = ROOT / "companion_app"

# The companion is a stand-alone program, not part of the platform package.
if str(COMPANION_DIR) not in sys.path:
    sys.path.insert(0, str(COMPANION_DIR))

COLOUR_CODE = re.compile(r"\|c[0-9A-Fa-f]{8}|\|r")


def strip_colours(line: str) -> str:
    """A chat line without the game's |cAARRGGBB … |r colour codes."""
    return COLOUR_CODE.sub("", line)


def lua_to_python(value: Any) -> Any:
    """A Lua value as plain Python: tables with keys exactly 1…n become lists."""
    if lua_type(value) != "table":
        return value
    items = {key: lua_to_python(item) for key, item in value.items()}
    count = len(items)
    if count and all(isinstance(k, int) for k in items) and set(items) == set(range(1, count + 1)):
        return [items[index] for index in range(1, count + 1)]
    return items


class GameSession:
    """One Lua 5.1 state with the stubs loaded and, after `load()`, the addon."""

    def __init__(self) -> None:
        self.lua = LuaRuntime(unpack_returned_tuples=True)
        self.g = self.lua.globals()
        self.lua.execute((HERE / "wow_stubs.lua").read_text(encoding="utf-8"))
        self.ns = self.lua.table()

    @property
    def version(self) -> str:
        return str(self.lua.eval("_VERSION"))

    def load(self, saved: dict[str, Any] | None = None, *, announce: bool = True) -> None:
        """Loads PATTSync.lua as the game does; `saved` simulates a previous session's file."""
        if saved is not None:
            self.g.PATTSyncDB = self.lua.table_from(saved, recursive=True)
        source = (ADDON_DIR / "PATTSync.lua").read_text(encoding="utf-8")
        chunk, error = self._loadstring(source, "@PATTSync.lua")
        assert chunk is not None, f"PATTSync.lua does not compile under Lua 5.1: {error}"
        chunk("PATTSync", self.ns)
        if announce:
            self.fire("ADDON_LOADED", "PATTSync")

    def _loadstring(self, source: str, name: str) -> tuple[Any, Any]:
        result = self.lua.eval("loadstring")(source, name)
        if isinstance(result, tuple):
            return result[0], result[1]
        return result, None

    # Driver helpers (thin wrappers around the Lua ones)
    def fire(self, event: str, *args: Any) -> None:
        self.g.fire(event, *args)

    def advance(self, seconds: float) -> None:
        self.g.advance(seconds)

    def slash(self, line: str) -> None:
        assert self.g.slash(line), f"no slash command handles {line!r}"

    def open_guild_window(self) -> None:
        self.g.open_guild_window()

    def close_guild_window(self) -> None:
        self.g.close_guild_window()

    def roster_arrives(self) -> None:
        """The server answers a roster request."""
        self.fire("GUILD_ROSTER_UPDATE")

    def export(self, command: str = "/pattsync") -> None:
        """Runs an export command and lets the server answer."""
        self.slash(command)
        self.roster_arrives()

    # State
    def add_member(self, name: str, **fields: Any) -> None:
        """Adds a roster entry; fields use the stub's names (rankName, officerNote, …)."""
        defaults: dict[str, Any] = {
            "rankName": "Member",
            "rankIndex": 3,
            "level": 80,
            "class": "Mage",
            "classFile": "MAGE",
            "zone": "Dornogal",
            "note": "",
            "officerNote": "",
            "isOnline": False,
            "achievementPoints": 1000,
            "lastOnline": [0, 0, 1, 2],
        }
        defaults.update(fields)
        defaults["name"] = name
        entry = self.lua.table_from({k: v for k, v in defaults.items() if v is not None})
        if defaults.get("lastOnline") is not None:
            entry.lastOnline = self.lua.table_from(defaults["lastOnline"])
        roster = self.g.ROSTER
        roster[len(roster) + 1] = entry

    def clear_roster(self) -> None:
        self.g.ROSTER = self.lua.table()

    @property
    def now(self) -> int:
        return int(self.g.FAKE_NOW)

    @property
    def roster_requests(self) -> int:
        return int(self.g.ROSTER_REQUESTS)

    def chat(self) -> list[str]:
        """Every line printed so far, colours removed."""
        log = self.g.CHAT_LOG
        return [strip_colours(log[i]) for i in range(1, len(log) + 1)]

    def raw_chat(self) -> list[str]:
        log = self.g.CHAT_LOG
        return [log[i] for i in range(1, len(log) + 1)]

    def clear_chat(self) -> None:
        self.g.CHAT_LOG = self.lua.table()

    def db(self) -> Any:
        """PATTSyncDB as plain Python (None when the addon never created it)."""
        return lua_to_python(self.g.PATTSyncDB)

    def saved_variables_text(self) -> str:
        """What the game would write to PATTSync.lua on /reload, via sv_writer.lua."""
        writer = self.lua.execute((HERE / "sv_writer.lua").read_text(encoding="utf-8"))
        variables = self.lua.table()
        variables.PATTSyncDB = self.g.PATTSyncDB
        return str(writer.file(variables))


@pytest.fixture
def game() -> GameSession:
    """A Lua 5.1 state with the game stubs, addon not loaded yet."""
    session = GameSession()
    assert session.version == "Lua 5.1"
    return session


@pytest.fixture
def addon(game: GameSession) -> GameSession:
    """The addon loaded in a fresh session (no previous SavedVariables), chat cleared."""
    game.load()
    game.clear_chat()
    return game


@pytest.fixture
def with_members(addon: GameSession) -> Callable[..., GameSession]:
    """Adds `count` simple members to the roster."""

    def add(count: int = 3) -> GameSession:
        for index in range(count):
            addon.add_member(f"Member{index + 1}-Senjin")
        return addon

    return add
