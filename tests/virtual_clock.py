"""Virtual time for asyncio tests: `clock()` reads it, `await clock.sleep(s)` parks the caller,
and whenever every task is blocked the clock jumps to the earliest wake-up. A sync that takes
11 s of Blizzard time runs in a fraction of a real second, with exact timestamps."""

from __future__ import annotations

import asyncio
import heapq


class VirtualClock:
    """Callable clock plus matching `sleep`, for `BlizzardClient(clock=vc, sleep=vc.sleep)`."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.start = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._sequence = 0
        self._driver: asyncio.Task[None] | None = None
        self.sleeps: list[float] = []  # every requested sleep, for backoff assertions

    def __call__(self) -> float:
        return self.now

    @property
    def elapsed(self) -> float:
        """Virtual seconds since the clock was made."""
        return self.now - self.start

    async def sleep(self, seconds: float) -> None:
        """Sleep in virtual time."""
        self.sleeps.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._sequence += 1
        heapq.heappush(self._sleepers, (self.now + seconds, self._sequence, future))
        if self._driver is None or self._driver.done():
            self._driver = loop.create_task(self._drive())
        await future

    async def _settle(self) -> None:
        """Yield until no other callback is ready to run (every task waits on something)."""
        loop = asyncio.get_running_loop()
        ready = getattr(loop, "_ready", None)
        quiet_rounds = 0
        for _ in range(100_000):
            await asyncio.sleep(0)
            if ready is None:
                quiet_rounds += 1  # unknown loop type: fall back to a fixed number of yields
                if quiet_rounds >= 50:
                    return
            elif len(ready) == 0:
                quiet_rounds += 1
                if quiet_rounds >= 3:
                    return
            else:
                quiet_rounds = 0

    async def _drive(self) -> None:
        while self._sleepers:
            await self._settle()
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)  # cancelled sleeper
            if not self._sleepers:
                return
            wake_at = self._sleepers[0][0]
            self.now = max(self.now, wake_at)
            while self._sleepers and self._sleepers[0][0] <= self.now:
                _, _, future = heapq.heappop(self._sleepers)
                if not future.done():
                    future.set_result(None)
