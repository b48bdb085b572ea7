"""Fewer C heaps for a process with many threads, and their free pages given back
(glibc on Linux).

glibc gives each thread that allocates at the same time as another a heap of its own
(an "arena"), up to eight per core, and memory freed in one is not reused by the
others. The app runs Python in the GUI thread, the indexer's thread and a dozen worker
threads (SQLite, the store pipe, parse lanes): in a 20,000-file first sync the app's
resident memory grew by 119 MB with the default and by 87 MB with two arenas, at the
same speed (``python -m bench.library_sync memory``). Called first thing at start-up,
before the threads exist.

Memory freed in the middle of a heap stays in the process until the allocator is asked
to give it back: glibc returns only the free top of the main heap by itself. A long sync
frees as much as it keeps (rows read and dropped, requests built and sent), so the
indexer asks (``FreeMemoryGiver``) every few seconds while files finish, and once when
its queue is empty: ``malloc_trim`` walks every heap and returns its free pages, about
2 ms for a few hundred MB, off the GUI thread.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from typing import Any

from allma_desktop.glibc import glibc

log = logging.getLogger(__name__)

ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)
GIVE_BACK_SECONDS = 5.0  # while a sync runs: the free pages are given back this often


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's arenas at ``arenas``; True when it took (False elsewhere: musl, macOS,
    Windows, whose allocators do not grow this way)."""
    mallopt = _glibc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, arenas))


def give_back_free_memory() -> bool:
    """Return the free pages of every C heap to the system (glibc's ``malloc_trim``);
    True when some were (False elsewhere, or when there were none). ctypes lets go of
    the GIL for the call."""
    trim = _glibc_function("malloc_trim")
    if trim is None:
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return bool(trim(0))


class FreeMemoryGiver:
    """``give_back_free_memory`` at most once every ``seconds``, from whichever thread
    calls ``maybe`` (a thread that is not the GUI's)."""

    def __init__(self, seconds: float = GIVE_BACK_SECONDS) -> None:
        self._seconds = seconds
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def maybe(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._last < self._seconds:
                return False
            self._last = now
        return give_back_free_memory()

    def now(self) -> bool:
        with self._lock:
            self._last = time.monotonic()
        return give_back_free_memory()


def _glibc_function(name: str) -> Any:
    """``name`` from the C library when it is glibc's on Linux, else None."""
    return getattr(glibc(), name, None)
