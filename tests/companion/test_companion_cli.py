"""The companion as a program: configuration checks (exit 2), --once exit codes, --check,
the single-instance lock, logging set-up, the real file observer, and running stand-alone."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from companion_config import CONFIG_KEYS, ConfigError, build_config, load_config
from companion_watcher import FileEventSignal
from dotenv import dotenv_values
from patt_sync_watcher import SingleInstanceLock, main, run_forever, start_observer

from tests.companion.conftest import COMPANION_DIR
from tests.companion.helpers import (
    API_KEY,
    BASE_EXPORT_TIME,
    FakeWebsite,
    config_values,
    make_config,
    new_companion,
    write_export,
    write_file,
)

# Configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["PATT_API_URL", "PATT_API_KEY", "WOW_SAVED_VARIABLES_PATH"])
def test_each_required_key_is_reported_when_missing(tmp_path: Path, key: str) -> None:
    values = config_values(tmp_path)
    del values[key]
    with pytest.raises(ConfigError) as caught:
        build_config(values, tmp_path)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(f"{key} is missing")


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("PATT_API_URL", "http://guild.example.org/api", "must start with https://"),
        ("PATT_API_URL", "ftp://guild.example.org", "not a web address"),
        ("PATT_API_URL", "guild.example.org/api", "not a web address"),
        ("PATT_API_KEY", "   ", "PATT_API_KEY is missing"),
        ("WOW_SAVED_VARIABLES_PATH", "/no/such/folder", "not an existing folder"),
        ("POLL_INTERVAL", "4", "between 5 and 3600"),
        ("POLL_INTERVAL", "3601", "between 5 and 3600"),
        ("POLL_INTERVAL", "often", "must be a number"),
        ("POLL_INTERVAL", "nan", "between 5 and 3600"),
        ("DEBOUNCE_SECONDS", "-1", "DEBOUNCE_SECONDS must be between"),
        ("UPLOAD_TIMEOUT", "0", "UPLOAD_TIMEOUT must be between"),
        ("DEBUG", "maybe", "DEBUG must be true or false"),
        ("STATE_FILE", "/no/such/folder/state.json", "STATE_FILE: the folder"),
        ("LOG_FILE", "/no/such/folder/watcher.log", "LOG_FILE: the folder"),
    ],
)
def test_invalid_values_are_reported(tmp_path: Path, key: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config(config_values(tmp_path, **{key: value}), tmp_path)
    assert len(caught.value.problems) == 1
    assert fragment in caught.value.problems[0]


@pytest.mark.parametrize("url", ["http://localhost:8100/api", "http://127.0.0.1:8100/api"])
def test_plain_http_is_allowed_only_for_a_local_server(tmp_path: Path, url: str) -> None:
    assert make_config(tmp_path, PATT_API_URL=url).api_url == url


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    values = {"PATT_API_URL": "http://evil.example.org", "POLL_INTERVAL": "1", "DEBUG": "?"}
    with pytest.raises(ConfigError) as caught:
        build_config(values, tmp_path)
    assert len(caught.value.problems) == 5


def test_defaults_and_paths(tmp_path: Path) -> None:
    values = config_values(tmp_path)
    del values["POLL_INTERVAL"], values["DEBOUNCE_SECONDS"]
    config = build_config({**values, "STATE_FILE": "my_state.json", "DEBUG": "yes"}, tmp_path)
    assert (config.poll_interval, config.debounce_seconds, config.upload_timeout) == (30, 5, 30)
    assert config.state_file == tmp_path / "my_state.json"
    assert config.log_file == tmp_path / "patt_sync_watcher.log"
    assert config.debug is True
    assert config.watched_file.name == "PATTSync.lua"
    assert config.masked_key == "…" + API_KEY[-4:]


def test_env_file_and_environment_precedence(tmp_path: Path) -> None:
    values = config_values(tmp_path)
    env_file = tmp_path / "custom.env"
    env_file.write_text("".join(f'{k}="{v}"\n' for k, v in values.items()))
    config = load_config(env_file, tmp_path, {"POLL_INTERVAL": "60"})
    assert config.api_key == API_KEY
    assert config.poll_interval == 60, "an environment variable wins over the file"
    (tmp_path / ".env").write_text(f"PATT_API_KEY={API_KEY}X\n")
    default_file = load_config(None, tmp_path, {**values, "PATT_API_KEY": "from-env"})
    assert default_file.api_key == "from-env"


def test_missing_env_file_given_on_the_command_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.env", tmp_path, config_values(tmp_path))
    assert "--env does not exist" in caught.value.problems[0]


def test_main_exits_2_and_explains_how_to_configure(tmp_path: Path, capsys) -> None:
    assert main([], app_dir=tmp_path, environ={"PATT_API_URL": "http://x.org"}) == 2
    error = capsys.readouterr().err
    assert "PATT_API_URL must start with https://" in error
    assert "PATT_API_KEY is missing" in error
    assert "WOW_SAVED_VARIABLES_PATH is missing" in error
    assert "Copy .env.example to .env" in error


# --once -------------------------------------------------------------------------------------------


def _once(tmp_path: Path, website: FakeWebsite) -> int:
    return main(
        ["--once"], app_dir=tmp_path, environ=config_values(tmp_path), transport=website.transport
    )


def test_once_exit_codes(tmp_path: Path) -> None:
    website = FakeWebsite()
    folder = Path(config_values(tmp_path)["WOW_SAVED_VARIABLES_PATH"])
    assert _once(tmp_path, website) == 1, "no file yet"
    write_export(folder)
    assert _once(tmp_path, website) == 0, "uploaded"
    assert _once(tmp_path, website) == 0, "nothing new"
    assert website.upload_export_times == [BASE_EXPORT_TIME]
    write_export(folder, BASE_EXPORT_TIME + 60)
    website.answer((503, "down"))
    assert _once(tmp_path, website) == 1, "upload failed (no retry loop in --once)"
    write_file(folder / "PATTSync.lua", "PATTSyncDB = { lastExport = {")
    assert _once(tmp_path, website) == 1, "unreadable file"
    write_export(folder, BASE_EXPORT_TIME + 60)
    assert _once(tmp_path, website) == 0
    assert website.upload_export_times[-1] == BASE_EXPORT_TIME + 60


def test_once_writes_the_log_file_in_the_documented_format(tmp_path: Path) -> None:
    website = FakeWebsite()
    write_export(Path(config_values(tmp_path)["WOW_SAVED_VARIABLES_PATH"]))
    assert _once(tmp_path, website) == 0
    lines = (tmp_path / "patt_sync_watcher.log").read_text(encoding="utf-8").splitlines()
    assert any(line.endswith(f"with key …{API_KEY[-4:]}") for line in lines)
    assert any(" INFO Upload accepted: 1 received" in line for line in lines)
    for line in lines:
        date, clock, level = line.split(" ")[:3]
        time.strptime(f"{date} {clock}", "%Y-%m-%d %H:%M:%S")
        assert level in ("DEBUG", "INFO", "WARNING", "ERROR")
    assert API_KEY not in "\n".join(lines)


# --check ------------------------------------------------------------------------------------------


def test_check_reports_file_and_server(tmp_path: Path, capsys) -> None:
    website = FakeWebsite()
    status = {
        "last_upload": "2026-02-21T18:43:11+00:00",
        "last_export_time": "2026-02-21T18:40:00+00:00",
        "status": "success",
        "received": 812,
        "addon_version": "1.0.0",
    }
    website.answer((200, {"ok": True, "data": status}))
    write_export(Path(config_values(tmp_path)["WOW_SAVED_VARIABLES_PATH"]))
    code = main(
        ["--check"], app_dir=tmp_path, environ=config_values(tmp_path), transport=website.transport
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "export of 2026-02-21 18:40:00 UTC, 1 characters" in out
    assert "last upload: 2026-02-21T18:43:11+00:00" in out and "received: 812" in out
    (request,) = website.requests
    assert request.method == "GET"
    assert str(request.url) == "https://guild.example.org/api/guild-sync/addon-upload/status"
    assert request.headers["X-API-Key"] == API_KEY
    assert API_KEY not in out
    assert website.uploads == [], "--check never uploads"


def test_check_fails_on_a_rejected_key_or_a_broken_file(tmp_path: Path, capsys) -> None:
    website = FakeWebsite()
    website.answer((401, {"ok": False, "error": "invalid API key"}))
    folder = Path(config_values(tmp_path)["WOW_SAVED_VARIABLES_PATH"])
    write_file(folder / "PATTSync.lua", 'PATTSyncDB = { ["a"] = ')
    code = main(
        ["--check"], app_dir=tmp_path, environ=config_values(tmp_path), transport=website.transport
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "cannot be read: unexpected end of file" in out
    assert "API key rejected (HTTP 401)" in out


# Single instance ----------------------------------------------------------------------------------


def test_second_instance_exits_with_a_message(tmp_path: Path, capsys) -> None:
    first = SingleInstanceLock(tmp_path / "patt_sync_watcher.lock")
    assert first.acquire()
    try:
        website = FakeWebsite()
        write_export(Path(config_values(tmp_path)["WOW_SAVED_VARIABLES_PATH"]))
        assert _once(tmp_path, website) == 1
        assert "already running" in capsys.readouterr().err
        assert website.requests == [], "the second copy uploads nothing"
    finally:
        first.release()
    assert _once(tmp_path, FakeWebsite()) == 0, "the lock is free again"


def test_lock_is_held_against_another_process(tmp_path: Path) -> None:
    """A separate Python process (as a second copy would be) cannot take the lock, and the
    real script exits with its message."""
    lock = SingleInstanceLock(tmp_path / "patt_sync_watcher.lock")
    assert lock.acquire()
    try:
        env_file = tmp_path / "test.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in config_values(tmp_path).items()))
        script = tmp_path / "patt_sync_watcher.py"  # the lock lives next to the script
        for name in (
            "patt_sync_watcher.py",
            "companion_config.py",
            "companion_upload.py",
            "companion_watcher.py",
            "lua_parser.py",
        ):
            (tmp_path / name).write_bytes((COMPANION_DIR / name).read_bytes())
        result = subprocess.run(
            [sys.executable, str(script), "--once", "--env", str(env_file)],
            capture_output=True,
            text=True,
            timeout=60,
            env={k: v for k, v in os.environ.items() if not k.startswith(("PATT_", "WOW_"))},
        )
        assert result.returncode == 1, result.stderr
        assert "already running" in result.stderr
    finally:
        lock.release()


def test_runs_stand_alone_without_the_platform() -> None:
    code = (
        "import sys, patt_sync_watcher\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('patt', 'sv_common'))\n"
        "assert not leaked, leaked\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=COMPANION_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "ok", result.stderr


# Observer and main loop -----------------------------------------------------------------------


def test_real_observer_signals_changes_of_the_watched_file(tmp_path: Path) -> None:
    folder = tmp_path / "SavedVariables"
    folder.mkdir()
    signal = FileEventSignal()
    observer = start_observer(folder, signal)
    assert observer is not None
    try:
        write_file(folder / "PATTSync.lua.bak", "x = 1")
        write_file(folder / "PATTSync.lua", "PATTSyncDB = {}")
        events: list[str] = []
        deadline = time.monotonic() + 5  # usually milliseconds; the bound only avoids hanging
        while not events and time.monotonic() < deadline:
            time.sleep(0.02)
            events = signal.drain()
        assert events and set(events) <= {"created", "modified", "moved"}
    finally:
        observer.stop()
        observer.join(timeout=5)


def test_run_forever_processes_the_existing_file_and_stops(tmp_path: Path) -> None:
    website = FakeWebsite()
    companion = new_companion(make_config(tmp_path), website)
    companion.write_export()
    stop = threading.Event()
    stop.set()  # one start-up pass, then the loop ends
    assert run_forever(companion.watcher, stop=stop, use_observer=False) == 0
    assert website.upload_export_times == [BASE_EXPORT_TIME]


def test_run_forever_survives_an_unexpected_error(tmp_path: Path, caplog) -> None:
    companion = new_companion(make_config(tmp_path), FakeWebsite())
    stop = threading.Event()
    calls: list[float] = []

    def broken_tick(now: float) -> None:
        calls.append(now)
        if len(calls) == 1:
            raise RuntimeError("boom")
        stop.set()

    companion.watcher.tick = broken_tick  # type: ignore[method-assign]
    ticks = iter(range(100))
    assert (
        run_forever(
            companion.watcher, clock=lambda: float(next(ticks)), stop=stop, use_observer=False
        )
        == 0
    )
    assert len(calls) == 2
    assert "Unexpected error; the companion keeps running" in caplog.text


def test_env_example_lists_every_key_with_a_comment() -> None:
    example = COMPANION_DIR / ".env.example"
    values = dotenv_values(example)
    assert tuple(values) == CONFIG_KEYS
    lines = example.read_text(encoding="utf-8").splitlines()
    for key in CONFIG_KEYS:
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{key}="))
        assert lines[index - 1].startswith("# "), f"{key} needs a one-line comment"
    assert values["WOW_SAVED_VARIABLES_PATH"].endswith(
        "\\WTF\\Account\\YOURACCOUNT\\SavedVariables"
    )


def test_requirements_name_the_three_packages_with_minimum_versions() -> None:
    lines = (COMPANION_DIR / "requirements.txt").read_text().splitlines()
    requirements = sorted(line for line in lines if line and not line.startswith("#"))
    assert [r.split(">=")[0] for r in requirements] == ["httpx", "python-dotenv", "watchdog"]
    assert all(">=" in r for r in requirements)


def test_check_leaves_the_log_file_alone(tmp_path: Path, capsys) -> None:
    website = FakeWebsite()
    website.answer((200, {"ok": True, "data": {"last_upload": None, "status": None}}))
    main(
        ["--check"], app_dir=tmp_path, environ=config_values(tmp_path), transport=website.transport
    )
    assert "last upload: never" in capsys.readouterr().out
    assert not (tmp_path / "patt_sync_watcher.log").exists()
