"""The library's operations: a queue of files to index, collections, remove, re-index, move.

Files handed over (drops, the file dialog, a second launch, the tray) join one
queue that is indexed a file at a time through ``Orchestrator.ingest``, so files
added while indexing runs simply wait their turn, "pause" means "stop after this
file", and the queue survives a restart of the engine (and of the app: it is kept
in QSettings). Progress is coalesced to at most ten updates a second; status
changes (started, finished) go out at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from PySide6.QtCore import QObject, QSettings, QTimer, Signal

from allma_desktop.cancel import CancelToken
from allma_desktop.errors import AllmaError
from allma_desktop.events import (
    EmbedProgress,
    FileFinished,
    FileParsed,
    FileStarted,
    IngestEvent,
    IngestFinished,
    PageRecognised,
)

if TYPE_CHECKING:
    from allma_desktop.gui.app_events import AppEvents
    from allma_desktop.gui.engine import Engine
    from allma_desktop.orchestrator import Orchestrator
    from allma_desktop.services.library import CollectionRecord, DocumentRecord

log = logging.getLogger(__name__)

RowStatus = Literal["queued", "indexing", "ready", "failed", "skipped", "cancelled"]
PROGRESS_INTERVAL_MS = 100  # at most ~10 progress updates a second reach the views
PARSED_FRACTION = 0.1  # share of a file's progress bar that parsing stands for
QUEUE_SETTINGS_KEY = "library/queue"


@dataclass(frozen=True)
class LibraryRow:
    """One line of the document list: a stored document or a file on its way in."""

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

    @property
    def name(self) -> str:
        return Path(self.path).name


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
    failed: int
    skipped: int
    cancelled: bool
    seconds: float
    error: AllmaError | None = None  # what stopped it early (Ollama went away)


@dataclass(frozen=True)
class QueuedFile:
    path: str
    collection_id: int
    force: bool = False
    reembed: bool = False  # not a file: re-embed the collection (path is "")


def short_reason(message: str) -> str:
    """A failure's reason for its row: "x.pdf: is damaged ..." -> "damaged ..."."""
    reason = message.split(": ", 1)[-1] if ": " in message else message
    return reason.removeprefix("is ")


