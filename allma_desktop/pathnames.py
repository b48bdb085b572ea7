"""File names that are not valid text: one way to store, show and return them.

On Linux a file name is bytes. One copied from an old Windows share or a zip may not
be valid UTF-8 (``caf\\xe9.txt`` in Latin-1); Python then names it with "surrogate
escapes" (``'caf\\udce9.txt'``), which open the file fine but which no encoder accepts:
SQLite, Chroma, JSON, a terminal or a log file all raise ``UnicodeEncodeError``.

In memory a path stays what the file system gave (so the file can still be opened).
At the three kinds of boundary it crosses:

* **stored** (SQLite, the vector store's metadata): ``stored_path`` turns such a path
  into a ``file://`` URI whose ``%XX`` escapes keep every byte; any other path is
  stored as it always was. ``path_from_stored`` reverses it exactly. An absolute path
  never starts with ``file:``, so the two forms cannot be confused.
* **shown** (the CLI, logs, the GUI) and **returned** (the API's JSON):
  ``display_text`` writes each byte that is not UTF-8 as ``\\xNN``, as ``ls -b`` does.
  The codec error handler ``DISPLAY_ERRORS`` does the same inside any encoder (stdout,
  a log file), so nothing that prints a path can fail on one.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Mapping
from urllib.parse import quote_from_bytes, unquote_to_bytes

DISPLAY_ERRORS = "allma-display"
"""Codec error handler: un-encodable characters as ``\\xNN`` (escaped bytes) or ``\\uNNNN``."""

STORED_BYTES_PREFIX = "file://"


def _display_escape(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    parts = []
    for char in error.object[error.start : error.end]:
        code = ord(char)
        parts.append(f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}")
    return "".join(parts), error.end


codecs.register_error(DISPLAY_ERRORS, _display_escape)


def is_text(value: str) -> bool:
    """Whether ``value`` can be written as UTF-8 (no lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def display_text(value: str) -> str:
    """``value`` fit to show or return: un-encodable bytes written as ``\\xNN``."""
    if is_text(value):
        return value
    return value.encode("utf-8", DISPLAY_ERRORS).decode("utf-8")


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as the user should see it (the same as ``display_text`` of its string)."""
    return display_text(os.fspath(path))


def displayable(data: object) -> object:
    """``data`` (JSON-like: dicts, lists, strings) with every string made ``display_text``."""
    if isinstance(data, str):
        return display_text(data)
    if isinstance(data, Mapping):
        return {displayable(key): displayable(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [displayable(item) for item in data]
    return data


def _path_bytes(path: str) -> bytes:
    try:
        return os.fsencode(path)
    except UnicodeEncodeError:  # a lone surrogate no file system gave: keep it all the same
        return path.encode("utf-8", "surrogatepass")


def stored_path(path: str) -> str:
    """The text to store for ``path``: itself, or a ``file://`` URI when it is not text."""
    if is_text(path):
        return path
    return stored_uri(path)


def stored_uri(path: str) -> str:
    """``path`` in the ``file://`` form that ``stored_path`` gives a path that is not text
    (for a prefix: every such path under a folder starts with its folder's form)."""
    return STORED_BYTES_PREFIX + quote_from_bytes(_path_bytes(path), safe="/")


def path_from_stored(text: str) -> str:
    """The path that ``stored_path`` stored as ``text``."""
    if not text.startswith(STORED_BYTES_PREFIX):
        return text
    return os.fsdecode(unquote_to_bytes(text[len(STORED_BYTES_PREFIX) :]))
