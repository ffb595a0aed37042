"""Test helpers for the companion: game-style export files, a scripted fake website on
httpx.MockTransport, and a Watcher wired to temp folders and a fake clock."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from companion_config import Config, build_config
from companion_upload import HttpUploader
from companion_watcher import FileEventSignal, JsonStateStore, RealFileSystem, Watcher

API_KEY = "test-key-0123456789abcdefghijklmnopqrstuvwxyz-K3Y9"
API_URL = "https://guild.example.org/api"
SECRET_OFFICER_NOTE = "Discord: stonehoof (secret officer note)"
SECRET_GUILD_NOTE = "alt of Brañix (guild note)"
BASE_EXPORT_TIME = 1771699200


def lua_text(value: Any, depth: int = 0) -> str:
    """A value written as the game writes SavedVariables (tabs, ["key"], -- [n])."""
    indent = "\t" * (depth + 1)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # same escapes as Lua for these texts
    if isinstance(value, list):
        items = "".join(
            f"{indent}{lua_text(item, depth + 1)}, -- [{index}]\n"
            for index, item in enumerate(value, start=1)
        )
        return "{\n" + items + "\t" * depth + "}"
    if isinstance(value, dict):
        items = "".join(
            f"{indent}[{json.dumps(key)}] = {lua_text(item, depth + 1)},\n"
            for key, item in value.items()
        )
        return "{\n" + items + "\t" * depth + "}"
    raise TypeError(type(value).__name__)


def character(name: str = "Aldrameth", **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "name": name,
        "realm": "Sen'jin",
        "class": "Druid",
        "classFile": "DRUID",
        "level": 80,
        "rank": 0,
        "rankName": "Guild Leader",
        "zone": "Dornogal",
        "note": SECRET_GUILD_NOTE,
        "officerNote": SECRET_OFFICER_NOTE,
        "isOnline": True,
        "lastOnline": "Online",
        "achievementPoints": 14210,
    }
    record.update(overrides)
    return record


def export_database(
    export_time: int = BASE_EXPORT_TIME,
    characters: list[dict[str, Any]] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    chars = [character()] if characters is None else characters
    export: dict[str, Any] = {
        "exportTime": export_time,
        "exportTimeISO": datetime.fromtimestamp(export_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "addonVersion": "1.0.0",
        "guildName": "Pull All The Things",
        "memberCount": len(chars),
        "canViewOfficerNote": True,
        "characters": chars,
    }
    export.update(overrides)
    return {"lastExportTime": export_time, "totalExports": 1, "lastExport": export}


_mtime_counter = [1_800_000_000]


def write_file(path: Path, text: str) -> None:
    """Writes the file with a new, strictly later mtime, so (mtime, size) always changes even
    on file systems with coarse timestamps."""
    path.write_text(text, encoding="utf-8")
    _mtime_counter[0] += 10
    os.utime(path, ns=(_mtime_counter[0] * 10**9, _mtime_counter[0] * 10**9))


def write_export(folder: Path, export_time: int = BASE_EXPORT_TIME, **kwargs: Any) -> Path:
    """Writes PATTSync.lua the way the game does, holding one export."""
    path = folder / "PATTSync.lua"
    write_file(path, "\nPATTSyncDB = " + lua_text(export_database(export_time, **kwargs)) + "\n")
    return path


@dataclass
class FakeWebsite:
    """The upload endpoint, answering from a script of (status, body) pairs; 200 when the
    script is empty. Records every request."""

    script: list[tuple[int, Any]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    timeouts: int = 0  # the next N requests time out

    def answer(self, *responses: tuple[int, Any]) -> None:
        self.script.extend(responses)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.timeouts:
            self.timeouts -= 1
            raise httpx.ReadTimeout("timed out", request=request)
        if self.script:
            status, body = self.script.pop(0)
        else:
            count = len(json.loads(request.content)["characters"]) if request.content else 0
            status, body = (
                200,
                {"ok": True, "data": {"received": count, "updated": count, "new": 0}},
            )
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    @property
    def uploads(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.method == "POST"]

    @property
    def upload_export_times(self) -> list[int]:
        return [upload["export_time"] for upload in self.uploads]


def config_values(tmp_path: Path, **overrides: str) -> dict[str, str]:
    folder = tmp_path / "SavedVariables"
    folder.mkdir(exist_ok=True)
    values = {
        "PATT_API_URL": API_URL,
        "PATT_API_KEY": API_KEY,
        "WOW_SAVED_VARIABLES_PATH": str(folder),
        "POLL_INTERVAL": "30",
        "DEBOUNCE_SECONDS": "5",
    }
    values.update(overrides)
    return values


def make_config(tmp_path: Path, **overrides: str) -> Config:
    return build_config(config_values(tmp_path, **overrides), app_dir=tmp_path)


FIXED_WALL_CLOCK = datetime(2026, 2, 21, 18, 43, 11, tzinfo=UTC)


@dataclass
class Companion:
    """A Watcher on a temp SavedVariables folder, a fake website and a fake clock."""

    config: Config
    website: FakeWebsite
    watcher: Watcher
    now: float = 1000.0

    @property
    def folder(self) -> Path:
        return self.config.saved_variables_path

    def write_export(self, export_time: int = BASE_EXPORT_TIME, **kwargs: Any) -> Path:
        return write_export(self.folder, export_time, **kwargs)

    def start(self) -> Any:
        return self.watcher.start(self.now)

    def event(self, kind: str = "modified") -> None:
        """What the observer thread does on a file event: only signal the main loop."""
        self.watcher.signal.notify(kind)

    def run(self, seconds: float, step: float = 0.5) -> None:
        """Ticks the main loop every `step` seconds of fake time."""
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.now += step
            self.watcher.tick(self.now)

    def run_until(self, times: Iterable[float]) -> None:
        for moment in times:
            self.now = moment
            self.watcher.tick(moment)

    def restart(self) -> Companion:
        """A new process with the same folder and state file."""
        return new_companion(self.config, self.website, now=self.now)


def new_companion(config: Config, website: FakeWebsite, now: float = 1000.0) -> Companion:
    watcher = Watcher(
        config,
        file_system=RealFileSystem(),
        uploader=HttpUploader(config, transport=website.transport),
        state_store=JsonStateStore(config.state_file),
        signal=FileEventSignal(),
        wall_clock=lambda: FIXED_WALL_CLOCK,
    )
    return Companion(config, website, watcher, now)
