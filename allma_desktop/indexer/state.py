"""The indexer's durable state in the library's database: its queue and its watched folders.

Blocking SQLite calls: the indexer runs them in a worker thread.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import peewee
from peewee import SqliteDatabase

from allma_desktop.errors import AllmaError
from allma_desktop.indexer.events import WatchedFolderRecord
from allma_desktop.indexer.rules import DEFAULT_IGNORES
from allma_desktop.indexer.scan import ALWAYS_RETRY, KnownFile, KnownFiles
from allma_desktop.pathnames import path_from_stored, stored_path, stored_uri
from allma_desktop.services.library.storage import (
    QueuedFile,
    WatchedFolder,
    as_utc,
    execute_many,
    execute_sql,
    translating_store_errors,
    utc_now,
)
from allma_desktop.services.upkeep.doctor import INTERRUPTED_REASON

QueueKind = str  # "index" (a file) or "reembed" (a whole collection)

# Failures that say nothing about the file (a cancel, a crash): a rescan tries it again.
_RETRY_ERRORS = frozenset({"cancelled", INTERRUPTED_REASON})


@dataclass(frozen=True, slots=True)
class QueueItem:
    id: int
    collection_id: int
    path: str  # "" for a whole-collection job
    kind: QueueKind = "index"
    force: bool = False


FOLDER_ROWS_SQL = (
    "SELECT path, size_bytes, mtime FROM document"
    " WHERE collection_id = ? AND path >= ? AND path < ? AND status != 'failed'"
    " ORDER BY path"
)
"""A rescan's look at a folder's rows: answered from the covering index alone, in its
order (no sort), which is the order a walk lists the files in."""
FAILED_ROWS_SQL = (
    # By the status index: the failed rows are few, where the (collection, path) range
    # SQLite picks by itself is every row of the folder, each looked up in the table.
    "SELECT path, updated_at, coalesce(error, '') FROM document INDEXED BY document_status"
    " WHERE status = 'failed' AND collection_id = ? AND path >= ? AND path < ?"
)
"""A rescan's look at a folder's failed rows (retried after a while)."""


class IndexerState:
    """Reads and writes ``index_queue`` and ``watched_folder``."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    @property
    def db(self) -> SqliteDatabase:
        return self._db

    # --- the queue -------------------------------------------------------------------

    @translating_store_errors
    def queued(self) -> list[QueueItem]:
        query = QueuedFile.select().order_by(QueuedFile.id)
        return [
            QueueItem(row.id, _collection_id(row), row.path, row.kind, bool(row.force))
            for row in query
        ]

    @translating_store_errors
    def enqueue(
        self,
        collection_id: int,
        paths: Sequence[str],
        *,
        kind: QueueKind = "index",
        force: bool = False,
    ) -> list[QueueItem]:
        """Add files (in one transaction); a file already queued stays where it is.

        Returns the items added, in order. ``force`` on a file already queued sticks.
        """
        added: list[QueueItem] = []
        now = utc_now()
        # IMMEDIATE: it reads, then writes; a deferred transaction whose snapshot another
        # connection wrote past in between would fail at once with "database is locked".
        with self._db.atomic("IMMEDIATE"):
            before = _max_id()
            # Hand-written: peewee's making of a many-row INSERT cost more than the
            # insert itself (0.6 s of a 5,000-file first sync).
            execute_many(
                self._db,
                "INSERT OR IGNORE INTO index_queue (collection_id, path, kind, force, added_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [(collection_id, stored_path(path), kind, force, now) for path in paths],
            )
            rows = execute_sql(
                self._db, "SELECT id, path FROM index_queue WHERE id > ? ORDER BY id", (before,)
            )
            added.extend(
                QueueItem(int(row_id), collection_id, path_from_stored(str(stored)), kind, force)
                for row_id, stored in rows
            )
            for batch in peewee.chunked(paths, 400):
                if force:
                    QueuedFile.update(force=True).where(
                        (QueuedFile.collection == collection_id)
                        & QueuedFile.path.in_(list(batch))
                        & (QueuedFile.kind == kind)
                    ).execute()
        return added

    @translating_store_errors
    def dequeue(self, item_ids: Iterable[int]) -> None:
        ids = list(item_ids)
        with self._db.atomic():
            for batch in peewee.chunked(ids, 500):
                QueuedFile.delete().where(QueuedFile.id.in_(list(batch))).execute()

    @translating_store_errors
    def clear_queue(self, collection_id: int | None = None) -> None:
        query = QueuedFile.delete().where(QueuedFile.kind == "index")
        if collection_id is not None:
            query = QueuedFile.delete().where(QueuedFile.collection == collection_id)
        query.execute()

    # --- watched folders -------------------------------------------------------------

    @translating_store_errors
    def watched(self) -> list[WatchedFolderRecord]:
        return [_watched_record(row) for row in WatchedFolder.select().order_by(WatchedFolder.path)]

    @translating_store_errors
    def add_watched(
        self, collection_id: int, path: str, ignore: Sequence[str] | None, max_file_mb: float | None
    ) -> WatchedFolderRecord:
        patterns = list(DEFAULT_IGNORES if ignore is None else ignore)
        row = WatchedFolder.create(
            collection=collection_id,
            path=path,
            ignore=json.dumps(patterns),
            max_file_mb=max_file_mb,
        )
        return _watched_record(row)

    @translating_store_errors
    def remove_watched(self, folder_id: int) -> None:
        WatchedFolder.delete().where(WatchedFolder.id == folder_id).execute()

    @translating_store_errors
    def update_watched(self, folder_id: int, /, **fields: object) -> WatchedFolderRecord:
        if "ignore" in fields:
            fields["ignore"] = json.dumps(list(fields["ignore"]))  # type: ignore[call-overload]
        WatchedFolder.update(**fields).where(WatchedFolder.id == folder_id).execute()
        row = WatchedFolder.get_or_none(WatchedFolder.id == folder_id)
        if row is None:
            raise AllmaError("That folder is no longer watched.", "Refresh the list.")
        return _watched_record(row)

    # --- what the library has under a folder -----------------------------------------

    @translating_store_errors
    def known_files(self, collection_id: int, root: str) -> KnownFiles:
        """The documents of ``collection_id`` inside ``root``, as the scanner compares them."""
        prefix = root.rstrip(os.sep) + os.sep
        known = KnownFiles()
        # Rows come as (path, size, mtime) tuples in path order: no Python code per row.
        # A path that is not text is stored as a file:// URI (``stored_path``), a range of
        # its own, read apart and turned back into the path (after the others: compared
        # as a set, the slower way).
        for low, stored in ((prefix, False), (stored_uri(prefix), True)):
            rows, failed = self._rows_under(collection_id, low)
            if stored:
                rows = [(path_from_stored(path), size, mtime) for path, size, mtime in rows]
                failed = [(path_from_stored(path), at, error) for path, at, error in failed]
            known.add(rows)
            for path, failed_at, error in failed:
                known.failed[path] = (
                    ALWAYS_RETRY if error in _RETRY_ERRORS else (_timestamp(failed_at))
                )
        return known

    def _rows_under(
        self, collection_id: int, prefix: str
    ) -> tuple[list[tuple[str, int | None, float | None]], list[tuple[str, object, str]]]:
        """(path, size, mtime) of the rows whose stored path starts with ``prefix``, and
        (path, failed at, error) of the failed ones, by a range on the (collection, path)
        index."""
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        rows = execute_sql(self._db, FOLDER_ROWS_SQL, (collection_id, prefix, upper))
        failed = execute_sql(self._db, FAILED_ROWS_SQL, (collection_id, prefix, upper))
        return rows, failed

    @translating_store_errors
    def indexed_as(self, collection_id: int, paths: Sequence[str]) -> dict[str, KnownFile]:
        """How the library has these files, for those it has ready (as the scanner compares)."""
        found: dict[str, KnownFile] = {}
        for batch in peewee.chunked(list(paths), 500):  # SQLite's parameter limit
            placeholders = ", ".join("?" for _ in batch)
            rows = execute_sql(
                self._db,
                "SELECT path, size_bytes, mtime FROM document WHERE collection_id = ?"
                f" AND status = 'ready' AND path IN ({placeholders})",
                (collection_id, *(stored_path(path) for path in batch)),
            )
            for path, size, mtime in rows:
                found[path_from_stored(path)] = KnownFile(int(size or 0), float(mtime or 0.0))
        return found

    @translating_store_errors
    def ready_of_sizes(self, sizes: Iterable[int]) -> list[tuple[str, int, str, str, int]]:
        """(id, collection id, path, content hash, size) of the ready documents of any of
        these sizes: the documents new files may be the moved selves of. One query per
        500 sizes through the size index, not one per new file over every ready row."""
        found: list[tuple[str, int, str, str, int]] = []
        for batch in peewee.chunked(sorted(set(sizes)), 500):  # SQLite's parameter limit
            rows = execute_sql(self._db, ready_of_sizes_sql(len(batch)), tuple(batch))
            found.extend(
                (str(a), int(b), path_from_stored(str(c)), str(d), int(e)) for a, b, c, d, e in rows
            )
        return found


