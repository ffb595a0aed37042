"""The stand-alone benchmarks — the identity engine (`python -m bench.identity`) and the Blizzard
sync (`python -m bench.blizzard_sync`) — reachable as opt-in rows of `python -m bench --only …`.
Each runs in its own process with its own database; its report is printed below the table and
its row shows PASS when no goal in that report was missed."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from bench.runner import Bench, Line, scenario

QUICK_ARGUMENTS = {
    "bench.identity": ["--characters", "300", "--accounts", "300"],
    "bench.blizzard_sync": ["--members", "100", "--write-rows", "500"],
}


async def run_module(bench: Bench, label: str, module: str) -> None:
    """Run `python -m module` and add its verdict line and report."""
    command = [sys.executable, "-m", module, *(QUICK_ARGUMENTS[module] if bench.quick else [])]
    print(f"  {' '.join(command[1:])} …", file=sys.stderr, flush=True)
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, check=False
    )
    report = done.stdout.strip()
    missed = done.returncode != 0 or "MISSED" in report
    line = Line(f"{label} (python -m {module}, report below)", verdict="MISS" if missed else "PASS")
    if done.returncode != 0:
        line.problem = f"exit {done.returncode}: {done.stderr.strip()[-300:]}"
    bench.lines.append(line)
    bench.state.setdefault("reports", []).append((f"python -m {module}", report))


@scenario("identity", order=50, opt_in=True)
async def identity(bench: Bench) -> None:
    """Identity engine: matching and integrity check (5,000 characters; 300 with --quick)."""
    await run_module(bench, "identity engine benchmark", "bench.identity")


@scenario("blizzard-sync", order=60, opt_in=True)
async def blizzard_sync(bench: Bench) -> None:
    """Blizzard sync against the fake Blizzard server (1,000 members; 100 with --quick)."""
    await run_module(bench, "Blizzard sync benchmark", "bench.blizzard_sync")
