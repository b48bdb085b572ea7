"""The library's operations for the window: files and watched folders, collections, moves.

The queue of files to index is the engine's indexer (``allma_desktop.indexer``), shared
with the CLI and the local API and kept in the library's database: this controller
hands it files and folders, pauses, resumes and cancels it, and turns its events into
rows and signals. Progress is coalesced to at most ten updates a second; status changes
(started, finished) go out at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import operator
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from PySide6.QtCore import QObject, QSettings, QTimer, Signal

from allma_desktop.errors import AllmaError, DiskFull, OllamaError, StoreNotWritable
from allma_desktop.events import (
    EmbedProgress,
    FileFinished,
    FileParsed,
    FileStarted,
    PageRecognised,
)
from allma_desktop.gui.ops import Outcome, async_op, attempt, op
from allma_desktop.indexer import (
    BatchFinished,
    DocumentsChanged,
    FileEvent,
    FoldersChanged,
    FolderState,
    IndexerEvent,
    QueueChanged,
)
from allma_desktop.library_counts import CANCELLED_REASON, kind_of

if TYPE_CHECKING:
    from allma_desktop.gui.app_events import AppEvents
    from allma_desktop.gui.orchestrator_host import OrchestratorHost
    from allma_desktop.indexer import AddResult, Indexer
    from allma_desktop.orchestrator import Orchestrator
    from allma_desktop.records import CollectionRecord, DocumentRecord

log = logging.getLogger(__name__)

RowStatus = Literal["queued", "indexing", "ready", "failed", "skipped", "cancelled", "offline"]
# As allma_desktop.ingest.run.FATAL_ERRORS (not imported: it loads the Ollama client):
# errors that stop the queue, after which the file waits for Resume.
QUEUE_STOPPING_ERRORS = (OllamaError, StoreNotWritable, DiskFull)
PROGRESS_INTERVAL_MS = 100  # at most ~10 progress updates a second reach the views
# Once a run has gone on for a while: four a second. Each update repaints the table's rows
# (a Python delegate per cell) and the progress card; at ten a second, a first sync of
# small files on the Library page spent 4 s of the GUI thread per 5,000 files on them,
# and the GUI thread shares the interpreter lock with the indexer.
BUSY_PROGRESS_INTERVAL_MS = 250
BUSY_AFTER_SECONDS = 2.0
PARSED_FRACTION = 0.1  # share of a file's progress bar that parsing stands for
QUEUE_SETTINGS_KEY = "library/queue"  # where earlier versions kept the queue (moved once)


@dataclass(frozen=True, slots=True)
class LibraryRow:
    """One line of the document list: a stored document or a file on its way in.

    Slotted: the library keeps a row per document (100,000 in a large one), and a row
    with slots is its 13 fields and nothing more, where one with a ``__dict__`` was
    one more object per row, a whole dict (about 650 bytes) once a row was changed."""

    path: str
    collection_id: int
    title: str
    file_type: str
    status: RowStatus
    fraction: float = 0.0  # 0..1 while indexing
    reason: str = ""  # why it failed or was skipped (shown on the row)
    hint: str = ""  # what to do about it (tooltip)
    pages: int | None = None
    chunks: int | None = None
    size_bytes: int | None = None
    added: datetime | None = None
    document_id: str | None = None

    def indexing(self) -> LibraryRow:
        """This row as a file being indexed, from the start."""
        return self._with({"status": "indexing", "fraction": 0.0, "reason": "", "hint": ""})

    def progressed(
        self, fraction: float, pages: int | None = None, chunks: int | None = None
    ) -> LibraryRow:
        changes: dict[str, object] = {"fraction": fraction}
        if pages is not None:
            changes["pages"] = pages
        if chunks is not None:
            changes["chunks"] = chunks
        return self._with(changes)

    def _with(self, changes: dict[str, object]) -> LibraryRow:
        # dataclasses.replace runs __init__ through every field: several times a file in a
        # run of small files, it was the window's largest cost after the wake-ups. Here the
        # fields are read in one call and set straight into the slots.
        row = object.__new__(LibraryRow)
        for name, value in zip(_ROW_FIELDS, _row_values(self), strict=True):
            _set_field(row, name, changes.get(name, value))
        return row

    @property
    def name(self) -> str:
        # A string split, not a Path: the table asks for it per painted cell.
        return os.path.basename(self.path.rstrip(_SEPARATORS)) or self.path


_SEPARATORS = os.sep + (os.altsep or "")
_ROW_FIELDS = tuple(f.name for f in fields(LibraryRow))
_row_values = operator.attrgetter(*_ROW_FIELDS)
_set_field = object.__setattr__  # past the frozen class's guard, as its own __init__ does


@dataclass(frozen=True)
class OverallProgress:
    files_done: int
    files_total: int
    fraction: float
    eta_seconds: float | None
    current: str  # file name being indexed, "" when idle
    paused: bool


@dataclass(frozen=True)
class BatchSummary:
    """What one run of the queue did, from the first file until the queue was empty."""

    indexed: int
    failed: int  # could not be read
    skipped: int
    cancelled: bool
    seconds: float
    error: AllmaError | None = None  # what stopped it early (Ollama went away)
    files_cancelled: int = 0  # stopped by Cancel before they were read


def short_reason(message: str) -> str:
    """A failure's reason for its row: "x.pdf: is damaged ..." -> "damaged ..."."""
    reason = message.split(": ", 1)[-1] if ": " in message else message
    return reason.removeprefix("is ")


