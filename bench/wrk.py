"""The load generator: `wrk` (C, event loop) runs in its own process so the Python server is the
only thing the measurement saturates. Finding or installing wrk, running it, and reading its
`--latency` report."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = (
    "wrk (the HTTP load generator) is needed: install it with `sudo apt-get install -y wrk` "
    "(Debian/Ubuntu) or `brew install wrk` (macOS), then run the benchmark again."
)


class WrkMissing(Exception):
    """wrk is not installed and could not be installed."""


def ensure_wrk() -> str:
    """The path of wrk; installs the Debian package when missing and running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0 and command[1] == "install":
                raise WrkMissing(f"`apt-get install -y wrk` failed:\n{done.stderr[-800:]}")
        found = shutil.which("wrk")
        if found:
            return found
    raise WrkMissing(INSTALL_HINT)


@dataclass
class WrkResult:
    """One wrk run: every response it completed, how many were not 2xx/3xx, latency
    percentiles, and the server's CPU time meanwhile."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    not_2xx: int
    socket_errors: int
    server_cpu_seconds: float | None = None
    successes_override: int | None = None  # e.g. ballots counted in the database

    @property
    def successes(self) -> int:
        """Responses that were 2xx/3xx (or, when set, the independently counted successes)."""
        if self.successes_override is not None:
            return self.successes_override
        return max(0, self.requests - self.not_2xx)

    @property
    def errors(self) -> int:
        """Responses that were not 2xx/3xx plus socket errors (connect, read, write, timeout)."""
        return self.not_2xx + self.socket_errors

    @property
    def rps(self) -> float:
        """Successful requests per second."""
        return self.successes / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_request(self) -> float | None:
        """Server CPU milliseconds per successful request (None when unknown)."""
        if self.server_cpu_seconds is None or not self.successes:
            return None
        return self.server_cpu_seconds * 1000 / self.successes


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise ValueError(f"unreadable wrk duration {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_report(output: str) -> WrkResult:
    """Read wrk's `--latency` report (requests, time, percentiles, error counters)."""
    total = re.search(r"^\s*(\d+) requests in ([\d.]+\w+),", output, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if not total or not rate:
        raise ValueError(f"unreadable wrk report:\n{output}")
    requests = int(total.group(1))
    per_second = float(rate.group(1))
    # "Requests/sec" is requests ÷ the exact run time; the "in 5.00s" figure is rounded
    seconds = requests / per_second if per_second else _duration_ms(total.group(2)) / 1000
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", output, re.MULTILINE))
    not_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        requests=requests,
        seconds=seconds,
        p50_ms=_duration_ms(percentiles["50"]) if "50" in percentiles else 0.0,
        p99_ms=_duration_ms(percentiles["99"]) if "99" in percentiles else 0.0,
        not_2xx=int(not_2xx.group(1)) if not_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
    )


@dataclass
class WrkRun:
    """The settings of one wrk run."""

    url: str
    duration: int
    connections: int = 16
    threads: int = 2
    headers: Mapping[str, str] | None = None
    script: str | None = None  # Lua source (request(), setup() …); None = a plain GET of url

    def command(self, wrk: str, script_path: Path | None) -> list[str]:
        """wrk's command line."""
        command = [
            wrk,
            f"-t{min(self.threads, self.connections)}",
            f"-c{self.connections}",
            f"-d{self.duration}s",
            "--timeout",
            "10s",
            "--latency",
        ]
        for name, value in (self.headers or {}).items():
            command += ["-H", f"{name}: {value}"]
        if script_path is not None:
            command += ["-s", str(script_path)]
        return [*command, self.url]


class RunningWrk:
    """A wrk process started in the background (e.g. the login storm next to a measurement)."""

    def __init__(self, wrk: str, run: WrkRun) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="patt-wrk-")
        script_path = None
        if run.script is not None:
            script_path = Path(self._folder.name) / "load.lua"
            script_path.write_text(run.script)
        self._process = subprocess.Popen(
            run.command(wrk, script_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def result(self) -> WrkResult:
        """Wait for wrk to finish and read its report."""
        output, _ = self._process.communicate(timeout=600)
        self._folder.cleanup()
        if self._process.returncode != 0:
            raise RuntimeError(f"wrk failed (exit {self._process.returncode}):\n{output}")
        return parse_report(output)


def run_wrk(wrk: str, run: WrkRun, cpu_probe: Callable[[], float | None] | None) -> WrkResult:
    """Run wrk to completion and attach the server's CPU seconds used meanwhile."""
    before = cpu_probe() if cpu_probe else None
    result = RunningWrk(wrk, run).result()
    after = cpu_probe() if cpu_probe else None
    if before is not None and after is not None:
        result.server_cpu_seconds = after - before
    return result


def lua_string(value: str) -> str:
    """`value` as a Lua string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
