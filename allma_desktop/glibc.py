"""The C library when it is glibc's on Linux: for the few calls the app makes into it
(``mallopt``/``malloc_trim`` in ``malloc_arenas``, the exit handler in ``gui/quitting``).
Other C libraries (musl) and other systems get None, and those features stand down."""

from __future__ import annotations

import ctypes
import functools
import platform
import sys


@functools.cache
def glibc() -> ctypes.CDLL | None:
    """glibc, loaded once; None elsewhere."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(None)  # the process's own symbols, glibc's among them
    except OSError:
        return None
