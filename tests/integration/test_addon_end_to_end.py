"""Addon → SavedVariables file → companion → platform → notes on the member page, end to end:
the PATTSync addon runs under Lua 5.1 (lupa) with the game stubs, the file is written as the game
writes it, the companion's own `--once` run reads and uploads it, and the real app (real
PostgreSQL) stores the notes. Accents and punctuation must survive every hop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.addon.conftest import GameSession  # also puts companion_app/ on sys.path
from tests.conftest import Factory, count_rows, make_settings

from patt.config import Settings
from sv_common.identity import characters as character_service

KEY = "end-to-end-upload-key-0123456789abcdefghijkl"
ZOELLE_GUILD_NOTE = 'alt of Brañix — "tank" \\ heals'
ZOELLE_OFFICER_NOTE = "Trial until März; Discord: brañix ✓"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, patt_api_key=KEY)


@pytest.fixture(autouse=True)
def _reset_companion_logger() -> Iterator[None]:
    """The companion's main() attaches its own handlers to the "patt_sync" logger."""
    yield
    log = logging.getLogger("patt_sync")
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    log.propagate = True
    log.setLevel(logging.NOTSET)


class InProcessTransport(httpx.BaseTransport):
    """The companion's (synchronous) HTTP client talking to the app on the test's event loop:
    each request is handed to the ASGI app there while the companion runs in a worker thread."""

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._asgi = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._loop = loop
        self.statuses: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def forward() -> httpx.Response:
            response = await self._asgi.handle_async_request(
                httpx.Request(
                    request.method, request.url, headers=request.headers, content=request.read()
                )
            )
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        response = asyncio.run_coroutine_threadsafe(forward(), self._loop).result(timeout=60)
        self.statuses.append(response.status_code)
        return response


def export_from_the_game(folder: Path) -> Path:
    """An officer types /pattsync in game, then /reload writes PATTSync.lua."""
    game = GameSession()
    assert game.version == "Lua 5.1"
    game.add_member(
        "Aldrameth-Senjin",
        rankName="Guild Leader",
        rankIndex=0,
        classFile="DRUID",
        note="GM",
        officerNote="Discord: stonehoof",
        isOnline=True,
        **{"class": "Druid"},
    )
    game.add_member(
        "Zoëlle-BleedingHollow",
        note=ZOELLE_GUILD_NOTE,
        officerNote=ZOELLE_OFFICER_NOTE,
        lastOnline=[0, 0, 2, 4],
    )
    game.load()
    game.export()
    path = folder / "PATTSync.lua"
    path.write_bytes(game.saved_variables_text().encode("utf-8"))
    return path


async def run_companion(
    app: Any, tmp_path: Path, saved_variables: Path, key: str
) -> tuple[int, str, InProcessTransport]:
    """`python patt_sync_watcher.py --once` with this key; (exit code, its log, transport)."""
    import patt_sync_watcher

    log_file = tmp_path / "patt_sync_watcher.log"
    log_file.unlink(missing_ok=True)
    environ = {
        "PATT_API_URL": "http://127.0.0.1/api",
        "PATT_API_KEY": key,
        "WOW_SAVED_VARIABLES_PATH": str(saved_variables),
        "STATE_FILE": str(tmp_path / "patt_sync_state.json"),
        "LOG_FILE": str(log_file),
    }
    transport = InProcessTransport(app, asyncio.get_running_loop())
    code = await asyncio.to_thread(
        patt_sync_watcher.main,
        ["--once"],
        app_dir=tmp_path,
        environ=environ,
        transport=transport,
    )
    logging.getLogger("patt_sync").handlers.clear()  # release the log file before reading it
    return code, log_file.read_text(encoding="utf-8"), transport


async def test_addon_export_reaches_the_member_page_intact(
    app: Any, client: httpx.AsyncClient, factory: Factory, tmp_path: Path
) -> None:
    officer = await factory.officer()
    branix = await factory.member(username="branix", display_name="Brañix", registered=False)
    stonehoof = await factory.member(username="stonehoof", registered=False)
    async with app.state.sessionmaker() as session, session.begin():
        zoelle = await character_service.add_character(
            session,
            actor=None,
            member_id=branix.id,
            name="Zoëlle",
            realm="Bleeding Hollow",
            wow_class="Mage",
        )
        zoelle_id = zoelle.id
    saved_variables = tmp_path / "SavedVariables"
    saved_variables.mkdir()
    export_from_the_game(saved_variables)

    # a wrong key: reported plainly, nothing written, and the export is not given up on
    async with app.state.sessionmaker() as session:
        logs_before = await count_rows(session, "guild_identity.sync_log")
    code, log, transport = await run_companion(app, tmp_path, saved_variables, "not-the-key")
    assert code == 1 and transport.statuses == [401]
    assert "API key rejected — check PATT_API_KEY (HTTP 401)" in log
    assert KEY not in log and "not-the-key" not in log  # the key never goes to the log
    async with app.state.sessionmaker() as session:
        assert await count_rows(session, "guild_identity.sync_log") == logs_before

    # the right key (as after fixing .env and restarting): uploaded
    code, log, transport = await run_companion(app, tmp_path, saved_variables, KEY)
    assert code == 0 and transport.statuses == [200], log
    assert "Upload accepted: 2 received, 1 updated, 1 new" in log
    await app.state.guild_sync.wait_idle()  # the pipeline the upload requested

    response = await client.get(f"/api/v1/admin/members/{branix.id}", headers=officer.headers)
    assert response.status_code == 200
    [character] = response.json()["data"]["characters"]
    assert character["id"] == zoelle_id and character["name"] == "Zoëlle"
    assert character["realm_slug"] == "bleeding-hollow"
    assert character["guild_note"] == ZOELLE_GUILD_NOTE
    assert character["officer_note"] == ZOELLE_OFFICER_NOTE

    status = await client.get("/api/guild-sync/addon-upload/status", headers={"X-API-Key": KEY})
    data = status.json()["data"]
    assert (data["status"], data["received"], data["addon_version"]) == ("success", 2, "1.0.0")

    # Aldrameth was new to the platform: created from the export, then linked to Stonehoof by
    # the pipeline that followed the upload, through its officer note "Discord: stonehoof"
    async with app.state.sessionmaker() as session:
        assert (
            await count_rows(
                session,
                "common.characters",
                "name = 'Aldrameth' AND origin = 'addon' AND guild_note = 'GM' "
                "AND officer_note = 'Discord: stonehoof' AND member_id = :m",
                m=stonehoof.id,
            )
            == 1
        )
        uploads = await count_rows(session, "guild_identity.sync_log", "source = 'addon_upload'")
    assert uploads == 1

    # the same file again: nothing new, no second upload
    code, log, transport = await run_companion(app, tmp_path, saved_variables, KEY)
    assert code == 0 and transport.statuses == []
    assert "not newer than the last upload" in log
