"""Rolling automatic backups of the library database: a damaged file always has a recent copy.

At most one a day (``BACKUP_INTERVAL``), the newest ``KEEP`` kept, in
``<data>/backups/``: a copy of ``allma.sqlite3`` made with SQLite's online backup API
(consistent while the app reads and writes), checked with ``PRAGMA quick_check``
before it takes the place of an older one, so a damaged database never pushes a good
copy out. Only the database: vectors can be rebuilt from the chunk texts it holds.
Each copy is readable by the user only, as the database is.

``allma restore <copy>`` puts one back (``restore_database_copy``).
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
from contextlib import closing
from datetime import datetime
from pathlib import Path

from allma_desktop.errors import AllmaError
from allma_desktop.records import DatabaseRestored
from allma_desktop.services.upkeep import restore_journal

log = logging.getLogger(__name__)

BACKUPS_FOLDER = "backups"
BACKUP_PREFIX = "allma-auto-"
BACKUP_SUFFIX = ".sqlite3"
KEEP = 3
BACKUP_INTERVAL = 24 * 3600.0  # seconds between automatic backups
SQLITE_HEADER = b"SQLite format 3\x00"
_SIDE_FILES = ("-wal", "-shm", "-journal")


def backups_folder(data_dir: Path) -> Path:
    return Path(data_dir) / BACKUPS_FOLDER


def automatic_backups(data_dir: Path) -> list[Path]:
    """The automatic backups of the library in ``data_dir``, newest first."""
    folder = backups_folder(data_dir)
    try:
        found = [
            path
            for path in folder.iterdir()
            if path.name.startswith(BACKUP_PREFIX) and path.name.endswith(BACKUP_SUFFIX)
        ]
    except OSError:
        return []
    return sorted(found, key=lambda path: path.name, reverse=True)  # the name holds the time


def backup_due(data_dir: Path, interval: float = BACKUP_INTERVAL) -> bool:
    backups = automatic_backups(data_dir)
    if not backups:
        return True
    try:
        age = time.time() - backups[0].stat().st_mtime
    except OSError:
        return True
    return age >= interval or age < 0  # a clock set back: make a fresh one


def make_automatic_backup(
    database: Path, data_dir: Path, *, keep: int = KEEP, now: datetime | None = None
) -> Path | None:
    """Copy ``database`` into the backups folder and drop the oldest beyond ``keep``.

    Returns the new copy, or None when the database failed its check (then no older
    copy is dropped). Raises ``OSError``/``sqlite3.Error`` when the copy cannot be made.
    """
    folder = backups_folder(data_dir)
    folder.mkdir(mode=0o700, exist_ok=True)
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    final = folder / f"{BACKUP_PREFIX}{stamp}{BACKUP_SUFFIX}"
    partial = folder / f".{final.name}.partial"
    for abandoned in folder.glob(f".{BACKUP_PREFIX}*.partial"):  # copies a crash cut short
        abandoned.unlink(missing_ok=True)
    # Created 0600 before SQLite writes into it, so the copy is never readable by others.
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    try:
        with (
            closing(sqlite3.connect(str(database))) as source,  # read only: it is the source
            closing(sqlite3.connect(str(partial))) as copy,
        ):
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            verdict = [row[0] for row in copy.execute("PRAGMA quick_check")]
        if verdict != ["ok"]:
            log.warning("not backing up %s: it fails its check (%s)", database, verdict[:3])
            return None
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    for old in automatic_backups(data_dir)[keep:]:
        old.unlink(missing_ok=True)
    log.info("automatic backup of %s in %s", database, final)
    return final


def is_database_copy(path: Path) -> bool:
    """Whether ``path`` is an SQLite file (an automatic backup), not a backup archive."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def check_database_copy(path: Path) -> tuple[int, int]:
    """(documents, conversations) of a sound database copy; raises ``sqlite3.DatabaseError``."""
    if not path.is_file():
        raise sqlite3.DatabaseError("the file does not exist")
    with closing(sqlite3.connect(str(path))) as connection:
        verdict = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        if verdict != ["ok"]:
            raise sqlite3.DatabaseError("; ".join(verdict[:3]))
        documents = int(connection.execute("SELECT COUNT(*) FROM document").fetchone()[0])
        chats = int(connection.execute("SELECT COUNT(*) FROM conversation").fetchone()[0])
    return documents, chats


def restore_database_copy(copy: Path, database: Path) -> DatabaseRestored:
    """Put the database copy ``copy`` in the place of ``database``, keeping that aside.

    The caller checks the copy first (``check_database_copy``) and has the library closed.
    The renames are journaled (``restore_journal``): a crash among them is finished at
    the next open, so the library is the old database or the copy, never neither.
    """
    documents, chats = check_database_copy(copy)
    data_dir = database.parent
    with restore_journal.restore_lock(data_dir) as alone:
        if not alone:
            raise AllmaError(
                f"Another restore of the library in {data_dir} is running.",
                "Wait for it to end, then try again. Nothing was changed.",
            )
        restore_journal.finish_locked(data_dir, database)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        staged = restore_journal.staged_database(database)
        shutil.copyfile(copy, staged)
        os.chmod(staged, 0o600)
        moves: list[tuple[Path, Path]] = []
        previous = None
        if database.exists():
            previous = database.with_name(f"{database.name}.before-restore-{stamp}")
            moves.append((database, previous))
            # The side files belong to the file set aside, not to the copy.
            moves += [
                (database.with_name(database.name + side), previous.with_name(previous.name + side))
                for side in _SIDE_FILES
            ]
        else:
            for side in _SIDE_FILES:  # of no database: nothing in them to keep
                database.with_name(database.name + side).unlink(missing_ok=True)
        moves.append((staged, database))
        restore_journal.run_swap(
            restore_journal.database_journal(database),
            restore_journal.Swap(staged, tuple(moves)),
        )
    log.info("restored %s from %s (previous file: %s)", database, copy, previous)
    return DatabaseRestored(database, previous, documents, chats)
