"""Ingest jobs: files handed to the engine's indexer queue, followed by id, cancellable.

Where this process runs the queue (the app, or ``allma serve`` alone on the library),
a job's files join the one queue the window and the watched folders use, and the job
follows their events. Otherwise (another process holds the queue) a job runs its own
ingest, as before the indexer existed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from allma_desktop.api.ingest_sources import remove_uploads
from allma_desktop.api.schemas import ErrorDetail, FileResultOut, IngestJobOut, JobStatus
from allma_desktop.cancel import CancelToken
from allma_desktop.errors import AllmaError, NotFound
from allma_desktop.events import (
    FileFinished,
    FileStarted,
    IngestEvent,
    IngestFinished,
    IngestProgress,
    IngestStarted,
)
from allma_desktop.indexer import FileEvent, IndexerEvent

if TYPE_CHECKING:
    from allma_desktop.orchestrator import Orchestrator

log = logging.getLogger(__name__)

KEEP_FINISHED_JOBS = 100
CANCEL_POLL_SECONDS = 0.2  # how often a job waiting on the queue looks for a cancel


@dataclass
class IngestJob:
    id: str
    collection_id: int | None
    created_at: datetime
    cancel: CancelToken = field(default_factory=CancelToken)
    status: JobStatus = "queued"
    files_total: int | None = None
    files_done: int = 0
    chunks_done: int = 0
    current_file: str | None = None
    eta_seconds: float | None = None
    results: list[FileFinished] = field(default_factory=list)
    error: AllmaError | None = None
    task: asyncio.Task[None] | None = None

    @property
    def over(self) -> bool:
        return self.status in ("finished", "cancelled", "failed")

    def apply(self, event: IngestEvent) -> None:
        if isinstance(event, IngestStarted):
            self.files_total = event.total_files + event.skipped
        elif isinstance(event, FileStarted):
            self.current_file = event.path
        elif isinstance(event, FileFinished):
            self.results.append(event)
        elif isinstance(event, IngestProgress):
            self.files_done = event.files_done
            self.chunks_done = event.chunks_done
            self.eta_seconds = event.eta_seconds
        elif isinstance(event, IngestFinished):
            self.current_file = None
            self.eta_seconds = None
            self.error = event.error
            if event.error is not None:
                self.status = "failed"
            else:
                self.status = "cancelled" if event.cancelled else "finished"

    def snapshot(self) -> IngestJobOut:
        return IngestJobOut(
            id=self.id,
            status=self.status,
            collection_id=self.collection_id,
            files_total=self.files_total,
            files_done=self.files_done,
            chunks_done=self.chunks_done,
            current_file=self.current_file,
            eta_seconds=self.eta_seconds,
            results=[FileResultOut.of(r) for r in self.results],
            error=ErrorDetail.of(self.error) if self.error else None,
            created_at=self.created_at,
        )


class IngestJobs:
    """Runs jobs one at a time (they share one embedding model) and remembers recent ones."""

    def __init__(self, on_change: Callable[[str], None] | None = None) -> None:
        self._jobs: dict[str, IngestJob] = {}
        self._one_at_a_time = asyncio.Lock()
        self._on_change = on_change

    def start(
        self,
        orchestrator: Orchestrator,
        files: Sequence[Path],
        collection_id: int | None,
        force: bool,
        uploads: bool = False,
    ) -> IngestJob:
        """Start indexing ``files``; ``uploads``: they are copies the API saved, removed
        again unless indexed (a failed upload does not stay on disk)."""
        self._forget_old()
        job = IngestJob(uuid.uuid4().hex, collection_id, datetime.now(UTC))
        self._jobs[job.id] = job
        job.task = asyncio.ensure_future(self._run(job, orchestrator, files, force, uploads))
        return job

    def get(self, job_id: str) -> IngestJob:
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(
                f"There is no ingest job '{job_id}'.",
                "Job ids come from POST /rag/ingest; finished jobs are forgotten after a while.",
            )
        return job

    def cancel(self, job_id: str) -> IngestJob:
        job = self.get(job_id)
        job.cancel.cancel()
        if job.status == "queued":
            job.status = "cancelled"
        return job

    async def close(self) -> None:
        """Cancel every job and wait for each to stop (the orchestrator keeps what was done)."""
        tasks = [job.task for job in self._jobs.values() if job.task and not job.task.done()]
        for job in self._jobs.values():
            job.cancel.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(
        self,
        job: IngestJob,
        orchestrator: Orchestrator,
        files: Sequence[Path],
        force: bool,
        uploads: bool,
    ) -> None:
        try:
            await self._run_job(job, orchestrator, files, force)
        finally:
            if uploads:
                kept = {r.path for r in job.results if r.status in ("indexed", "unchanged")}
                await asyncio.to_thread(remove_uploads, [f for f in files if str(f) not in kept])

    async def _run_job(
        self, job: IngestJob, orchestrator: Orchestrator, files: Sequence[Path], force: bool
    ) -> None:
        try:
            if orchestrator.indexer.started:
                await self._run_in_queue(job, orchestrator, files, force)
            else:
                await self._run_alone(job, orchestrator, files, force)
        except AllmaError as error:
            job.error, job.status = error, "failed"
        except Exception:
            log.exception("ingest job %s failed unexpectedly", job.id)
            job.error = AllmaError("Indexing failed unexpectedly.", "See the log file.")
            job.status = "failed"
        if self._on_change is not None:
            self._on_change("documents")

    async def _run_alone(
        self, job: IngestJob, orchestrator: Orchestrator, files: Sequence[Path], force: bool
    ) -> None:
        async with self._one_at_a_time:
            if job.cancel.cancelled:
                job.status = "cancelled"
                return
            job.status = "running"
            events = orchestrator.ingest(files, job.collection_id, job.cancel, force)
            async for event in events:
                job.apply(event)
            if not job.over:  # the stream ended without its IngestFinished
                job.status = "cancelled" if job.cancel.cancelled else "finished"

    async def _run_in_queue(
        self, job: IngestJob, orchestrator: Orchestrator, files: Sequence[Path], force: bool
    ) -> None:
        indexer = orchestrator.indexer
        collection = await asyncio.to_thread(orchestrator.collection, job.collection_id)
        added = await indexer.add_paths(files, collection.id, force=force)
        waiting = set(added.files)
        job.files_total = len(added.files) + len(added.skipped)
        for path, reason in added.skipped:
            job.results.append(FileFinished(path, "skipped", reason))
        job.status = "running"
        changed = asyncio.Event()

        def follow(event: IndexerEvent) -> None:
            if isinstance(event, FileEvent) and event.collection_id == collection.id:
                file_event = event.event
                if isinstance(file_event, FileStarted) and file_event.path in waiting:
                    job.current_file = file_event.path
                elif isinstance(file_event, FileFinished) and file_event.path in waiting:
                    waiting.discard(file_event.path)
                    job.results.append(file_event)
                    job.files_done += 1
                    job.chunks_done += file_event.chunks
            changed.set()

        unsubscribe = indexer.subscribe(follow)
        try:
            while waiting:
                if job.cancel.cancelled:
                    await indexer.forget(waiting, collection.id)
                    job.status = "cancelled"
                    return
                if indexer.paused and indexer.pause_reason is not None:
                    job.error, job.status = indexer.pause_reason, "failed"  # they stay queued
                    return
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), CANCEL_POLL_SECONDS)
        finally:
            unsubscribe()
        job.current_file = None
        job.status = "finished"

    def _forget_old(self) -> None:
        finished = [job for job in self._jobs.values() if job.over]
        for job in finished[: max(0, len(finished) - KEEP_FINISHED_JOBS)]:
            del self._jobs[job.id]
