"""Stage 1, prepare: hash, skip unchanged files, parse and chunk, start each file's row.

Everything a file needs before its chunks can be embedded; parsing runs in the parse
worker process, a few files ahead, so this stage rarely holds up the embedder.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from allma_desktop.errors import DocumentError
from allma_desktop.events import FileFinished, FileParsed, FileStarted, PageRecognised
from allma_desktop.ingest.feed import FeedItem, FileSource
from allma_desktop.ingest.run import FileJob, Ready, Run
from allma_desktop.services.documents.files import unreadable_file
from allma_desktop.services.documents.model import Chunk, DocumentMetadata

if TYPE_CHECKING:
    from allma_desktop.ingest.orchestrator_view import OrchestratorView
    from allma_desktop.records import DocumentRecord

ParseResult = tuple[DocumentMetadata, list[Chunk]]
PageCallback = Callable[[int, int], None]
ParseAndChunk = Callable[[Path, PageCallback | None], Awaitable[ParseResult]]

PENDING_DOCUMENT_ID = "pending"  # chunks are cut before the document row exists
PARSE_AHEAD = 2  # files queued to the parse worker beyond the one the prepare stage awaits


async def prepare_stage(
    orchestrator: OrchestratorView,
    run: Run,
    source: FileSource,
    embed_queue: asyncio.Queue[FileJob | None],
    parse_and_chunk: ParseAndChunk,
) -> None:
    """Feed ``embed_queue`` with parsed files in order, then ``None``.

    Files come from ``source``, which may grow while the run goes on (the indexer's
    queue). ``parse_and_chunk`` is the pipeline's method, so that a benchmark can time it.
    """
    # Up to PARSE_AHEAD files are queued to the parse worker beyond the one awaited,
    # so it reads on while this process is busy (a store write holds the GIL).
    parsing: deque[tuple[FileJob, asyncio.Future[ParseResult]]] = deque()
    index = 0
    try:
        while True:
            while len(parsing) <= PARSE_AHEAD:
                if run.stopping.is_set() or run.cancel.cancelled:
                    return
                item = source.poll() if parsing else await _wait_for_file(run, source)
                if item is None:
                    break
                index += 1
                run.total = max(run.total, index)
                job = FileJob(item.path, index, force=item.force)
                run.order.append(job)
                run.emit(FileStarted(str(item.path), index, run.total))
                existing = await _check(orchestrator, run, job)
                if job.finished is not None:
                    run.emit(Ready(job))
                    continue
                job.existing = existing
                parse = parse_and_chunk(item.path, _page_progress(run, item.path))
                parsing.append((job, asyncio.ensure_future(parse)))
            if not parsing:
                break
            job, parse = parsing.popleft()
            await _prepare(orchestrator, run, job, parse)
            if job.finished is not None:
                run.emit(Ready(job))
                continue
            assert job.metadata is not None
            run.emit(FileParsed(str(job.path), job.metadata.page_count, len(job.chunks)))
            await _hand_on(run, embed_queue, job)
        await _hand_on(run, embed_queue, None)
    finally:
        for _, parse in parsing:  # cancelling drops the queued request
            parse.cancel()
        if parsing:
            await asyncio.gather(*(parse for _, parse in parsing), return_exceptions=True)
        run.prepare_done = True
        run.emit(None)


async def _hand_on(
    run: Run, embed_queue: asyncio.Queue[FileJob | None], job: FileJob | None
) -> None:
    """Queue ``job`` for the embedder, waiting (unless the run stops) only when it is full:
    a wait costs the loop a task and its wake-ups, per file."""
    if embed_queue.full():
        await run.unless_stopped(embed_queue.put(job))
    else:
        embed_queue.put_nowait(job)


async def _wait_for_file(run: Run, source: FileSource) -> FeedItem | None:
    """The source's next file, telling the embedder meanwhile that nothing else is coming."""
    item = source.poll()
    if item is not None:
        return item
    run.set_source_idle(True)
    try:
        return await run.unless_stopped(source.next())
    finally:
        run.set_source_idle(False)


async def _check(orchestrator: OrchestratorView, run: Run, job: FileJob) -> DocumentRecord | None:
    """Hash the file and end it as ``unchanged`` (or unreadable) already; its row if any."""
    path, collection = job.path, run.collection

    def hash_and_look_up() -> tuple[str, DocumentRecord | None]:
        # One worker-thread hop for both, as every SQLite call here (the app's window runs
        # this loop): a hop costs the loop a wake-up, per file.
        content_hash = orchestrator.documents.hash_file(path)
        return content_hash, orchestrator.library.document_by_path(collection.id, str(path))

    try:
        content_hash, existing = await asyncio.to_thread(hash_and_look_up)
    except OSError as exc:
        error = unreadable_file(path, exc)
        job.finished = FileFinished(str(path), "failed", _reason(error), error=error)
        return None
    if (
        existing is not None
        and not job.force
        and existing.status == "ready"
        and existing.content_hash == content_hash
    ):
        job.finished = FileFinished(
            str(path), "unchanged", "", existing.id, existing.chunk_count, existing.page_count
        )
    return existing


async def _prepare(
    orchestrator: OrchestratorView, run: Run, job: FileJob, parse: asyncio.Future[ParseResult]
) -> None:
    """Take the file's parse and start its row: all before embedding."""
    library = orchestrator.library
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
    version = metadata.content_hash[:8]

    def start_row() -> tuple[str | None, list[Chunk], set[str]]:
        record = library.start_document(
            collection.id, str(path), title=metadata.title, file_type=metadata.file_type
        )
        # Versioned ids: a changed file's new chunks never collide with its old ones,
        # so the old ones stay searchable until the new ones are fully stored. In the
        # worker thread too: a 1,000-page PDF has ~2,000 chunks, ~20 ms of the event loop.
        with_ids = _with_ids(chunks, record.id, version)
        return record.id, with_ids, library.document_chunk_ids(record.id)

    job.document_id, job.chunks, job.old_chunk_ids = await asyncio.to_thread(start_row)
    job.metadata = metadata


def _with_ids(chunks: list[Chunk], document_id: str, version: str) -> list[Chunk]:
    return [
        replace(c, document_id=document_id, chunk_id=f"{document_id}:{version}:{c.index}")
        for c in chunks
    ]


async def parse_and_chunk(
    orchestrator: OrchestratorView, path: Path, on_page: PageCallback | None = None
) -> ParseResult:
    """Parse and chunk in the parse worker process, under its per-file time limit;
    ``on_page(page, pages)`` is called on this loop before OCR reads a page."""
    documents = orchestrator.documents
    return await orchestrator.parse_worker.parse_and_chunk(
        path,
        chunk_size=documents.chunk_size,
        chunk_overlap=documents.chunk_overlap,
        document_id=PENDING_DOCUMENT_ID,
        on_page=on_page,
    )


def _page_progress(run: Run, path: Path) -> PageCallback:
    def page_recognised(page: int, pages: int) -> None:
        if not run.stopping.is_set():
            run.emit(PageRecognised(str(path), page, pages))

    return page_recognised


def _reason(error: DocumentError) -> str:
    return error.message.split(": ", 1)[-1] if ": " in error.message else error.reason
