"""A cancellation flag shared between a front end and a running operation."""

from __future__ import annotations

import threading


class CancelToken:
    """Set by the user (Stop / Cancel); checked by the operation between steps.

    Thread-safe, because parsing workers check it too.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()
