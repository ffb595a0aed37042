"""`python -m bench --quick --only …` runs end to end with wrk and prints the table with
figures for the chosen rows; timings are never asserted. Without wrk the test skips on a
developer machine; in CI (CI=true) it runs, so a missing wrk fails it (test.sh installs wrk)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from tests.conftest import ROOT, _server_admin_url

ROW_WITH_FIGURES = re.compile(r"^(?P<label>.+?)\s+(?P<rps>\d+\.\d)\s+(\d+\.\d)\s+(\d+\.\d)\s")


def require_wrk() -> None:
    if shutil.which("wrk") is None and os.environ.get("CI") != "true":
        pytest.skip("wrk is not installed (apt-get install -y wrk); CI=true runs this anyway")


def figures(report: str) -> dict[str, float]:
    """req/s by row label, from the rows of the table that carry figures."""
    found = {}
    for line in report.splitlines():
        match = ROW_WITH_FIGURES.match(line)
        if match:
            found[match.group("label").strip()] = float(match.group("rps"))
    return found


def test_quick_benchmark_prints_figures_for_the_chosen_rows() -> None:
    require_wrk()
    env = {**os.environ, "BENCH_DATABASE_URL": _server_admin_url()}
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "roster", "cast"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    report = result.stdout
    rates = figures(report)
    assert set(rates) == {
        "GET /api/health (baseline, start)",
        "GET /api/health (baseline, end)",
        "GET /api/v1/guild/roster (200 members, 600 characters)",
        "POST /api/v1/campaigns/{id}/vote (2,000 distinct voters, 3 picks)",
    }, report
    assert all(rate > 0 for rate in rates.values()), report
    roster = next(line for line in report.splitlines() if line.startswith("GET /api/v1/guild"))
    assert "≥ 0.5×" in roster
    assert roster.split("≥ 0.5×")[1].split()[0] in ("PASS", "MISS")
    cast = next(line for line in report.splitlines() if line.startswith("POST"))
    assert re.search(r"\d+ ballots stored", cast), cast
    assert "errors" not in report, report  # every response was 2xx
    assert "landing" not in report  # rows that were not chosen are not measured


def test_unknown_row_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "no-such-row"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "unknown scenario or row: no-such-row" in result.stderr


def test_scenarios_and_rows_can_be_listed() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--list"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines() if line[:1].strip()]
    assert names == [
        "core",
        "guild-tools",
        "campaigns",
        "sheet-import",
        "identity",
        "blizzard-sync",
    ]
    assert "rows: roster, landing, landing-signed-in, me, login-storm" in result.stdout
