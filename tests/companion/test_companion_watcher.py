"""Watcher.tick(now) with a fake clock, temp folders and a fake website: start-up, events and
debounce, polling, new-export detection, persisted state, upload outcomes and retries, and
what the log may contain."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from companion_watcher import (
    FileEventSignal,
    ProcessResult,
    SavedVariablesEventHandler,
    retry_delay,
)
from watchdog.events import (
    DirModifiedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
)

from tests.companion.helpers import (
    API_KEY,
    BASE_EXPORT_TIME,
    SECRET_GUILD_NOTE,
    SECRET_OFFICER_NOTE,
    Companion,
    FakeWebsite,
    character,
    make_config,
    new_companion,
    write_file,
)

# Start-up ------------------------------------------------------------------------------------


def test_startup_uploads_an_export_made_while_the_app_was_off(companion: Companion) -> None:
    companion.write_export()
    assert companion.start() is ProcessResult.UPLOADED
    assert companion.website.upload_export_times == [BASE_EXPORT_TIME]
    state = json.loads(companion.config.state_file.read_text())
    assert state == {
        "last_uploaded_export_time": BASE_EXPORT_TIME,
        "last_uploaded_at": "2026-02-21T18:43:11+00:00",
        "last_rejected_export_time": None,
    }


def test_startup_without_a_file_waits_quietly(companion: Companion) -> None:
    assert companion.start() is ProcessResult.MISSING
    companion.run(120)
    assert companion.website.requests == []


# Events and debounce ----------------------------------------------------------------------------


def test_burst_of_five_modify_events_gives_one_upload(companion: Companion) -> None:
    companion.start()
    signal = companion.watcher.signal
    handler = SavedVariablesEventHandler(signal)
    path = companion.folder / "PATTSync.lua"
    # The game writes the file in pieces: five events over two seconds.
    for piece in range(5):
        companion.write_export(BASE_EXPORT_TIME + 60, characters=[character(f"M{piece}")])
        handler.dispatch(FileModifiedEvent(str(path)))
        companion.run(0.5)
    assert companion.website.uploads == [], "nothing is read during the quiet period"
    companion.run(5.5)
    assert len(companion.website.uploads) == 1
    assert companion.website.uploads[0]["characters"][0]["name"] == "M4"
    companion.run(120)
    assert len(companion.website.uploads) == 1


def test_quiet_period_restarts_with_each_event(companion: Companion) -> None:
    companion.start()
    companion.write_export(BASE_EXPORT_TIME + 60)
    companion.event()
    companion.run(4.5)
    companion.event()  # a late event restarts the five seconds
    companion.run(4.5)
    assert companion.website.uploads == []
    companion.run(1.5)  # quiet period over, then two identical stats 0.5 s apart
    assert len(companion.website.uploads) == 1


def test_file_still_growing_at_the_stability_check_is_read_later(companion: Companion) -> None:
    companion.start()
    companion.write_export(BASE_EXPORT_TIME + 60)
    companion.event()
    companion.run(5.5)  # event seen at +0.5, quiet period over at +5.5: first stat taken
    companion.write_export(BASE_EXPORT_TIME + 60, characters=[character("A"), character("B")])
    companion.run(0.5)  # second stat differs: wait again, no read yet
    assert companion.website.uploads == []
    companion.run(5)
    assert companion.website.uploads == [], "a new quiet period started"
    companion.run(1)
    assert [len(u["characters"]) for u in companion.website.uploads] == [2]


EVENTS = {
    "created": lambda folder: FileCreatedEvent(f"{folder}/PATTSync.lua"),
    "moved-to": lambda folder: FileMovedEvent(
        f"{folder}/PATTSync.lua.tmp", f"{folder}/PATTSync.lua"
    ),
    "modified": lambda folder: FileModifiedEvent(f"{folder}/PATTSync.lua"),
}


@pytest.mark.parametrize("kind", list(EVENTS))
def test_created_moved_and_modified_events_lead_to_an_upload(
    companion: Companion, kind: str
) -> None:
    companion.start()
    companion.write_export(BASE_EXPORT_TIME + 60)
    SavedVariablesEventHandler(companion.watcher.signal).dispatch(EVENTS[kind](companion.folder))
    companion.run(6)
    assert companion.website.upload_export_times == [BASE_EXPORT_TIME + 60]


def test_handler_only_signals_and_ignores_other_files(tmp_path: Path) -> None:
    signal = FileEventSignal()
    handler = SavedVariablesEventHandler(signal, case_insensitive=False)
    folder = str(tmp_path)
    for ignored in (
        FileModifiedEvent(f"{folder}/PATTSync.lua.bak"),
        FileModifiedEvent(f"{folder}/OtherAddon.lua"),
        FileModifiedEvent(f"{folder}/pattsync.lua"),  # case matters outside Windows
        FileMovedEvent(f"{folder}/PATTSync.lua", f"{folder}/PATTSync.lua.bak"),  # moved away
        FileDeletedEvent(f"{folder}/PATTSync.lua"),
        DirModifiedEvent(folder),
    ):
        handler.dispatch(ignored)
    assert signal.drain() == []
    handler.dispatch(FileModifiedEvent(f"{folder}/PATTSync.lua"))
    handler.dispatch(FileCreatedEvent(f"{folder}/PATTSync.lua"))
    handler.dispatch(FileMovedEvent(f"{folder}/x.tmp", f"{folder}/PATTSync.lua"))
    assert signal.drain() == ["modified", "created", "moved"]
    assert signal.drain() == []


def test_handler_compares_names_case_insensitively_on_windows(tmp_path: Path) -> None:
    signal = FileEventSignal()
    handler = SavedVariablesEventHandler(signal, case_insensitive=True)
    handler.dispatch(FileModifiedEvent(str(tmp_path / "pattsync.LUA")))
    handler.dispatch(FileModifiedEvent(str(tmp_path / "pattsync.lua.bak")))
    assert signal.drain() == ["modified"]


# Polling ------------------------------------------------------------------------------------------


def test_polling_finds_a_change_without_any_event(companion: Companion) -> None:
    companion.write_export()
    companion.start()
    companion.write_export(BASE_EXPORT_TIME + 3600)  # the observer missed this one
    companion.run(29.5)
    assert companion.website.upload_export_times == [BASE_EXPORT_TIME]
    companion.run(0.5)  # POLL_INTERVAL = 30
    assert companion.website.upload_export_times == [BASE_EXPORT_TIME, BASE_EXPORT_TIME + 3600]
    companion.run(300)
    assert len(companion.website.uploads) == 2, "an unchanged file is not read again"


def test_polling_leaves_a_file_alone_while_its_quiet_period_runs(companion: Companion) -> None:
    companion.start()
    companion.run(27)
    companion.write_export(BASE_EXPORT_TIME + 60)
    companion.event()
    companion.run(3)  # the poll at 30 s sees the change but the event's read is coming
    assert companion.website.uploads == []
    companion.run(3)
    assert len(companion.website.uploads) == 1


# New export detection and state ----------------------------------------------------------


def test_older_or_equal_export_is_skipped(companion: Companion, caplog) -> None:
    caplog.set_level(logging.INFO, logger="patt_sync")
    companion.write_export(BASE_EXPORT_TIME)
    companion.start()
    for export_time in (BASE_EXPORT_TIME, BASE_EXPORT_TIME - 3600):
        companion.write_export(export_time)
        companion.event()
        companion.run(6)
    assert companion.website.upload_export_times == [BASE_EXPORT_TIME]
    assert "not newer than the last upload" in caplog.text
    companion.write_export(BASE_EXPORT_TIME + 1)
    companion.event()
    companion.run(6)
    assert companion.website.upload_export_times == [BASE_EXPORT_TIME, BASE_EXPORT_TIME + 1]


def test_state_survives_a_restart(companion: Companion) -> None:
    companion.write_export()
    companion.start()
    restarted = companion.restart()
    assert restarted.start() is ProcessResult.NOTHING_NEW
    assert len(companion.website.uploads) == 1
    restarted.write_export(BASE_EXPORT_TIME + 60)
    restarted.event()
    restarted.run(6)
    assert companion.website.upload_export_times == [BASE_EXPORT_TIME, BASE_EXPORT_TIME + 60]


def test_state_file_is_replaced_atomically(companion: Companion) -> None:
    companion.write_export()
    companion.start()
    leftovers = [p.name for p in companion.config.state_file.parent.iterdir() if ".tmp" in p.name]
    assert leftovers == []
    companion.config.state_file.write_text("{ not json")
    restarted = companion.restart()  # a damaged state file means starting afresh, not a crash
    assert restarted.watcher.state.last_uploaded_export_time is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("PATTSyncDB = { totalExports = 0 }", "No export"),
        ("PATTSyncDB = { lastExport = { exportTime = 5, characters = {} } }", "no characters"),
        ('PATTSyncDB = { lastExport = { characters = { { name = "A" } } } }', "no export time"),
    ],
)
def test_files_without_a_usable_export_are_skipped(
    companion: Companion, caplog, text: str, reason: str
) -> None:
    write_file(companion.folder / "PATTSync.lua", text)
    caplog.set_level(logging.INFO, logger="patt_sync")
    assert companion.start() is ProcessResult.NOTHING_NEW
    assert companion.website.requests == []
    assert reason in caplog.text


def test_truncated_file_is_not_uploaded_and_read_again_on_the_next_change(
    companion: Companion, caplog
) -> None:
    path = companion.write_export(BASE_EXPORT_TIME + 60)
    complete = path.read_text(encoding="utf-8")
    write_file(path, complete[: len(complete) // 2])  # the game crashed while writing
    assert companion.start() is ProcessResult.UNREADABLE
    companion.run(120)  # polling does not re-read the same broken file
    assert companion.website.requests == []
    assert "Could not read PATTSync.lua" in caplog.text
    write_file(path, complete)
    companion.event()
    companion.run(6)
    assert companion.website.upload_export_times == [BASE_EXPORT_TIME + 60]


# Upload outcomes and retries --------------------------------------------------------------------


def test_accepted_upload_logs_the_counts(companion: Companion, caplog) -> None:
    caplog.set_level(logging.INFO, logger="patt_sync")
    companion.website.answer((200, {"ok": True, "data": {"received": 3, "updated": 2, "new": 1}}))
    companion.write_export(characters=[character("A"), character("B"), character("C")])
    companion.start()
    assert "Upload accepted: 3 received, 2 updated, 1 new" in caplog.text


def test_key_rejected_is_not_retried_until_the_file_changes(companion: Companion, caplog) -> None:
    companion.website.answer((401, {"ok": False, "error": "invalid API key"}))
    companion.write_export()
    assert companion.start() is ProcessResult.UPLOAD_FAILED
    assert "API key rejected — check PATT_API_KEY" in caplog.text
    companion.run(900)
    assert len(companion.website.requests) == 1
    assert companion.watcher.state.last_uploaded_export_time is None
    companion.write_export()  # same export, but the file changed: one more try
    companion.event()
    companion.run(6)
    assert len(companion.website.requests) == 2
    assert companion.watcher.state.last_uploaded_export_time == BASE_EXPORT_TIME


def test_key_rejected_is_tried_again_after_a_restart(companion: Companion) -> None:
    companion.website.answer((403, {"ok": False, "error": "forbidden"}))
    companion.write_export()
    companion.start()
    assert companion.restart().start() is ProcessResult.UPLOADED


def test_rejected_export_is_remembered_and_never_retried(companion: Companion, caplog) -> None:
    companion.website.answer((422, {"ok": False, "error": "upload is for another guild"}))
    companion.write_export()
    companion.start()
    assert "Upload rejected (HTTP 422): upload is for another guild" in caplog.text
    companion.run(900)
    companion.write_export()  # the same export written again
    companion.event()
    companion.run(6)
    restarted = companion.restart()
    assert restarted.start() is ProcessResult.NOTHING_NEW
    assert len(companion.website.requests) == 1
    state = json.loads(companion.config.state_file.read_text())
    assert state["last_rejected_export_time"] == BASE_EXPORT_TIME
    assert state["last_uploaded_export_time"] is None
    companion.write_export(BASE_EXPORT_TIME + 60)  # a new export is tried
    companion.event()
    companion.run(6)
    assert companion.website.upload_export_times[-1] == BASE_EXPORT_TIME + 60


@pytest.mark.parametrize("status", [400, 413])
def test_other_rejections_are_final_too(companion: Companion, status: int) -> None:
    companion.website.answer((status, "Request Entity Too Large"))
    companion.write_export()
    companion.start()
    companion.run(900)
    assert len(companion.website.requests) == 1
    assert companion.watcher.state.last_rejected_export_time == BASE_EXPORT_TIME


def test_unexpected_status_waits_for_a_change_without_marking_the_export(
    companion: Companion, caplog
) -> None:
    companion.website.answer((404, {"detail": "Not Found"}))
    companion.write_export()
    companion.start()
    companion.run(900)
    assert len(companion.website.requests) == 1
    assert "check PATT_API_URL" in caplog.text
    assert companion.watcher.state.last_rejected_export_time is None


def test_retry_schedule_after_server_errors(companion: Companion, caplog) -> None:
    caplog.set_level(logging.INFO, logger="patt_sync")
    companion.website.answer(*[(503, {"ok": False, "error": "busy, retry later"})] * 7)
    companion.write_export()
    started = companion.now
    companion.start()
    attempt_times = [0.0]
    for _ in range(7):
        before = len(companion.website.requests)
        while len(companion.website.requests) == before:
            companion.run(0.5)
        attempt_times.append(companion.now - started)
    assert [b - a for a, b in zip(attempt_times, attempt_times[1:], strict=False)] == [
        5,
        15,
        45,
        120,
        300,
        300,
        300,
    ]
    assert companion.watcher.state.last_uploaded_export_time == BASE_EXPORT_TIME
    assert "retrying in 5 s" in caplog.text and "busy, retry later" in caplog.text


@pytest.mark.parametrize("status", [408, 429, 500, 502, 504])
def test_retryable_statuses(companion: Companion, status: int) -> None:
    companion.website.answer((status, "try later"))
    companion.write_export()
    companion.start()
    companion.run(5)
    assert len(companion.website.requests) == 2
    assert companion.watcher.state.last_uploaded_export_time == BASE_EXPORT_TIME


def test_timeouts_and_connection_errors_are_retried(companion: Companion, caplog) -> None:
    companion.website.timeouts = 2
    companion.write_export()
    assert companion.start() is ProcessResult.UPLOAD_FAILED
    assert "did not answer in time" in caplog.text
    companion.run(5 + 15)
    assert len(companion.website.requests) == 3
    assert companion.watcher.state.last_uploaded_export_time == BASE_EXPORT_TIME


def test_newer_export_replaces_a_pending_retry(companion: Companion, caplog) -> None:
    caplog.set_level(logging.INFO, logger="patt_sync")
    companion.website.answer((503, "down"), (503, "down"))
    companion.write_export(BASE_EXPORT_TIME)
    companion.start()  # fails, retry due in 5 s
    companion.run(5)  # fails again, retry due in 15 s
    companion.write_export(BASE_EXPORT_TIME + 600)
    companion.event()
    companion.run(6)  # the newer export goes out at once and succeeds
    assert companion.website.upload_export_times == [
        BASE_EXPORT_TIME,
        BASE_EXPORT_TIME,
        BASE_EXPORT_TIME + 600,
    ]
    assert "A newer export replaces the upload waiting for a retry" in caplog.text
    companion.run(900)
    assert len(companion.website.requests) == 3, "the old export is never sent again"
    assert companion.watcher.pending is None


def test_same_export_rewritten_keeps_its_retry_schedule(companion: Companion) -> None:
    companion.website.answer((503, "down"))
    companion.write_export()
    companion.start()  # retry due at +5 s
    companion.write_export()  # the game rewrote the file (e.g. logout after /reload)
    companion.event()
    companion.run(4.5)
    assert len(companion.website.requests) == 1
    companion.run(0.5)
    assert len(companion.website.requests) == 2


def test_retries_never_block_watching(companion: Companion) -> None:
    companion.website.answer(*[(503, "down")] * 3)
    companion.write_export(BASE_EXPORT_TIME)
    companion.start()
    companion.run(1)
    companion.website.script.clear()
    companion.write_export(BASE_EXPORT_TIME + 60)
    companion.event()
    companion.run(6)  # the debounced read happens long before the pending retry would
    assert companion.website.upload_export_times[-1] == BASE_EXPORT_TIME + 60


def test_retry_delay_table() -> None:
    assert [retry_delay(n) for n in range(1, 9)] == [5, 15, 45, 120, 300, 300, 300, 300]


# Privacy ------------------------------------------------------------------------------------------


def test_log_never_contains_the_key_or_note_contents(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="patt_sync")
    website = FakeWebsite()
    companion = new_companion(make_config(tmp_path, DEBUG="true"), website)
    website.answer(
        (503, "down"),
        (422, {"ok": False, "error": "String should have at most 500 characters"}),
    )
    companion.write_export(BASE_EXPORT_TIME)
    companion.start()
    companion.run(5)
    path = companion.write_export(BASE_EXPORT_TIME + 60)
    text = path.read_text(encoding="utf-8")
    write_file(path, text[: text.index(SECRET_OFFICER_NOTE) + 10])  # error right in a note
    companion.event()
    companion.run(6)
    companion.write_export(BASE_EXPORT_TIME + 120)
    companion.event()
    companion.run(6)
    log = caplog.text
    assert "Payload: 1 characters, 1 with a guild note, 1 with an officer note" in log
    assert "Could not read PATTSync.lua" in log
    assert API_KEY not in log and API_KEY[:12] not in log
    assert SECRET_OFFICER_NOTE[:10] not in log
    assert SECRET_GUILD_NOTE[:10] not in log
    assert website.uploads[-1]["characters"][0]["officer_note"] == SECRET_OFFICER_NOTE
