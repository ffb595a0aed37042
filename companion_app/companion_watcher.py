"""The companion's decisions: when to read PATTSync.lua (events, quiet period, polling), whether
its export is new, and what to do with each upload outcome (state, retries). Everything
outside (clock, files, HTTP, state file) is injected, so `Watcher.tick(now)` is testable."""

from __future__ import annotations

import json
import logging
import os
import queue
import tempfile
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from companion_config import WATCHED_FILE_NAME, Config
from companion_upload import Uploader, UploadOutcome, build_payload, characters_of, export_time_of
from lua_parser import LuaParseError, load_pattsync
from watchdog.events import FileSystemEvent, FileSystemEventHandler

STABILITY_SECONDS = 0.5  # two identical stats this far apart: the game has finished writing
RETRY_DELAYS = (5, 15, 45, 120, 300)  # seconds; the last one repeats while the app runs

logger = logging.getLogger("patt_sync")


@dataclass
class SyncState:
    """What survives a restart, so the same export is never uploaded twice."""

    last_uploaded_export_time: int | None = None
    last_uploaded_at: str | None = None
    last_rejected_export_time: int | None = None


class StateStore(Protocol):
    def load(self) -> SyncState: ...

    def save(self, state: SyncState) -> None: ...


def _optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class JsonStateStore:
    """SyncState in a small JSON file, replaced atomically so a crash never leaves half a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> SyncState:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return SyncState()
        except (OSError, ValueError) as error:
            logger.warning("State file %s is unreadable (%s); starting afresh", self.path, error)
            return SyncState()
        if not isinstance(raw, dict):
            logger.warning("State file %s has an unexpected shape; starting afresh", self.path)
            return SyncState()
        uploaded_at = raw.get("last_uploaded_at")
        return SyncState(
            last_uploaded_export_time=_optional_int(raw.get("last_uploaded_export_time")),
            last_uploaded_at=uploaded_at if isinstance(uploaded_at, str) else None,
            last_rejected_export_time=_optional_int(raw.get("last_rejected_export_time")),
        )

    def save(self, state: SyncState) -> None:
        text = json.dumps(asdict(state), indent=2) + "\n"
        descriptor, temporary = tempfile.mkstemp(
            prefix=".patt_sync_state.", suffix=".tmp", dir=self.path.parent
        )
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with suppress(OSError):
                os.unlink(temporary)
            raise


@dataclass(frozen=True)
class FileStamp:
    """Enough of a stat result to tell whether the file changed."""

    mtime_ns: int
    size: int


class FileSystem(Protocol):
    def stat(self, path: Path) -> FileStamp | None: ...

    def load_export_file(self, path: Path) -> dict[str, Any]: ...


class RealFileSystem:
    def stat(self, path: Path) -> FileStamp | None:
        try:
            result = os.stat(path)
        except OSError:
            return None
        return FileStamp(result.st_mtime_ns, result.st_size)

    def load_export_file(self, path: Path) -> dict[str, Any]:
        return load_pattsync(path)


class FileEventSignal:
    """Hand-over from the watchdog observer thread to the main loop: the observer only puts
    a word in a queue; reading and uploading happen in the main loop."""

    def __init__(self) -> None:
        self._events: queue.SimpleQueue[str] = queue.SimpleQueue()

    def notify(self, kind: str) -> None:
        self._events.put(kind)

    def drain(self) -> list[str]:
        kinds: list[str] = []
        with suppress(queue.Empty):
            while True:
                kinds.append(self._events.get_nowait())
        return kinds


class SavedVariablesEventHandler(FileSystemEventHandler):
    """Signals changes of PATTSync.lua only (the game also writes PATTSync.lua.bak). The game
    may replace the file instead of modifying it, hence created and moved-to events too."""

    def __init__(
        self,
        signal: FileEventSignal,
        file_name: str = WATCHED_FILE_NAME,
        case_insensitive: bool = os.name == "nt",
    ) -> None:
        super().__init__()
        self._signal = signal
        self._case_insensitive = case_insensitive
        self._file_name = file_name.casefold() if case_insensitive else file_name

    def _is_watched(self, path: str | bytes) -> bool:
        name = os.path.basename(os.fsdecode(path))
        return (name.casefold() if self._case_insensitive else name) == self._file_name

    def on_modified(self, event: FileSystemEvent) -> None:
        if not event.is_directory and self._is_watched(event.src_path):
            self._signal.notify("modified")

    def on_created(self, event: FileSystemEvent) -> None:
        if not event.is_directory and self._is_watched(event.src_path):
            self._signal.notify("created")

    def on_moved(self, event: FileSystemEvent) -> None:
        if not event.is_directory and self._is_watched(event.dest_path):
            self._signal.notify("moved")


class ProcessResult(Enum):
    """What reading the file led to (`--once` turns it into the exit code)."""

    UPLOADED = "uploaded"
    NOTHING_NEW = "nothing_new"
    MISSING = "missing"
    UNREADABLE = "unreadable"
    UPLOAD_FAILED = "upload_failed"


@dataclass
class PendingUpload:
    payload: dict[str, Any]
    export_time: int
    character_count: int
    failures: int = 0
    next_attempt_at: float = 0.0


def retry_delay(failures: int) -> int:
    """Seconds to wait after the `failures`-th failed attempt (1-based)."""
    return RETRY_DELAYS[min(failures, len(RETRY_DELAYS)) - 1]


def describe_export_time(export_time: int) -> str:
    return datetime.fromtimestamp(export_time, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Watcher:
    """The companion's logic, driven by `tick(now)` with an injected clock value, file system,
    uploader and state store, so tests control time and the outside world."""

    def __init__(
        self,
        config: Config,
        *,
        file_system: FileSystem,
        uploader: Uploader,
        state_store: StateStore,
        signal: FileEventSignal | None = None,
        wall_clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.config = config
        self.path = config.watched_file
        self.file_system = file_system
        self.uploader = uploader
        self.state_store = state_store
        self.signal = signal or FileEventSignal()
        self.wall_clock = wall_clock
        self.state = state_store.load()
        self.debounce_until: float | None = None
        self.stability_sample: tuple[FileStamp, float] | None = None
        self.next_poll_at: float | None = None
        self.last_processed: FileStamp | None = None
        self.pending: PendingUpload | None = None

    def start(self, now: float) -> ProcessResult:
        """Processes the file as it is now (an export made while the app was off)."""
        self.next_poll_at = now + self.config.poll_interval
        return self.process_file(now)

    def tick(self, now: float) -> None:
        """One pass of the main loop: file events, debounce, polling, due retries."""
        events = self.signal.drain()
        if events:
            logger.debug("File events: %s", ", ".join(events))
            # Trailing edge: every event restarts the quiet period.
            self.debounce_until = now + self.config.debounce_seconds
            self.stability_sample = None
        self._read_after_quiet_period(now)
        self._poll(now)
        if self.pending is not None and now >= self.pending.next_attempt_at:
            pending = self.pending
            logger.info(
                "Retrying the upload of the export of %s (attempt %d)",
                describe_export_time(pending.export_time),
                pending.failures + 1,
            )
            self._attempt(pending, now)

    def _read_after_quiet_period(self, now: float) -> None:
        if self.debounce_until is None or now < self.debounce_until:
            return
        stamp = self.file_system.stat(self.path)
        if stamp is None:
            logger.debug("%s disappeared before it could be read", WATCHED_FILE_NAME)
            self.debounce_until = None
            self.stability_sample = None
            return
        if self.stability_sample is None:
            self.stability_sample = (stamp, now)
            return
        first_stamp, taken_at = self.stability_sample
        if now - taken_at < STABILITY_SECONDS:
            return
        self.stability_sample = None
        if stamp != first_stamp:
            # Still being written: wait for another quiet period.
            self.debounce_until = now + self.config.debounce_seconds
            return
        self.debounce_until = None
        self.process_file(now, stamp)

    def _poll(self, now: float) -> None:
        # A safety net for missed events (network folders, a PC waking from sleep).
        if self.next_poll_at is None:
            self.next_poll_at = now + self.config.poll_interval
        if now < self.next_poll_at:
            return
        self.next_poll_at = now + self.config.poll_interval
        if self.debounce_until is not None:
            return  # an event-driven read is already on its way
        stamp = self.file_system.stat(self.path)
        if stamp is not None and stamp != self.last_processed:
            logger.debug("Polling found a change of %s", WATCHED_FILE_NAME)
            self.process_file(now, stamp)

    def process_file(self, now: float, stamp: FileStamp | None = None) -> ProcessResult:
        """Reads the file and uploads its export when it is new."""
        stamp = stamp or self.file_system.stat(self.path)
        if stamp is None:
            self.last_processed = None
            logger.info(
                "%s not found in %s yet: export in game (/pattsync), then /reload or log out",
                WATCHED_FILE_NAME,
                self.config.saved_variables_path,
            )
            return ProcessResult.MISSING
        self.last_processed = stamp
        try:
            database = self.file_system.load_export_file(self.path)
        except FileNotFoundError:
            self.last_processed = None
            logger.info("%s disappeared before it could be read", WATCHED_FILE_NAME)
            return ProcessResult.MISSING
        except LuaParseError as error:
            # The excerpt is left out on purpose: it may show part of a note.
            where = f" (line {error.line}, column {error.column})" if error.line else ""
            logger.error(
                "Could not read %s: %s%s; will try again when the file changes",
                WATCHED_FILE_NAME,
                error.message,
                where,
            )
            return ProcessResult.UNREADABLE
        except OSError as error:
            self.last_processed = None  # e.g. locked by the game: the next poll tries again
            logger.error("Could not open %s: %s", WATCHED_FILE_NAME, error)
            return ProcessResult.UNREADABLE
        return self._consider_export(database, now)

    def _consider_export(self, database: Mapping[str, Any], now: float) -> ProcessResult:
        export = database.get("lastExport")
        if not isinstance(export, dict):
            logger.info("No export in %s yet: type /pattsync in game", WATCHED_FILE_NAME)
            return ProcessResult.NOTHING_NEW
        export_time = export_time_of(export)
        if export_time is None:
            logger.warning("The export in %s has no export time; skipped", WATCHED_FILE_NAME)
            return ProcessResult.NOTHING_NEW
        when = describe_export_time(export_time)
        characters = characters_of(export)
        if not characters:
            logger.info("The export of %s has no characters; skipped", when)
            return ProcessResult.NOTHING_NEW
        if self.state.last_rejected_export_time == export_time:
            logger.info("The export of %s was rejected by the server before; skipped", when)
            return ProcessResult.NOTHING_NEW
        last_uploaded = self.state.last_uploaded_export_time
        if last_uploaded is not None and export_time <= last_uploaded:
            logger.info("The export of %s is not newer than the last upload; skipped", when)
            return ProcessResult.NOTHING_NEW
        if self.pending is not None:
            if self.pending.export_time >= export_time:
                logger.info("The export of %s is already waiting for a retry", when)
                return ProcessResult.NOTHING_NEW
            # _attempt below drops the pending upload whatever the new attempt's outcome.
            logger.info("A newer export replaces the upload waiting for a retry")

        guild = export.get("guildName")
        logger.info(
            "New export detected: %d characters from %s, exported %s",
            len(characters),
            guild if isinstance(guild, str) else "an unknown guild",
            when,
        )
        payload = build_payload(export)
        self._log_payload_summary(payload)
        upload = PendingUpload(payload, export_time, len(characters), next_attempt_at=now)
        return self._attempt(upload, now)

    def _log_payload_summary(self, payload: Mapping[str, Any]) -> None:
        # Counts only: notes are private, even in a debug log.
        characters = payload["characters"]
        logger.debug(
            "Payload: %d characters, %d with a guild note, %d with an officer note, "
            "officer notes visible: %s",
            len(characters),
            sum(1 for c in characters if c.get("guild_note")),
            sum(1 for c in characters if c.get("officer_note")),
            payload.get("can_view_officer_note", "not stated"),
        )

    def _attempt(self, upload: PendingUpload, now: float) -> ProcessResult:
        result = self.uploader.upload(upload.payload)
        when = describe_export_time(upload.export_time)
        status = f"HTTP {result.status}" if result.status is not None else "no answer"
        self.pending = None
        if result.outcome is UploadOutcome.ACCEPTED:
            counts = result.counts or {}
            logger.info(
                "Upload accepted: %s received, %s updated, %s new (export of %s)",
                counts.get("received", upload.character_count),
                counts.get("updated", "?"),
                counts.get("new", "?"),
                when,
            )
            self.state.last_uploaded_export_time = upload.export_time
            self.state.last_uploaded_at = self.wall_clock().isoformat(timespec="seconds")
            self._save_state()
            return ProcessResult.UPLOADED
        if result.outcome is UploadOutcome.KEY_REJECTED:
            logger.error("API key rejected — check PATT_API_KEY (%s)", status)
        elif result.outcome is UploadOutcome.REJECTED:
            logger.error("Upload rejected (%s): %s", status, result.detail or "no reason given")
            self.state.last_rejected_export_time = upload.export_time
            self._save_state()
        elif result.outcome is UploadOutcome.FAILED:
            logger.error(
                "Upload failed with an unexpected answer (%s): %s — check PATT_API_URL; "
                "trying again when the file changes or the app restarts",
                status,
                result.detail or "no details",
            )
        else:
            upload.failures += 1
            delay = retry_delay(upload.failures)
            upload.next_attempt_at = now + delay
            self.pending = upload
            reason = f"{status}: {result.detail}" if result.detail else status
            logger.warning("Upload failed (%s); retrying in %d s", reason, delay)
        return ProcessResult.UPLOAD_FAILED

    def _save_state(self) -> None:
        try:
            self.state_store.save(self.state)
        except OSError as error:
            # The in-memory state still prevents repeats until the app restarts.
            logger.error("Could not save the state file: %s", error)
