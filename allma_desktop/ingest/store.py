"""Stage 3, store: vectors written in a worker thread, several files' worth per call.

Also ``discard_vectors``, which takes vectors back out of the store when a file fails,
is abandoned or leaves stale chunks behind.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from allma_desktop.errors import AllmaError
from allma_desktop.ingest.run import FATAL_ERRORS, Part, Run

if TYPE_CHECKING:
    from allma_desktop.ingest.orchestrator_view import OrchestratorView
    from allma_desktop.services.vectorstore.base import VectorStore

log = logging.getLogger(__name__)

# Every store call costs ~10-20 ms on top of its chunks (Chroma commits its log and
# index, the chunks cross to the store's process), so a call waits until this many
# chunks are embedded, the files are done, or its first chunks have waited
# STORE_MAX_WAIT_SECONDS: with a slow embedder files still turn ready as they are
# embedded, and with a fast one the store makes a few large calls, not many small ones.
STORE_CALL_CHUNKS = 1_000
STORE_MAX_WAIT_SECONDS = 0.25


async def store_stage(
    orchestrator: OrchestratorView, run: Run, store_queue: asyncio.Queue[list[Part] | None]
) -> None:
    """Write the vectors of ``store_queue`` until its ``None``; each file's job is told."""
    store, key = orchestrator.store, run.collection.key
    last = False
    while not last:
        parts: list[Part] = []
        deadline = 0.0
        while not last and sum(len(p.chunks) for p in parts) < STORE_CALL_CHUNKS:
            taken = await run.unless_stopped(_take(store_queue, deadline if parts else None))
            if taken is _WAITED:
                break
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
            await _store_each_file(store, key, writing)
        for part in parts:
            part.job.parts_done += 1
            run.ready_if_done(part.job)


async def _store_each_file(store: VectorStore, key: str, parts: list[Part]) -> None:
    """After a merged write failed: write file by file, so only the bad file fails."""
    by_job: dict[int, list[Part]] = {}
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


class _Waited:
    """What ``_take`` returns when its deadline passed with nothing queued."""


_WAITED = _Waited()


async def _take(
    queue: asyncio.Queue[list[Part] | None], deadline: float | None
) -> list[Part] | _Waited | None:
    """The next item of ``queue``; with a ``time.monotonic()`` deadline, ``_WAITED``
    once it passes."""
    if deadline is None or not queue.empty():
        return await queue.get()
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return _WAITED
    getter = asyncio.ensure_future(queue.get())
    try:
        await asyncio.wait({getter}, timeout=remaining)
    finally:
        if not getter.done():
            getter.cancel()  # Queue.get leaves the item queued when cancelled
            await asyncio.gather(getter, return_exceptions=True)
    if getter.cancelled():
        return _WAITED
    return getter.result()


def _add_parts(store: VectorStore, key: str, parts: Sequence[Part]) -> None:
    """One store call for the chunks of several files."""
    if not parts:
        return
    chunks = [chunk for part in parts for chunk in part.chunks]
    vectors = [vector for part in parts for vector in part.vectors]
    store.add(key, chunks, vectors)


async def discard_vectors(
    orchestrator: OrchestratorView, key: str, chunk_ids: Sequence[str]
) -> None:
    """Remove ``chunk_ids`` from the store; a failure is logged, never raised."""
    if not chunk_ids:
        return
    store = orchestrator.store
    try:
        await asyncio.shield(asyncio.to_thread(store.delete_chunks, key, list(chunk_ids)))
    except AllmaError as exc:
        # The doctor removes vectors without a committed row; never hide the first error.
        log.warning("Could not remove %d vectors: %s", len(chunk_ids), exc)