def ready_of_sizes_sql(count: int) -> str:
    """The ready documents of ``count`` sizes, by the (size, status) index."""
    placeholders = ", ".join("?" for _ in range(count))
    return (
        "SELECT id, collection_id, path, content_hash, size_bytes FROM document"
        f" INDEXED BY document_size_bytes_status WHERE size_bytes IN ({placeholders})"
        " AND status = 'ready'"
    )


def _max_id() -> int:
    value = QueuedFile.select(peewee.fn.MAX(QueuedFile.id)).scalar()
    return int(value or 0)


def _watched_record(row: WatchedFolder) -> WatchedFolderRecord:
    try:
        ignore = tuple(str(p) for p in json.loads(row.ignore or "[]"))
    except ValueError:
        ignore = DEFAULT_IGNORES
    return WatchedFolderRecord(
        id=row.id,
        collection_id=_collection_id(row),
        path=row.path,
        ignore=ignore,
        max_file_mb=row.max_file_mb,
        paused=bool(row.paused),
        offline=bool(row.offline),
        last_sync=as_utc(row.last_sync) if row.last_sync is not None else None,
    )


def _collection_id(row: QueuedFile | WatchedFolder) -> int:
    # The foreign key's raw value, without loading the collection's row.
    return int(row.__data__["collection"])


def _timestamp(stored: object) -> float:
    moment = stored if isinstance(stored, datetime) else datetime.fromisoformat(str(stored))
    return moment.replace(tzinfo=UTC).timestamp()
