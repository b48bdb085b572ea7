"""Ending a file once the stages are done with it: committed, taken back out, or abandoned.

The pipeline's generator calls these in file order, at the consumer's pace, so a cancel
given on one file's ``FileFinished`` stops before the next file is committed.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from allma_desktop.errors import AllmaError
from allma_desktop.events import FileFinished
from allma_desktop.ingest.run import FATAL_ERRORS, FileJob, Run
from allma_desktop.ingest.store import discard_vectors
from allma_desktop.library_counts import CANCELLED_REASON
from allma_desktop.pathnames import display_path

if TYPE_CHECKING:
    from allma_desktop.ingest.orchestrator_view import OrchestratorView

log = logging.getLogger(__name__)


async def finish_file(orchestrator: OrchestratorView, run: Run, job: FileJob) -> FileFinished:
    """Commit a file whose vectors are all stored, or take a failed one back out."""
    if job.finished is not None:
        return job.finished
    path, metadata = job.path, job.metadata
    assert metadata is not None and job.document_id is not None
    library, key = orchestrator.library, run.collection.key
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
        await discard_vectors(orchestrator, key, job.stored)
        await _mark_failed(orchestrator, job, error.message)
        return FileFinished(str(path), "failed", error.message, job.document_id, error=error)
    stale = job.old_chunk_ids - {c.chunk_id for c in job.chunks}
    if stale:
        await discard_vectors(orchestrator, key, sorted(stale))
    return FileFinished(
        str(path), "indexed", "", job.document_id, len(job.chunks), metadata.page_count
    )


async def abandon_file(orchestrator: OrchestratorView, run: Run, job: FileJob) -> FileFinished:
    """A file still in flight when the run stopped: cancelled, or failed by the fatal error."""
    if job.finished is not None:
        return job.finished
    fatal = run.fatal
    reason = CANCELLED_REASON if fatal is None else fatal.message
    await discard_vectors(orchestrator, run.collection.key, job.stored)
    if job.document_id is None and fatal is None and job.existing is None:
        # Cancelled before its row was started: one is made now, so that every view counts
        # it as cancelled (library_counts), as it shows, and Re-index can take it again.
        try:
            record = await asyncio.to_thread(
                orchestrator.library.start_document, run.collection.id, str(job.path)
            )
            job.document_id = record.id
        except AllmaError as error:
            log.warning("could not record %s as cancelled: %s", display_path(job.path), error)
    await _mark_failed(orchestrator, job, reason)
    return FileFinished(str(job.path), "failed", reason, job.document_id, error=fatal)


async def _mark_failed(orchestrator: OrchestratorView, job: FileJob, reason: str) -> None:
    """Mark the file's row failed, if it has one. The fault that failed the file (a full
    disk) can stop this write too: the row then stays as it was, which the next start's
    repair marks interrupted; the first error is the one to report, and the other files
    still get settled."""
    if job.document_id is None:
        return
    try:
        await asyncio.to_thread(orchestrator.library.mark_failed, job.document_id, reason)
    except AllmaError as error:
        log.warning("could not mark %s failed: %s", display_path(job.path), error.message)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
