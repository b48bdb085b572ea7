"""Ingestion as stages that overlap, so no part of the machine waits on another.

``IngestPipeline.ingest`` runs three stages as tasks on the event loop and yields
their events as one stream:

1. *prepare* hashes each file, skips it when unchanged, parses and chunks it in the
   parse worker process and starts its row, up to ``LOOKAHEAD`` files ahead of 2; it
   queues ``PARSE_AHEAD`` more files to the worker than the one it awaits, so the
   worker reads on while this process is busy;
2. *embed* sends batches of ``embed_batch_size`` chunks across file boundaries (a
   file's last, partial batch is topped up from the next file), one request at a
   time, so a run makes ceil(chunks / batch size) requests;
3. *store* writes vectors in a worker thread, several files' worth per call: it waits
   for ``STORE_CALL_CHUNKS`` chunks, the end, or an embedder starved by the parser
   (a Chroma call costs ~50 ms whatever its size, and holds the GIL throughout).

The generator itself finishes files, in order: it commits a file's chunk rows (which
turns it ``ready`` in the same transaction) once all its vectors are stored, then
yields its ``FileFinished``. Committing on the consumer's pace means that a cancel
given on a ``FileFinished`` stops before the next file is committed. A file that
fails, or is still in flight at a cancel, has its vectors taken back out.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from allma_desktop.cancel import CancelToken
from allma_desktop.errors import AllmaError, DiskFull, DocumentError, OllamaError, StoreNotWritable
from allma_desktop.events import (
    EmbedProgress,
    FileFinished,
    FileParsed,
    FileStarted,
    IngestEvent,
    IngestFinished,
    IngestProgress,
    IngestStarted,
)
from allma_desktop.services.documents.chunking import prefix_for_embedding
from allma_desktop.services.documents.model import Chunk, DocumentMetadata
from allma_desktop.services.rag import embedding_document_text

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig
    from allma_desktop.services.documents.parse_worker import ParseWorker
    from allma_desktop.services.documents.service import DocumentService
    from allma_desktop.services.library import CollectionRecord, DocumentRecord, LibraryService
    from allma_desktop.services.llm import OllamaService
    from allma_desktop.services.vectorstore.base import VectorStore

log = logging.getLogger(__name__)
T = TypeVar("T")
ParseResult = tuple[DocumentMetadata, list[Chunk]]

PENDING_DOCUMENT_ID = "pending"  # chunks are cut before the document row exists
LOOKAHEAD = 2  # files parsed ahead of the embedder
PARSE_AHEAD = 2  # files queued to the parse worker beyond the one the prepare stage awaits
# Chroma's write holds the GIL for all of its ~50 ms per call plus ~1 ms per chunk, so
# nothing else in the app runs meanwhile: writes wait until this many chunks are
# embedded (or the embedder waits for the parser, or the files are done).
STORE_CALL_CHUNKS = 384
STORE_MAX_WAIT_SECONDS = 0.25  # but no longer than this: with a slow embedder, files turn
# ready as they are embedded (a call's cost is then small beside the embedding's)
STORE_BACKLOG_CHUNKS = 256  # embedded chunks queued for the store (memory bound)
CANCEL_POLL_SECONDS = 0.05  # how often an idle stream looks at the cancel token

FATAL_ERRORS = (OllamaError, StoreNotWritable, DiskFull)  # would fail every file alike


class IngestEngine(Protocol):
    """What the pipeline needs of the orchestrator (its services, opened)."""

    config: AppConfig
    documents: DocumentService
    parse_worker: ParseWorker
    llm: OllamaService

    @property
    def library(self) -> LibraryService: ...

    @property
    def store(self) -> VectorStore: ...

    def collection(self, collection_id: int | None) -> CollectionRecord: ...


@dataclass(eq=False)
class _FileJob:
    """One file on its way through the stages."""

    path: Path
    index: int
    finished: FileFinished | None = None  # set when it ended before embedding
    existing: DocumentRecord | None = None  # its row from an earlier ingest
    metadata: DocumentMetadata | None = None
    chunks: list[Chunk] = field(default_factory=list)
    document_id: str | None = None
    old_chunk_ids: set[str] = field(default_factory=set)
    stored: list[str] = field(default_factory=list)  # ids handed to the store
    error: AllmaError | None = None
    parts_sent: int = 0  # slices handed from the embedder to the store
    parts_done: int = 0
    all_sent: bool = False
    signalled: bool = False  # nothing of it is in flight any more; _Ready is queued
    ready: bool = False  # the finisher has seen that _Ready


@dataclass(frozen=True)
class _Part:
    """A slice of one file's chunks with their vectors, on its way to the store."""

    job: _FileJob
    chunks: Sequence[Chunk]
    vectors: Sequence[Sequence[float]]


