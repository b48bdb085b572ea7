"""Who else has this library open: an advisory lock file in the data folder.

Every engine (the app, each `allma` command) holds a shared lock while open. The
first one to open tries for an exclusive lock: only an engine that gets it may run
the start-up repair, which treats half-indexed documents and streaming answers
as left over from a crash. With another engine open they may be its live work.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; every engine counts as alone.
    fcntl = None  # type: ignore[assignment]

LOCK_FILE_NAME = ".engine.lock"


class LibraryOpenLock:
    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / LOCK_FILE_NAME
        self._handle: IO[bytes] | None = None

    def acquire(self) -> bool:
        """Hold the lock; True when no other engine has the library open."""
        self._handle = open_lock_file(self._path)
        alone = lock_exclusively(self._handle)
        if fcntl is not None:
            # Keep a shared lock so that later engines see this one, and we see them.
            fcntl.flock(self._handle, fcntl.LOCK_SH)
        return alone

    def release(self) -> None:
        if self._handle is not None:
            close_lock_file(self._handle)
            self._handle = None


def open_lock_file(path: Path) -> IO[bytes]:
    """The lock file at ``path``, created readable by the user only; held open by the caller."""
    handle = open(path, "ab")  # noqa: SIM115 - held until close_lock_file()
    os.chmod(path, 0o600)
    return handle


def lock_exclusively(handle: IO[bytes]) -> bool:
    """Take the exclusive lock without waiting; False when another process holds one.

    The system drops the lock when the process dies, so a crash never leaves it taken.
    """
    if fcntl is None:
        return True
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def close_lock_file(handle: IO[bytes]) -> None:
    if fcntl is not None:
        fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()
