"""One indexer per library: the queue is worked by one process at a time.

Two processes working one queue would index the same file twice. The lock is an
advisory lock on a file in the data folder; the system releases it when the process
dies, so a crash never leaves the library locked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the single-instance app is the guard.
    fcntl = None  # type: ignore[assignment]

LOCK_FILE_NAME = ".indexer.lock"


class QueueLock:
    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / LOCK_FILE_NAME
        self._handle: IO[bytes] | None = None

    def acquire(self) -> bool:
        """Take the lock; False when another process holds it."""
        if self._handle is not None:
            return True
        handle = open(self._path, "ab")  # noqa: SIM115 - held until release()
        os.chmod(self._path, 0o600)
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is None:
            return
        if fcntl is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None