@dataclass(frozen=True)
class _Ready:
    """Marker on the event queue: ``job`` can be finished."""

    job: _FileJob


_Item = IngestEvent | _Ready | None  # None: a stage stopped (wakes the finisher)


class _Stopped(Exception):
    """An abandonable wait ended because the run is stopping."""


class _Run:
    """The state of one ``ingest`` call, shared by its stages."""

    def __init__(
        self, collection: CollectionRecord, cancel: CancelToken, force: bool, total: int
    ) -> None:
        self.collection = collection
        self.cancel = cancel
        self.force = force
        self.total = total
        self.events: asyncio.Queue[_Item] = asyncio.Queue()
        self.order: deque[_FileJob] = deque()  # started and not yet finished, in file order
        self.stopping = asyncio.Event()
        self.fatal: AllmaError | None = None
        self.crash: BaseException | None = None
        self.prepare_done = False
        self.dimension_checked = False
        self.getter: asyncio.Future[_Item] | None = None  # a pending read of ``events``
        self.embed_starved = asyncio.Event()  # the embedder waits for a parsed file

    def emit(self, item: _Item) -> None:
        self.events.put_nowait(item)

    def stop(self, fatal: AllmaError | None = None) -> None:
        if fatal is not None and self.fatal is None:
            self.fatal = fatal
        self.stopping.set()
        self.emit(None)

    async def unless_stopped(self, awaitable: Awaitable[T]) -> T:
        """``awaitable``'s result, or ``_Stopped`` as soon as the run is stopping."""
        work = asyncio.ensure_future(awaitable)
        if self.stopping.is_set():
            work.cancel()
            raise _Stopped
        stopper = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not work.done():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
        if work.cancelled():
            raise _Stopped
        return work.result()