def row_from_record(
    record: DocumentRecord, offline: bool = False, path: str | None = None
) -> LibraryRow:
    """The row of a stored document; ``offline``: its watched folder is missing. ``path``:
    the same path as a string already held (the key the row is filed under), so that a
    library of 100,000 rows holds each path once, not once per reading of it."""
    status: RowStatus = "ready"
    if record.status == "failed":
        status = "cancelled" if kind_of(record.status, record.error) == "cancelled" else "failed"
    elif record.status in ("queued", "indexing"):
        # Left over from an interrupted run; it is not being worked on now.
        status = "failed"
    if status == "ready" and offline:
        status = "offline"
    return LibraryRow(
        path=record.path if path is None else path,
        collection_id=record.collection_id,
        title=record.title or Path(record.path).name,
        file_type=sys.intern(record.file_type),  # a few kinds, not a string per row
        status=status,
        fraction=1.0 if status in ("ready", "offline") else 0.0,
        reason=short_reason(record.error or "interrupted") if status == "failed" else "",
        pages=record.page_count,
        chunks=record.chunk_count,
        size_bytes=record.size_bytes or None,
        added=record.created_at,
        document_id=record.id,
    )


class LibraryController(QObject):
    """Signals carry ``LibraryRow``s for the current collection; views never ask the engine."""

    collections_changed = Signal(object)  # list[CollectionRecord]
    current_collection_changed = Signal(int)
    rows_reset = Signal(object)  # list[LibraryRow]: the whole current collection
    rows_changed = Signal(list)  # list[LibraryRow]: inserts and updates, keyed by path
    row_removed = Signal(str)  # path
    progress = Signal(object)  # OverallProgress (coalesced)
    busy_changed = Signal(bool)
    paused_changed = Signal(bool)
    batch_finished = Signal(object)  # BatchSummary
    folders_changed = Signal(object)  # list[FolderState]: the watched folders
    failed = Signal(object)  # AllmaError
    notice = Signal(str)  # something the user should read, not an error

    def __init__(self, host: OrchestratorHost, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._host = host
        self._waiting_for_engine: list[tuple[list[str], int | None]] = []
        # Rows not (yet) as the database has them, by (collection id, path).
        self._live: dict[tuple[int, str], LibraryRow] = {}
        # The current collection's stored documents as last loaded, by path.
        self._stored: dict[str, LibraryRow] = {}
        self._to_load: dict[int, set[str]] = {}  # collection id -> files indexed, to show
        self._collections: list[CollectionRecord] = []
        self._collection_id: int | None = None
        self._queue = QueueChanged(pending=0, in_flight=0, paused=False, running=False)
        self._folders: list[FolderState] = []
        self._unsubscribe: Any = None
        self._current = ""  # the file being embedded, "" when none
        self._current_fraction = 0.0
        self._session_done = 0
        self._session_started = time.monotonic()
        self._announcing = False
        self._pending_rows: dict[str, LibraryRow] = {}
        self._pending_progress = False
        self._documents_dirty = False  # files turned ready since the views were last told
        self._documents_announced = 0.0
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(PROGRESS_INTERVAL_MS)
        self._flush_timer.timeout.connect(self._flush)
        events = host.events
        events.engine_ready.connect(self._on_engine_ready)
        events.ingest_requested.connect(self.add_paths)
        events.documents_changed.connect(self._on_documents_changed)
        self.destroyed.connect(self._stop_listening)
        if host.orchestrator is not None:
            self._on_engine_ready(host.orchestrator)

    # --- state the views read -------------------------------------------------------

    @property
    def events(self) -> AppEvents:
        return self._host.events

    @property
    def busy(self) -> bool:
        return self._queue.running

    @property
    def paused(self) -> bool:
        return self._queue.paused

    @property
    def pending(self) -> int:
        """Files waiting in the queue (not counting those being indexed now)."""
        return self._queue.pending

    @property
    def pause_reason(self) -> AllmaError | None:
        """Why the queue paused itself (Ollama went away); None when the user paused it."""
        return self._queue.pause_reason

    @property
    def queued_paths(self) -> list[str]:
        """Files waiting their turn (not those being indexed now)."""
        indexer = self._indexer()
        if indexer is None:
            return []
        return [item.path for item in indexer.waiting() if item.kind == "index"]

    @property
    def folders(self) -> list[FolderState]:
        """The watched folders with their state (watching, paused, offline, pending)."""
        return list(self._folders)

    @property
    def collections(self) -> list[CollectionRecord]:
        return list(self._collections)

    @property
    def current_collection_id(self) -> int | None:
        return self._collection_id

    @property
    def data_dir(self) -> Path:
        return self._host.config.data_dir

    # --- collections ----------------------------------------------------------------

    def select_collection(self, collection_id: int) -> None:
        if collection_id == self._collection_id:
            return
        self._collection_id = collection_id
        self.current_collection_changed.emit(collection_id)
        self.refresh_rows()

    def create_collection(self, name: str) -> asyncio.Task[None] | None:
        """Create it and show it; ``collections_changed`` follows (``failed`` if refused)."""
        return (
            op(
                self._host,
                lambda o: o.create_collection(name),
                description="Creating the collection",
            )
            .success(lambda record: self._refresh_collections(then_select=record.id))
            .failure(self.failed.emit)
            .run()
        )

    def rename_collection(self, collection_id: int, name: str) -> asyncio.Task[None] | None:
        """Rename it; ``collections_changed`` follows (``failed`` if refused)."""
        return (
            op(
                self._host,
                lambda o: o.rename_collection(collection_id, name),
                description="Renaming the collection",
            )
            .success(lambda _record: self.refresh_collections())
            .failure(self.failed.emit)
            .run()
        )

    def delete_collection(self, collection_id: int) -> None:
        """Delete it with its documents (the files on disk stay); shows the default after."""

        async def delete(o: Orchestrator) -> None:
            await o.indexer.forget_collection(collection_id)
            await o.delete_collection(collection_id)

        async_op(self._host, delete, description="Deleting the collection").success(
            lambda _none: self._on_collection_deleted(collection_id)
        ).failure(self.failed.emit).run()

    def _on_collection_deleted(self, collection_id: int) -> None:
        for key in [key for key in self._live if key[0] == collection_id]:
            del self._live[key]
        self._collection_id = None  # the default collection is shown next
        self.refresh_collections()
        self._announce_documents_changed()

    def refresh_collections(self) -> None:
        self._refresh_collections(then_select=None)

    def _refresh_collections(self, then_select: int | None) -> None:
        def load(o: Orchestrator) -> tuple[list[CollectionRecord], int]:
            return o.collections(), o.collection(None).id

        op(self._host, load, description="Loading the collections").success(
            lambda loaded: self._show_collections(*loaded, then_select)
        ).failure(self.failed.emit).quiet_when_closed().run()

    def _show_collections(
        self, collections: list[CollectionRecord], default_id: int, then_select: int | None
    ) -> None:
        self._collections = collections
        known = {c.id for c in collections}
        if self._collection_id not in known:
            self._collection_id = None
            self.select_collection(default_id)
        self.collections_changed.emit(self.collections)
        if then_select is not None and then_select in known:
            self.select_collection(then_select)

    def refresh_rows(self) -> None:
        """Reload the current collection's list (stored documents plus files on their way)."""
        collection_id = self._collection_id
        if not self._host.ready or collection_id is None:
            self._stored = {}
            self.rows_reset.emit([])
            return
        op(
            self._host,
            lambda o: o.list_documents(collection_id),
            description="Loading the documents",
        ).success(lambda records: self._show_rows(collection_id, records)).failure(
            self.failed.emit
        ).quiet_when_closed().run()

    def _show_rows(self, collection_id: int, records: list[DocumentRecord]) -> None:
        if collection_id != self._collection_id:
            return  # another collection was chosen meanwhile: its own rows are on their way
        offline = tuple(
            state.folder.path.rstrip(os.sep) + os.sep
            for state in self._folders
            if state.status == "offline" and state.folder.collection_id == self._collection_id
        )
        rows = {
            record.path: row_from_record(record, bool(offline) and record.path.startswith(offline))
            for record in records
        }
        self._stored = dict(rows)
        for (collection_id, path), row in self._live.items():
            if collection_id == self._collection_id:
                rows[path] = row
        self.rows_reset.emit(list(rows.values()))

    # --- adding ---------------------------------------------------------------------

    def add_paths(self, paths: list[str], collection_id: int | None = None) -> None:
        """Queue files and folders (folders are walked) for the current collection."""
        if not paths:
            return
        target = collection_id if collection_id is not None else self._collection_id
        if self._host.orchestrator is None:
            self._waiting_for_engine.append((list(paths), target))
            return
        self._add(list(paths), target, force=False)

    def _add(self, paths: list[str], collection_id: int | None, force: bool) -> None:
        async def add(o: Orchestrator) -> tuple[int, AddResult]:
            target = collection_id
            if target is None:
                target = (await self._host.in_worker(o.collection, None)).id
            return target, await o.indexer.add_paths(paths, target, force=force)

        async_op(self._host, add, description="Adding the files").success(
            lambda added: self._show_added(paths, *added)
        ).failure(self.failed.emit).run()

    def _show_added(self, paths: list[str], collection_id: int, result: AddResult) -> None:
        named = {os.path.abspath(os.path.expanduser(p)) for p in paths}
        for path, reason in result.skipped:
            # A file the user named gets a row saying why; files found in folders that
            # are not documents (images, hidden files) are left out quietly.
            if os.path.abspath(path) in named or not _quiet_skip(reason):
                self._set_row(_new_row(os.path.abspath(path), collection_id, "skipped", reason))
        many = len(result.queued) > MANY_ROWS
        queued = []
        for path in result.queued:
            row = self._live.get((collection_id, path)) or _new_row(path, collection_id, "queued")
            row = replace(row, status="queued", fraction=0.0, reason="", hint="")
            self._live[(collection_id, path)] = row
            queued.append(row)
        if not many:
            self._emit_rows(queued)
        else:
            self.refresh_rows()  # one reset, not thousands of row updates
        self._pending_progress = True
        self._flush()

    def reindex(self, paths: Iterable[str]) -> None:
        """Index these rows' files again from scratch (even when unchanged)."""
        by_collection: dict[int, list[str]] = {}
        for path in paths:
            row = self._row(path)
            if row is not None:
                by_collection.setdefault(row.collection_id, []).append(row.path)
        for collection_id, chosen in by_collection.items():
            self._add(chosen, collection_id, force=True)

    def reembed_library(self, collection_id: int | None = None) -> bool:
        """Re-embed the stored chunks with the current embedding model, in the background.

        Returns False when the library is not open yet.
        """
        if not self._host.ready:
            return False
        ids = [collection_id] if collection_id is not None else [c.id for c in self._collections]
        for cid in ids:
            self._run_indexer_call(partial(_reembed, collection_id=cid))
        return True

    # --- watched folders ------------------------------------------------------------

    def add_folder(
        self, path: str, collection_id: int | None = None, keep_in_sync: bool = True
    ) -> None:
        """Index a folder; kept in sync (new, changed, deleted files followed) by default."""
        if not keep_in_sync:
            self.add_paths([path], collection_id)
            return
        target = collection_id if collection_id is not None else self._collection_id
        self._run_indexer_call(lambda indexer: indexer.add_folder(path, target))

    def remove_folder(self, path: str) -> None:
        """Stop keeping a folder in sync; its documents stay in the library."""
        self._run_indexer_call(lambda indexer: indexer.remove_folder(path))

    def set_folder_paused(self, path: str, paused: bool) -> None:
        self._run_indexer_call(lambda indexer: indexer.set_folder_paused(path, paused))

    def set_folder_rules(self, path: str, ignore: Sequence[str], max_file_mb: float | None) -> None:
        self._run_indexer_call(lambda indexer: indexer.set_folder_rules(path, ignore, max_file_mb))

    def _run_indexer_call(self, call: Callable[[Indexer], Awaitable[object]]) -> None:
        async_op(self._host, lambda o: call(o.indexer), description="The library").failure(
            self.failed.emit
        ).run()

    # --- removing and moving ----------------------------------------------------------

    def remove(self, paths: Iterable[str]) -> None:
        """Take these rows out of the library (the files on disk stay)."""
        rows = [row for path in paths if (row := self._row(path)) is not None]

        async def remove_one(o: Orchestrator, row: LibraryRow) -> None:
            await o.indexer.forget([row.path], row.collection_id)
            document_id = row.document_id or await self._stored_id(o, row)
            if document_id is not None:
                await o.remove_document(document_id)

        async def remove_all(o: Orchestrator) -> list[Outcome[LibraryRow]]:
            # One file's failure is its own: the others are still removed.
            return [(row, await attempt(remove_one(o, row))) for row in rows]

        async_op(self._host, remove_all, description="Removing the documents").success(
            self._on_removed
        ).failure(self.failed.emit).run()

    def _on_removed(self, outcomes: list[Outcome[LibraryRow]]) -> None:
        for row, error in outcomes:
            if error is not None:
                self.failed.emit(error)
                continue
            self._live.pop((row.collection_id, row.path), None)
            self._pending_rows.pop(row.path, None)
            self._stored.pop(row.path, None)
            self.row_removed.emit(row.path)
        self._announce_documents_changed()

    def move(self, paths: Iterable[str], collection_id: int) -> None:
        """Move these documents to another collection (their vectors go with them)."""
        rows = [
            row
            for path in paths
            if (row := self._row(path)) is not None and row.collection_id != collection_id
        ]

        async def move_one(o: Orchestrator, row: LibraryRow) -> None:
            document_id = row.document_id or await self._stored_id(o, row)
            if document_id is None:
                # Never stored (failed or queued): it simply belongs elsewhere now.
                await o.indexer.forget([row.path], row.collection_id)
            else:
                await o.move_document(document_id, collection_id)

        async def move_all(o: Orchestrator) -> list[Outcome[LibraryRow]]:
            return [(row, await attempt(move_one(o, row))) for row in rows]

        async_op(self._host, move_all, description="Moving the documents").success(
            lambda outcomes: self._on_moved(outcomes, collection_id)
        ).failure(self.failed.emit).run()

    def _on_moved(self, outcomes: list[Outcome[LibraryRow]], collection_id: int) -> None:
        for row, error in outcomes:
            if error is not None:
                self.failed.emit(error)
                continue
            self._live.pop((row.collection_id, row.path), None)
            self._stored.pop(row.path, None)
            self.row_removed.emit(row.path)
            if row.document_id is None and row.status in ("queued", "indexing"):
                self._add([row.path], collection_id, force=False)
        self.refresh_collections()
        self._announce_documents_changed()

    # --- pause and cancel ---------------------------------------------------------------

    def set_paused(self, paused: bool) -> None:
        """Paused: finish the files under way, keep the rest queued."""
        indexer = self._indexer()
        if indexer is None:
            return
        if paused:
            indexer.pause()
        else:
            indexer.resume()
        self._on_queue_changed(indexer.queue_state())  # shown now, not when the event comes

    def cancel(self) -> None:
        """Stop the files being indexed and empty the queue."""
        indexer = self._indexer()
        if indexer is None:
            return
        for key, row in list(self._live.items()):
            if row.status in ("queued", "indexing"):
                del self._live[key]
                self._pending_rows.pop(row.path, None)
                if row.document_id is None:
                    self.row_removed.emit(row.path)
        self._run_indexer_call(lambda indexer: indexer.cancel())
        self.refresh_rows()

    # --- the indexer's events -------------------------------------------------------------

    def _on_indexer_events(self, events: Sequence[IndexerEvent]) -> None:
        """One delivery of the indexer's events. What a later event of the same delivery
        makes moot is skipped: the progress of a file that is finished by then (a small
        file's start, parse and embedding reports), and a queue count followed by another
        with the same running and paused state. Each file's end, and every change of
        state, is handled as it came."""
        finished = {
            (event.collection_id, event.event.path)
            for event in events
            if isinstance(event, FileEvent) and isinstance(event.event, FileFinished)
        }
        superseded = _superseded_queue_counts(events)
        for n, event in enumerate(events):
            if isinstance(event, FileEvent):
                inner = event.event
                key = (event.collection_id, getattr(inner, "path", None))
                if finished and not isinstance(inner, FileFinished) and key in finished:
                    continue
            elif n in superseded:
                queue = self._queue
                assert isinstance(event, QueueChanged)
                if (event.running, event.paused) == (queue.running, queue.paused):
                    continue
            self._on_indexer_event(event)

    def _on_indexer_event(self, event: IndexerEvent) -> None:
        if isinstance(event, QueueChanged):
            self._on_queue_changed(event)
        elif isinstance(event, FileEvent):
            self._on_file_event(event.collection_id, event)
        elif isinstance(event, BatchFinished):
            self._on_batch_finished(event)
        elif isinstance(event, FoldersChanged):
            offline_before = {f.folder.id for f in self._folders if f.status == "offline"}
            self._folders = list(event.folders)
            self.folders_changed.emit(self.folders)
            if {f.folder.id for f in self._folders if f.status == "offline"} != offline_before:
                self.refresh_rows()
        elif isinstance(event, DocumentsChanged):
            self.refresh_collections()
            self.refresh_rows()
            self._announce_documents_changed()

    def _on_queue_changed(self, state: QueueChanged) -> None:
        before, self._queue = self._queue, state
        if state.running != before.running:
            if state.running:
                self._session_started = time.monotonic()
                self._flush_timer.start(PROGRESS_INTERVAL_MS)
            else:
                self._flush_timer.stop()
                self._current = ""
            self._flush()
            self.busy_changed.emit(state.running)
        if state.paused != before.paused:
            self.paused_changed.emit(state.paused)
            if state.paused and state.pause_reason is not None:
                self.failed.emit(state.pause_reason)
        self._pending_progress = True
        if not state.running:
            self._flush()

    def _on_file_event(self, collection_id: int, file_event: FileEvent) -> None:
        event = file_event.event
        if isinstance(event, FileStarted):
            row = self._row(event.path, collection_id) or _new_row(
                event.path, collection_id, "indexing"
            )
            # Shown by the next flush: a small file is often done by then, and its row
            # then goes straight from queued to indexed.
            self._set_row(row.indexing(), deferred=True)
        elif isinstance(event, PageRecognised):  # OCR reads a scan: its share of parsing
            fraction = PARSED_FRACTION * (event.page - 1) / max(event.pages, 1)
            self._update_progress(collection_id, event.path, fraction)
        elif isinstance(event, FileParsed):
            self._update_progress(
                collection_id, event.path, PARSED_FRACTION, pages=event.pages, chunks=event.chunks
            )
        elif isinstance(event, EmbedProgress):
            done = event.chunks_done / max(event.chunks_total, 1)
            self._current = event.path
            self._current_fraction = PARSED_FRACTION + (1 - PARSED_FRACTION) * done
            self._update_progress(collection_id, event.path, self._current_fraction)
        elif isinstance(event, FileFinished):
            self._session_done += 1
            if event.path == self._current:
                self._current, self._current_fraction = "", 0.0
            self._finish_row(collection_id, event)

    def _on_batch_finished(self, batch: BatchFinished) -> None:
        summary = BatchSummary(
            indexed=batch.indexed + batch.unchanged,
            failed=batch.failed,
            skipped=batch.skipped,
            cancelled=batch.cancelled,
            seconds=batch.seconds,
            error=batch.error,
            files_cancelled=batch.files_cancelled,
        )
        if not self._queue.pending and not self._queue.in_flight:
            self._session_done = 0
        indexer = self._indexer()
        if indexer is not None and self._folders:
            # The folders' pending counts: the indexer announces folders only when they change.
            folders = indexer.folders()
            if folders != self._folders:
                self._folders = folders
                self.folders_changed.emit(self.folders)
        self._pending_progress = True
        self._flush()
        self.refresh_collections()
        self.batch_finished.emit(summary)

    def _update_progress(
        self,
        collection_id: int,
        path: str,
        fraction: float,
        pages: int | None = None,
        chunks: int | None = None,
    ) -> None:
        row = self._row(path, collection_id)
        if row is None:
            return
        updated = row.progressed(fraction, pages, chunks)
        self._live[(collection_id, path)] = updated
        if collection_id == self._collection_id:
            self._pending_rows[path] = updated  # sent by the next flush, not now
        self._pending_progress = True

    def _finish_row(self, collection_id: int, event: FileFinished) -> None:
        self._pending_rows.pop(event.path, None)
        if event.status in ("indexed", "unchanged"):
            self._live.pop((collection_id, event.path), None)
            if collection_id == self._collection_id:
                self._show_stored(collection_id, event.path)
            # Told by the next flush: the chat's collection picker and other views
            # count the library again on each announcement, far too often per file.
            self._documents_dirty = True
            self._pending_progress = True
            return
        row = self._row(event.path, collection_id) or _new_row(event.path, collection_id, "failed")
        if event.status == "skipped":
            self._set_row(replace(row, status="skipped", reason=event.reason, fraction=0.0))
            return
        error = event.error
        cancelled = event.reason == CANCELLED_REASON
        if (cancelled and self.paused) or isinstance(error, QUEUE_STOPPING_ERRORS):
            # Stopped by a pause (the user's, or the queue's own when Ollama went away),
            # not by the user's cancel: it waits its turn again.
            self._set_row(replace(row, status="queued", fraction=0.0))
            return
        reason = short_reason(error.message) if error is not None else event.reason
        self._set_row(
            replace(
                row,
                status="cancelled" if cancelled else "failed",
                reason="" if cancelled else reason,
                hint=error.hint if error is not None else "",
                fraction=0.0,
            )
        )
        self._pending_progress = True

    # --- rows -----------------------------------------------------------------------------

    def _set_row(self, row: LibraryRow, deferred: bool = False) -> None:
        self._live[(row.collection_id, row.path)] = row
        if deferred and self._flush_timer.isActive():
            if row.collection_id == self._collection_id:
                self._pending_rows[row.path] = row
        else:
            self._emit_rows([row])

    def _emit_rows(self, rows: list[LibraryRow]) -> None:
        """One signal for many rows: the table inserts them in one step, not row by row."""
        shown = self._collection_id
        rows = [row for row in rows if row.collection_id == shown]
        if rows:
            self.rows_changed.emit(rows)

    def _row(self, path: str, collection_id: int | None = None) -> LibraryRow | None:
        """The row of ``path`` in that collection (the one shown when None)."""
        cid = self._collection_id if collection_id is None else collection_id
        if cid is None:
            return None
        if (cid, path) in self._live:
            return self._live[(cid, path)]
        # The shown collection's documents as last loaded: no database read here.
        return self._stored.get(path) if cid == self._collection_id else None

    async def _stored_id(self, orchestrator: Orchestrator, row: LibraryRow) -> str | None:
        """The id of ``row``'s document as stored (None: never stored)."""
        record = await self._host.in_worker(
            orchestrator.document_by_path, row.collection_id, row.path
        )
        return record.id if record is not None else None

    def _show_stored(self, collection_id: int, path: str) -> None:
        """Show the row of a file just indexed as the library now has it: loaded with the
        others indexed meanwhile at the next flush (one read, not one per file)."""
        self._to_load.setdefault(collection_id, set()).add(path)
        if not self._flush_timer.isActive():  # no run under way to flush it: now
            self._load_stored()

    def _load_stored(self) -> None:
        wanted, self._to_load = self._to_load, {}
        for collection_id, paths in wanted.items():
            self._load_rows(collection_id, sorted(paths))

    def _load_rows(self, collection_id: int, paths: list[str]) -> None:
        op(
            self._host,
            lambda o: o.documents_by_paths(collection_id, paths),
            description="Loading the documents",
        ).success(lambda records: self._on_stored(collection_id, records)).quiet_when_closed().run()

    def _on_stored(self, collection_id: int, records: dict[str, DocumentRecord]) -> None:
        rows = []
        for path, record in records.items():
            if (collection_id, path) in self._live:
                continue  # on its way in again
            row = row_from_record(record, path=path)
            if collection_id == self._collection_id:
                self._stored[path] = row
            rows.append(row)
        if self._flush_timer.isActive():  # with the run's next update: one repaint, not two
            shown = self._collection_id
            self._pending_rows.update((r.path, r) for r in rows if r.collection_id == shown)
        else:
            self._emit_rows(rows)

    # --- coalesced progress -------------------------------------------------------------

    def _flush(self) -> None:
        if (
            self._flush_timer.interval() != BUSY_PROGRESS_INTERVAL_MS
            and self.busy
            and time.monotonic() - self._session_started >= BUSY_AFTER_SECONDS
        ):
            self._flush_timer.setInterval(BUSY_PROGRESS_INTERVAL_MS)
        if self._to_load:
            self._load_stored()
        rows, self._pending_rows = self._pending_rows, {}
        self._emit_rows(list(rows.values()))
        if self._pending_progress:
            self._pending_progress = False
            self.progress.emit(self.overall_progress())
        now = time.monotonic()
        if self._documents_dirty and (
            not self.busy or now - self._documents_announced >= DOCUMENTS_ANNOUNCE_SECONDS
        ):
            self._documents_dirty = False
            self._documents_announced = now
            self._announce_documents_changed()

    def overall_progress(self) -> OverallProgress:
        queue = self._queue
        done = self._session_done
        total = done + queue.pending + queue.in_flight
        working = bool(self._current) and queue.running
        fraction = (done + (self._current_fraction if working else 0.0)) / total if total else 0.0
        elapsed = time.monotonic() - self._session_started
        eta = None
        if working and fraction > 0.02 and elapsed > 1.0:
            eta = elapsed / fraction * (1.0 - fraction)
        return OverallProgress(
            files_done=done,
            files_total=total,
            fraction=min(fraction, 1.0),
            eta_seconds=eta,
            current=os.path.basename(self._current) if working else "",
            paused=queue.paused,
        )

    # --- engine ---------------------------------------------------------------------------

    def _indexer(self) -> Indexer | None:
        orchestrator = self._host.orchestrator
        return orchestrator.indexer if orchestrator is not None else None

    def _on_engine_ready(self, orchestrator: Orchestrator) -> None:
        self._stop_listening()
        indexer = orchestrator.indexer
        # Its events come on the GUI thread's loop (the indexer has a thread of its own),
        # also when this runs before that loop does (a controller made once it is open).
        gui_loop = asyncio.get_event_loop()
        self._unsubscribe = indexer.subscribe_batches(self._on_indexer_events, gui_loop)
        self._queue = indexer.queue_state()
        self._folders = indexer.folders()
        self.refresh_collections()
        self.refresh_rows()

        async def start(o: Orchestrator) -> None:
            await o.indexer.start(watch=True, own_thread=True)

        async_op(self._host, start, description="Starting the library").success(
            lambda _none: self._on_indexer_started(orchestrator)
        ).failure(self.failed.emit).run()

    def _on_indexer_started(self, orchestrator: Orchestrator) -> None:
        self._take_over_saved_queue()
        waiting, self._waiting_for_engine = self._waiting_for_engine, []
        for paths, collection_id in waiting:
            self._add(paths, collection_id, force=False)
        for item in orchestrator.indexer.queued():
            if item.kind == "index" and (item.collection_id, item.path) not in self._live:
                self._live[(item.collection_id, item.path)] = _new_row(
                    item.path, item.collection_id, "queued"
                )
        self.refresh_rows()
        self._check_embedding_model()

    def _take_over_saved_queue(self) -> None:
        """Files an earlier version kept queued in QSettings go to the indexer, once."""
        settings = QSettings()
        raw = settings.value(QUEUE_SETTINGS_KEY, None)
        if raw is None:
            return
        settings.remove(QUEUE_SETTINGS_KEY)
        try:
            items = [(str(p), int(c), bool(f)) for p, c, f in json.loads(str(raw))]
        except (ValueError, TypeError):
            log.warning("ignoring an unreadable saved indexing queue")
            return
        for path, collection_id, force in items:
            if os.path.exists(path):
                self._add([path], collection_id, force=force)

    def _stop_listening(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _check_embedding_model(self) -> None:
        """After the embedding model changed: re-embed collections built with another one."""
        model = self._host.config.ollama_embedding_model
        stale = [
            c
            for c in self._collections
            if c.chunk_count > 0 and c.embedding_model and not _same_model(c.embedding_model, model)
        ]
        for collection in stale:
            self.reembed_library(collection.id)

    def _on_documents_changed(self) -> None:
        if not self._announcing:
            self.refresh_collections()
            self.refresh_rows()

    def _announce_documents_changed(self) -> None:
        self._announcing = True
        try:
            self._host.events.documents_changed.emit()
        finally:
            self._announcing = False


DOCUMENTS_ANNOUNCE_SECONDS = 1.0  # "documents changed" at most this often while indexing
MANY_ROWS = 200  # more files than this at once: one reset of the list instead of row updates


def _superseded_queue_counts(events: Sequence[IndexerEvent]) -> set[int]:
    """Indexes of the queue counts followed by another before any event that reads the
    queue's state (the end of a batch, the folders' or the documents' news)."""
    superseded: set[int] = set()
    later_count = False
    for n in range(len(events) - 1, -1, -1):
        event = events[n]
        if isinstance(event, QueueChanged):
            if later_count:
                superseded.add(n)
            later_count = True
        elif not isinstance(event, FileEvent):
            later_count = False
    return superseded


def _new_row(path: str, collection_id: int, status: RowStatus, reason: str = "") -> LibraryRow:
    """A row for a file that is not (yet) a stored document; no database look-up."""
    name = os.path.basename(path.rstrip(_SEPARATORS)) or path  # string work, not a Path:
    return LibraryRow(  # one a file, thousands a minute in a run of small files
        path=path,
        collection_id=collection_id,
        title=name,
        file_type=os.path.splitext(name)[1].lstrip(".").lower(),
        status=status,
        reason=reason,
    )


def _reembed(indexer: Indexer, collection_id: int) -> Awaitable[object]:
    return indexer.reembed(collection_id)


def _quiet_skip(reason: str) -> bool:
    """Skips not worth a row when they come from walking a folder."""
    return reason.startswith(("unsupported file type", "hidden file", "temporary Office file"))


def _same_model(a: str, b: str) -> bool:
    def norm(name: str) -> str:
        return name if ":" in name else f"{name}:latest"

    return norm(a) == norm(b)


__all__ = [
    "BatchSummary",
    "LibraryController",
    "LibraryRow",
    "OverallProgress",
    "row_from_record",
]
