"""Back the whole library up as one ``.allma-backup.zip``, and restore it.

The archive holds ``manifest.json`` (app and schema version, counts, the vector store
in use, the SHA-256 of every file), ``allma.sqlite3`` and the folder of the vector store
in use: ``vectors/`` (Chroma), ``vectors-faiss/`` or ``vectors-qdrant/`` (Qdrant's local
mode). A store on a server (Chroma server, Qdrant URL) keeps its vectors there: the
archive then holds none, and its manifest says where they are.

Consistency while the app may be running:

* The database is copied with SQLite's online backup API, which gives one consistent
  snapshot even under WAL with readers and writers about.
* The vector store is closed first (``VectorStore.close``: Chroma flushes its HNSW
  files and lets go of them; the next use reopens it), then its folder is copied,
  Chroma's own SQLite file again through the backup API. Closing is cheaper and
  safer than trying to copy Chroma's segment files while its writer threads run.
* The database is copied before the vectors. Vectors are stored before the SQLite
  commit that makes a document ready, so every document ready in the snapshot has
  its vectors in the later copy; at worst the copy holds a few vectors of a document
  that was mid-ingest, which the doctor removes as orphans.

Restore checks the archive (zip CRCs, manifest, hashes, SQLite integrity, schema no
newer than this app's) before touching anything, then moves the current data aside
as ``<data>.before-restore-<time>`` and puts the restored data in its place. Those
renames are journaled (``restore_journal``): a kill among them is finished by the next
open, so the library is always the old one or the backup's.

A backup is written in a hidden staging folder next to its target and renamed to its
final name once complete and on disk: a kill never leaves a half-written archive under
a name a user would restore, and the next backup removes the abandoned staging.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from allma_desktop import __version__
from allma_desktop.config import VECTOR_STORES, AppConfig
from allma_desktop.errors import AllmaError, BackupInvalid, DiskFull, StoreNotWritable
from allma_desktop.records import (
    BACKUP_FORMAT,
    BACKUP_FORMAT_VERSION,
    BackupManifest,
    BackupResult,
    RestoreResult,
)
from allma_desktop.services.library.open_lock import (
    close_lock_file,
    lock_exclusively,
    open_lock_file,
)
from allma_desktop.services.library.storage import SCHEMA_VERSION, backup_database
from allma_desktop.services.upkeep import restore_journal
from allma_desktop.services.vectorstore.backends import local_store_folder
from allma_desktop.services.vectorstore.base import VectorStore

log = logging.getLogger(__name__)

BACKUP_SUFFIX = ".allma-backup.zip"
# A backup is made in a hidden folder next to its target, then renamed into place.
STAGING_PREFIX = ".allma-backup-"
_STAGING_LOCK = ".lock"
MANIFEST_NAME = "manifest.json"
DATABASE_NAME = "allma.sqlite3"
VECTORS_FOLDER = "vectors"
# SQLite's side files: their content is inside the copy the backup API makes.
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
_HASH_BLOCK = 1 << 20


def archive_folder(backend: str) -> str:
    """The folder name of ``backend``'s files in an archive (Chroma's as it always was)."""
    return VECTORS_FOLDER if backend == "chroma" else f"{VECTORS_FOLDER}-{backend}"


def default_backup_name(moment: datetime | None = None) -> str:
    stamp = (moment or datetime.now()).strftime("%Y-%m-%d-%H%M%S")
    return f"allma-{stamp}{BACKUP_SUFFIX}"


# --- backing up -----------------------------------------------------------------


def create_backup(
    config: AppConfig, target: Path, store: VectorStore | None = None
) -> BackupResult:
    """Write the library to the archive ``target``: a folder gets a dated file name, a
    name without ``.zip`` gets ``.allma-backup.zip`` added.

    ``store`` is the running app's vector store, closed (and so flushed) before its
    folder is copied: the folder of the store in use, whichever backend it is. The
    archive appears only when complete.
    """
    target = Path(target).expanduser()
    if target.is_dir():
        target = target / default_backup_name()
    elif target.suffix.lower() != ".zip":
        target = target.with_name(target.name + BACKUP_SUFFIX)
    if not config.database_path.exists():
        raise AllmaError(
            f"There is no library to back up in {config.data_dir}.",
            "Add documents or chat first, or point ALLMA_DATA_DIR at your library.",
        )
    with _disk_errors(target.parent):
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_abandoned_stagings(target.parent)
        with tempfile.TemporaryDirectory(prefix=STAGING_PREFIX, dir=target.parent) as staging:
            staged = Path(staging)
            # Held while this backup runs: a later one removes the folder only once free.
            owner = open_lock_file(staged / _STAGING_LOCK)
            try:
                lock_exclusively(owner)
                backup_database(config.database_path, staged / DATABASE_NAME)
                if store is not None:
                    store.close()
                vectors = local_store_folder(config)
                if vectors is not None and vectors.is_dir():
                    _copy_store_folder(vectors, staged / archive_folder(config.vector_store))
                manifest = _manifest_for(staged, config.vector_store)
                # Written inside the staging folder, under no name a user would restore,
                # and renamed to the final name only once complete and on disk.
                partial = staged / f"{target.name}.partial"
                # Created readable by the user only, as the database and the data folder are.
                os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
                _write_archive(staged, manifest, partial)
                os.replace(partial, target)
            finally:
                close_lock_file(owner)
    log.info("backed up %s to %s", config.data_dir, target)
    return BackupResult(target, manifest, target.stat().st_size)


def _remove_abandoned_stagings(folder: Path) -> None:
    """Delete the staging folders of backups into ``folder`` that a crash abandoned: those
    whose lock no process holds (a running backup holds its own)."""
    for staging in folder.glob(f"{STAGING_PREFIX}*"):
        lock_path = staging / _STAGING_LOCK
        if not staging.is_dir():
            continue  # not ours
        if not lock_path.exists():
            # Killed between making its folder and its lock (the first thing it writes
            # there): empty, and nothing else would ever remove it. One with files but no
            # lock is not ours.
            if not any(staging.iterdir()):
                log.info("removing %s, left by an interrupted backup", staging)
                shutil.rmtree(staging, ignore_errors=True)
            continue
        try:
            handle = open_lock_file(lock_path)
        except OSError:
            continue
        try:
            abandoned = lock_exclusively(handle)
        finally:
            close_lock_file(handle)
        if abandoned:
            log.info("removing %s, left by an interrupted backup", staging)
            shutil.rmtree(staging, ignore_errors=True)


def _copy_store_folder(source: Path, destination: Path) -> None:
    for folder, _, names in os.walk(source):
        relative = Path(folder).relative_to(source)
        (destination / relative).mkdir(parents=True, exist_ok=True)
        for name in names:
            if name.endswith(_SQLITE_SIDE_FILES):
                continue
            origin = Path(folder) / name
            copy = destination / relative / name
            if _is_sqlite_file(origin):
                backup_database(origin, copy)
            else:
                shutil.copy2(origin, copy)


def _is_sqlite_file(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(16) == b"SQLite format 3\x00"


def _manifest_for(staged: Path, vector_store: str) -> BackupManifest:
    with closing(sqlite3.connect(str(staged / DATABASE_NAME))) as connection:

        def count(sql: str) -> int:
            return int(connection.execute(sql).fetchone()[0] or 0)

        manifest_counts = {
            "schema_version": count("SELECT MAX(version) FROM schema_version"),
            "collections": count("SELECT COUNT(*) FROM collection"),
            "documents": count("SELECT COUNT(*) FROM document"),
            "chunks": count("SELECT COUNT(*) FROM chunk_text"),
            "conversations": count("SELECT COUNT(*) FROM conversation"),
            "messages": count("SELECT COUNT(*) FROM message"),
        }
    files = {name: _sha256(staged / name) for name in _archive_names(staged)}
    return BackupManifest(
        app_version=__version__,
        schema_version=manifest_counts["schema_version"],
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        collections=manifest_counts["collections"],
        documents=manifest_counts["documents"],
        chunks=manifest_counts["chunks"],
        conversations=manifest_counts["conversations"],
        messages=manifest_counts["messages"],
        files=files,
        vector_store=vector_store,
    )


def _archive_names(staged: Path) -> list[str]:
    names = (path.relative_to(staged).as_posix() for path in staged.rglob("*") if path.is_file())
    return sorted(name for name in names if name != _STAGING_LOCK)


def _write_archive(staged: Path, manifest: BackupManifest, archive: Path) -> None:
    with open(archive, "r+b") as handle:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            zf.writestr(MANIFEST_NAME, json.dumps(manifest.as_dict(), indent=2, sort_keys=True))
            for name in manifest.files:
                zf.write(staged / name, name)
        handle.flush()
        os.fsync(handle.fileno())  # on disk before it takes the final name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


# --- restoring ------------------------------------------------------------------


def backup_archive_path(path: Path) -> Path:
    """The archive a user means by ``path``: as given, or with ``.allma-backup.zip`` added
    when that is how ``create_backup`` named it (``allma backup notes`` writes
    ``notes.allma-backup.zip``, so ``allma restore notes`` finds it)."""
    path = Path(path).expanduser()
    named = path.with_name(path.name + BACKUP_SUFFIX)
    if not path.exists() and path.suffix.lower() != ".zip" and named.exists():
        return named
    return path


def read_manifest(archive: Path) -> BackupManifest:
    """The manifest of a backup archive, after checking only that it is one."""
    try:
        with zipfile.ZipFile(archive) as zf:
            return _parse_manifest(archive, zf)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise BackupInvalid(archive, f"it is not a readable backup archive ({error})") from error


def restore_backup(config: AppConfig, archive: Path) -> RestoreResult:
    """Replace the library with the backup's, keeping the current one aside.

    Nothing is changed unless the archive is complete and sound. The app must not
    have the library open meanwhile. The swap is journaled (``restore_journal``): a
    crash during it is finished at the next open, never leaving a mix of the two.
    """
    archive = Path(archive).expanduser()
    if not archive.is_file():
        raise BackupInvalid(archive, "the file does not exist", "Check the path and try again.")
    data_dir = config.data_dir.expanduser()
    with _disk_errors(data_dir.parent), restore_journal.restore_lock(data_dir) as alone:
        if not alone:
            raise AllmaError(
                f"Another restore of the library in {data_dir} is running.",
                "Wait for it to end, then try again. Nothing was changed.",
            )
        # A restore a crash interrupted is finished first (and its leftovers removed).
        restore_journal.finish_locked(data_dir, config.database_path)
        staging = Path(
            tempfile.mkdtemp(
                prefix=f".{data_dir.name}{restore_journal.STAGING_INFIX}", dir=data_dir.parent
            )
        )
        try:
            manifest = _extract_verified(archive, staging)
            # The vectors go back where the backup's backend keeps them under this config.
            staged_vectors = staging / archive_folder(manifest.vector_store)
            vectors = local_store_folder(config, manifest.vector_store)
            vectors_outside = None
            if vectors is not None and _is_inside(vectors, data_dir):
                relative = vectors.expanduser().resolve().relative_to(data_dir.resolve())
                if relative != Path(staged_vectors.name) and staged_vectors.exists():
                    (staging / relative).parent.mkdir(parents=True, exist_ok=True)
                    staged_vectors.rename(staging / relative)
            elif vectors is not None:
                vectors_outside = vectors
            result = _swap_in(config, staging, manifest, staged_vectors, vectors_outside)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    log.info("restored %s from %s (previous data in %s)", data_dir, archive, result.previous_data)
    return result


def _extract_verified(archive: Path, staging: Path) -> BackupManifest:
    try:
        with zipfile.ZipFile(archive) as zf:
            manifest = _parse_manifest(archive, zf)
            damaged = zf.testzip()
            if damaged is not None:
                raise BackupInvalid(archive, f"it is damaged ({damaged} fails its checksum)")
            members = set(zf.namelist())
            for name, expected in manifest.files.items():
                if name not in members:
                    raise BackupInvalid(archive, f"it is incomplete ({name} is missing)")
                destination = staging / _safe_member(archive, name)
                destination.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(name) as source, open(destination, "wb") as copy:
                    shutil.copyfileobj(source, copy, _HASH_BLOCK)
                if _sha256(destination) != expected:
                    raise BackupInvalid(archive, f"it is damaged ({name} does not match)")
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise BackupInvalid(archive, f"it is damaged or not a backup ({error})") from error
    _check_database(archive, staging / DATABASE_NAME, manifest)
    return manifest


def _parse_manifest(archive: Path, zf: zipfile.ZipFile) -> BackupManifest:
    try:
        data = json.loads(zf.read(MANIFEST_NAME).decode("utf-8"))
        manifest = BackupManifest.from_dict(data)
    except KeyError as error:
        raise BackupInvalid(archive, f"it is not an Allma Desktop backup (no {error})") from error
    except (ValueError, TypeError, UnicodeDecodeError) as error:
        raise BackupInvalid(archive, f"its manifest is unreadable ({error})") from error
    if manifest.format != BACKUP_FORMAT:
        raise BackupInvalid(archive, "it is not an Allma Desktop backup")
    if manifest.format_version > BACKUP_FORMAT_VERSION or manifest.schema_version > SCHEMA_VERSION:
        raise BackupInvalid(
            archive,
            f"it was made by a newer version of Allma Desktop ({manifest.app_version}, "
            f"schema v{manifest.schema_version}; this version knows up to v{SCHEMA_VERSION})",
            "Nothing was changed. Update Allma Desktop, then restore it.",
        )
    if DATABASE_NAME not in manifest.files:
        raise BackupInvalid(archive, f"it holds no database ({DATABASE_NAME})")
    if manifest.vector_store not in VECTOR_STORES:
        raise BackupInvalid(
            archive, f"its vectors belong to an unknown store ({manifest.vector_store!r})"
        )
    return manifest


def _safe_member(archive: Path, name: str) -> Path:
    """The member's relative path; refuses names that would land outside the folder."""
    parts = PurePosixPath(name).parts
    if not parts or PurePosixPath(name).is_absolute() or ".." in parts or "\\" in name:
        raise BackupInvalid(archive, f"it holds a file with an unsafe name ({name!r})")
    return Path(*parts)


