"""A built wheel installs like any package: in a fresh virtual environment, away from the source
tree, `patt db upgrade`, `patt seed` and `patt serve` work, because the migrations, the seed
ranks, the templates and the static files travel inside the wheel. Slow (builds and installs)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from tests.conftest import _psycopg_dsn, _server_admin_url, _with_database

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PATIENCE = 900  # seconds for a build or an install on a busy machine


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=PATIENCE, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `bin` folder of a fresh venv holding the wheel built from this checkout."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    files = run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT
    ).stdout.split("\n")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    dist = work / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)])
    wheel = next(dist.glob("patt_platform-*.whl"))
    target = work / "venv"
    venv.EnvBuilder(with_pip=True).create(target)
    run([str(target / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)])
    return target / "bin"


@pytest.fixture
def fresh_database() -> Iterator[str]:
    admin = _server_admin_url()
    name = f"patt_wheel_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(_psycopg_dsn(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _with_database(admin, name)
    with psycopg.connect(_psycopg_dsn(admin), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_installed_wheel_migrates_seeds_and_serves(
    installed: Path, fresh_database: str, tmp_path: Path
) -> None:
    env = {
        "PATH": f"{installed}:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "DATABASE_URL": fresh_database,
        "PATT_DATA_DIR": str(tmp_path / "data"),
        "APP_ENV": "testing",
        "JWT_SECRET_KEY": "wheel-install-secret-0123456789abcdef0123456789",
        "SCHEDULER_ENABLED": "false",
        "DISCORD_BACKEND": "null",
    }
    where = run(
        [str(installed / "python"), "-c", "import patt, sv_common; print(patt.__file__)"],
        env=env,
        cwd=tmp_path,
    ).stdout
    assert str(installed.parent) in where  # the installed copy, not this checkout

    upgrade = run([str(installed / "patt"), "db", "upgrade"], env=env, cwd=tmp_path)
    assert "Database at revision" in upgrade.stderr
    seed = run([str(installed / "patt"), "seed"], env=env, cwd=tmp_path)
    assert "Seeded 5 default ranks." in seed.stdout
    current = run([str(installed / "patt"), "db", "current"], env=env, cwd=tmp_path)
    assert "upgrade needed" not in current.stdout

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "serve.log"
    with open(log, "w") as output:
        serve = subprocess.Popen(
            [str(installed / "patt"), "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5)
                break
            except httpx.HTTPError:
                assert serve.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
        assert health.status_code == 200
        landing = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert landing.status_code == 200 and "<html" in landing.text.lower()
        ranks = httpx.get(f"http://127.0.0.1:{port}/api/v1/guild/ranks", timeout=10).json()
        assert [r["name"] for r in ranks["data"]][-1] in ("Guild Leader", "Initiate")
        assert "/setup?token=" in log.read_text()
        css = [
            p for p in landing.text.split('"') if p.startswith("/static/") and p.endswith(".css")
        ]
        assert css and httpx.get(f"http://127.0.0.1:{port}{css[0]}", timeout=10).status_code == 200
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(60) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
