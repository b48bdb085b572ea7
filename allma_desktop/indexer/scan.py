"""One pass over a watched folder: what is new, changed, unchanged or gone since the library.

It trusts size and modification time, as rsync and make do: an unchanged tree costs one
``scandir`` and one ``stat`` a file, with no file opened. Plain blocking work: the indexer
runs it in a worker thread.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from allma_desktop.indexer.rules import IgnoreRules


@dataclass(frozen=True)
class KnownFile:
    """What the library has of a file: as it was when last indexed (or last failed)."""

    size: int
    mtime: float
    failed_at: float | None = None  # when it failed, for a file that did


@dataclass(frozen=True)
class FoundFile:
    path: str
    size: int
    mtime: float


@dataclass
class ScanResult:
    """A folder compared with the library's rows under it."""

    new: list[FoundFile] = field(default_factory=list)
    changed: list[FoundFile] = field(default_factory=list)
    unchanged: int = 0
    gone: list[str] = field(default_factory=list)  # rows whose file is not there any more
    too_large: list[FoundFile] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, what is wrong)
    files_seen: int = 0


def scan_folder(
    root: Path,
    rules: IgnoreRules,
    is_supported: Callable[[str], bool],
    known: Mapping[str, KnownFile],
) -> ScanResult:
    """Walk ``root`` (symlinked folders are not followed) and sort its files against ``known``.

    A subfolder that cannot be read is reported and its rows are kept: a file is only
    ``gone`` when the folder that held it was read and it was not there.
    """
    result = ScanResult()
    seen: set[str] = set()
    unreadable: list[str] = []
    for path, stat_result in _walk(root, rules, result.problems, unreadable):
        result.files_seen += 1
        name = os.path.basename(path)
        if not is_supported(name):
            continue
        size, mtime = stat_result.st_size, stat_result.st_mtime
        found = FoundFile(path, size, mtime)
        if rules.too_large(size):
            result.too_large.append(found)
            continue
        seen.add(path)
        before = known.get(path)
        if before is None:
            result.new.append(found)
        elif _unchanged(before, size, mtime):
            result.unchanged += 1
        else:
            result.changed.append(found)
    kept = tuple(folder + os.sep for folder in unreadable)
    result.gone = sorted(
        path for path in known if path not in seen and not (kept and path.startswith(kept))
    )
    return result


def _unchanged(before: KnownFile, size: int, mtime: float) -> bool:
    if before.failed_at is not None:
        # Failed since its last change: trying again would fail the same way.
        return mtime <= before.failed_at
    return before.size == size and before.mtime == mtime


def _walk(
    root: Path,
    rules: IgnoreRules,
    problems: list[tuple[str, str]],
    unreadable: list[str],
) -> Iterator[tuple[str, os.stat_result]]:
    """(path, stat) of every file below ``root`` that the rules keep, depth first."""
    root_text = str(root)
    prefix = len(root_text) + 1
    stack = [root_text]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                listed = sorted(entries, key=lambda entry: entry.name)
        except OSError as error:
            unreadable.append(folder)
            problems.append((folder, _folder_problem(error)))
            continue
        subfolders: list[str] = []
        for entry in listed:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not rules.skips_folder(entry.name):
                        subfolders.append(entry.path)
                    continue
                if entry.is_symlink() and os.path.isdir(entry.path):
                    continue  # a linked folder may loop or leave the tree: never followed
                if rules.skips_file(entry.path[prefix:], entry.name):
                    continue
                stat_result = entry.stat()  # follows a linked file, as opening it would
            except OSError as error:
                problems.append((entry.path, _file_problem(error)))
                continue
            if not _is_regular(stat_result):
                continue
            yield entry.path, stat_result
        stack.extend(reversed(subfolders))


def _is_regular(stat_result: os.stat_result) -> bool:
    return stat.S_ISREG(stat_result.st_mode)


def _folder_problem(error: OSError) -> str:
    if error.errno in (errno.EACCES, errno.EPERM):
        return (
            "cannot be read (permission denied): its files are left as they are in the "
            "library. Give your user read access to it, or add it to the folder's ignore list."
        )
    return f"cannot be read ({error.strerror or error}): its files are left as they are."


def _file_problem(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "is a symbolic link that loops back on itself: left out. Remove or fix the link."
    if error.errno == errno.ENOENT:
        return "is a symbolic link to a file that does not exist: left out."
    if error.errno in (errno.EACCES, errno.EPERM):
        return "cannot be read (permission denied): left out."
    return f"cannot be read ({error.strerror or error}): left out."
