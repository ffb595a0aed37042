"""The embedded PostgreSQL lives and dies with `patt serve`: stopping the server (SIGTERM or
Ctrl-C) stops the database it started, unless another `patt` process still uses it; `patt db
status` and `patt db stop` handle the rest. Real processes, a real embedded server."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sv_common.db import embedded

pytestmark = pytest.mark.slow
PATT = str(Path(sys.executable).parent / "patt")
PATIENCE = 120  # seconds a process may take to come up or go down on a busy machine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "PATT_", "DISCORD_", "BLIZZARD_", "APP_"))
    }
    env.update(
        PATT_DATA_DIR=str(data_dir),
        APP_ENV="testing",
        JWT_SECRET_KEY="embedded-lifecycle-secret-0123456789abcdef0123",
        SCHEDULER_ENABLED="false",
        CAMPAIGN_CHECKER_ENABLED="false",
        DISCORD_BACKEND="null",
    )
    return env


class Serve:
    """One `patt serve` process on its own port."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.process = subprocess.Popen(
            [PATT, "serve", "--port", str(self.port)],
            env=environment(data_dir),
            cwd=data_dir.parent,
            stdout=open(log, "w"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
        )

    def healthy(self) -> bool:
        try:
            return (
                httpx.get(f"http://127.0.0.1:{self.port}/api/health", timeout=5).status_code == 200
            )
        except httpx.HTTPError:
            return False

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + PATIENCE
        while not self.healthy():
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.3)

    def stop(self, sig: int) -> int:
        self.process.send_signal(sig)
        return self.process.wait(PATIENCE)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(PATIENCE)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data dir the server's own account can reach when tests run as root (pytest's temporary
    folders are private to root)."""
    site = Path(tempfile.mkdtemp(prefix="patt-lifecycle-"))
    site.chmod(0o755)
    folder = site / "data"
    yield folder
    embedded.stop(folder, force=True)  # never leave a server behind, whatever the test did
    shutil.rmtree(site, ignore_errors=True)


def patt(data_dir: Path, *words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PATT, *words],
        env=environment(data_dir),
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )


def test_last_serve_to_stop_stops_the_embedded_database(data_dir: Path, tmp_path: Path) -> None:
    first = Serve(data_dir, tmp_path / "first.log")
    second: Serve | None = None
    try:
        first.wait_healthy()
        server = embedded.status(data_dir).server_pid
        assert server is not None

        status = patt(data_dir, "db", "status")
        assert "running" in status.stdout and str(first.process.pid) in status.stdout

        refused = patt(data_dir, "db", "stop")
        assert refused.returncode == 1
        assert "still used by" in refused.stderr and str(first.process.pid) in refused.stderr
        assert first.healthy()

        second = Serve(data_dir, tmp_path / "second.log")
        second.wait_healthy()
        assert embedded.status(data_dir).server_pid == server  # shared, not a second server

        assert first.stop(signal.SIGTERM) == 0  # systemd's stop: a clean exit
        assert "Stopped the embedded PostgreSQL" not in (tmp_path / "first.log").read_text()
        assert embedded.status(data_dir).server_pid == server
        assert second.healthy()

        assert second.stop(signal.SIGINT) == 0  # Ctrl-C
        assert "Stopped the embedded PostgreSQL" in (tmp_path / "second.log").read_text()
        assert embedded.status(data_dir).server_pid is None
        assert "stopped" in patt(data_dir, "db", "status").stdout
    finally:
        first.kill()
        if second:
            second.kill()


def test_a_killed_serve_no_longer_counts_and_db_stop_stops_the_server(
    data_dir: Path, tmp_path: Path
) -> None:
    serve = Serve(data_dir, tmp_path / "serve.log")
    try:
        serve.wait_healthy()
    finally:
        serve.kill()  # SIGKILL: no cleanup ran, the database is still up
    assert embedded.status(data_dir).running
    status = patt(data_dir, "db", "status")
    assert "Used by no patt process" in status.stdout
    stopped = patt(data_dir, "db", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not embedded.status(data_dir).running
    assert "not running" in patt(data_dir, "db", "stop").stdout


def test_a_one_shot_command_leaves_no_server_behind(data_dir: Path) -> None:
    done = patt(data_dir, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert "Stopped the embedded PostgreSQL" in done.stderr
    assert not embedded.status(data_dir).running
