"""The upload request: payload field mapping, headers, sorting answers into outcomes, and the
retry schedule against a real local HTTP server."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from companion_upload import (
    HttpUploader,
    UploadOutcome,
    build_payload,
    characters_of,
    classify_response,
    export_time_of,
)
from companion_watcher import JsonStateStore, RealFileSystem, Watcher
from lua_parser import load_pattsync

from tests.companion.conftest import FIXTURES
from tests.companion.helpers import (
    API_KEY,
    BASE_EXPORT_TIME,
    Companion,
    FakeWebsite,
    make_config,
    new_companion,
)


def test_payload_field_mapping_from_the_game_file() -> None:
    export = load_pattsync(FIXTURES / "pattsync_savedvariables.lua")["lastExport"]
    assert build_payload(export) == {
        "uploaded_by": "companion_app",
        "addon_version": "1.0.0",
        "guild_name": "Pull All The Things",
        "export_time": 1771699200,
        "can_view_officer_note": True,
        "characters": [
            {
                "name": "Aldrameth",
                "realm": "Sen'jin",
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
            },
            {
                "name": "Zoëlle",
                "realm": "BleedingHollow",
                "class": "Mage",
                "class_file": "MAGE",
                "level": 80,
                "rank": 3,
                "rank_name": "Member",
                "guild_note": "alt of Brañix",
                "officer_note": "",
                "is_online": False,
                "last_online": "2d 4h",
                "zone": "",
            },
        ],
    }


def test_payload_leaves_out_missing_values_instead_of_sending_null() -> None:
    payload = build_payload({"exportTime": 1771699200.0, "characters": [{"name": "Solo"}, 7]})
    assert payload == {
        "uploaded_by": "companion_app",
        "export_time": 1771699200,
        "characters": [{"name": "Solo"}],
    }
    assert type(payload["export_time"]) is int


def test_export_helpers_accept_what_the_parser_can_return() -> None:
    assert characters_of({"characters": {}}) == []  # an empty Lua table reads as {}
    assert characters_of({"characters": "nonsense"}) == []
    assert export_time_of({"exportTime": True}) is None
    assert export_time_of({"exportTime": float("inf")}) is None
    assert export_time_of({}) is None


def test_request_url_headers_and_body(companion: Companion) -> None:
    companion.write_export()
    companion.start()
    (request,) = companion.website.requests
    assert request.method == "POST"
    assert str(request.url) == "https://guild.example.org/api/guild-sync/addon-upload"
    assert request.headers["X-API-Key"] == API_KEY
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "PATTSync-Companion/1.0.0"
    body = json.loads(request.content.decode("utf-8"))
    assert body["characters"][0]["guild_note"] == "alt of Brañix (guild note)"
    assert "Brañix".encode() in request.content, "UTF-8 text, not \\u escapes"


def test_trailing_slash_in_the_api_url_is_ignored(tmp_path: Path) -> None:
    website = FakeWebsite()
    companion = new_companion(make_config(tmp_path, PATT_API_URL=" https://x.org/api/ "), website)
    companion.write_export()
    companion.start()
    assert str(website.requests[0].url) == "https://x.org/api/guild-sync/addon-upload"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, UploadOutcome.ACCEPTED),
        (401, UploadOutcome.KEY_REJECTED),
        (403, UploadOutcome.KEY_REJECTED),
        (400, UploadOutcome.REJECTED),
        (413, UploadOutcome.REJECTED),
        (422, UploadOutcome.REJECTED),
        (408, UploadOutcome.RETRY),
        (429, UploadOutcome.RETRY),
        (500, UploadOutcome.RETRY),
        (503, UploadOutcome.RETRY),
        (404, UploadOutcome.FAILED),
        (405, UploadOutcome.FAILED),
    ],
)
def test_status_codes_are_sorted_into_outcomes(status: int, outcome: UploadOutcome) -> None:
    assert classify_response(httpx.Response(status, json={})).outcome is outcome


def test_server_error_text_is_taken_from_the_envelope_and_shortened() -> None:
    result = classify_response(httpx.Response(422, json={"ok": False, "error": "no characters"}))
    assert result.detail == "no characters"
    result = classify_response(httpx.Response(400, text="bad\n" + "x" * 500))
    assert result.detail.startswith("bad x") and len(result.detail) <= 201


def test_numbers_json_cannot_carry_are_rejected_locally(tmp_path: Path) -> None:
    website = FakeWebsite()
    uploader = HttpUploader(make_config(tmp_path), transport=website.transport)
    result = uploader.upload({"characters": [{"name": "A", "level": float("inf")}]})
    assert result.outcome is UploadOutcome.REJECTED
    assert website.requests == []


# A real HTTP server ---------------------------------------------------------------------------


class _FlakyHandler(http.server.BaseHTTPRequestHandler):
    """Answers 503 twice, then 200 with counts; records what it received."""

    received: list[dict[str, Any]] = []
    failures_left = 2

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append({"key": self.headers["X-API-Key"], "body": body})
        if type(self).failures_left > 0:
            type(self).failures_left -= 1
            self._reply(503, {"ok": False, "error": "busy, retry later"})
        else:
            count = len(body["characters"])
            self._reply(200, {"ok": True, "data": {"received": count, "updated": count, "new": 0}})

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        pass  # keep test output clean


@pytest.fixture
def flaky_server() -> Iterator[str]:
    _FlakyHandler.received = []
    _FlakyHandler.failures_left = 2
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FlakyHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_retries_against_a_real_server_until_it_accepts(tmp_path: Path, flaky_server: str) -> None:
    config = make_config(tmp_path, PATT_API_URL=flaky_server, UPLOAD_TIMEOUT="5")
    watcher = Watcher(
        config,
        file_system=RealFileSystem(),
        uploader=HttpUploader(config),  # real HTTP over 127.0.0.1
        state_store=JsonStateStore(config.state_file),
    )
    companion = Companion(config, FakeWebsite(), watcher)
    companion.write_export()
    companion.start()
    assert len(_FlakyHandler.received) == 1
    companion.run(4.5)
    assert len(_FlakyHandler.received) == 1, "the first retry waits 5 s"
    companion.run(0.5)
    assert len(_FlakyHandler.received) == 2
    companion.run(15)
    assert len(_FlakyHandler.received) == 3
    assert watcher.state.last_uploaded_export_time == BASE_EXPORT_TIME
    assert {r["key"] for r in _FlakyHandler.received} == {config.api_key}
    assert _FlakyHandler.received[-1]["body"]["characters"][0]["name"] == "Aldrameth"
    companion.run(600)
    assert len(_FlakyHandler.received) == 3
