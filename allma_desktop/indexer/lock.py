"""One indexer per library: the queue is worked by one process at a time.

Two processes working one queue would index the same file twice. The lock is an
advisory lock on a file in the data folder, taken as the library's own open lock is
(``services.library.open_lock``); the system releases it when the process dies, so a crash
never leaves the library locked.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

from allma_desktop.services.library.open_lock import (
    close_lock_file,
    lock_exclusively,
    open_lock_file,
)

LOCK_FILE_NAME = ".indexer.lock"


class QueueLock:
    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / LOCK_FILE_NAME
        self._handle: IO[bytes] | None = None

    def acquire(self) -> bool:
        """Take the lock; False when another process holds it."""
        if self._handle is not None:
            return True
        handle = open_lock_file(self._path)
        if not lock_exclusively(handle):
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            close_lock_file(self._handle)
            self._handle = None
