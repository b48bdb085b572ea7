"""Stage 2, embed: batches of chunks filled across file boundaries, one request at a time.

Also the check that a collection's vectors all come from one embedding model, which the
single-document path (``reembed``) shares.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from allma_desktop.errors import AllmaError
from allma_desktop.events import EmbedProgress
from allma_desktop.ingest.run import FATAL_ERRORS, FileJob, Part, Run, Stopped
from allma_desktop.services.documents.chunking import prefix_for_embedding
from allma_desktop.services.retrieval.rag import embedding_document_text

if TYPE_CHECKING:
    from allma_desktop.ingest.orchestrator_view import OrchestratorView
    from allma_desktop.records import CollectionRecord


async def embed_stage(
    orchestrator: OrchestratorView,
    run: Run,
    embed_queue: asyncio.Queue[FileJob | None],
    store_queue: asyncio.Queue[list[Part] | None],
) -> None:
    """Embed the files of ``embed_queue`` into ``store_queue``, then put ``None`` there."""
    model = orchestrator.config.ollama_embedding_model
    size = orchestrator.config.embed_batch_size
    waiting: deque[tuple[FileJob, int]] = deque()  # files with chunks left, next offset
    source_done = False
    while True:
        slices: list[tuple[FileJob, int, int]] = []
        count = 0
        while count < size:
            if not waiting:
                if source_done:
                    break
                # A partial batch waits for the next file: one request fewer, and the
                # parser is then the slower stage anyway (or it would be ready). Not when
                # the source has run dry for now (an idle indexer): then it goes out.
                job = await _next_job(run, embed_queue, partial=count > 0)
                if job is _SOURCE_IDLE:
                    break
                if job is None:
                    source_done = True
                    break
                assert isinstance(job, FileJob)
                waiting.append((job, 0))
            job, offset = waiting[0]
            if job.error is not None or offset == len(job.chunks):
                waiting.popleft()
                run.mark_all_sent(job)
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
        vectors = await run.unless_stopped(orchestrator.llm.embed(model, texts))
        try:
            await _check_dimension_once(orchestrator, run, vectors)
        except FATAL_ERRORS:
            raise
        except AllmaError as exc:
            for job, _, _ in slices:
                job.error = job.error or exc
                if not any(job is waiting_job for waiting_job, _ in waiting):
                    run.mark_all_sent(job)
            continue
        parts: list[Part] = []
        position = 0
        for job, start, end in slices:
            parts.append(
                Part(job, job.chunks[start:end], vectors[position : position + end - start])
            )
            position += end - start
            job.parts_sent += 1
        # Progress goes out before the store can finish the file (per-file order).
        for job, _, end in slices:
            run.emit(EmbedProgress(str(job.path), end, len(job.chunks)))
            job.all_sent = end == len(job.chunks)
        await run.unless_stopped(store_queue.put(parts))


class _SourceIdle:
    """Marker: no file is coming for now."""


_SOURCE_IDLE = _SourceIdle()


async def _next_job(
    run: Run, embed_queue: asyncio.Queue[FileJob | None], *, partial: bool
) -> FileJob | _SourceIdle | None:
    """The next parsed file; with a partial batch, ``_SOURCE_IDLE`` once the source is idle;
    ``Stopped`` once the run stops. One task (the queue read) beside plain futures: the
    embedder waits here once per small file."""
    if not embed_queue.empty():
        return embed_queue.get_nowait()
    getter = asyncio.ensure_future(embed_queue.get())
    waits: set[asyncio.Future[Any]] = {getter, run.stopped()}
    idle = run.when_source_idle() if partial else None
    if idle is not None:
        waits.add(idle)
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if idle is not None:
            idle.cancel()
        if not getter.done():
            getter.cancel()
    if getter.done() and not getter.cancelled():
        return getter.result()  # a file that came with the stop or the idle is not lost
    if run.stopping.is_set():
        raise Stopped
    return _SOURCE_IDLE


async def _check_dimension_once(
    orchestrator: OrchestratorView, run: Run, vectors: Sequence[Sequence[float]]
) -> None:
    if run.dimension_checked or not vectors:
        return
    await check_embedding_dimension(orchestrator, run.collection, vectors)
    run.dimension_checked = True


async def check_embedding_dimension(
    orchestrator: OrchestratorView,
    collection: CollectionRecord,
    embeddings: Sequence[Sequence[float]],
) -> None:
    """Record the model and vector size on an empty collection; refuse a different one."""
    if not embeddings:
        return
    dimension = len(embeddings[0])
    model = orchestrator.config.ollama_embedding_model
    library = orchestrator.library
    if collection.embedding_model is None or collection.chunk_count == 0:
        await asyncio.to_thread(library.set_embedding, collection.id, model, dimension)
        return
    if collection.embedding_dim != dimension or not _same_model(collection.embedding_model, model):
        raise AllmaError(
            f"The collection '{collection.name}' was indexed with the embedding model "
            f"'{collection.embedding_model}' ({collection.embedding_dim} dimensions), "
            f"not '{model}' ({dimension}).",
            f"Switch the embedding model back to '{collection.embedding_model}', "
            "or re-index the collection with the new model.",
        )


def _same_model(a: str, b: str) -> bool:
    def norm(name: str) -> str:
        return name if ":" in name else f"{name}:latest"

    return norm(a) == norm(b)
