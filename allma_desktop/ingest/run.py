"""The state one ``ingest`` call shares between its stages, and how a run stops.

The prepare, embed and store stages and the finisher each hold the same ``Run`` and
pass ``FileJob`` objects along; keeping the shared state here lets every stage live
in a module of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from allma_desktop.cancel import CancelToken
from allma_desktop.errors import AllmaError, DiskFull, OllamaError, StoreNotWritable
from allma_desktop.events import FileFinished, IngestEvent
from allma_desktop.services.documents.model import Chunk, DocumentMetadata

if TYPE_CHECKING:
    from allma_desktop.records import CollectionRecord, DocumentRecord

T = TypeVar("T")

FATAL_ERRORS = (OllamaError, StoreNotWritable, DiskFull)  # would fail every file alike


@dataclass(eq=False)
class FileJob:
    """One file on its way through the stages."""

    path: Path
    index: int
    force: bool = False  # index it even when unchanged
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
    signalled: bool = False  # nothing of it is in flight any more; Ready is queued
    ready: bool = False  # the finisher has seen that Ready


@dataclass(frozen=True)
class Part:
    """A slice of one file's chunks with their vectors, on its way to the store."""

    job: FileJob
    chunks: Sequence[Chunk]
    vectors: Sequence[Sequence[float]]


@dataclass(frozen=True)
class Ready:
    """Marker on the event queue: ``job`` can be finished."""

    job: FileJob


Item = IngestEvent | Ready | None  # None: a stage stopped (wakes the finisher)


class Stopped(Exception):
    """An abandonable wait ended because the run is stopping."""


class Run:
    """The state of one ``ingest`` call, shared by its stages."""

    def __init__(self, collection: CollectionRecord, cancel: CancelToken, total: int) -> None:
        self.collection = collection
        self.cancel = cancel
        self.total = total  # files known so far (a growing source adds to it)
        self.events: asyncio.Queue[Item] = asyncio.Queue()
        self.order: deque[FileJob] = deque()  # started and not yet finished, in file order
        self.stopping = asyncio.Event()
        self.fatal: AllmaError | None = None
        self.crash: BaseException | None = None
        self.prepare_done = False
        self.dimension_checked = False
        # Set while the prepare stage waits for its source with nothing in flight (an
        # idle indexer): the embedder then sends a partial batch instead of waiting on.
        self._source_idle = False
        self._idle_waiters: list[asyncio.Future[None]] = []  # see ``when_source_idle``
        self.getter: asyncio.Future[Item] | None = None  # a pending read of ``events``

        # Done when the run stops: what ``unless_stopped`` waits on beside its work (one
        # future for the run, not a task per wait: each costs the loop wake-ups, per file).
        self._stopped: asyncio.Future[None] | None = None

    def emit(self, item: Item) -> None:
        self.events.put_nowait(item)

    def stop(self, fatal: AllmaError | None = None) -> None:
        if fatal is not None and self.fatal is None:
            self.fatal = fatal
        self.stopping.set()
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)
        self.emit(None)

    def stopped(self) -> asyncio.Future[None]:
        """A future done once the run stops (one per run, for ``asyncio.wait`` sets)."""
        if self._stopped is None:
            self._stopped = asyncio.get_running_loop().create_future()
            if self.stopping.is_set():
                self._stopped.set_result(None)
        return self._stopped

    def set_source_idle(self, idle: bool) -> None:
        self._source_idle = idle
        if not idle:
            return
        waiters, self._idle_waiters = self._idle_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def when_source_idle(self) -> asyncio.Future[None]:
        """A future done once the source is idle (a plain future to wait beside others:
        an ``asyncio.Event.wait()`` there would need a task of its own, per file)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._source_idle:
            waiter.set_result(None)
        else:
            self._idle_waiters = [w for w in self._idle_waiters if not w.done()]
            self._idle_waiters.append(waiter)
        return waiter

    def stop_when_cancelled(self) -> Callable[[], None]:
        """Stop as soon as the user cancels, from whichever thread they do (rather than
        looking at the token on a timer); returns what takes that back."""
        loop = asyncio.get_running_loop()

        def on_cancel() -> None:
            with contextlib.suppress(RuntimeError):  # a closed loop: nothing runs to stop
                loop.call_soon_threadsafe(self._stop_for_cancel)

        return self.cancel.on_cancel(on_cancel)

    def _stop_for_cancel(self) -> None:
        if not self.stopping.is_set():
            self.stop()

    async def unless_stopped(self, awaitable: Awaitable[T]) -> T:
        """``awaitable``'s result, or ``Stopped`` as soon as the run is stopping."""
        work = asyncio.ensure_future(awaitable)
        if self.stopping.is_set():
            work.cancel()
            raise Stopped
        try:
            either: set[asyncio.Future[Any]] = {work, self.stopped()}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not work.done():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
        if work.cancelled():
            raise Stopped
        return work.result()

    def mark_all_sent(self, job: FileJob) -> None:
        job.all_sent = True
        self.ready_if_done(job)

    def ready_if_done(self, job: FileJob) -> None:
        if job.all_sent and job.parts_done == job.parts_sent and not job.signalled:
            # ``ready`` is set when the finisher reads this marker, behind the file's
            # other queued events: its FileFinished must not overtake them.
            job.signalled = True
            self.emit(Ready(job))
