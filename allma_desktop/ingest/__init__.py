"""Ingestion as stages that overlap, so no part of the machine waits on another.

``IngestPipeline.ingest`` (``pipeline``) runs three stages as tasks on the event loop
and yields their events as one stream:

1. *prepare* (``prepare``) hashes each file, skips it when unchanged, parses and chunks
   it in the parse worker process and starts its row, up to ``LOOKAHEAD`` files ahead
   of 2; it queues ``PARSE_AHEAD`` more files to the worker than the one it awaits, so
   the worker reads on while this process is busy;
2. *embed* (``embed``) sends batches of ``embed_batch_size`` chunks across file
   boundaries (a file's last, partial batch is topped up from the next file), one
   request at a time, so a run makes ceil(chunks / batch size) requests;
3. *store* (``store``) writes vectors in a worker thread, several files' worth per call:
   it waits for ``STORE_CALL_CHUNKS`` chunks, the end, or ``STORE_MAX_WAIT_SECONDS``
   after its first chunks (each call has a fixed cost in the store's process).

The generator itself finishes files (``finish``), in order: it commits a file's chunk
rows (which turns it ``ready`` in the same transaction) once all its vectors are stored,
then yields its ``FileFinished``. Committing on the consumer's pace means that a cancel
given on a ``FileFinished`` stops before the next file is committed. A file that fails,
or is still in flight at a cancel, has its vectors taken back out.

The stages share one ``Run`` (``run``); ``paths`` expands folders and ``reembed`` embeds
single documents for the orchestrator's move and re-embed operations.
"""

from allma_desktop.ingest.orchestrator_view import OrchestratorView
from allma_desktop.ingest.pipeline import IngestPipeline
from allma_desktop.ingest.prepare import PENDING_DOCUMENT_ID

__all__ = ["PENDING_DOCUMENT_ID", "IngestPipeline", "OrchestratorView"]
