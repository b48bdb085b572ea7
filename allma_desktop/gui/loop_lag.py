"""Measure how late the asyncio event loop runs a periodic task: a freeze detector.

A task sleeps ``interval`` seconds again and again; any extra time before it wakes
is time the loop (and with qasync, the GUI) spent busy elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import time


class LoopLagProbe:
    """``start()`` it on the running loop, do the work, ``await stop()``, read the figures."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.samples: list[float] = []  # lateness of each wake-up, in seconds
        self.times: list[float] = []  # when each wake-up came (perf_counter)
        self._task: asyncio.Task[None] | None = None

    @property
    def max_lag(self) -> float:
        return max(self.samples, default=0.0)

    @property
    def mean_lag(self) -> float:
        return sum(self.samples) / len(self.samples) if self.samples else 0.0

    def percentile(self, fraction: float) -> float:
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            expected = time.perf_counter() + self.interval
            await asyncio.sleep(self.interval)
            woke = time.perf_counter()
            self.samples.append(max(0.0, woke - expected))
            self.times.append(woke)

    def summary(self) -> str:
        return (
            f"{len(self.samples)} samples, max {self.max_lag * 1000:.1f} ms, "
            f"p99 {self.percentile(0.99) * 1000:.1f} ms, mean {self.mean_lag * 1000:.1f} ms"
        )
