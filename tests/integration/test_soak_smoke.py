"""`python -m bench.soak --seconds 20` runs end to end (about a minute with start-up): traffic
against `patt serve` with 4 workers while its private PostgreSQL restarts and the fakes fail.
The report must say that no acknowledged write was lost or duplicated and that the app
recovered. Latencies are never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_short_soak_loses_nothing_and_recovers(tmp_path: Path) -> None:
    report_file = tmp_path / "soak.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--seconds", "20", "--json", str(report_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    report = json.loads(report_file.read_text())
    writes = report["writes"]
    assert writes["lost"] == 0 and writes["duplicated"] == 0, writes
    assert writes["acknowledged"] > 0 and writes["verified"] == writes["acknowledged"]
    # every kind of write was acknowledged at least once, so each check really ran
    assert all(check["acknowledged"] > 0 for check in writes["by_kind"].values()), writes
    # the restart happened during traffic, and the app came back by itself
    events = [event["event"] for event in report["timeline"]]
    assert events.index("pg_stop") < events.index("pg_up") < events.index("traffic_end")
    assert report["recovery"]["requests_while_down"] > 0
    assert report["recovery"]["kinds_never_back"] == []
    assert report["recovery"]["final_phase_failures"] == 0
    assert report["recovered"] is True and report["passed"] is True
    # an outage answers 503 (or nothing), never 500
    assert not any(code.startswith("5") and code != "503" for code in report["errors_by_status"])
    assert "lost: 0   duplicated: 0" in result.stdout


def test_soak_refuses_a_run_too_short_to_mean_anything() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--seconds", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "at least 10 seconds" in result.stderr