class IngestPipeline:
    """Indexes files for an orchestrator; see the module docstring for the stages."""

    def __init__(self, engine: IngestEngine) -> None:
        self.engine = engine

    # --- the stream ----------------------------------------------------------------

    async def ingest(
        self,
        paths: Sequence[str | Path],
        collection_id: int | None = None,
        cancel: CancelToken | None = None,
        force: bool = False,
    ) -> AsyncGenerator[IngestEvent, None]:
        """Index files and folders; one ``FileFinished`` per file, whatever happens to it.

        A file that fails never stops the batch. Only a failure that would fail every
        file alike (Ollama unreachable, disk full) ends the batch early, with that
        error on ``IngestFinished``.
        """
        engine = self.engine
        cancel = cancel or CancelToken()
        collection = engine.collection(collection_id)
        await asyncio.to_thread(engine.store.ensure_collection, collection.key)
        files, skipped = await asyncio.to_thread(self.expand_paths, paths)
        yield IngestStarted(total_files=len(files), skipped=len(skipped))
        results: list[FileFinished] = []
        for path, reason in skipped:
            skipped_result = FileFinished(str(path), "skipped", reason)
            results.append(skipped_result)
            yield skipped_result

        run = _Run(collection, cancel, force, len(files))
        batch_size = engine.config.embed_batch_size
        embed_queue: asyncio.Queue[_FileJob | None] = asyncio.Queue(LOOKAHEAD)
        store_queue: asyncio.Queue[list[_Part] | None] = asyncio.Queue(
            max(2, STORE_BACKLOG_CHUNKS // batch_size)
        )
        stages = [
            asyncio.ensure_future(self._stage(run, self._prepare_stage(run, files, embed_queue))),
            asyncio.ensure_future(
                self._stage(run, self._embed_stage(run, embed_queue, store_queue))
            ),
            asyncio.ensure_future(self._stage(run, self._store_stage(run, store_queue))),
        ]
        started = time.monotonic()
        chunks_done = 0
        files_done = 0
        try:
            while True:
                received, item = await self._next_item(run)
                if not received:
                    break
                if isinstance(item, _Ready):
                    item.job.ready = True
                elif item is not None:
                    yield item
                while run.order and run.order[0].ready and not run.stopping.is_set():
                    result = await self._finish(run, run.order.popleft())
                    results.append(result)
                    files_done += 1
                    chunks_done += result.chunks
                    yield result
                    elapsed = time.monotonic() - started
                    eta = elapsed / files_done * (run.total - files_done)
                    yield IngestProgress(files_done, run.total, chunks_done, eta)
                    if cancel.cancelled:
                        run.stop()
                if run.prepare_done and not run.order:
                    break
            await self._end_stages(run, stages)
            # Events the stages emitted before they stopped, then every unfinished file.
            for item in self._left_over(run):
                yield item
            while run.order:
                result = await self._abandon(run, run.order.popleft())
                results.append(result)
                files_done += 1
                chunks_done += result.chunks
                yield result
                yield IngestProgress(files_done, run.total, chunks_done, 0.0)
        finally:
            # The consumer went away (or the task was cancelled): leave no half document.
            await self._end_stages(run, stages)
            if run.getter is not None:
                run.getter.cancel()
            while run.order:
                await self._abandon(run, run.order.popleft())
        if run.crash is not None:
            raise run.crash
        yield IngestFinished(tuple(results), cancelled=cancel.cancelled, error=run.fatal)

    async def _next_item(self, run: _Run) -> tuple[bool, _Item]:
        """(True, the stages' next item), or (False, None) once the run is stopping.

        Waits in short slices, so a cancel is noticed even while nothing happens.
        """
        while True:
            if run.cancel.cancelled and not run.stopping.is_set():
                run.stop()
            if run.stopping.is_set():
                return False, None
            if run.getter is None:
                run.getter = asyncio.ensure_future(run.events.get())
            done, _ = await asyncio.wait({run.getter}, timeout=CANCEL_POLL_SECONDS)
            if done:
                item, run.getter = run.getter.result(), None
                return True, item

    def _left_over(self, run: _Run) -> list[IngestEvent]:
        """Events still queued once the stages have ended (markers dropped)."""
        items: list[_Item] = []
        getter, run.getter = run.getter, None
        if getter is not None:
            if getter.done() and not getter.cancelled():
                items.append(getter.result())
            else:
                getter.cancel()
        while not run.events.empty():
            items.append(run.events.get_nowait())
        return [item for item in items if item is not None and not isinstance(item, _Ready)]

    async def _stage(self, run: _Run, work: Awaitable[None]) -> None:
        """Run a stage; a fatal error or a bug stops the whole run."""
        try:
            await work
        except _Stopped:
            pass
        except FATAL_ERRORS as exc:
            run.stop(exc)
        except Exception as exc:
            run.crash = exc
            run.stop()

    async def _end_stages(self, run: _Run, stages: Sequence[asyncio.Future[None]]) -> None:
        if not all(stage.done() for stage in stages):
            run.stop()
        # Stages end promptly on stop; a vector write in flight is let finish, so that
        # nothing is written after its ids are discarded.
        await asyncio.shield(asyncio.gather(*stages, return_exceptions=True))

    # --- stage 1: prepare ------------------------------------------------------------

    async def _prepare_stage(
        self, run: _Run, files: list[Path], embed_queue: asyncio.Queue[_FileJob | None]
    ) -> None:
        # Up to PARSE_AHEAD files are queued to the parse worker beyond the one awaited,
        # so it reads on while this process is busy (a store write holds the GIL).
        parsing: deque[tuple[_FileJob, asyncio.Future[ParseResult]]] = deque()
        upcoming = deque(enumerate(files, start=1))
        try:
            while True:
                while upcoming and len(parsing) <= PARSE_AHEAD:
                    if run.stopping.is_set() or run.cancel.cancelled:
                        return
                    index, path = upcoming.popleft()
                    job = _FileJob(path, index)
                    run.order.append(job)
                    run.emit(FileStarted(str(path), index, run.total))
                    existing = await self._check(run, job)
                    if job.finished is not None:
                        run.emit(_Ready(job))
                        continue
                    job.existing = existing
                    parsing.append((job, asyncio.ensure_future(self.parse_and_chunk(path))))
                if not parsing:
                    break
                job, parse = parsing.popleft()
                await self._prepare(run, job, parse)
                if job.finished is not None:
                    run.emit(_Ready(job))
                    continue
                assert job.metadata is not None
                run.emit(FileParsed(str(job.path), job.metadata.page_count, len(job.chunks)))
                await run.unless_stopped(embed_queue.put(job))
            await run.unless_stopped(embed_queue.put(None))
        finally:
            for _, parse in parsing:  # cancelling drops the queued request
                parse.cancel()
            if parsing:
                await asyncio.gather(*(parse for _, parse in parsing), return_exceptions=True)
            run.prepare_done = True
            run.emit(None)

    async def _check(self, run: _Run, job: _FileJob) -> DocumentRecord | None:
        """Hash the file and end it as ``unchanged`` (or unreadable) already; its row if any."""
        path, collection = job.path, run.collection
        try:
            content_hash = await asyncio.to_thread(self.engine.documents.hash_file, path)
        except OSError as exc:
            reason = f"cannot read the file ({exc.strerror or exc})"
            job.finished = FileFinished(str(path), "failed", reason)
            return None
        existing = self.engine.library.document_by_path(collection.id, str(path))
        if (
            existing is not None
            and not run.force
            and existing.status == "ready"
            and existing.content_hash == content_hash
        ):
            job.finished = FileFinished(
                str(path), "unchanged", "", existing.id, existing.chunk_count, existing.page_count
            )
        return existing

    async def _prepare(self, run: _Run, job: _FileJob, parse: asyncio.Future[ParseResult]) -> None:
        """Take the file's parse and start its row: all before embedding."""
        library = self.engine.library
        path, collection = job.path, run.collection
        try:
            metadata, chunks = await run.unless_stopped(parse)
        except DocumentError as exc:
            # The failure is recorded on the file's row, so the library shows it with its reason.
            failed = job.existing
            if failed is None:
                failed = await asyncio.to_thread(library.start_document, collection.id, str(path))
            await asyncio.to_thread(library.mark_failed, failed.id, _reason(exc))
            job.finished = FileFinished(str(path), "failed", _reason(exc), failed.id, error=exc)
            return
        record = await asyncio.to_thread(
            library.start_document,
            collection.id,
            str(path),
            title=metadata.title,
            file_type=metadata.file_type,
        )
        version = metadata.content_hash[:8]
        # Versioned ids: a changed file's new chunks never collide with its old ones,
        # so the old ones stay searchable until the new ones are fully stored.
        job.chunks = [
            replace(c, document_id=record.id, chunk_id=f"{record.id}:{version}:{c.index}")
            for c in chunks
        ]
        job.metadata = metadata
        job.document_id = record.id
        job.old_chunk_ids = await asyncio.to_thread(library.document_chunk_ids, record.id)

    async def parse_and_chunk(self, path: Path) -> ParseResult:
        """Parse and chunk in the parse worker process, under its per-file time limit."""
        documents = self.engine.documents
        return await self.engine.parse_worker.parse_and_chunk(
            path,
            chunk_size=documents.chunk_size,
            chunk_overlap=documents.chunk_overlap,
            document_id=PENDING_DOCUMENT_ID,
        )

    # --- stage 2: embed --------------------------------------------------------------

    async def _embed_stage(
        self,
        run: _Run,
        embed_queue: asyncio.Queue[_FileJob | None],
        store_queue: asyncio.Queue[list[_Part] | None],
    ) -> None:
        model = self.engine.config.ollama_embedding_model
        size = self.engine.config.embed_batch_size
        waiting: deque[tuple[_FileJob, int]] = deque()  # files with chunks left, next offset
        source_done = False
        while True:
            slices: list[tuple[_FileJob, int, int]] = []
            count = 0
            while count < size:
                if not waiting:
                    if source_done:
                        break
                    # A partial batch waits for the next file: one request fewer, and the
                    # parser is then the slower stage anyway (or it would be ready).
                    if embed_queue.empty():
                        run.embed_starved.set()
                    job = await run.unless_stopped(embed_queue.get())
                    run.embed_starved.clear()
                    if job is None:
                        source_done = True
                        break
                    waiting.append((job, 0))
                job, offset = waiting[0]
                if job.error is not None or offset == len(job.chunks):
                    waiting.popleft()
                    self._all_sent(run, job)
                    continue
                end = min(offset + size - count, len(job.chunks))
                slices.append((job, offset, end))
                count += end - offset
                if end == len(job.chunks):
                    waiting.popleft()
                else:
                    waiting[0] = (job, end)
            if not slices:
                await run.unless_stopped(store_queue.put(None))
                return
            texts = [
                embedding_document_text(model, prefix_for_embedding(chunk))
                for job, start, end in slices
                for chunk in job.chunks[start:end]
            ]
            vectors = await run.unless_stopped(self.engine.llm.embed(model, texts))
            try:
                await self._check_dimension_once(run, vectors)
            except FATAL_ERRORS:
                raise
            except AllmaError as exc:
                for job, _, _ in slices:
                    job.error = job.error or exc
                    if not any(job is waiting_job for waiting_job, _ in waiting):
                        self._all_sent(run, job)
                continue
            parts: list[_Part] = []
            position = 0
            for job, start, end in slices:
                parts.append(
                    _Part(job, job.chunks[start:end], vectors[position : position + end - start])
                )
                position += end - start
                job.parts_sent += 1
            # Progress goes out before the store can finish the file (per-file order).
            for job, _, end in slices:
                run.emit(EmbedProgress(str(job.path), end, len(job.chunks)))
                job.all_sent = end == len(job.chunks)
            await run.unless_stopped(store_queue.put(parts))

    def _all_sent(self, run: _Run, job: _FileJob) -> None:
        job.all_sent = True
        self._ready_if_done(run, job)

    def _ready_if_done(self, run: _Run, job: _FileJob) -> None:
        if job.all_sent and job.parts_done == job.parts_sent and not job.signalled:
            # ``ready`` is set when the finisher reads this marker, behind the file's
            # other queued events: its FileFinished must not overtake them.
            job.signalled = True
            run.emit(_Ready(job))

    async def _check_dimension_once(self, run: _Run, vectors: Sequence[Sequence[float]]) -> None:
        if run.dimension_checked or not vectors:
            return
        await self.check_embedding_dimension(run.collection, vectors)
        run.dimension_checked = True

    # --- stage 3: store --------------------------------------------------------------

    async def _store_stage(self, run: _Run, store_queue: asyncio.Queue[list[_Part] | None]) -> None:
        store, key = self.engine.store, run.collection.key
        last = False
        while not last:
            parts: list[_Part] = []
            deadline = 0.0
            while not last and sum(len(p.chunks) for p in parts) < STORE_CALL_CHUNKS:
                starved = run.embed_starved if parts else None
                taken = await run.unless_stopped(_take(store_queue, starved, deadline))
                if taken is _STARVED:
                    break  # nothing more comes until a file is parsed, or waited long enough
                if not parts:
                    deadline = time.monotonic() + STORE_MAX_WAIT_SECONDS
                if taken is None:
                    last = True
                else:
                    assert isinstance(taken, list)
                    parts.extend(taken)
            writing = [p for p in parts if p.job.error is None]
            for part in writing:
                part.job.stored.extend(c.chunk_id for c in part.chunks)
            try:
                await asyncio.to_thread(_add_parts, store, key, writing)
            except FATAL_ERRORS:
                raise
            except AllmaError:
                await self._store_each_file(store, key, writing)
            for part in parts:
                part.job.parts_done += 1
                self._ready_if_done(run, part.job)

    async def _store_each_file(self, store: VectorStore, key: str, parts: list[_Part]) -> None:
        """After a merged write failed: write file by file, so only the bad file fails."""
        by_job: dict[int, list[_Part]] = {}
        for part in parts:
            by_job.setdefault(id(part.job), []).append(part)
        for job_parts in by_job.values():
            try:
                await asyncio.to_thread(_add_parts, store, key, job_parts)
            except FATAL_ERRORS:
                raise
            except AllmaError as exc:
                job = job_parts[0].job
                job.error = job.error or exc

    # --- finishing a file ------------------------------------------------------------

    async def _finish(self, run: _Run, job: _FileJob) -> FileFinished:
        """Commit a file whose vectors are all stored, or take a failed one back out."""
        if job.finished is not None:
            return job.finished
        path, metadata = job.path, job.metadata
        assert metadata is not None and job.document_id is not None
        library, key = self.engine.library, run.collection.key
        error = job.error
        if error is None:
            try:
                await asyncio.to_thread(
                    library.commit_document,
                    job.document_id,
                    chunks=job.chunks,
                    collection_key=key,
                    metadata=metadata,
                    mtime=_mtime(path),
                )
            except AllmaError as exc:
                error = exc
                if isinstance(exc, FATAL_ERRORS):
                    run.stop(exc)
        if error is not None:
            # Take the new vectors back out, so no chunk is searchable without its row.
            await self.discard_vectors(key, job.stored)
            await asyncio.to_thread(library.mark_failed, job.document_id, error.message)
            return FileFinished(str(path), "failed", error.message, job.document_id, error=error)
        stale = job.old_chunk_ids - {c.chunk_id for c in job.chunks}
        if stale:
            await self.discard_vectors(key, sorted(stale))
        return FileFinished(
            str(path), "indexed", "", job.document_id, len(job.chunks), metadata.page_count
        )

    async def _abandon(self, run: _Run, job: _FileJob) -> FileFinished:
        """A file still in flight when the run stopped: cancelled, or failed by the fatal error."""
        if job.finished is not None:
            return job.finished
        fatal = run.fatal
        reason = "cancelled" if fatal is None else fatal.message
        await self.discard_vectors(run.collection.key, job.stored)
        if job.document_id is not None:
            await asyncio.to_thread(self.engine.library.mark_failed, job.document_id, reason)
        return FileFinished(str(job.path), "failed", reason, job.document_id, error=fatal)

    # --- shared with the orchestrator's other embedding paths -------------------------

    def expand_paths(
        self, paths: Sequence[str | Path]
    ) -> tuple[list[Path], list[tuple[Path, str]]]:
        """Files to index and files skipped with a reason; folders are walked recursively."""
        documents = self.engine.documents
        files: list[Path] = []
        skipped: list[tuple[Path, str]] = []
        seen: set[Path] = set()

        def consider(path: Path) -> None:
            try:
                resolved = path.resolve()
            except (OSError, RuntimeError):  # RuntimeError: a symlink loop on Python 3.11
                skipped.append((path, "symlink loop"))
                return
            if resolved in seen:
                return
            seen.add(resolved)
            reason = documents.skip_reason(path)
            if reason:
                skipped.append((path, reason))
            else:
                files.append(resolved)

        for raw in paths:
            path = Path(raw).expanduser()
            if not path.exists():
                skipped.append((path, "not found"))
            elif path.is_dir():
                for root, dirnames, filenames in os.walk(path, followlinks=False):
                    # Hidden folders (.git, .venv) are never documents the user meant.
                    dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                    for name in sorted(filenames):
                        if name.startswith("."):
                            continue
                        consider(Path(root) / name)
            else:
                consider(path)
        return files, skipped

    async def embed_and_store(
        self,
        chunks: Sequence[Chunk],
        collection: CollectionRecord,
        cancel: CancelToken,
        stored: list[str],
        dimensions: list[int] | None = None,
    ) -> AsyncIterator[int]:
        """Embed one document's chunks in batches and store each batch while the next is
        embedded (moving and re-embedding documents); yields the chunks done so far.

        ``stored`` collects the ids handed to the store, so a caller can take them back
        out if the document fails later. Only one batch of vectors is held at a time.
        With ``dimensions`` given, the vector size is appended there instead of being
        checked against (and recorded on) the collection.
        """
        engine = self.engine
        model = engine.config.ollama_embedding_model
        size = engine.config.embed_batch_size
        storing: asyncio.Future[None] | None = None
        try:
            for start in range(0, len(chunks), size):
                if cancel.cancelled:
                    return
                batch = chunks[start : start + size]
                texts = [embedding_document_text(model, prefix_for_embedding(c)) for c in batch]
                vectors = await engine.llm.embed(model, texts)
                if start == 0 and dimensions is not None:
                    dimensions.append(len(vectors[0]) if vectors else 0)
                elif start == 0:
                    await self.check_embedding_dimension(collection, vectors)
                if storing is not None:
                    await storing
                stored.extend(c.chunk_id for c in batch)
                storing = asyncio.ensure_future(
                    asyncio.to_thread(engine.store.add, collection.key, batch, vectors)
                )
                yield start + len(batch)
            if storing is not None:
                await storing
                storing = None
        finally:
            if storing is not None and not storing.done():
                # Let an in-flight write finish before anyone deletes what it wrote.
                await asyncio.gather(storing, return_exceptions=True)

    async def discard_vectors(self, key: str, chunk_ids: Sequence[str]) -> None:
        if not chunk_ids:
            return
        store = self.engine.store
        try:
            await asyncio.shield(asyncio.to_thread(store.delete_chunks, key, list(chunk_ids)))
        except AllmaError as exc:
            # The doctor removes vectors without a committed row; never hide the first error.
            log.warning("Could not remove %d vectors: %s", len(chunk_ids), exc)

    async def check_embedding_dimension(
        self, collection: CollectionRecord, embeddings: Sequence[Sequence[float]]
    ) -> None:
        if not embeddings:
            return
        dimension = len(embeddings[0])
        model = self.engine.config.ollama_embedding_model
        library = self.engine.library
        if collection.embedding_model is None or collection.chunk_count == 0:
            await asyncio.to_thread(library.set_embedding, collection.id, model, dimension)
            return
        if collection.embedding_dim != dimension or not _same_model(
            collection.embedding_model, model
        ):
            raise AllmaError(
                f"The collection '{collection.name}' was indexed with the embedding model "
                f"'{collection.embedding_model}' ({collection.embedding_dim} dimensions), "
                f"not '{model}' ({dimension}).",
                f"Switch the embedding model back to '{collection.embedding_model}', "
                "or re-index the collection with the new model.",
            )


class _Starved:
    """What ``_take`` returns when the embedder waits for the parser and nothing is queued."""


_STARVED = _Starved()


async def _take(
    queue: asyncio.Queue[list[_Part] | None], starved: asyncio.Event | None, deadline: float
) -> list[_Part] | _Starved | None:
    """The next item of ``queue``; with ``starved``, ``_STARVED`` as soon as it is set
    or the ``time.monotonic()`` deadline passes."""
    if starved is None or not queue.empty():
        return await queue.get()
    remaining = deadline - time.monotonic()
    if starved.is_set() or remaining <= 0:
        return _STARVED
    getter = asyncio.ensure_future(queue.get())
    waiter = asyncio.ensure_future(starved.wait())
    try:
        await asyncio.wait({getter, waiter}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not getter.done():
            getter.cancel()  # Queue.get leaves the item queued when cancelled
            await asyncio.gather(getter, return_exceptions=True)
    if getter.cancelled():
        return _STARVED
    return getter.result()


def _add_parts(store: VectorStore, key: str, parts: Sequence[_Part]) -> None:
    """One store call for the chunks of several files."""
    if not parts:
        return
    chunks = [chunk for part in parts for chunk in part.chunks]
    vectors = [vector for part in parts for vector in part.vectors]
    store.add(key, chunks, vectors)


def _reason(error: DocumentError) -> str:
    return error.message.split(": ", 1)[-1] if ": " in error.message else error.reason


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _same_model(a: str, b: str) -> bool:
    def norm(name: str) -> str:
        return name if ":" in name else f"{name}:latest"

    return norm(a) == norm(b)


__all__ = ["PENDING_DOCUMENT_ID", "IngestEngine", "IngestPipeline"]
