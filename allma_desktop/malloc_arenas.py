"""Fewer C heaps for a process with many threads (glibc on Linux).

glibc gives each thread that allocates at the same time as another a heap of its own
(an "arena"), up to eight per core, and memory freed in one is not reused by the
others. The app runs Python in the GUI thread, the indexer's thread and a dozen worker
threads (SQLite, the store pipe, parse lanes): in a 20,000-file first sync the app's
resident memory grew by 119 MB with the default and by 87 MB with two arenas, at the
same speed (``python -m bench.library_sync memory``). Called first thing at start-up,
before the threads exist.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's arenas at ``arenas``; True when it took (False elsewhere: musl, macOS,
    Windows, whose allocators do not grow this way)."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, arenas))
