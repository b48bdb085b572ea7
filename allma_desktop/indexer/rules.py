"""Which files of a watched folder are left out: hidden ones, ignore globs, a size cap."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

DEFAULT_IGNORES: tuple[str, ...] = (
    "node_modules/",
    "__pycache__/",
    "*.tmp",
    "*.part",
    "*.crdownload",
    "~$*",
)
"""Left out of every new watched folder; each folder's list can be edited."""


@dataclass(frozen=True)
class IgnoreRules:
    """Glob patterns in the spirit of .gitignore, matched against a path inside the folder.

    A pattern ending in ``/`` names folders (``node_modules/``); one with a ``/`` inside
    is matched against the whole relative path (``drafts/*.md``); any other against the
    name alone (``*.tmp``). Hidden files and folders (``.git``) are always left out.
    """

    patterns: tuple[str, ...] = DEFAULT_IGNORES
    max_file_bytes: int | None = None
    _folder_names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _name_starts: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _name_ends: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _name_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _path_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        folders = [p.rstrip("/") for p in self.patterns if p.endswith("/")]
        names = [p for p in self.patterns if not p.endswith("/") and "/" not in p]
        paths = [p.lstrip("/") for p in self.patterns if not p.endswith("/") and "/" in p]
        starts, ends, others = _split_simple_globs(names)
        object.__setattr__(self, "_folder_names", tuple(folders))
        object.__setattr__(self, "_name_starts", (".", *starts))  # hidden files too
        object.__setattr__(self, "_name_ends", ends)
        object.__setattr__(self, "_name_re", _compile(others))
        object.__setattr__(self, "_path_re", _compile(paths))

    @classmethod
    def of(cls, patterns: Sequence[str], max_file_mb: float | None) -> IgnoreRules:
        cap = None if max_file_mb is None else int(max_file_mb * 1024 * 1024)
        return cls(tuple(p.strip() for p in patterns if p.strip()), cap)

    def skips_folder(self, name: str) -> bool:
        if name.startswith("."):
            return True
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self._folder_names)

    def skips_file(self, relative_path: str, name: str) -> bool:
        if name.startswith(self._name_starts) or name.endswith(self._name_ends):
            return True
        if self._name_re is not None and self._name_re.match(name):
            return True
        return self._path_re is not None and self._path_re.match(relative_path) is not None

    @property
    def name_starts(self) -> tuple[str, ...]:
        """Names starting with one of these are left out (``~$*``; ``.`` for hidden files)."""
        return self._name_starts

    @property
    def name_ends(self) -> tuple[str, ...]:
        """Names ending with one of these are left out (``*.tmp``)."""
        return self._name_ends

    @property
    def name_pattern(self) -> re.Pattern[str] | None:
        """The other name globs as one expression (None: there are none)."""
        return self._name_re

    @property
    def path_pattern(self) -> re.Pattern[str] | None:
        """The globs with a ``/`` inside, matched against the path inside the folder."""
        return self._path_re

    def too_large(self, size: int) -> bool:
        return self.max_file_bytes is not None and size > self.max_file_bytes

    def skips_relative(self, relative_path: str) -> bool:
        """Whether a path inside the folder (``a/b/c.pdf``) is left out, folders included."""
        parts = relative_path.replace("\\", "/").split("/")
        if any(self.skips_folder(part) for part in parts[:-1]):
            return True
        return self.skips_file("/".join(parts), parts[-1])


_WILDCARDS = frozenset("*?[")


def _split_simple_globs(
    patterns: Sequence[str],
) -> tuple[tuple[str, ...], tuple[str, ...], list[str]]:
    """``~$*`` and ``*.tmp``, the usual shapes, as plain prefixes and suffixes: a string
    test costs a fraction of a regular expression's, 100,000 times a rescan. The rest
    (``report-??.pdf``, ``[Dd]raft*``) stay globs."""
    starts: list[str] = []
    ends: list[str] = []
    others: list[str] = []
    for pattern in patterns:
        head, tail = pattern[:-1], pattern[1:]
        if pattern.endswith("*") and head and not _WILDCARDS.intersection(head):
            starts.append(head)
        elif pattern.startswith("*") and tail and not _WILDCARDS.intersection(tail):
            ends.append(tail)
        else:
            others.append(pattern)
    return tuple(starts), tuple(ends), others


def _compile(patterns: Sequence[str]) -> re.Pattern[str] | None:
    """One regular expression for many globs: a scan of 100,000 names stays cheap."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
