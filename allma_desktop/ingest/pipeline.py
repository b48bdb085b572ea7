"""``IngestPipeline``: starts the stages of one ingest as tasks and finishes files in order.

The stages themselves are in ``prepare``, ``embed`` and ``store``; this module wires
their queues, turns their events into the one stream the orchestrator yields, and stops
them together (see the package docstring for the design).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Sequence
from contextlib import aclosing
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from allma_desktop.cancel import CancelToken
from allma_desktop.events import (
    FileFinished,
    IngestEvent,
    IngestFinished,
    IngestProgress,
    IngestStarted,
)
from allma_desktop.ingest import embed, prepare, store
from allma_desktop.ingest.feed import FileFeed, FileSource
from allma_desktop.ingest.finish import abandon_file, finish_file
from allma_desktop.ingest.paths import expand_paths
from allma_desktop.ingest.run import FATAL_ERRORS, FileJob, Item, Part, Ready, Run, Stopped
from allma_desktop.ingest.store import STORE_CALL_CHUNKS

if TYPE_CHECKING:
    from allma_desktop.ingest.orchestrator_view import OrchestratorView
    from allma_desktop.records import CollectionRecord

LOOKAHEAD = 2  # files parsed ahead of the embedder
# Embedded chunks queued for the store (a memory bound): a call's worth, so that the
# embedder, and behind it the parser, carry on while the store writes the last call.
STORE_BACKLOG_CHUNKS = STORE_CALL_CHUNKS


class IngestPipeline:
    """Indexes files for an orchestrator; see the package docstring for the stages."""

    def __init__(self, orchestrator: OrchestratorView) -> None:
        self.orchestrator = orchestrator

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
        orchestrator = self.orchestrator
        collection = orchestrator.collection(collection_id)
        await asyncio.to_thread(orchestrator.store.ensure_collection, collection.key)
        files, skipped = await asyncio.to_thread(expand_paths, self.orchestrator.documents, paths)
        yield IngestStarted(total_files=len(files), skipped=len(skipped))
        results: list[FileFinished] = []
        for path, reason in skipped:
            skipped_result = FileFinished(str(path), "skipped", reason)
            results.append(skipped_result)
            yield skipped_result
        events = self.ingest_from(FileFeed.of(files, force), collection, cancel, len(files))
        async with aclosing(events):
            async for event in events:
                if isinstance(event, IngestFinished):
                    event = replace(event, results=tuple(results) + event.results)
                yield event

    async def ingest_from(
        self,
        source: FileSource,
        collection: CollectionRecord,
        cancel: CancelToken | None = None,
        expected_files: int = 0,
    ) -> AsyncGenerator[IngestEvent, None]:
        """Index the files ``source`` gives until it runs out: the one run behind both
        ``ingest`` and the indexer, whose source grows while the run goes on.

        Yields the per-file events and ``IngestProgress``, then ``IngestFinished`` with
        the results of these files (no ``IngestStarted``: the caller says what starts).
        """
        orchestrator = self.orchestrator
        cancel = cancel or CancelToken()
        results: list[FileFinished] = []
        run = Run(collection, cancel, expected_files)
        forget_cancel = run.stop_when_cancelled()
        batch_size = orchestrator.config.embed_batch_size
        embed_queue: asyncio.Queue[FileJob | None] = asyncio.Queue(LOOKAHEAD)
        store_queue: asyncio.Queue[list[Part] | None] = asyncio.Queue(
            max(2, STORE_BACKLOG_CHUNKS // batch_size)
        )
        stages = [
            asyncio.ensure_future(
                self._stage(
                    run,
                    prepare.prepare_stage(
                        orchestrator, run, source, embed_queue, self.parse_and_chunk
                    ),
                )
            ),
            asyncio.ensure_future(
                self._stage(run, embed.embed_stage(orchestrator, run, embed_queue, store_queue))
            ),
            asyncio.ensure_future(
                self._stage(run, store.store_stage(orchestrator, run, store_queue))
            ),
        ]
        started = time.monotonic()
        chunks_done = 0
        files_done = 0
        try:
            while True:
                received, item = await self._next_item(run)
                if not received:
                    break
                if isinstance(item, Ready):
                    item.job.ready = True
                elif item is not None:
                    yield item
                while run.order and run.order[0].ready and not run.stopping.is_set():
                    result = await finish_file(orchestrator, run, run.order.popleft())
                    results.append(result)
                    files_done += 1
                    chunks_done += result.chunks
                    yield result
                    elapsed = time.monotonic() - started
                    eta = elapsed / files_done * max(run.total - files_done, 0)
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
                result = await abandon_file(orchestrator, run, run.order.popleft())
                results.append(result)
                files_done += 1
                chunks_done += result.chunks
                yield result
                yield IngestProgress(files_done, run.total, chunks_done, 0.0)
        finally:
            # The consumer went away (or the task was cancelled): leave no half document.
            forget_cancel()
            await self._end_stages(run, stages)
            if run.getter is not None:
                run.getter.cancel()
            while run.order:
                await abandon_file(orchestrator, run, run.order.popleft())
        if run.crash is not None:
            raise run.crash
        yield IngestFinished(tuple(results), cancelled=cancel.cancelled, error=run.fatal)

    async def _next_item(self, run: Run) -> tuple[bool, Item]:
        """(True, the stages' next item), or (False, None) once the run is stopping.

        A cancel stops the run (``Run.stop_when_cancelled``), which queues a None, so the
        wait needs no timeout to notice it. The read outlives this call (``run.getter``),
        so an item is not lost when the consumer goes away mid-wait.
        """
        if run.cancel.cancelled and not run.stopping.is_set():
            run.stop()
        if run.stopping.is_set():
            return False, None
        if run.getter is None:
            if not run.events.empty():  # no task and wake-ups when one is already there
                return True, run.events.get_nowait()
            run.getter = asyncio.ensure_future(run.events.get())
        await asyncio.wait({run.getter})
        item, run.getter = run.getter.result(), None
        return True, item

    def _left_over(self, run: Run) -> list[IngestEvent]:
        """Events still queued once the stages have ended (markers dropped)."""
        items: list[Item] = []
        getter, run.getter = run.getter, None
        if getter is not None:
            if getter.done() and not getter.cancelled():
                items.append(getter.result())
            else:
                getter.cancel()
        while not run.events.empty():
            items.append(run.events.get_nowait())
        return [item for item in items if item is not None and not isinstance(item, Ready)]

    async def _stage(self, run: Run, work: Awaitable[None]) -> None:
        """Run a stage; a fatal error or a bug stops the whole run."""
        try:
            await work
        except Stopped:
            pass
        except FATAL_ERRORS as exc:
            run.stop(exc)
        except Exception as exc:
            run.crash = exc
            run.stop()

    async def _end_stages(self, run: Run, stages: Sequence[asyncio.Future[None]]) -> None:
        if not all(stage.done() for stage in stages):
            run.stop()
        # Stages end promptly on stop; a vector write in flight is let finish, so that
        # nothing is written after its ids are discarded.
        await asyncio.shield(asyncio.gather(*stages, return_exceptions=True))

    # --- a stage's step, an attribute so the benchmarks can time it ------------------

    async def parse_and_chunk(
        self, path: Path, on_page: prepare.PageCallback | None = None
    ) -> prepare.ParseResult:
        """Parse and chunk in the parse worker process, under its per-file time limit."""
        return await prepare.parse_and_chunk(self.orchestrator, path, on_page)
