"""The Blizzard client's send gate: a paced token bucket, exact 1-second and 1-hour sliding
windows, and the cooldown every worker honours after a 429 — all on an injectable clock.

How it fits together:
- Callers take the client's concurrency semaphore first and call `acquire()` second, then send
  immediately. Taking permission *before* queueing for the semaphore would let permits granted
  over one second turn into sends bunched into the next one.
- `acquire()` is single-file: one asyncio lock, so only the head of the queue computes and
  sleeps while the others wait on the lock. No thundering herd and no polling: the head sleeps
  exactly until the earliest moment every rule allows a send, then re-checks (a 429 cooldown
  may have been set meanwhile) and takes the slot.
- The send times of the last second are kept and a send is refused while `rate` of them are
  younger than one second: that is the hard guarantee. The same log over 3,600 s holds the
  hourly budget.
- The token bucket refills at `rate` and paces the sends. Its capacity (`burst`) is how many
  may leave back to back after a pause. A bucket as large as the rate would, on its own, let
  twice the rate through in one second (a full bucket plus a second of refill); the log stops
  that, but the sends then come as a burst of `rate` at the start of every second, each exactly
  one second after its predecessor, so a few milliseconds of network or event-loop jitter push
  more than the limit into one of Blizzard's seconds (measured against the fake server: 104 in
  a second and eleven 429s). With a small bucket (a tenth of a second's worth by default) the
  sends are spread evenly and Blizzard sees no 429 at the same overall speed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

# The shortest sleep the gate takes. Floating-point rounding can leave a computed wait a hair
# above zero after sleeping; a floor guarantees the clock moves on instead of spinning.
MIN_SLEEP = 0.001
SECOND = 1.0
HOUR = 3600.0

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RequestLimiter:
    """Grants send slots so no 1-s window exceeds `rate_per_second` and no 3,600-s window exceeds
    `hourly_budget`, at most `burst` back to back (default: `rate_per_second`), and nothing
    before a shared cooldown ends."""

    def __init__(
        self,
        *,
        rate_per_second: int,
        hourly_budget: int,
        clock: Clock,
        sleep: Sleep,
        burst: int | None = None,
    ) -> None:
        if rate_per_second < 1 or hourly_budget < 1 or (burst is not None and burst < 1):
            raise ValueError("rate_per_second, hourly_budget and burst must be at least 1")
        self.rate = rate_per_second
        self.capacity = float(burst if burst is not None else rate_per_second)
        self.hourly_budget = hourly_budget
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._refilled_at: float | None = None
        self._last_second: deque[float] = deque()
        self._last_hour: deque[float] = deque()
        self._not_before = float("-inf")
        self._gate = asyncio.Lock()
        self.granted = 0

    def pause_until(self, moment: float) -> None:
        """Hold every sender until `moment` (a 429 told us to back off); never shortens a pause."""
        self._not_before = max(self._not_before, moment)

    @property
    def paused_until(self) -> float:
        """End of the current shared cooldown (may lie in the past)."""
        return self._not_before

    async def acquire(self) -> float:
        """Wait for a send slot and take it; returns the clock time of the grant."""
        async with self._gate:
            while True:
                now = self._clock()
                wait = self._wait_before_send(now)
                if wait <= 0:
                    self._take(now)
                    return now
                await self._sleep(max(wait, MIN_SLEEP))

    def _refill(self, now: float) -> None:
        if self._refilled_at is None:
            self._refilled_at = now
            return
        elapsed = max(0.0, now - self._refilled_at)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._refilled_at = now

    def _wait_before_send(self, now: float) -> float:
        """Seconds until every rule allows one more send (≤ 0: allowed now)."""
        self._refill(now)
        # A send at time t stops counting once t <= now - window, so that any half-open window
        # [a, a + 1) holds at most `rate` sends.
        while self._last_second and self._last_second[0] <= now - SECOND:
            self._last_second.popleft()
        while self._last_hour and self._last_hour[0] <= now - HOUR:
            self._last_hour.popleft()
        wait = self._not_before - now
        if self._tokens < 1.0:
            wait = max(wait, (1.0 - self._tokens) / self.rate)
        # A full window always means waiting: `oldest + window - now` can round to zero or
        # below while the eviction test above still counts the oldest send as inside.
        if len(self._last_second) >= self.rate:
            wait = max(wait, self._last_second[0] + SECOND - now, MIN_SLEEP)
        if len(self._last_hour) >= self.hourly_budget:
            wait = max(wait, self._last_hour[0] + HOUR - now, MIN_SLEEP)
        return wait

    def _take(self, now: float) -> None:
        self._tokens -= 1.0
        self._last_second.append(now)
        self._last_hour.append(now)
        self.granted += 1
