"""A real `patt serve --workers 4`: the login throttle holds once for the whole server, not once
per worker, every worker accepts the one printed setup link, and the JSON access log shows the
requests spread over several workers."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 4
STARTUP_PATIENCE = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_text(log: Path) -> str:
    return log.read_text(errors="replace")


def start_server(
    tmp_path: Path, port: int, database_url: str, log: Path
) -> subprocess.Popen[bytes]:
    """`patt serve --workers 4` on `port`, writing JSON logs to `log`."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "DATABASE_URL": database_url,
        "APP_ENV": "development",
        "JWT_SECRET_KEY": TEST_SECRET,
        "PATT_DATA_DIR": str(tmp_path / "data"),
        "SCHEDULER_ENABLED": "false",
        "CAMPAIGN_CHECKER_ENABLED": "false",
        "DISCORD_BACKEND": "null",
        "LOG_FORMAT": "json",
    }
    command = [
        sys.executable,
        "-c",
        "import sys; from patt.cli import main; sys.exit(main())",
        "serve",
        "--workers",
        str(WORKERS),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with log.open("wb") as out:  # cwd: no .env of the checkout is read
        return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=out)


async def wait_until_serving(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until every worker has started and /api/health answers."""
    give_up = time.monotonic() + STARTUP_PATIENCE
    async with httpx.AsyncClient(base_url=base, timeout=2) as http:
        while True:
            assert process.poll() is None, log_text(log)[-3000:]
            assert time.monotonic() < give_up, log_text(log)[-3000:]
            started = log_text(log).count("Application startup complete")
            if started >= WORKERS:
                try:
                    if (await http.get("/api/health")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            await asyncio.sleep(0.2)


def access_pids(log: Path, path: str) -> set[int]:
    """Process ids of the workers whose access log shows `path`."""
    pids: set[int] = set()
    for line in log_text(log).splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry.get("logger") == "patt.access" and entry.get("http", {}).get("path") == path:
            pids.add(int(entry["pid"]))
    return pids


async def test_a_login_throttle_acts_once_across_four_workers(
    app: Any, database_url: str, tmp_path: Path
):
    port = free_port()
    log = tmp_path / "serve.log"
    process = start_server(tmp_path, port, database_url, log)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_until_serving(base, process, log)
        statuses = []
        wrong = {"discord_username": "nobody-here", "password": "not-the-password-1"}
        for _ in range(24):  # a new connection each time, so the workers share the requests
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                statuses.append((await http.post("/api/v1/auth/login", json=wrong)).status_code)
        # five failures for the (username, client) pair on the whole server, then 429 everywhere
        assert statuses == [401] * 5 + [429] * 19
        # the one setup link printed by `serve` is accepted by whichever worker answers
        match = re.search(r"/setup\?token=([A-Za-z0-9_-]+)", log_text(log))
        assert match is not None, log_text(log)[-3000:]
        for _ in range(8):
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                page = await http.get(f"/setup?token={match.group(1)}")
                assert page.status_code == 200
        await asyncio.sleep(0.5)  # let the last access lines reach the log file
        assert len(access_pids(log, "/api/v1/auth/login")) >= 2, "one worker took every request"
        # and each of those lines carries a request id
        lines = [json.loads(x) for x in log_text(log).splitlines() if x.startswith("{")]
        assert all(
            e["request_id"] not in (None, "-") for e in lines if e["logger"] == "patt.access"
        )
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
