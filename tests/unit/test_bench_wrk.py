"""The benchmark reads wrk's report correctly and turns error-heavy rows into misses."""

from __future__ import annotations

import pytest
from bench.runner import Line, verdict
from bench.wrk import WrkResult, WrkRun, lua_string, parse_report

REPORT = """Running 5s test @ http://127.0.0.1:8000/api/v1/campaigns/3/vote
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    41.20ms   12.31ms 210.55ms   80.12%
    Req/Sec   195.01     30.12   250.00     70.00%
  Latency Distribution
     50%   38.50ms
     75%   45.10ms
     90%   60.00ms
     99%    1.20s
  1950 requests in 5.01s, 1.02MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 25
Requests/sec:    389.22
Transfer/sec:    208.55KB
"""


def test_report_figures_are_read() -> None:
    result = parse_report(REPORT)
    assert result.requests == 1950
    assert result.seconds == pytest.approx(1950 / 389.22)
    assert result.p50_ms == pytest.approx(38.5)
    assert result.p99_ms == pytest.approx(1200.0)
    assert result.not_2xx == 25
    assert result.socket_errors == 3
    assert result.successes == 1925
    assert result.rps == pytest.approx(1925 / (1950 / 389.22))


def test_microsecond_latencies_and_a_clean_run() -> None:
    clean = REPORT.replace("38.50ms", "850.00us").replace(
        "  Socket errors: connect 0, read 2, write 0, timeout 1\n  Non-2xx or 3xx responses: 25\n",
        "",
    )
    result = parse_report(clean)
    assert result.p50_ms == pytest.approx(0.85)
    assert result.errors == 0


def test_unreadable_output_is_an_error() -> None:
    with pytest.raises(ValueError, match="unreadable wrk report"):
        parse_report("unable to connect to 127.0.0.1:1 Connection refused")


def test_cpu_per_request_uses_successful_requests() -> None:
    result = WrkResult(requests=1000, seconds=2.0, p50_ms=1, p99_ms=2, not_2xx=0, socket_errors=0)
    result.server_cpu_seconds = 1.5
    assert result.cpu_ms_per_request == pytest.approx(1.5)


def result_with(successes: int, errors: int) -> WrkResult:
    return WrkResult(
        requests=successes + errors,
        seconds=1.0,
        p50_ms=1,
        p99_ms=2,
        not_2xx=errors,
        socket_errors=0,
    )


def test_verdicts() -> None:
    health = 1000.0
    assert verdict(Line("fast", result=result_with(600, 0), goal_ratio=0.5), health) == "PASS"
    assert verdict(Line("slow", result=result_with(400, 0), goal_ratio=0.5), health) == "MISS"
    assert verdict(Line("no goal", result=result_with(10, 0)), health) == "info"
    # fast, but most answers were errors: never a pass, even without a goal
    assert verdict(Line("errors", result=result_with(600, 700), goal_ratio=0.5), health) == "MISS"
    assert verdict(Line("errors", result=result_with(100, 700)), health) == "MISS"
    problem = Line("401s", result=result_with(900, 0), goal_ratio=0.5, problem="first answer 401")
    assert verdict(problem, health) == "MISS"
    assert verdict(Line("timing", ms=20, goal_ms=50), health) == "PASS"
    assert verdict(Line("timing", ms=80, goal_ms=50), health) == "MISS"


def test_command_line_carries_headers_and_script() -> None:
    run = WrkRun("http://127.0.0.1:1/x", 5, headers={"Authorization": "Bearer abc"})
    command = run.command("wrk", None)
    assert command[:4] == ["wrk", "-t2", "-c16", "-d5s"]
    assert "--latency" in command
    assert command[command.index("-H") + 1] == "Authorization: Bearer abc"
    assert command[-1] == "http://127.0.0.1:1/x"
    assert lua_string('a"b\\c') == '"a\\"b\\\\c"'


def test_missing_wrk_without_root_explains_how_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import bench.__main__ as entry
    from bench import wrk

    monkeypatch.setattr(wrk.shutil, "which", lambda name: None)
    monkeypatch.setattr(wrk.os, "geteuid", lambda: 1000)
    with pytest.raises(wrk.WrkMissing, match="apt-get install -y wrk"):
        wrk.ensure_wrk()
    assert entry.main(["--quick", "--only", "roster"]) == 3
    assert "sudo apt-get install -y wrk" in capsys.readouterr().err
