"""Request statistics of a group of requests the soak test sent itself: count, time, errors and
latency percentiles. (`python -m bench` drives its load with wrk, see bench/wrk.py.)"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Stats:
    """What one measured run produced."""

    requests: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    errors: int = 0
    first_error: str | None = None
    server_cpu_seconds: float | None = None

    @property
    def server_cpu_ms(self) -> float | None:
        """Server CPU time per request in milliseconds (None when unknown)."""
        if self.server_cpu_seconds is None or not self.requests:
            return None
        return self.server_cpu_seconds * 1000 / self.requests

    @property
    def rps(self) -> float:
        """Successful requests per second."""
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """Latency percentile in milliseconds (nearest rank)."""
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[index]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)