def row_from_record(record: DocumentRecord) -> LibraryRow:
    status: RowStatus = "ready"
    if record.status == "failed":
        status = "cancelled" if record.error == "cancelled" else "failed"
    elif record.status in ("queued", "indexing"):
        # Left over from an interrupted run; it is not being worked on now.
        status = "failed"
    return LibraryRow(
        path=record.path,
        collection_id=record.collection_id,
        title=record.title or Path(record.path).name,
        file_type=record.file_type,
        status=status,
        fraction=1.0 if status == "ready" else 0.0,
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
    row_changed = Signal(object)  # LibraryRow: insert or update, keyed by path
    row_removed = Signal(str)  # path
    progress = Signal(object)  # OverallProgress (coalesced)
    busy_changed = Signal(bool)
    paused_changed = Signal(bool)
    batch_finished = Signal(object)  # BatchSummary
    failed = Signal(object)  # AllmaError
    notice = Signal(str)  # something the user should read, not an error

    def __init__(self, engine: Engine, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._engine = engine
        self._queue: deque[QueuedFile] = deque()
        self._waiting_for_engine: list[tuple[list[str], int | None]] = []
        # Rows not (yet) as the database has them, by (collection id, path).
        self._live: dict[tuple[int, str], LibraryRow] = {}
        self._collections: list[CollectionRecord] = []
        self._collection_id: int | None = None
        self._paused = False
        self._drain_task: asyncio.Task[None] | None = None
        self._draining = False
        self._cancel: CancelToken | None = None
        self._cancel_all = False
        self._current: QueuedFile | None = None
        self._current_fraction = 0.0
        self._session_total = 0
        self._session_done = 0
        self._session_started = 0.0
        self._session_counts = {"indexed": 0, "failed": 0, "skipped": 0}
        self._announcing = False
        self._pending_rows: dict[str, LibraryRow] = {}
        self._pending_progress = False
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(PROGRESS_INTERVAL_MS)
        self._flush_timer.timeout.connect(self._flush)
        self._restore_queue()
        events = engine.events
        events.engine_ready.connect(self._on_engine_ready)
        events.ingest_requested.connect(self.add_paths)
        events.documents_changed.connect(self._on_documents_changed)
        if engine.ready:
            self._on_engine_ready(engine.orchestrator)

    # --- state the views read -------------------------------------------------------

    @property
    def events(self) -> AppEvents:
        return self._engine.events

    @property
    def busy(self) -> bool:
        return self._draining

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def queued_paths(self) -> list[str]:
        return [item.path for item in self._queue if not item.reembed]

    @property
    def collections(self) -> list[CollectionRecord]:
        return list(self._collections)

    @property
    def current_collection_id(self) -> int | None:
        return self._collection_id

    @property
    def data_dir(self) -> Path:
        return self._engine.config.data_dir

    # --- collections ----------------------------------------------------------------

    def select_collection(self, collection_id: int) -> None:
        if collection_id == self._collection_id:
            return
        self._collection_id = collection_id
        self.current_collection_changed.emit(collection_id)
        self.refresh_rows()

    def create_collection(self, name: str) -> CollectionRecord | None:
        orchestrator = self._orchestrator()
        if orchestrator is None:
            return None
        try:
            record = orchestrator.create_collection(name)
        except AllmaError as error:
            self.failed.emit(error)
            return None
        self.refresh_collections()
        self.select_collection(record.id)
        return record

    def rename_collection(self, collection_id: int, name: str) -> bool:
        orchestrator = self._orchestrator()
        if orchestrator is None:
            return False
        try:
            orchestrator.rename_collection(collection_id, name)
        except AllmaError as error:
            self.failed.emit(error)
            return False
        self.refresh_collections()
        return True

    def delete_collection(self, collection_id: int) -> None:
        """Delete it with its documents (the files on disk stay); shows the default after."""
        if self._orchestrator() is None:
            return
        self._queue = deque(q for q in self._queue if q.collection_id != collection_id)
        self._save_queue()
        if self._current is not None and self._current.collection_id == collection_id:
            self.cancel()
        self._engine.run(self._delete_collection(collection_id))

    async def _delete_collection(self, collection_id: int) -> None:
        orchestrator = self._orchestrator()
        if orchestrator is None:
            return
        try:
            await orchestrator.delete_collection(collection_id)
            default = orchestrator.collection(None)
        except AllmaError as error:
            self.failed.emit(error)
            return
        for key in [key for key in self._live if key[0] == collection_id]:
            del self._live[key]
        self.refresh_collections()
        self._collection_id = None
        self.select_collection(default.id)
        self._announce_documents_changed()

    def refresh_collections(self) -> None:
        orchestrator = self._engine.orchestrator
        if orchestrator is None:
            return
        try:
            self._collections = orchestrator.collections()
        except AllmaError as error:
            self.failed.emit(error)
            return
        known = {c.id for c in self._collections}
        if self._collection_id not in known:
            self._collection_id = orchestrator.collection(None).id
            self.current_collection_changed.emit(self._collection_id)
        self.collections_changed.emit(self.collections)

    def refresh_rows(self) -> None:
        """Reload the current collection's list (stored documents plus files on their way)."""
        orchestrator = self._engine.orchestrator
        if orchestrator is None or self._collection_id is None:
            self.rows_reset.emit([])
            return
        try:
            records = orchestrator.list_documents(self._collection_id)
        except AllmaError as error:
            self.failed.emit(error)
            return
        rows = {record.path: row_from_record(record) for record in records}
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
        if self._engine.orchestrator is None:
            self._waiting_for_engine.append((list(paths), target))
            return
        self._engine.run(self._enqueue(list(paths), target))

    async def _enqueue(self, paths: list[str], collection_id: int | None) -> None:
        orchestrator = self._orchestrator()
        if orchestrator is None:
            return
        if collection_id is None:
            collection_id = orchestrator.collection(None).id
        files = await asyncio.to_thread(_expand, orchestrator, paths)
        queued = {(q.path, q.collection_id) for q in self._queue}
        for path, size, skip_reason in files:
            if skip_reason:
                self._set_row(self._new_row(path, collection_id, "skipped", size, skip_reason))
                continue
            if (path, collection_id) in queued or self._is_current(path, collection_id):
                continue
            self._queue.append(QueuedFile(path, collection_id))
            self._session_total += 1
            self._set_row(self._new_row(path, collection_id, "queued", size))
        self._save_queue()
        self._start_draining()

    def reindex(self, paths: Iterable[str]) -> None:
        """Index these rows' files again from scratch (even when unchanged)."""
        for path in paths:
            row = self._row(path)
            if row is None or self._is_queued(path, row.collection_id):
                continue
            self._queue.append(QueuedFile(path, row.collection_id, force=True))
            self._session_total += 1
            self._set_row(replace(row, status="queued", fraction=0.0, reason="", hint=""))
        self._save_queue()
        self._start_draining()

    def reembed_library(self, collection_id: int | None = None) -> bool:
        """Re-embed the stored chunks with the current embedding model, in the background.

        Returns False when the library is not open yet.
        """
        if self._engine.orchestrator is None:
            return False
        ids = [collection_id] if collection_id is not None else [c.id for c in self._collections]
        for cid in ids:
            self._queue.append(QueuedFile("", cid, reembed=True))
        self._start_draining()
        return True

    # --- removing and moving ----------------------------------------------------------

    def remove(self, paths: Iterable[str]) -> None:
        """Take these rows out of the library (the files on disk stay)."""
        chosen = [row for path in paths if (row := self._row(path)) is not None]
        for row in chosen:
            self._queue = deque(
                q for q in self._queue if (q.path, q.collection_id) != (row.path, row.collection_id)
            )
            if self._is_current(row.path, row.collection_id) and self._cancel is not None:
                self._cancel.cancel()
        self._save_queue()
        self._engine.run(self._remove(chosen))

    async def _remove(self, rows: list[LibraryRow]) -> None:
        orchestrator = self._orchestrator()
        if orchestrator is None:
            return
        for row in rows:
            document_id = row.document_id or self._stored_id(orchestrator, row)
            if document_id is not None:
                try:
                    await orchestrator.remove_document(document_id)
                except AllmaError as error:
                    self.failed.emit(error)
                    continue
            self._live.pop((row.collection_id, row.path), None)
            self._pending_rows.pop(row.path, None)
            self.row_removed.emit(row.path)
        self._announce_documents_changed()

    def move(self, paths: Iterable[str], collection_id: int) -> None:
        """Move these documents to another collection (their vectors go with them)."""
        rows = [row for path in paths if (row := self._row(path)) is not None]
        self._engine.run(self._move(rows, collection_id))

    async def _move(self, rows: list[LibraryRow], collection_id: int) -> None:
        orchestrator = self._orchestrator()
        if orchestrator is None:
            return
        for row in rows:
            if row.collection_id == collection_id:
                continue
            document_id = row.document_id or self._stored_id(orchestrator, row)
            if document_id is None:
                # Never stored (failed or queued): it simply belongs elsewhere now.
                self._queue = deque(
                    replace(q, collection_id=collection_id) if q.path == row.path else q
                    for q in self._queue
                )
                self._live.pop((row.collection_id, row.path), None)
                self._live[(collection_id, row.path)] = replace(row, collection_id=collection_id)
                self.row_removed.emit(row.path)
                continue
            try:
                await orchestrator.move_document(document_id, collection_id)
            except AllmaError as error:
                self.failed.emit(error)
                continue
            self._live.pop((row.collection_id, row.path), None)
            self.row_removed.emit(row.path)
        self._save_queue()
        self.refresh_collections()
        self._start_draining()
        self._announce_documents_changed()

    # --- pause and cancel ---------------------------------------------------------------

    def set_paused(self, paused: bool) -> None:
        """Paused: finish the file being indexed, keep the rest queued."""
        if paused == self._paused:
            return
        self._paused = paused
        self.paused_changed.emit(paused)
        self._pending_progress = True
        if not paused:
            self._start_draining()
        self._flush()

    def cancel(self) -> None:
        """Stop the file being indexed and empty the queue."""
        dropped = [q for q in self._queue if not q.reembed]
        self._queue.clear()
        self._save_queue()
        for item in dropped:
            row = self._live.pop((item.collection_id, item.path), None)
            self._pending_rows.pop(item.path, None)
            if row is not None and row.document_id is None:
                self.row_removed.emit(item.path)
        if self._cancel is not None:
            self._cancel_all = True
            self._cancel.cancel()
        self.refresh_rows()

    # --- the queue ----------------------------------------------------------------------

    def _start_draining(self) -> None:
        running = self._drain_task is not None and not self._drain_task.done()
        if running or self._paused or not self._queue or self._engine.orchestrator is None:
            self._pending_progress = True
            return
        self._drain_task = self._engine.run(self._drain())

    async def _drain(self) -> None:
        orchestrator = self._orchestrator()
        if orchestrator is None:
            return
        self._session_started = time.monotonic()
        self._session_counts = {"indexed": 0, "failed": 0, "skipped": 0}
        self._cancel_all = False
        self._draining = True
        self.busy_changed.emit(True)
        self._flush_timer.start()
        fatal: AllmaError | None = None
        try:
            while self._queue and not self._paused and not self._cancel_all:
                item = self._queue.popleft()
                self._current, self._current_fraction = item, 0.0
                self._cancel = CancelToken()
                try:
                    fatal = await self._process(orchestrator, item, self._cancel)
                except asyncio.CancelledError:
                    # The engine is restarting (or the app quits): do this file again later.
                    self._queue.appendleft(item)
                    self._save_queue()
                    raise
                self._session_done += 0 if item.reembed else 1
                self._current = None
                self._save_queue()
                if fatal is not None:
                    self._paused = True
                    self.paused_changed.emit(True)
                    self.failed.emit(fatal)
                    break
        finally:
            self._current, self._cancel = None, None
            self._flush_timer.stop()
            self._draining = False
            self._flush()
            self.busy_changed.emit(False)
        summary = BatchSummary(
            indexed=self._session_counts["indexed"],
            failed=self._session_counts["failed"],
            skipped=self._session_counts["skipped"],
            cancelled=self._cancel_all,
            seconds=time.monotonic() - self._session_started,
            error=fatal,
        )
        if not self._queue:
            self._session_total = self._session_done = 0
        self._cancel_all = False
        self._pending_progress = True
        self._flush()
        self.refresh_collections()
        self.batch_finished.emit(summary)

    async def _process(
        self, orchestrator: Orchestrator, item: QueuedFile, cancel: CancelToken
    ) -> AllmaError | None:
        """Run one queued item's event stream; returns an error that should stop the queue."""
        stream: AsyncIterator[IngestEvent]
        if item.reembed:
            stream = orchestrator.reembed(collection_id=item.collection_id, cancel=cancel)
        else:
            stream = orchestrator.ingest([item.path], item.collection_id, cancel, force=item.force)
        fatal: AllmaError | None = None
        try:
            async for event in stream:
                self._on_event(orchestrator, item, event)
                if isinstance(event, IngestFinished):
                    fatal = event.error
        except AllmaError as error:
            fatal = error
            self._finish_row(
                orchestrator, item, FileFinished(item.path, "failed", error.message, error=error)
            )
        return fatal

    def _on_event(self, orchestrator: Orchestrator, item: QueuedFile, event: IngestEvent) -> None:
        if isinstance(event, FileStarted):
            cid = item.collection_id
            row = self._row(event.path, cid) or self._new_row(event.path, cid, "indexing")
            self._current_fraction = 0.0
            self._set_row(replace(row, status="indexing", fraction=0.0, reason="", hint=""))
        elif isinstance(event, PageRecognised):  # OCR reads a scan: its share of parsing
            self._current_fraction = PARSED_FRACTION * (event.page - 1) / max(event.pages, 1)
            self._update_progress(item, event.path, self._current_fraction)
        elif isinstance(event, FileParsed):
            self._current_fraction = PARSED_FRACTION
            self._update_progress(
                item, event.path, PARSED_FRACTION, pages=event.pages, chunks=event.chunks
            )
        elif isinstance(event, EmbedProgress):
            done = event.chunks_done / max(event.chunks_total, 1)
            self._current_fraction = PARSED_FRACTION + (1 - PARSED_FRACTION) * done
            self._update_progress(item, event.path, self._current_fraction)
        elif isinstance(event, FileFinished):
            self._finish_row(orchestrator, item, event)

    def _update_progress(
        self,
        item: QueuedFile,
        path: str,
        fraction: float,
        pages: int | None = None,
        chunks: int | None = None,
    ) -> None:
        row = self._row(path, item.collection_id)
        if row is None:
            return
        changes: dict[str, object] = {"fraction": fraction}
        if pages is not None:
            changes["pages"] = pages
        if chunks is not None:
            changes["chunks"] = chunks
        updated = replace(row, **changes)  # type: ignore[arg-type]
        self._live[(item.collection_id, path)] = updated
        if item.collection_id == self._collection_id:
            self._pending_rows[path] = updated  # sent by the next flush, not now
        self._pending_progress = True

    def _finish_row(
        self, orchestrator: Orchestrator, item: QueuedFile, event: FileFinished
    ) -> None:
        self._pending_rows.pop(event.path, None)
        if event.status in ("indexed", "unchanged"):
            self._session_counts["indexed"] += 1
            self._live.pop((item.collection_id, event.path), None)
            stored = self._stored_record(orchestrator, item.collection_id, event.path)
            if stored is not None:
                self._emit_row(row_from_record(stored))
            self._announce_documents_changed()
            self._pending_progress = True
            return
        cid = item.collection_id
        row = self._row(event.path, cid) or self._new_row(event.path, cid, "failed")
        if event.status == "skipped":
            self._session_counts["skipped"] += 1
            self._set_row(replace(row, status="skipped", reason=event.reason, fraction=0.0))
            return
        self._session_counts["failed"] += 1
        error = event.error
        cancelled = event.reason == "cancelled"
        reason = event.reason
        if error is not None:
            reason = short_reason(error.message)
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

    def _new_row(
        self,
        path: str,
        collection_id: int,
        status: RowStatus,
        size: int | None = None,
        reason: str = "",
    ) -> LibraryRow:
        stored = self._stored_record(self._engine.orchestrator, collection_id, path)
        if stored is not None:
            return replace(row_from_record(stored), status=status, reason=reason, fraction=0.0)
        return LibraryRow(
            path=path,
            collection_id=collection_id,
            title=Path(path).name,
            file_type=Path(path).suffix.lstrip(".").lower(),
            status=status,
            reason=reason,
            size_bytes=size,
        )

    def _set_row(self, row: LibraryRow) -> None:
        self._live[(row.collection_id, row.path)] = row
        self._emit_row(row)

    def _emit_row(self, row: LibraryRow) -> None:
        if row.collection_id == self._collection_id:
            self.row_changed.emit(row)

    def _row(self, path: str, collection_id: int | None = None) -> LibraryRow | None:
        """The row of ``path`` in that collection (the one shown when None)."""
        cid = self._collection_id if collection_id is None else collection_id
        if cid is None:
            return None
        if (cid, path) in self._live:
            return self._live[(cid, path)]
        record = self._stored_record(self._engine.orchestrator, cid, path)
        return row_from_record(record) if record is not None else None

    @staticmethod
    def _stored_record(
        orchestrator: Orchestrator | None, collection_id: int, path: str
    ) -> DocumentRecord | None:
        if orchestrator is None:
            return None
        try:
            return orchestrator.library.document_by_path(collection_id, path)
        except AllmaError:
            return None

    def _stored_id(self, orchestrator: Orchestrator, row: LibraryRow) -> str | None:
        record = self._stored_record(orchestrator, row.collection_id, row.path)
        return record.id if record is not None else None

    def _is_current(self, path: str, collection_id: int) -> bool:
        current = self._current
        return current is not None and (current.path, current.collection_id) == (
            path,
            collection_id,
        )

    def _is_queued(self, path: str, collection_id: int) -> bool:
        return self._is_current(path, collection_id) or any(
            (q.path, q.collection_id) == (path, collection_id) for q in self._queue
        )

    # --- coalesced progress -------------------------------------------------------------

    def _flush(self) -> None:
        rows, self._pending_rows = self._pending_rows, {}
        for row in rows.values():
            self._emit_row(row)
        if self._pending_progress:
            self._pending_progress = False
            self.progress.emit(self.overall_progress())

    def overall_progress(self) -> OverallProgress:
        total = max(self._session_total, self._session_done)
        done = self._session_done
        current = self._current
        working = current is not None and not current.reembed
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
            current=Path(current.path).name if working and current else "",
            paused=self._paused,
        )

    # --- engine and persistence -----------------------------------------------------------

    def _orchestrator(self) -> Orchestrator | None:
        orchestrator = self._engine.orchestrator
        if orchestrator is None:
            self.failed.emit(AllmaError("Allma is still starting.", "Try again in a moment."))
        return orchestrator

    def _on_engine_ready(self, _orchestrator: object) -> None:
        self.refresh_collections()
        self.refresh_rows()
        waiting, self._waiting_for_engine = self._waiting_for_engine, []
        for paths, collection_id in waiting:
            self._engine.run(self._enqueue(paths, collection_id))
        for item in self._queue:
            if not item.reembed:
                self._set_row(self._new_row(item.path, item.collection_id, "queued"))
        self._check_embedding_model()
        self._start_draining()

    def _check_embedding_model(self) -> None:
        """After the embedding model changed: re-embed collections built with another one."""
        model = self._engine.config.ollama_embedding_model
        stale = [
            c
            for c in self._collections
            if c.chunk_count > 0 and c.embedding_model and not _same_model(c.embedding_model, model)
        ]
        if stale and not any(q.reembed for q in self._queue):
            for collection in stale:
                self.reembed_library(collection.id)

    def _on_documents_changed(self) -> None:
        if not self._announcing:
            self.refresh_collections()
            self.refresh_rows()

    def _announce_documents_changed(self) -> None:
        self._announcing = True
        try:
            self._engine.events.documents_changed.emit()
        finally:
            self._announcing = False

    def _save_queue(self) -> None:
        items = [[q.path, q.collection_id, q.force] for q in self._queue if not q.reembed]
        current = self._current
        if current is not None and not current.reembed:
            items.insert(0, [current.path, current.collection_id, current.force])
        settings = QSettings()
        settings.setValue(QUEUE_SETTINGS_KEY, json.dumps(items))

    def _restore_queue(self) -> None:
        raw = QSettings().value(QUEUE_SETTINGS_KEY, "[]")
        try:
            items = json.loads(str(raw))
            restored = [QueuedFile(str(p), int(c), bool(f)) for p, c, f in items]
        except (ValueError, TypeError):
            log.warning("ignoring an unreadable saved indexing queue")
            return
        self._queue.extend(q for q in restored if os.path.exists(q.path))
        self._session_total = len(self._queue)


def _expand(orchestrator: Orchestrator, paths: list[str]) -> list[tuple[str, int | None, str]]:
    """(absolute path, size, skip reason) for each file; folders are walked (in a worker).

    Files found inside folders that are not documents (images, hidden files) are left
    out quietly; a file the user named themselves gets a row saying why it was skipped.
    """
    found: list[tuple[str, int | None, str]] = []
    seen: set[str] = set()
    documents = orchestrator.documents

    def add(path: Path, named: bool) -> None:
        resolved = str(path.resolve())
        if resolved in seen:
            return
        seen.add(resolved)
        reason = documents.skip_reason(path) or ""
        if reason and not named:
            return
        try:
            size: int | None = path.stat().st_size
        except OSError:
            size = None
        found.append((resolved, size, reason))

    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for root, dirnames, filenames in os.walk(path, followlinks=False):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    add(Path(root) / name, named=False)
        elif path.exists():
            add(path, named=True)
        else:
            found.append((str(path.absolute()), None, "not found"))
    return found


def _same_model(a: str, b: str) -> bool:
    def norm(name: str) -> str:
        return name if ":" in name else f"{name}:latest"

    return norm(a) == norm(b)


__all__ = [
    "BatchSummary",
    "LibraryController",
    "LibraryRow",
    "OverallProgress",
    "QueuedFile",
    "row_from_record",
]
