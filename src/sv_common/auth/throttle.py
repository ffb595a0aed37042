"""In-process sliding-window throttles keyed by client IP, username or both.

Memory stays bounded whatever a client sends: asking never stores anything (a refused request
adds nothing), expired hits are dropped, and when the number of keys passes `max_keys` the
expired keys are swept and then the least recently hit keys are evicted. Evicting can only make
a throttle more lenient for a key nobody has used lately, never lock anyone out.

The store is per process: with several workers each counts separately (docs/CONFIGURATION.md).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque

from sv_common import clock

DEFAULT_MAX_KEYS = 10_000


class SlidingWindow:
    """At most `limit` hits per key within `window_seconds`."""

    def __init__(self, limit: int, window_seconds: int, *, max_keys: int = DEFAULT_MAX_KEYS):
        self.limit = limit
        self.window = window_seconds
        self.max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Keys currently stored (for tests and health)."""
        return len(self._hits)

    def _live(self, key: str, now: float) -> deque[float] | None:
        """The key's hits still inside the window (the key is dropped when none are)."""
        hits = self._hits.get(key)
        if hits is None:
            return None
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if not hits:
            del self._hits[key]
            return None
        return hits

    def retry_after(self, key: str) -> int:
        """Seconds until another hit is allowed (0 = allowed now). Stores nothing."""
        now = clock.now().timestamp()
        with self._lock:
            hits = self._live(key, now)
            if hits is None or len(hits) < self.limit:
                return 0
            return max(1, math.ceil(hits[-self.limit] + self.window - now))

    def hit(self, key: str) -> None:
        """Record one event (a failure, or a request where every request counts)."""
        now = clock.now().timestamp()
        with self._lock:
            hits = self._live(key, now)
            if hits is None:
                hits = self._hits[key] = deque(maxlen=self.limit)
            hits.append(now)
            self._hits.move_to_end(key)
            if len(self._hits) > self.max_keys:
                self._shrink(now)

    def _shrink(self, now: float) -> None:
        for stale in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
            del self._hits[stale]
        while len(self._hits) > self.max_keys:
            self._hits.popitem(last=False)  # the least recently hit key

    def clear(self, key: str) -> None:
        """Forget a key (a successful login clears its counter)."""
        with self._lock:
            self._hits.pop(key, None)

    def reset(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._hits.clear()
