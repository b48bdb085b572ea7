"""A restore that a crash cannot leave half done: its renames are written down first.

A restore ends with a few renames: the data folder (or the database) aside, the
restored copy in its place. A kill between two of them would leave neither library in
place, and the next start would open an empty one. So the restore writes a journal
naming every rename before it makes the first, each rename is skipped when it is
already done, and the next open of the library (``finish_interrupted_restore``, before
anything opens the data folder) makes the ones that are left.

The restored copy is complete and checked before its journal is written, so finishing
always goes forward: the library ends as the backup's, the previous one set aside, as
if the restore had not been interrupted. A journal whose restored copy is no longer
there belongs to a swap that ended; it is removed. A copy left without a journal (a kill
while the archive was being unpacked) is deleted: the library in place was not touched.

One restore at a time: each holds ``.<data folder>.restore.lock`` next to the data
folder from start to end, and the finishing step takes it too.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from allma_desktop.services.library.open_lock import (
    close_lock_file,
    lock_exclusively,
    open_lock_file,
)

log = logging.getLogger(__name__)

# Where the restores of a whole data folder stage it: next to it, as a hidden folder.
STAGING_INFIX = ".restoring-"


@dataclass(frozen=True)
class Swap:
    """The renames of one restore, in order; the last puts ``staged`` in its place."""

    staged: Path
    moves: tuple[tuple[Path, Path], ...]  # (from, to)

    def as_dict(self) -> dict[str, object]:
        return {
            "staged": str(self.staged),
            "moves": [[str(source), str(target)] for source, target in self.moves],
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Swap:
        moves = data["moves"]
        if not isinstance(moves, list):
            raise ValueError("moves is not a list")
        return cls(
            Path(str(data["staged"])),
            tuple((Path(str(source)), Path(str(target))) for source, target in moves),
        )


def folder_journal(data_dir: Path) -> Path:
    """The journal of a restore of the whole data folder (outside it: the folder moves)."""
    return data_dir.with_name(f".{data_dir.name}.restore-journal.json")


def database_journal(database: Path) -> Path:
    """The journal of a restore of the database alone (an automatic backup)."""
    return database.with_name(f".{database.name}.restore-journal.json")


def staged_database(database: Path) -> Path:
    """Where a restore of the database alone stages its copy."""
    return database.with_name(f".{database.name}.restoring")


@contextmanager
def restore_lock(data_dir: Path) -> Iterator[bool]:
    """Hold the restore lock of ``data_dir``'s library; yields False when another
    process holds it (a restore is running there)."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    handle = open_lock_file(data_dir.with_name(f".{data_dir.name}.restore.lock"))
    try:
        yield lock_exclusively(handle)
    finally:
        close_lock_file(handle)


def run_swap(journal: Path, swap: Swap) -> None:
    """Write ``swap`` down in ``journal``, make its renames, then drop the journal."""
    _write_journal(journal, swap)
    try:
        _finish_swap(swap)
    except BaseException:
        # A rename refused (another file system, a permission): put back what moved.
        # A kill meanwhile leaves the journal, and the next open goes forward instead.
        for source, target in reversed(swap.moves):
            if target.exists() and not source.exists():
                target.rename(source)
        journal.unlink(missing_ok=True)
        raise
    journal.unlink()
    _sync_folder(journal.parent)


def finish_interrupted_restore(data_dir: Path, database: Path) -> bool:
    """Finish a restore of ``data_dir`` (or of its ``database``) that a crash stopped
    midway, and delete what an interrupted one left behind. True when one was finished.

    Does nothing while a restore is running (it holds the lock).
    """
    data_dir = data_dir.expanduser()
    if not data_dir.parent.is_dir() or not _leftovers(data_dir, database):
        return False  # the common case: no lock file is made for nothing
    with restore_lock(data_dir) as alone:
        if not alone:
            log.info("a restore of %s is running; not touching its files", data_dir)
            return False
        return finish_locked(data_dir, database)


def finish_locked(data_dir: Path, database: Path) -> bool:
    """``finish_interrupted_restore`` for a caller that holds the restore lock."""
    finished = False
    keep: set[Path] = set()
    for journal in (folder_journal(data_dir), database_journal(database)):
        # A journal the kill caught half-written: its swap had not begun.
        _partial(journal).unlink(missing_ok=True)
        if not journal.exists():
            continue
        try:
            swap = Swap.from_dict(json.loads(journal.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as error:
            # Written whole or not at all (renamed into place): unreadable means damaged
            # by something else. Leave it and the files for a person to look at.
            log.error("cannot read the restore journal %s: %s", journal, error)
            keep.add(journal)
            continue
        if swap.staged.exists():
            log.warning("finishing the restore that was interrupted (%s)", journal)
            _finish_swap(swap)
            finished = True
        journal.unlink()
        _sync_folder(journal.parent)
    _remove_leftover_copies(data_dir, database, keep)
    return finished


def _finish_swap(swap: Swap) -> None:
    """Make each rename of ``swap`` not yet made; a no-op once ``staged`` is in place."""
    if not swap.staged.exists():
        return
    for source, target in swap.moves:
        if not source.exists():
            continue  # done already (or nothing to set aside)
        if target.exists():
            # Something took the name after the kill (a new empty data folder): keep it too.
            taken = _free_name(target)
            target.rename(taken)
            log.warning("%s was in the way of the restore; kept as %s", target, taken)
        target.parent.mkdir(parents=True, exist_ok=True)
        source.rename(target)
        _sync_folder(target.parent)


def _leftovers(data_dir: Path, database: Path) -> bool:
    """Whether an interrupted restore left anything next to ``data_dir`` or ``database``."""
    journals = (folder_journal(data_dir), database_journal(database))
    if any(path.exists() for journal in journals for path in (journal, _partial(journal))):
        return True
    if staged_database(database).exists():
        return True
    return any(data_dir.parent.glob(f".{data_dir.name}{STAGING_INFIX}*"))


def _remove_leftover_copies(data_dir: Path, database: Path, keep: set[Path]) -> None:
    """Delete restored copies that no journal names: a kill stopped their unpacking
    before the swap began, so the library in place is the one to keep."""
    if keep:
        return  # a journal could not be read: its copy may be among these
    for staging in data_dir.parent.glob(f".{data_dir.name}{STAGING_INFIX}*"):
        log.info("removing %s, left by an interrupted restore", staging)
        if staging.is_dir():
            shutil.rmtree(staging, ignore_errors=True)
        else:
            staging.unlink(missing_ok=True)
    staged_database(database).unlink(missing_ok=True)


def _write_journal(journal: Path, swap: Swap) -> None:
    partial = _partial(journal)
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(swap.as_dict(), handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, journal)
    _sync_folder(journal.parent)


def _partial(journal: Path) -> Path:
    return journal.with_name(journal.name + ".partial")


def _free_name(path: Path) -> Path:
    counter = 2
    while (candidate := path.with_name(f"{path.name}.{counter}")).exists():
        counter += 1
    return candidate


def _sync_folder(folder: Path) -> None:
    """Make the renames in ``folder`` durable (a power cut, not only a kill)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # Windows cannot open folders; its renames are journaled by NTFS
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
