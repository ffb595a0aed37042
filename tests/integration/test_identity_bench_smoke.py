"""`python -m bench.identity` runs end to end on a small guild and reports every figure.
Timings are never asserted here (the perf test bounds them at full size)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT, _server_admin_url


def test_identity_benchmark_reports_every_figure() -> None:
    env = {**os.environ, "BENCH_DATABASE_URL": _server_admin_url()}
    result = subprocess.run(
        [sys.executable, "-m", "bench.identity", "--characters", "300", "--accounts", "300"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = result.stdout
    for expected in (
        "300 characters × 300 Discord accounts",
        "run_matching ",
        "run_integrity_check ",
        "matching again: 0 characters and 0 accounts linked, 0 new suggestions",
        "precision 100.00%",
        "recall    100.00%",
        "alts grouped with their main: 24/24",
    ):
        assert expected in report, f"{expected!r} missing from:\n{report}"
