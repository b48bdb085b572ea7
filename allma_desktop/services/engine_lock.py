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


class EngineLock:
    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / LOCK_FILE_NAME
        self._handle: IO[bytes] | None = None

    def acquire(self) -> bool:
        """Hold the lock; True when no other engine has the library open."""
        self._handle = open(self._path, "ab")  # noqa: SIM115 - held until release()
        os.chmod(self._path, 0o600)
        if fcntl is None:
            return True
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            alone = True
        except OSError:
            alone = False
        # Keep a shared lock so that later engines see this one, and we see them.
        fcntl.flock(self._handle, fcntl.LOCK_SH)
        return alone

    def release(self) -> None:
        if self._handle is None:
            return
        if fcntl is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None
