"""`python -m bench --quick` runs end to end (about 10 s): every scenario reports a figure or a
skip, nothing crashes. Timings are never asserted."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT, _server_admin_url


def test_quick_benchmark_runs_every_scenario() -> None:
    env = {**os.environ, "BENCH_DATABASE_URL": _server_admin_url()}
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--duration", "0.1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    report = result.stdout
    assert "GET /api/health (baseline)" in report
    for expected in (
        "GET /api/v1/guild/roster",
        "GET / (landing",
        "POST /api/v1/auth/login",
        "results computation",
        "/results",
        "/vote",
        "roster-data",
        "/roster-view",
        "sheet import",
    ):
        assert expected in report, f"{expected!r} missing from the report:\n{report}"
    for line in report.splitlines():
        if "failed:" in line:
            raise AssertionError(f"requests failed in the benchmark: {line}")


def test_scenarios_can_be_listed() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--list"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert names == ["core", "campaigns", "guild-tools", "sheet-import"]
