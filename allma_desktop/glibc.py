"""The C library when it is glibc's on Linux: for the few calls the app makes into it
(``mallopt``/``malloc_trim`` in ``malloc_arenas``, the exit handler in ``gui/quitting``).
Other C libraries (musl) and other systems get None, and those features stand down."""

from __future__ import annotations

import ctypes
import functools
import platform
import sys


def glibc() -> ctypes.CDLL | None:
    """glibc, loaded once; None elsewhere. The system is asked at each call (it is cheap,
    and a test may say it is another); only the loading is kept."""
    if not sys.platform.startswith("linux"):
        return None
    return _loaded_glibc()


@functools.cache
def _loaded_glibc() -> ctypes.CDLL | None:
    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(None)  # the process's own symbols, glibc's among them
    except OSError:
        return None
