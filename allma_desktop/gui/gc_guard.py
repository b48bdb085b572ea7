"""Run Python's cyclic garbage collector on the GUI thread only.

Python collects reference cycles in whichever thread happens to allocate when a
threshold is crossed. Allma runs plenty of Python in worker threads (SQLite, Chroma
and parsing through ``asyncio.to_thread``), so a cycle holding a Qt object would be
destroyed there. Qt refuses to stop a QObject's timers from another thread ("Timers
cannot be stopped from another thread") and leaves them registered on a dead object:
the next tick dereferences freed memory and the process crashes. Collecting only on
the GUI thread, from a timer, removes that whole class of crash.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer

log = logging.getLogger(__name__)

CHECK_INTERVAL_MS = 50
# A full collection walks every object the app holds (100,000 library rows, the vector
# store's client, Qt's wrappers) and takes tens of milliseconds. The interpreter spaces
# them out by the heap's growth, which a timer cannot see; this spaces them by their own
# cost instead: at most this share of the GUI thread's time goes to full collections.
FULL_COLLECTION_SHARE = 0.05


class MainThreadGarbageCollector(QObject):
    """Turns automatic collection off and collects on the GUI thread, generation by generation.

    Create it on the GUI thread; ``stop()`` collects what is left and turns automatic
    collection back on (as it was).
    """

    def __init__(
        self,
        interval_ms: int = CHECK_INTERVAL_MS,
        parent: QObject | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(parent)
        self._clock = clock
        self._next_full = 0.0  # the clock's time before which a full collection waits
        self._thresholds = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._timer.start()

    def check(self) -> None:
        """Collect the generations whose thresholds were crossed, as the interpreter would."""
        young, middle, old = gc.get_count()
        first, second, third = self._thresholds
        if young <= first:
            return
        generation = 0
        if middle > second:
            generation = 2 if old > third and self._clock() >= self._next_full else 1
        if generation < 2:
            gc.collect(generation)
            return
        started = self._clock()
        gc.collect(2)
        took = self._clock() - started
        self._next_full = started + took / FULL_COLLECTION_SHARE

    def stop(self, *, collect: bool = True) -> None:
        """Collect everything now (unless told not to), on this thread; restore collection."""
        self._timer.stop()
        if collect:
            gc.collect()
        if self._was_enabled:
            gc.enable()


__all__ = ["MainThreadGarbageCollector"]
