"""The door for what is done to a library that no engine has open.

The orchestrator is the door to an open library. Restoring a backup replaces the
library's files, and moving it to another vector store copies them while nothing may
change them: both need the library closed, so they come through here, never through
an open orchestrator. Each refuses (``LibraryInUse``) while another engine (the app,
``allma serve``, a command) has the library open, and changes nothing then.

The rest is what the front ends need around those operations: reading what a backup
holds before asking to restore it, the name a new backup gets, where a vector store
keeps its files and whether its package is installed. Backing up is the open
library's own operation (``Orchestrator.back_up``): it copies a live database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from allma_desktop.cancel import CancelToken
from allma_desktop.config import AppConfig
from allma_desktop.errors import BackupInvalid, LibraryInUse
from allma_desktop.records import (
    BackupManifest,
    DatabaseRestored,
    MigrationProgress,
    MigrationReport,
    RestoreResult,
)
from allma_desktop.services.library.open_lock import LibraryOpenLock
from allma_desktop.services.upkeep import auto_backup, backup
from allma_desktop.services.vectorstore import backends

# --- backups ------------------------------------------------------------------------


def default_backup_name() -> str:
    """``allma-<date>-<time>.allma-backup.zip``: the name a backup into a folder gets."""
    return backup.default_backup_name()


def backup_archive_path(path: Path) -> Path:
    """The archive ``allma backup PATH`` wrote for ``path`` (it may have added the suffix)."""
    return backup.backup_archive_path(path)


def is_automatic_backup(path: Path) -> bool:
    """Whether ``path`` is one of the daily automatic backups (a copy of the database
    alone), rather than a backup archive."""
    return auto_backup.is_database_copy(path)


def read_backup(archive: Path) -> BackupManifest:
    """What a backup archive holds, for the confirmation (``BackupInvalid`` if none)."""
    return backup.read_manifest(archive)


def read_automatic_backup(path: Path) -> tuple[int, int]:
    """(documents, chats) of a sound automatic backup; ``BackupInvalid`` when damaged."""
    try:
        return auto_backup.check_database_copy(path)
    except sqlite3.DatabaseError as error:
        raise BackupInvalid(path, f"it is damaged ({error})") from error


def restore_backup(config: AppConfig, archive: Path) -> RestoreResult:
    """Replace the library with a backup archive's, keeping the current one aside.

    Blocks (run it in a worker thread). Checks the archive whole before changing
    anything. The caller switches the vector store setting when
    ``RestoreResult.switches_vector_store`` says so.
    """
    _refuse_while_open(config, "restore a backup")
    return backup.restore_backup(config, archive)


def restore_automatic_backup(config: AppConfig, path: Path) -> DatabaseRestored:
    """Put an automatic backup in the place of the library's database, keeping that
    aside; the vectors stay (``allma doctor --repair`` brings them in line)."""
    read_automatic_backup(path)
    _refuse_while_open(config, "restore a backup")
    return auto_backup.restore_database_copy(path, config.database_path)


# --- vector stores ------------------------------------------------------------------


def move_library(
    current: AppConfig,
    destination: AppConfig,
    *,
    on_progress: Callable[[MigrationProgress], None] | None = None,
    cancel: CancelToken | None = None,
) -> MigrationReport:
    """Copy the library's vectors from ``current``'s store to ``destination``'s, and verify.

    Blocks (run it in a worker thread). Resumable; the library is held closed meanwhile
    (refused while open). Switching the setting is the caller's step, taken only on the
    report this returns; ``MigrationCancelled`` when ``cancel`` is set.
    """
    from allma_desktop.services.upkeep.migrate_store import copy_library  # loads numpy

    return copy_library(current, destination, on_progress=on_progress, cancel=cancel)


def store_folder(config: AppConfig, backend: str | None = None) -> Path | None:
    """The folder of the vector store ``config`` uses (or of ``backend``), None on a server."""
    return backends.local_store_folder(config, backend)


def missing_store_package(backend: str) -> str | None:
    """The Python package the vector store ``backend`` needs and this install lacks, or None."""
    return backends.missing_package(backend)


def _refuse_while_open(config: AppConfig, operation: str) -> None:
    data_dir = config.data_dir.expanduser()
    if not data_dir.is_dir():
        return  # no library yet: nobody has it open
    lock = LibraryOpenLock(data_dir)
    try:
        # Taken and let go at once: the restore moves this very folder aside.
        if not lock.acquire():
            raise LibraryInUse(data_dir, operation)
    finally:
        lock.release()


__all__ = [
    "backup_archive_path",
    "default_backup_name",
    "is_automatic_backup",
    "missing_store_package",
    "move_library",
    "read_automatic_backup",
    "read_backup",
    "restore_automatic_backup",
    "restore_backup",
    "store_folder",
]
