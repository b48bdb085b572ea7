"""A cancellation flag shared between a front end and a running operation."""

from __future__ import annotations

import threading
from collections.abc import Callable


class CancelToken:
    """Set by the user (Stop / Cancel); checked by the operation between steps.

    Thread-safe, because parsing workers check it too. An operation that waits rather than
    steps registers ``on_cancel`` to be woken instead of looking at the flag on a timer.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], object]] = []

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def on_cancel(self, callback: Callable[[], object]) -> Callable[[], None]:
        """Call ``callback`` once, in the thread that cancels (at once if already
        cancelled); returns a function that takes the wish back."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return lambda: self._forget(callback)
        callback()
        return lambda: None

    def _forget(self, callback: Callable[[], object]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)
