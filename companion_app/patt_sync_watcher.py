"""PATTSync companion: watches the addon's SavedVariables file (PATTSync.lua) and uploads each
new guild roster export to the PATT website.

`python patt_sync_watcher.py` runs until stopped; `--once` processes the current file and exits;
`--check` validates the set-up. See README.md. Needs only its own requirements.txt.

This file owns the process: command line, logging, the single-instance lock, the file
observer and the main loop. The decisions live in companion_watcher.py (Watcher), the HTTP
side in companion_upload.py, settings in companion_config.py, reading the file in lua_parser.py.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

import httpx
from companion_config import APP_DIR, COMPANION_VERSION, Config, ConfigError, load_config
from companion_upload import HttpUploader, characters_of, export_time_of
from companion_watcher import (
    FileEventSignal,
    JsonStateStore,
    ProcessResult,
    RealFileSystem,
    SavedVariablesEventHandler,
    Watcher,
    describe_export_time,
)
from lua_parser import LuaParseError, load_pattsync
from watchdog.observers import Observer

LOCK_FILE_NAME = "patt_sync_watcher.lock"
TICK_SECONDS = 0.5  # how often the main loop looks at events, timers and retries
LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
LOG_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
LOG_MAX_BYTES = 1_000_000
LOG_BACKUPS = 2  # the current file plus two old ones: 3 files of 1 MB at most

logger = logging.getLogger("patt_sync")


# Single instance ---------------------------------------------------------------------------


class SingleInstanceLock:
    """An OS file lock: a second copy (e.g. Startup folder plus a manual start) cannot take it.
    The OS releases it when the process ends, even after a crash."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self) -> bool:
        # Opened without truncating: the file may belong to the running copy. It stays open
        # for as long as the lock is held.
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            _lock(handle)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            with suppress(OSError):
                _unlock(self._handle)
            self._handle.close()
            self._handle = None


