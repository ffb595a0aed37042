"""The server under test: `uvicorn patt.app:create_app` with ONE worker in a subprocess on a free
loopback port, configured only through its environment (no `.env`, no background work).
Subclasses change `command()` and add settings with `extra_env` (the soak runs `patt serve`)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BENCH_SECRET = "bench-only-jwt-secret-0123456789abcdef0123456789abcdef"
# Settings the benchmark never inherits from the caller's environment.
_CLEARED = (
    "DATABASE_URL",
    "APP_ENV",
    "JWT_SECRET_KEY",
    "DISCORD_BOT_TOKEN",
    "DISCORD_BACKEND",
    "DISCORD_FAKE_FILE",
    "DISCORD_FAKE_OUTBOX",
    "PATT_SETUP_TOKEN_HASH",
    "DEMO_MODE",
)


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """Start, wait for, and stop the app in a child process."""

    def __init__(self, database_url: str, *, extra_env: dict[str, str] | None = None) -> None:
        self.database_url = database_url
        self.extra_env = dict(extra_env or {})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._workdir = tempfile.TemporaryDirectory(prefix="patt-bench-")
        self._log = Path(self._workdir.name) / "server.log"
        self._process: subprocess.Popen[bytes] | None = None

    def environment(self) -> dict[str, str]:
        """The child's environment: testing mode, fixed secret, nothing in the background."""
        env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "APP_ENV": "testing",
                "JWT_SECRET_KEY": BENCH_SECRET,
                "PATT_DATA_DIR": str(Path(self._workdir.name) / "data"),
                "PUBLIC_BASE_URL": self.url,
                "COOKIE_SECURE": "false",
                "SCHEDULER_ENABLED": "false",
                "CAMPAIGN_CHECKER_ENABLED": "false",
                "DISCORD_BACKEND": "null",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def command(self) -> list[str]:
        """The command line of the server (uvicorn with one worker)."""
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "patt.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--log-level",
            "warning",
            "--no-access-log",
        ]

    def start(self, timeout: float = 60) -> None:
        """Launch the server and wait until /api/health answers 200."""
        log = self._log.open("wb")
        self._process = subprocess.Popen(  # noqa: ASYNC220 - started before any event loop
            self.command(),
            cwd=self._workdir.name,  # no stray .env is read
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: workers are stopped with it
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the server exited during startup:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server did not become healthy in {timeout:.0f} s")

    def cpu_seconds(self) -> float | None:
        """User + system CPU seconds used so far by the server process and every process below
        it (Linux /proc; threads such as the bcrypt pool are part of their process), or None."""
        if self._process is None:
            return None
        return tree_cpu_seconds(self._process.pid)

    @property
    def log_path(self) -> Path:
        """Where the server's output goes (removed by `stop()`)."""
        return self._log

    def log_tail(self, lines: int = 30) -> str:
        """The last lines the server printed."""
        if not self._log.exists():
            return ""
        return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Terminate the child (SIGTERM, then SIGKILL to its process group after 10 s) and
        remove its folder."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        self._workdir.cleanup()


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3… of /proc/<pid>/stat (after the command name, which may contain spaces)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def tree_cpu_seconds(root: int) -> float | None:
    """utime + stime of `root` and its live descendants, in seconds (None without /proc)."""
    fields_of: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                fields_of[int(entry.name)] = fields
    if root not in fields_of:
        return None
    children: dict[int, list[int]] = {}
    for pid, fields in fields_of.items():
        children.setdefault(int(fields[1]), []).append(pid)  # field 4: parent pid
    ticks = 0
    pending = [root]
    while pending:
        pid = pending.pop()
        fields = fields_of[pid]
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (stat fields 14, 15)
        pending += children.get(pid, [])
    return ticks / os.sysconf("SC_CLK_TCK")
