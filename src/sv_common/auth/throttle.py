"""In-process sliding-window throttle keyed by client IP or username (20 §8).

The store is per process: deployments with several workers should run one worker or accept a
per-worker limit (documented in docs/OPERATIONS.md).
"""

from __future__ import annotations

import math
import threading
from collections import deque

from sv_common import clock


class SlidingWindow:
    """At most `limit` hits per key within `window_seconds`."""

    def __init__(self, limit: int, window_seconds: int) -> None:
        self.limit = limit
        self.window = window_seconds
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        return hits

    def retry_after(self, key: str) -> int:
        """Seconds until another hit is allowed (0 = allowed now)."""
        now = clock.now().timestamp()
        with self._lock:
            hits = self._prune(key, now)
            if len(hits) < self.limit:
                return 0
            return max(1, math.ceil(hits[0] + self.window - now))

    def hit(self, key: str) -> None:
        """Record one event (a failure, or a request where every request counts)."""
        now = clock.now().timestamp()
        with self._lock:
            self._prune(key, now).append(now)
            if len(self._hits) > 10000:  # keep memory bounded under a spray of keys
                for stale in [k for k, v in self._hits.items() if not v]:
                    del self._hits[stale]

    def clear(self, key: str) -> None:
        """Forget a key (a successful login clears its username counter)."""
        with self._lock:
            self._hits.pop(key, None)

    def reset(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._hits.clear()