if sys.platform == "win32":
    import msvcrt

    def _lock(handle: IO[str]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(handle: IO[str]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# Logging ------------------------------------------------------------------------------------


def configure_logging(config: Config) -> None:
    """Console (when there is one: pythonw has none) and a rotating file."""
    logger.setLevel(logging.DEBUG if config.debug else logging.INFO)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter(LOG_FORMAT, LOG_DATE_FORMAT)
    if sys.stderr is not None:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(formatter)
        logger.addHandler(console)
    try:
        file_handler = logging.handlers.RotatingFileHandler(
            config.log_file, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
    except OSError as error:
        logger.warning("Cannot write the log file %s: %s", config.log_file, error)
    else:
        file_handler.setFormatter(formatter)
        logger.addHandler(file_handler)
    # httpx logs every request at INFO; keep our log to one line per event.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def log_configuration(config: Config) -> None:
    logger.info(
        "PATTSync companion %s: watching %s, uploading to %s with key %s",
        COMPANION_VERSION,
        config.watched_file,
        config.api_url,
        config.masked_key,
    )
    logger.debug(
        "Polling every %g s, quiet period %g s, timeout %g s, state file %s",
        config.poll_interval,
        config.debounce_seconds,
        config.upload_timeout,
        config.state_file,
    )


def _report_config_problems(error: ConfigError, app_dir: Path) -> None:
    lines = ["PATTSync companion: the configuration has problems:"]
    lines += [f"  - {problem}" for problem in error.problems]
    lines.append(
        f"Copy .env.example to .env in {app_dir} and fill it in "
        "(or set the values as environment variables)."
    )
    text = "\n".join(lines) + "\n"
    if sys.stderr is not None:
        sys.stderr.write(text)
    else:
        # pythonw has no console: leave the message where the user will look for it.
        with suppress(OSError), open(app_dir / "patt_sync_watcher.log", "a", encoding="utf-8") as f:
            f.write(text)


# Running ------------------------------------------------------------------------------------


def start_observer(folder: Path, signal: FileEventSignal) -> Any | None:
    """A watchdog observer on the folder, or None when events are unavailable (polling then
    does all the work)."""
    observer = Observer()
    observer.schedule(SavedVariablesEventHandler(signal), str(folder), recursive=False)
    try:
        observer.start()
    except OSError as error:
        logger.warning("File events unavailable (%s); relying on polling", error)
        return None
    return observer


def run_forever(
    watcher: Watcher,
    *,
    clock: Callable[[], float] = time.monotonic,
    stop: threading.Event | None = None,
    use_observer: bool = True,
) -> int:
    """The main loop: watch, tick every 0.5 s, until stopped (Ctrl+C or `stop`)."""
    stop = stop or threading.Event()
    # The observer starts first so a save during the first upload is not missed.
    observer = (
        start_observer(watcher.config.saved_variables_path, watcher.signal)
        if use_observer
        else None
    )
    try:
        watcher.start(clock())
        while not stop.is_set():
            try:
                watcher.tick(clock())
            except Exception:
                # A long-running helper must survive one bad pass; the next tick tries again.
                logger.exception("Unexpected error; the companion keeps running")
            stop.wait(TICK_SECONDS)
    except KeyboardInterrupt:
        logger.info("Stopped")
    finally:
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)
    return 0


def run_check(config: Config, uploader: HttpUploader) -> int:
    """--check: settings, the file, and the server's view of the last upload."""
    print(f"API URL:          {config.api_url}")
    print(f"API key:          {config.masked_key}")
    print(f"Watched file:     {config.watched_file}")
    healthy = True
    if config.watched_file.is_file():
        try:
            database = load_pattsync(config.watched_file)
        except LuaParseError as error:
            where = f" (line {error.line}, column {error.column})" if error.line else ""
            print(f"File:             cannot be read: {error.message}{where}")
            healthy = False
        else:
            export = database.get("lastExport")
            export_time = export_time_of(export) if isinstance(export, dict) else None
            if isinstance(export, dict) and export_time is not None:
                when = describe_export_time(export_time)
                count = len(characters_of(export))
                print(f"File:             export of {when}, {count} characters")
            else:
                print("File:             no export yet (type /pattsync in game)")
    else:
        print("File:             not found yet (export in game, then /reload or log out)")
    status, data = uploader.fetch_status()
    if status == 200:
        details = data if isinstance(data, dict) else {}
        print(
            "Server:           reachable, key accepted; last upload: "
            f"{details.get('last_upload') or 'never'}, status: {details.get('status') or '-'}, "
            f"received: {details.get('received') or 0}"
        )
    elif status in (401, 403):
        print(f"Server:           API key rejected (HTTP {status}) — check PATT_API_KEY")
        healthy = False
    elif status is None:
        print(f"Server:           {data} — check PATT_API_URL and the internet connection")
        healthy = False
    else:
        print(f"Server:           unexpected answer HTTP {status}: {data}")
        healthy = False
    print("All good." if healthy else "Problems found (see above).")
    return 0 if healthy else 1


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Uploads PATTSync guild roster exports to the PATT website."
    )
    parser.add_argument("--env", type=Path, help="settings file (default: .env next to the app)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--once", action="store_true", help="process the current file, upload if new, exit"
    )
    mode.add_argument(
        "--check", action="store_true", help="check settings, file and server, then exit"
    )
    return parser.parse_args(argv)


def main(
    argv: list[str] | None = None,
    *,
    app_dir: Path = APP_DIR,
    environ: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """Exit codes: 0 success, 1 failure (or already running), 2 configuration problems."""
    arguments = parse_arguments(argv)
    try:
        config = load_config(arguments.env, app_dir, os.environ if environ is None else environ)
    except ConfigError as error:
        _report_config_problems(error, app_dir)
        return 2
    uploader = HttpUploader(config, transport=transport)
    try:
        if arguments.check:
            # Prints only: no log file, so it never holds the running copy's log open.
            return run_check(config, uploader)
        configure_logging(config)
        lock = SingleInstanceLock(app_dir / LOCK_FILE_NAME)
        if not lock.acquire():
            logger.error(
                "The PATTSync companion is already running (lock file %s); this copy exits",
                lock.path,
            )
            return 1
        try:
            log_configuration(config)
            watcher = Watcher(
                config,
                file_system=RealFileSystem(),
                uploader=uploader,
                state_store=JsonStateStore(config.state_file),
            )
            if arguments.once:
                result = watcher.start(time.monotonic())
                return 0 if result in (ProcessResult.UPLOADED, ProcessResult.NOTHING_NEW) else 1
            return run_forever(watcher)
        finally:
            lock.release()
    finally:
        uploader.close()


if __name__ == "__main__":
    sys.exit(main())
