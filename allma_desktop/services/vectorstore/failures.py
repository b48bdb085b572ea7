"""Turning a backend's failure into the error a user can act on.

Shared by the FAISS and Qdrant backends: SQLite, the OS and the vector libraries say
"disk full" and "read-only" in their own words; the user should get one message for each.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from allma_desktop.errors import AllmaError, DiskFull, StoreNotWritable, VectorStoreDamaged

log = logging.getLogger(__name__)

NOT_WRITABLE_SIGNS = (
    "readonly database",
    "read-only file system",
    "permission denied",
    "os error 13",
    "os error 30",
    "unable to open database file",
)
DISK_FULL_SIGNS = (
    "database or disk is full",
    "no space left on device",
    "disk quota exceeded",
    "os error 28",
    "os error 122",
)


# What Chroma (hnswlib, its SQLite) says when its files are damaged, not merely busy.
DAMAGE_SIGNS = (
    "error deserializing",
    "eof while parsing",
    "error constructing hnsw segment reader",
    "error loading hnsw index",
    "index_metadata",
    "database disk image is malformed",
    "file is not a database",
)


def _short(detail: str) -> str:
    """The last two causes of a chained Rust error message ("a: b: c: d" -> "c: d")."""
    return ": ".join(detail.split(": ")[-2:])


def translate_failure(error: Exception, location: Path | str, action: str) -> AllmaError:
    """``error`` from the store at ``location`` while it tried to ``action``."""
    detail = str(error) or type(error).__name__
    lowered = detail.lower()
    os_errno = error.errno if isinstance(error, OSError) else None
    if os_errno in (errno.ENOSPC, errno.EDQUOT) or any(s in lowered for s in DISK_FULL_SIGNS):
        return DiskFull(location)
    if any(sign in lowered for sign in DAMAGE_SIGNS):
        return VectorStoreDamaged(location, _short(detail))
    if os_errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST) or any(
        sign in lowered for sign in NOT_WRITABLE_SIGNS
    ):
        return StoreNotWritable(location, detail)
    return AllmaError(
        f"The vector store at {location} could not {action}: {detail}",
        "Try again; if it keeps failing, restart Allma and check its log. If the store "
        "is damaged, move the folder away and re-add your documents to rebuild it.",
    )


Translator = Callable[[Exception, str], AllmaError]


@contextmanager
def reporting_failures(
    location: Path | str, action: str, translate: Translator | None = None
) -> Iterator[None]:
    """Let ``AllmaError`` through; log anything else and raise it translated.

    ``translate(error, action)`` is the backend's own mapping; by default the shared one.
    """
    try:
        yield
    except AllmaError:
        raise
    except Exception as error:
        log.warning("Vector store at %s could not %s", location, action, exc_info=True)
        if translate is None:
            raise translate_failure(error, location, action) from error
        raise translate(error, action) from error