def _check_database(archive: Path, path: Path, manifest: BackupManifest) -> None:
    try:
        with closing(sqlite3.connect(str(path))) as connection:
            verdict = [row[0] for row in connection.execute("PRAGMA integrity_check")]
            stored = connection.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    except sqlite3.DatabaseError as error:
        raise BackupInvalid(archive, f"its database is damaged ({error})") from error
    if verdict != ["ok"]:
        raise BackupInvalid(archive, f"its database is damaged ({verdict[0]})")
    if stored != manifest.schema_version:
        raise BackupInvalid(archive, "its database does not match its manifest")


def _swap_in(
    config: AppConfig,
    staging: Path,
    manifest: BackupManifest,
    staged_vectors: Path,
    vectors_outside: Path | None,
) -> RestoreResult:
    """Move the current data aside and the staged data in, as one journaled swap; undone
    if a rename fails, finished at the next open if the process dies midway.

    ``vectors_outside``: where the vectors go when that is not inside the data folder.
    """
    data_dir = config.data_dir.expanduser()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    moves: list[tuple[Path, Path]] = []
    previous_data = _aside_name(data_dir, stamp) if data_dir.exists() else None
    if previous_data is not None:
        moves.append((data_dir, previous_data))
    previous_vectors = None
    if vectors_outside is not None:
        if vectors_outside.exists():
            previous_vectors = _aside_name(vectors_outside, stamp)
            moves.append((vectors_outside, previous_vectors))
        if staged_vectors.exists():
            moves.append((staged_vectors, vectors_outside))
    moves.append((staging, data_dir))
    restore_journal.run_swap(
        restore_journal.folder_journal(data_dir), restore_journal.Swap(staging, tuple(moves))
    )
    data_dir.chmod(0o700)
    return RestoreResult(manifest, data_dir, previous_data, previous_vectors, manifest.vector_store)


def _aside_name(path: Path, stamp: str) -> Path:
    aside = path.with_name(f"{path.name}.before-restore-{stamp}")
    counter = 1
    while aside.exists():
        counter += 1
        aside = path.with_name(f"{path.name}.before-restore-{stamp}-{counter}")
    return aside


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        path.expanduser().resolve().relative_to(folder.expanduser().resolve())
    except ValueError:
        return False
    return True


@contextmanager
def _disk_errors(folder: Path) -> Iterator[None]:
    try:
        yield
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(folder) from error
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise StoreNotWritable(folder, error.strerror or str(error)) from error
        raise AllmaError(
            f"The backup could not be written or read in {folder}: {error}.",
            "Check the path and the free space, then try again.",
        ) from error
