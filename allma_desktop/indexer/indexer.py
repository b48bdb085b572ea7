"""``Indexer``: the one queue of files to index, and the watched folders that feed it.

Every front end (the window, ``allma sync`` and ``allma watch run``, the local API) adds
files and folders here and listens to its events; none keeps a queue of its own. The
queue lives in the library's database, so a crash loses nothing: at the next start the
files still queued are indexed, and a file committed just before the crash is found
unchanged by its hash. The queue feeds one long ingest run a stream of files
(``IngestPipeline.ingest_from``), so embedding batches fill across files and the parser
reads ahead across the whole queue, however the files arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Iterable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from allma_desktop.cancel import CancelToken
from allma_desktop.errors import AllmaError, Conflict, NotFound
from allma_desktop.events import FileFinished, FileStarted, IngestFinished
from allma_desktop.indexer.events import (
    BatchFinished,
    DocumentsChanged,
    FileEvent,
    FoldersChanged,
    FolderState,
    IndexerEvent,
    QueueChanged,
    SyncReport,
    WatchedFolderRecord,
    is_inside,
)
from allma_desktop.indexer.home import (
    LoopStopped,
    LoopThread,
    Mailboxes,
    on_home_loop,
    running_loop_or_none,
)
from allma_desktop.indexer.lock import QueueLock
from allma_desktop.indexer.scan import FoundFile, ScanResult, scan_folder
from allma_desktop.indexer.state import IndexerState, QueueItem
from allma_desktop.indexer.watch import SETTLE_SECONDS, FolderWatcher
from allma_desktop.ingest.feed import FeedItem
from allma_desktop.ingest.paths import expand_paths
from allma_desktop.ingest.run import FATAL_ERRORS
from allma_desktop.library_counts import CANCELLED_REASON
from allma_desktop.malloc_arenas import FreeMemoryGiver
from allma_desktop.services.library.catalog import normalize_path
from allma_desktop.services.library.storage import utc_now

if TYPE_CHECKING:
    from allma_desktop.orchestrator import Orchestrator

log = logging.getLogger(__name__)

FOLDER_CHECK_SECONDS = 2.0  # how often watched folders are looked for (unplugged drives)
RUN_LINGER_SECONDS = 0.5  # a run waits this long for more files before it ends
DEQUEUE_EVERY = 200  # finished files written off the queue per transaction (or at the end)
FOLDER_COUNTS_INTERVAL = 1.0  # seconds between the folders' pending counts while indexing
SETTLE_POLL_SECONDS = 0.1  # how often ``sync(wait=True)`` looks at files still being written

Listener = Callable[[IndexerEvent], None]
BatchListener = Callable[[Sequence[IndexerEvent]], None]


@dataclass
class AddResult:
    files: list[str] = field(default_factory=list)  # every file to index, queued before or now
    queued: list[str] = field(default_factory=list)  # those queued by this call
    already_queued: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


class Indexer:
    """Create it with an opened orchestrator; ``await start()`` to run the queue."""

    def __init__(self, orchestrator: Orchestrator) -> None:
        self._orchestrator = orchestrator
        self._state = IndexerState(orchestrator.library.db)
        self._lock = QueueLock(orchestrator.config.data_dir)
        self._queue: deque[QueueItem] = deque()
        self._keys: set[tuple[int, str, str]] = set()  # (collection, path, kind) queued
        self._in_flight: dict[tuple[int, str], QueueItem] = {}
        self._memory = FreeMemoryGiver()  # the C heaps' free pages, given back while it syncs
        self._mailboxes = Mailboxes()
        self._home: asyncio.AbstractEventLoop | None = None  # the loop it runs on, once started
        self._thread: LoopThread | None = None  # with ``own_thread``: that loop's thread
        self._folders_lock = threading.Lock()  # folders() is read from other threads
        self._folders: list[WatchedFolderRecord] = []
        self._problems: dict[int, tuple[tuple[str, str], ...]] = {}
        self._scanning: set[int] = set()
        self._applying = 0  # the watcher's settled changes on their way to the queue
        self._paused = False
        self._pause_reason: AllmaError | None = None
        self._running = False
        self._cancel: CancelToken | None = None
        self._queue_changed = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: list[asyncio.Task[Any]] = []
        self._watcher: FolderWatcher | None = None
        self._started = False
        self._batch = _BatchCounts()
        self._sync_lock = asyncio.Lock()
        # Which watched folder each queued item is in (-1: none), by item id, for the
        # folders' pending counts; valid for one list of folders.
        self._folder_memo: dict[int, int] = {}
        self._memo_folders: list[WatchedFolderRecord] | None = None
        self._folders_announcement: asyncio.TimerHandle | None = None

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def home_loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop the indexer runs on once started; its coroutines can be awaited from
        any loop (they are handed over), and listeners are called on their own loop."""
        return self._home

    async def start(self, *, watch: bool = True, own_thread: bool = False) -> None:
        """Take the queue (one indexer per library), load it and start working on it.

        With ``watch``, watched folders are rescanned and then followed for changes.
        With ``own_thread``, it runs on a loop in a thread of its own (the window's
        choice: its loop is Qt's, where each asyncio callback costs a timer event).
        Raises ``AllmaError`` when another process already runs this library's queue.
        """
        if self._started:
            return
        if not own_thread:
            self._home = asyncio.get_running_loop()
            await self._start(watch)
            return
        thread = LoopThread("allma-indexer")
        self._home, self._thread = thread.loop, thread
        try:
            await thread.run(self._start(watch))
        except BaseException:
            # Refused, or the caller went away (the app quit while it started): undo what
            # started, on its own loop, so no worker thread keeps the library open.
            await asyncio.shield(self.close())
            raise

    async def _start(self, watch: bool) -> None:
        if self._started:
            return
        if not await asyncio.to_thread(self._lock.acquire):
            raise AllmaError(
                "Another Allma (the app, or `allma watch run`) is already indexing this library.",
                "Let it do the work: it keeps the watched folders in sync. Close it first "
                "to run this command.",
            )
        self._started = True
        items = await asyncio.to_thread(self._state.queued)
        for item in items:
            self._remember(item)
        self._folders = await asyncio.to_thread(self._state.watched)
        self._spawn(self._drain_forever())
        if watch:
            self._watcher = FolderWatcher(self._on_file_changes)
            self._spawn(self._watcher.run(self._watch_roots))
            self._spawn(self._check_folders_forever())
            self._spawn(self._sync_in_background())
        self._announce_queue()
        self._announce_folders()
        self._queue_changed.set()

    async def close(self) -> None:
        thread = self._thread
        if thread is None:
            await self._close()
            return
        try:
            await thread.run(self._close())
        except LoopStopped:
            pass  # closed already, by a close that ran at the same time
        finally:
            await self._stop_thread()

    async def _stop_thread(self) -> None:
        thread, self._thread = self._thread, None
        self._home = None
        if thread is not None:
            await thread.stop()

    async def _close(self) -> None:
        if self._folders_announcement is not None:
            self._folders_announcement.cancel()
            self._folders_announcement = None
        if self._cancel is not None:
            self._cancel.cancel()
        if self._watcher is not None:
            self._watcher.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._lock.release()
        self._started = False

    def subscribe(
        self, listener: Listener, loop: asyncio.AbstractEventLoop | None = None
    ) -> Callable[[], None]:
        """Call ``listener`` with every event on ``loop``'s thread (by default the loop it
        subscribed from; with no loop, the thread that emits); returns "unsubscribe"."""
        return self._mailboxes.subscribe(listener, loop)

    def subscribe_batches(
        self, listener: BatchListener, loop: asyncio.AbstractEventLoop | None = None
    ) -> Callable[[], None]:
        """As ``subscribe``, but ``listener`` takes the events of one delivery as a list,
        in order: a window skips what a later event of the list makes moot."""
        return self._mailboxes.subscribe(listener, loop, batches=True)

    # --- what front ends read ----------------------------------------------------------

    @property
    def started(self) -> bool:
        """Whether this indexer works the queue (it holds the library's queue lock)."""
        return self._started

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def pause_reason(self) -> AllmaError | None:
        return self._pause_reason

    @property
    def running(self) -> bool:
        return self._running

    def queued(self, collection_id: int | None = None) -> list[QueueItem]:
        """Files waiting and being indexed, in order (being indexed first)."""
        items = list(self._in_flight.values()) + list(self._queue)
        return [i for i in items if collection_id is None or i.collection_id == collection_id]

    def waiting(self) -> list[QueueItem]:
        """Files (and re-embeds) waiting their turn, in order; not those under way."""
        return list(self._queue)

    def queue_state(self) -> QueueChanged:
        return QueueChanged(
            pending=len(self._queue),
            in_flight=len(self._in_flight),
            paused=self._paused,
            running=self._running,
            pause_reason=self._pause_reason,
        )

    def folders(self) -> list[FolderState]:
        with self._folders_lock:  # the memo is shared with the indexer's own thread
            return self._folder_states()

    def _folder_states(self) -> list[FolderState]:
        if self._memo_folders is not self._folders:
            self._folder_memo, self._memo_folders = {}, self._folders
        memo = self._folder_memo
        queued = self.queued()
        pending: Counter[int] = Counter()
        for item in queued:  # a dict look-up an item: 100,000 queued files cost a few ms
            folder_id = memo.get(item.id)
            if folder_id is None:
                folder = self._folder_of(item.path, item.collection_id)
                folder_id = memo[item.id] = -1 if folder is None else folder.id
            pending[folder_id] += 1
        if len(memo) > 2 * len(queued) + 1_000:  # forget the items done since
            live = {item.id for item in queued}
            self._folder_memo = {key: value for key, value in memo.items() if key in live}
        return [
            FolderState(
                folder,
                _status(folder, folder.id in self._scanning),
                pending.get(folder.id, 0),
                self._problems.get(folder.id, ()),
            )
            for folder in self._folders
        ]

    @on_home_loop
    async def wait_idle(self) -> None:
        """Until the queue is empty and nothing runs, or the queue is paused."""
        while True:
            if self._paused or not (
                self._queue or self._running or self._scanning or self._applying
            ):
                return
            self._idle.clear()
            await self._idle.wait()

    # --- adding and taking away --------------------------------------------------------

    @on_home_loop
    async def add_paths(
        self, paths: Sequence[str | Path], collection_id: int | None = None, force: bool = False
    ) -> AddResult:
        """Queue files and folders (folders walked, hidden and unsupported files skipped)."""
        orchestrator = self._orchestrator
        collection = await asyncio.to_thread(orchestrator.collection, collection_id)
        files, skipped = await asyncio.to_thread(expand_paths, orchestrator.documents, paths)
        wanted = [str(path) for path in files]
        result = AddResult(wanted, skipped=[(str(path), reason) for path, reason in skipped])
        fresh = [p for p in wanted if (collection.id, p, "index") not in self._keys]
        fresh = [p for p in fresh if (collection.id, p) not in self._in_flight or force]
        result.already_queued = len(wanted) - len(fresh)
        await self._enqueue(collection.id, fresh, force=force)
        result.queued = fresh
        return result

    @on_home_loop
    async def reembed(self, collection_id: int) -> None:
        """Queue re-embedding the collection with the current embedding model."""
        if (collection_id, "", "reembed") not in self._keys:
            await self._enqueue(collection_id, [""], kind="reembed")

    @on_home_loop
    async def forget(self, paths: Iterable[str], collection_id: int) -> None:
        """Take files out of the queue; one being indexed is stopped."""
        chosen = {normalize_path(p) for p in paths}
        dropped = [i for i in self._queue if i.collection_id == collection_id and i.path in chosen]
        self._drop(dropped)
        if any((collection_id, p) in self._in_flight for p in chosen) and self._cancel:
            self._cancel.cancel()  # the run stops; the other in-flight files go back in line
        await asyncio.to_thread(self._state.dequeue, [i.id for i in dropped])
        self._announce_queue()

    def pause(self) -> None:
        """Finish the files being indexed, keep the rest queued."""
        self._set_paused(True)

    def resume(self) -> None:
        self._set_paused(False)

    def _set_paused(self, paused: bool) -> None:
        """Takes effect at once (``paused`` and ``queue_state()`` say so on return, from any
        thread); the queue hears of it on its own loop."""
        if self._paused == paused:
            return
        self._paused, self._pause_reason = paused, None
        if not self._hand_over(self._paused_changed):
            self._paused_changed()

    def _paused_changed(self) -> None:
        self._queue_changed.set()
        self._announce_queue()

    @on_home_loop
    async def cancel(self) -> None:
        """Stop the files being indexed and empty the queue of files (re-embeds stay)."""
        dropped = [i for i in self._queue if i.kind == "index"]
        self._drop(dropped)
        if self._cancel is not None:
            self._cancel.cancel()
        self._batch.cancelled = True
        await asyncio.to_thread(self._state.dequeue, [i.id for i in dropped])
        self._announce_queue()

    @on_home_loop
    async def forget_collection(self, collection_id: int) -> None:
        """The collection is being deleted: its queue goes, its folders are not watched."""
        self._drop([i for i in self._queue if i.collection_id == collection_id])
        if any(cid == collection_id for cid, _ in self._in_flight) and self._cancel:
            self._cancel.cancel()
        await asyncio.to_thread(self._state.clear_queue, collection_id)
        for folder in [f for f in self._folders if f.collection_id == collection_id]:
            await asyncio.to_thread(self._state.remove_watched, folder.id)
        await self._reload_folders()

    # --- watched folders ---------------------------------------------------------------

    @on_home_loop
    async def add_folder(
        self,
        path: str | Path,
        collection_id: int | None = None,
        ignore: Sequence[str] | None = None,
        max_file_mb: float | None = None,
    ) -> WatchedFolderRecord:
        """Keep ``path`` in sync with a collection: index it now, follow it from now on."""
        folder_path = normalize_path(path)
        if not os.path.isdir(folder_path):
            what = "does not exist" if not os.path.exists(folder_path) else "is not a folder"
            raise AllmaError(
                f"{folder_path} {what}.", "Pick a folder to keep in sync, not a single file."
            )
        for other in self._folders or await asyncio.to_thread(self._state.watched):
            if other.path == folder_path:
                raise Conflict(f"{folder_path} is already watched.", "Nothing to do.")
            if other.holds(folder_path):
                raise Conflict(
                    f"{folder_path} is inside {other.path}, which is already watched.",
                    "Its files are already kept in sync; add an ignore rule there to "
                    "leave some out.",
                )
            if is_inside(other.path, folder_path):
                raise Conflict(
                    f"{folder_path} contains {other.path}, which is already watched.",
                    f"Stop watching {other.path} first, then add {folder_path}.",
                )
        collection = await asyncio.to_thread(self._orchestrator.collection, collection_id)
        record = await asyncio.to_thread(
            self._state.add_watched, collection.id, folder_path, ignore, max_file_mb
        )
        await self._reload_folders()
        if self._started:
            self._spawn(self._sync_folders([record]))
        return record

    @on_home_loop
    async def remove_folder(self, path: str | Path) -> WatchedFolderRecord:
        """Stop watching a folder. Its documents stay in the library."""
        folder = self._find_folder(path) or await self._find_stored_folder(path)
        await asyncio.to_thread(self._state.remove_watched, folder.id)
        self._drop([i for i in self._queue if folder.holds(i.path)])
        await self._reload_folders()
        return folder

    @on_home_loop
    async def set_folder_paused(self, path: str | Path, paused: bool) -> WatchedFolderRecord:
        """A paused folder is not followed; resuming it rescans it."""
        folder = self._find_folder(path) or await self._find_stored_folder(path)
        updated = await asyncio.to_thread(self._state.update_watched, folder.id, paused=paused)
        await self._reload_folders()
        if not paused and self._started:
            self._spawn(self._sync_folders([updated]))
        return updated

    @on_home_loop
    async def set_folder_rules(
        self, path: str | Path, ignore: Sequence[str], max_file_mb: float | None
    ) -> WatchedFolderRecord:
        folder = self._find_folder(path) or await self._find_stored_folder(path)
        updated = await asyncio.to_thread(
            self._state.update_watched, folder.id, ignore=list(ignore), max_file_mb=max_file_mb
        )
        await self._reload_folders()
        return updated

    @on_home_loop
    async def watched_folders(self) -> list[WatchedFolderRecord]:
        if not self._started:
            self._folders = await asyncio.to_thread(self._state.watched)
        return list(self._folders)

    @on_home_loop
    async def sync(self, wait: bool = True) -> list[SyncReport]:
        """Rescan every watched folder now; with ``wait``, until what it queued is indexed."""
        folders = await self.watched_folders()
        reports = await self._sync_folders(folders)
        if wait:
            await self._wait_for(reports)
        return reports

    # --- the queue ---------------------------------------------------------------------

    async def _enqueue(
        self, collection_id: int, paths: Sequence[str], *, kind: str = "index", force: bool = False
    ) -> None:
        if not paths:
            return
        added = await asyncio.to_thread(
            self._state.enqueue, collection_id, list(paths), kind=kind, force=force
        )
        for item in added:
            self._remember(item)
        if force:  # a file already queued is now forced too
            chosen = set(paths)
            self._queue = deque(
                QueueItem(i.id, i.collection_id, i.path, i.kind, True)
                if i.collection_id == collection_id and i.path in chosen
                else i
                for i in self._queue
            )
        self._queue_changed.set()
        self._announce_queue()

    def _remember(self, item: QueueItem) -> None:
        key = (item.collection_id, item.path, item.kind)
        if key not in self._keys:
            self._keys.add(key)
            self._queue.append(item)

    def _drop(self, items: Iterable[QueueItem]) -> None:
        gone = {item.id for item in items}
        if not gone:
            return
        self._queue = deque(i for i in self._queue if i.id not in gone)
        self._keys = {(i.collection_id, i.path, i.kind) for i in self._queue}

    def _take(self, collection_id: int) -> QueueItem | None:
        """The head of the queue when it is a file of ``collection_id`` and work may go on."""
        if self._paused or not self._queue:
            return None
        head = self._queue[0]
        if head.kind != "index" or head.collection_id != collection_id:
            return None
        self._queue.popleft()
        self._keys.discard((head.collection_id, head.path, head.kind))
        self._in_flight[(head.collection_id, head.path)] = head
        return head

    async def _drain_forever(self) -> None:
        while True:
            await self._queue_changed.wait()
            self._queue_changed.clear()
            if self._paused or not self._queue:
                self._signal_idle()
                continue
            self._batch = _BatchCounts()
            try:
                while self._queue and not self._paused:
                    head = self._queue[0]
                    if head.kind == "reembed":
                        await self._run_reembed(head)
                    else:
                        await self._run_collection(head.collection_id)
            except AllmaError as error:  # settling the run's files failed (a full disk)
                self._pause_for(error)
            except Exception as error:  # a bug must not stop the queue for good, unseen
                log.exception("indexing stopped on an unexpected error")
                self._pause_for(
                    AllmaError(
                        f"Indexing stopped on an unexpected error ({type(error).__name__}: "
                        f"{error}).",
                        "The files stay queued: press Resume to try again. If it stops "
                        "again, the app's log says where.",
                    )
                )
            finally:
                self._running = False
            if not self._queue:
                # A set keeps the table it grew to (8 MB after 100,000 files): a new one.
                self._keys = set()
                await asyncio.to_thread(self._memory.now)
            batch = self._batch
            self._emit(
                BatchFinished(
                    batch.indexed, batch.unchanged, batch.failed, batch.skipped,
                    batch.cancelled, time.monotonic() - batch.started, self._pause_reason,
                    batch.files_cancelled,
                )
            )  # fmt: skip
            self._announce_queue()
            self._signal_idle()

    async def _run_collection(self, collection_id: int) -> None:
        """One ingest run over the queue's files of this collection, as long as they come."""
        orchestrator = self._orchestrator
        try:
            collection = await asyncio.to_thread(orchestrator.collection, collection_id)
            await asyncio.to_thread(orchestrator.store.ensure_collection, collection.key)
        except NotFound:  # deleted meanwhile
            await self.forget_collection(collection_id)
            return
        except AllmaError as error:
            self._pause_for(error)
            return
        cancel = CancelToken()
        self._cancel, self._running = cancel, True
        self._announce_queue()
        finished: list[int] = []
        source = _QueueSource(self, collection_id, cancel)
        try:
            events = orchestrator.ingest_pipeline.ingest_from(source, collection, cancel)
            async with aclosing(events):
                async for event in events:
                    if isinstance(event, FileFinished):
                        if self._settle_item(collection_id, event, finished):
                            await self._dequeue(finished)
                    elif isinstance(event, IngestFinished) and event.error is not None:
                        self._pause_for(event.error)
                    if not isinstance(event, IngestFinished):
                        self._emit(FileEvent(collection_id, event))
                    if isinstance(event, FileStarted | FileFinished):
                        self._announce_queue()
        except AllmaError as error:
            self._pause_for(error)
        finally:
            self._cancel = None
            await self._dequeue(finished, force=True)
            # Files taken but not finished (a cancel, a crash of the run) go back in front.
            left = [i for key, i in list(self._in_flight.items()) if key[0] == collection_id]
            for item in left:
                del self._in_flight[(item.collection_id, item.path)]
            for item in reversed(left):
                self._queue.appendleft(item)
                self._keys.add((item.collection_id, item.path, item.kind))

    def _settle_item(self, collection_id: int, event: FileFinished, finished: list[int]) -> bool:
        """Count a finished file; True when enough are done to write them off the queue."""
        item = self._in_flight.get((collection_id, event.path))
        counts = self._batch
        stopped = event.reason == CANCELLED_REASON or isinstance(event.error, FATAL_ERRORS)
        stays = item is not None and stopped and not self._batch.cancelled
        if event.status == "indexed":
            counts.indexed += 1
        elif event.status == "unchanged":
            counts.unchanged += 1
        elif event.status == "skipped":
            counts.skipped += 1
        elif stays:
            pass  # paused, not failed: it is read when the queue goes on
        elif event.reason == CANCELLED_REASON:
            counts.files_cancelled += 1
        else:
            counts.failed += 1
        if item is None:
            return False
        if stays:
            return False  # stays in line: it is indexed once the queue goes on
        del self._in_flight[(collection_id, event.path)]
        finished.append(item.id)
        return len(finished) >= DEQUEUE_EVERY

    async def _dequeue(self, finished: list[int], force: bool = False) -> None:
        if finished and (force or len(finished) >= DEQUEUE_EVERY):
            ids = list(finished)
            finished.clear()
            await asyncio.to_thread(self._write_off, ids)

    def _write_off(self, ids: list[int]) -> None:
        """In a worker thread: finished files off the queue, and every few seconds the C
        heaps' free pages back to the system (``malloc_arenas``)."""
        self._state.dequeue(ids)
        self._memory.maybe()

    async def _run_reembed(self, item: QueueItem) -> None:
        self._queue.popleft()
        self._keys.discard((item.collection_id, item.path, item.kind))
        self._in_flight[(item.collection_id, item.path)] = item
        cancel = CancelToken()
        self._cancel, self._running = cancel, True
        self._announce_queue()
        stopped = False
        try:
            events = self._orchestrator.reembed(collection_id=item.collection_id, cancel=cancel)
            async with aclosing(events):  # type: ignore[type-var]
                async for event in events:
                    if isinstance(event, IngestFinished) and event.error is not None:
                        stopped = isinstance(event.error, FATAL_ERRORS)
                        if stopped:
                            self._pause_for(event.error)
                    self._emit(FileEvent(item.collection_id, event))
        except NotFound:
            pass
        except AllmaError as error:
            stopped = isinstance(error, FATAL_ERRORS)
            if stopped:
                self._pause_for(error)
            else:
                self._emit(FileEvent(item.collection_id, IngestFinished((), error=error)))
        finally:
            self._cancel = None
            del self._in_flight[(item.collection_id, item.path)]
        if stopped:
            self._queue.appendleft(item)
            self._keys.add((item.collection_id, item.path, item.kind))
        else:
            await asyncio.to_thread(self._state.dequeue, [item.id])

    def _pause_for(self, error: AllmaError) -> None:
        log.warning("indexing paused: %s", error.message)
        self._paused, self._pause_reason = True, error
        self._announce_queue()

    def _signal_idle(self) -> None:
        self._idle.set()

    # --- watching ------------------------------------------------------------------------

    def _watch_roots(self) -> list[str]:
        return [f.path for f in self._folders if not f.paused and not f.offline]

    def _on_file_changes(self, added: set[str], gone: set[str], folders: set[str]) -> None:
        """From the watcher, settled: files written and left alone, files gone, folders
        that appeared (moved in). Runs on the event loop."""
        self._applying += 1  # counted now: until it is queued, the change is work to wait for
        self._spawn(self._applying_changes(added, gone, folders))

    async def _applying_changes(self, added: set[str], gone: set[str], folders: set[str]) -> None:
        try:
            await self._apply_changes(added, gone, folders)
        finally:
            self._applying -= 1
            self._signal_idle()

    async def _apply_changes(self, added: set[str], gone: set[str], new_folders: set[str]) -> None:
        by_folder: dict[int, tuple[WatchedFolderRecord, list[FoundFile], list[str]]] = {}
        for path in added:
            folder = self._folder_of(path)
            if folder is None or not self._keeps(folder, path):
                continue
            try:
                stat_result = os.stat(path)
            except OSError:
                continue
            if folder.rules.too_large(stat_result.st_size):
                continue
            entry = by_folder.setdefault(folder.id, (folder, [], []))
            entry[1].append(FoundFile(path, stat_result.st_size, stat_result.st_mtime))
        for path in gone:
            folder = self._folder_of(path)
            if folder is not None and not folder.offline and folder.path != path:
                by_folder.setdefault(folder.id, (folder, [], []))[2].append(path)
        for folder, found, vanished in by_folder.values():
            if not await asyncio.to_thread(os.path.isdir, folder.path):
                await self._check_folders()  # the folder itself went: offline, nothing removed
                continue
            await self._apply_folder_changes(folder, found, vanished)
        if any(path in {f.path for f in self._folders} for path in gone):
            await self._check_folders()
        folders = [f for path in new_folders if (f := self._folder_of(path)) is not None]
        if folders:
            await self._sync_folders(list({f.id: f for f in folders}.values()))

    async def _apply_folder_changes(
        self, folder: WatchedFolderRecord, found: list[FoundFile], vanished: list[str]
    ) -> None:
        async with self._sync_lock:  # not while a rescan moves and removes documents
            await self._apply_folder_changes_now(folder, found, vanished)

    async def _apply_folder_changes_now(
        self, folder: WatchedFolderRecord, found: list[FoundFile], vanished: list[str]
    ) -> None:
        state = self._state
        indexed = await asyncio.to_thread(
            state.indexed_as, folder.collection_id, [f.path for f in found]
        )
        changed = [f for f in found if (k := indexed.get(f.path)) is None or
                   (k.size, k.mtime) != (f.size, f.mtime)]  # fmt: skip
        gone: list[str] = []
        for path in vanished:
            under = await asyncio.to_thread(state.known_files, folder.collection_id, path)
            gone.extend(under.paths())
            record = await asyncio.to_thread(
                self._orchestrator.library.document_by_path, folder.collection_id, path
            )
            if record is not None:
                gone.append(record.path)
        gone = [p for p in dict.fromkeys(gone) if not os.path.exists(p)]
        report = SyncReport(folder.path, folder.collection_id)
        new = await self._match_moves(folder, changed, report)
        moved_from = {old for old, _ in report.moved}
        await self._remove_gone(folder, [p for p in gone if p not in moved_from], report)
        await self._enqueue(folder.collection_id, [f.path for f in new])

    def _keeps(self, folder: WatchedFolderRecord, path: str) -> bool:
        if folder.paused or folder.offline:
            return False
        relative = path[len(folder.path.rstrip(os.sep)) + 1 :]
        if folder.rules.skips_relative(relative):
            return False
        return self._orchestrator.documents.is_supported(Path(path))

    async def _check_folders_forever(self) -> None:
        while True:
            await asyncio.sleep(FOLDER_CHECK_SECONDS)
            try:
                await self._pick_up_stored_folders()
                await self._check_folders()
            except AllmaError as error:
                log.warning("cannot check the watched folders: %s", error.message)

    async def _pick_up_stored_folders(self) -> None:
        """Folders added or removed by another process (`allma watch add` beside the app)."""
        stored = await asyncio.to_thread(self._state.watched)
        known = {f.id for f in self._folders}
        if {f.id for f in stored} == known:
            return
        await self._reload_folders()
        fresh = [f for f in self._folders if f.id not in known]
        if fresh:
            await self._sync_folders(fresh)

    async def _check_folders(self) -> None:
        """Mark folders that disappeared offline (nothing removed) and rescan returning ones."""
        back: list[WatchedFolderRecord] = []
        changed = False
        for folder in list(self._folders):
            present = await asyncio.to_thread(os.path.isdir, folder.path)
            if present == (not folder.offline):
                continue
            changed = True
            await asyncio.to_thread(self._state.update_watched, folder.id, offline=not present)
            if present:
                log.info("watched folder %s is back", folder.path)
                back.append(folder)
            else:
                log.warning(
                    "watched folder %s is missing: its documents stay, offline", folder.path
                )
                self._drop([i for i in self._queue if folder.holds(i.path)])
        if changed:
            await self._reload_folders()
        if back:
            fresh = [f for f in self._folders if f.id in {b.id for b in back}]
            await self._sync_folders(fresh)

    async def _sync_in_background(self) -> None:
        """The rescan at start: finds what changed while the app was closed."""
        try:
            await self._sync_folders(list(self._folders))
        except AllmaError as error:
            log.warning("the start-up rescan failed: %s", error.message)

    async def _sync_folders(self, folders: Sequence[WatchedFolderRecord]) -> list[SyncReport]:
        async with self._sync_lock:  # one rescan at a time: they move and remove documents
            return await self._sync_folders_now(folders)

    async def _sync_folders_now(self, folders: Sequence[WatchedFolderRecord]) -> list[SyncReport]:
        reports: list[SyncReport] = []
        for folder in folders:
            if folder.paused:
                continue
            self._scanning.add(folder.id)
            self._announce_folders()
            try:
                reports.append(await self._sync_folder(folder))
            finally:
                self._scanning.discard(folder.id)
                self._signal_idle()
        await self._reload_folders()
        return reports

    async def _sync_folder(self, folder: WatchedFolderRecord) -> SyncReport:
        report = SyncReport(folder.path, folder.collection_id)
        state = self._state
        if not await asyncio.to_thread(os.path.isdir, folder.path):
            report.offline = True
            if not folder.offline:
                await asyncio.to_thread(state.update_watched, folder.id, offline=True)
            return report
        if folder.offline:
            await asyncio.to_thread(state.update_watched, folder.id, offline=False)
        extensions = self._orchestrator.documents.registry.supported_extensions()

        def rescan() -> ScanResult:
            # One thread, one after the other: the walk and the query of the folder's
            # rows are both mostly Python holding the GIL, and in two threads they took
            # longer together (they hand the GIL back and forth) than one after the other.
            known = state.known_files(folder.collection_id, folder.path)
            return scan_folder(Path(folder.path), folder.rules, extensions, known)

        scan = await asyncio.to_thread(rescan)
        self._problems[folder.id] = tuple(scan.problems)
        report.problems = list(scan.problems)
        report.unchanged = scan.unchanged
        report.too_large = [f.path for f in scan.too_large]
        report.changed = [f.path for f in scan.changed]
        new = await self._match_moves(folder, scan.new, report)
        moved_from = {old for old, _ in report.moved}
        await self._remove_gone(folder, [p for p in scan.gone if p not in moved_from], report)
        report.added = [f.path for f in new]
        ready = report.added + report.changed
        if self._watcher is not None:
            # A file changed in the last moments may still be being written (a download,
            # a copy): the watcher reports it once it holds still, as for its own events.
            recent = time.time() - SETTLE_SECONDS
            busy = [f for f in [*new, *scan.changed] if f.mtime > recent]
            self._watcher.settle([(f.path, f.size, f.mtime) for f in busy])
            writing = {f.path for f in busy}
            ready = [path for path in ready if path not in writing]
        await self._enqueue(folder.collection_id, ready)
        await asyncio.to_thread(state.update_watched, folder.id, last_sync=utc_now())
        return report

    async def _match_moves(
        self, folder: WatchedFolderRecord, candidates: list[FoundFile], report: SyncReport
    ) -> list[FoundFile]:
        """Files that are a vanished document in a new place keep its vectors: the row
        is pointed at the new path (and moved to this folder's collection when it came
        from another watched folder). Returns the candidates that are really new."""
        if not candidates:
            return []
        watched = {f.collection_id for f in self._folders}
        vanished = await asyncio.to_thread(
            self._vanished_by_size, {found.size for found in candidates}, watched
        )
        really_new: list[FoundFile] = []
        for found in candidates:
            same_size = vanished.get(found.size)
            match = await self._earlier_self(found, same_size) if same_size else None
            if match is None:
                really_new.append(found)
                continue
            document_id, collection_id, old_path, _digest = match
            try:
                await self._relocate(document_id, collection_id, folder, found)
            except AllmaError as error:
                log.warning("could not follow %s to %s: %s", old_path, found.path, error.message)
                really_new.append(found)
                continue
            vanished[found.size].remove(match)  # found: a second copy of it is a new file
            report.moved.append((old_path, found.path))
        return really_new

    def _vanished_by_size(
        self, sizes: set[int], watched: set[int]
    ) -> dict[int, list[tuple[str, int, str, str]]]:
        """By size, (id, collection, path, content hash) of the watched collections'
        ready documents of these sizes whose file is gone. In a worker thread."""
        found: dict[int, list[tuple[str, int, str, str]]] = {}
        for document_id, collection_id, path, digest, size in self._state.ready_of_sizes(sizes):
            if collection_id in watched and not os.path.exists(path):
                found.setdefault(size, []).append((document_id, collection_id, path, digest))
        return found

    async def _earlier_self(
        self, found: FoundFile, vanished: list[tuple[str, int, str, str]]
    ) -> tuple[str, int, str, str] | None:
        """The vanished document of ``found``'s size whose bytes ``found`` has (by hash)."""
        try:
            digest = await asyncio.to_thread(
                self._orchestrator.documents.hash_file, Path(found.path)
            )
        except OSError:
            return None
        return next((entry for entry in vanished if entry[3] == digest), None)

    async def _relocate(
        self, document_id: str, collection_id: int, folder: WatchedFolderRecord, found: FoundFile
    ) -> None:
        orchestrator = self._orchestrator
        if collection_id != folder.collection_id:
            await orchestrator.move_document(document_id, folder.collection_id)
        await asyncio.to_thread(
            orchestrator.library.relocate_document, document_id, found.path, found.mtime
        )
        self._emit(DocumentsChanged(frozenset({collection_id, folder.collection_id})))

    async def _remove_gone(
        self, folder: WatchedFolderRecord, paths: list[str], report: SyncReport
    ) -> None:
        """Remove the documents of files that are gone while their folder is there."""
        if not paths:
            return
        library = self._orchestrator.library
        for path in paths:
            record = await asyncio.to_thread(library.document_by_path, folder.collection_id, path)
            if record is None:
                continue
            with contextlib.suppress(NotFound):
                await self._orchestrator.remove_document(record.id)
            report.removed.append(path)
        self._drop([i for i in self._queue if i.path in set(paths)])
        self._emit(DocumentsChanged(frozenset({folder.collection_id})))

    async def _wait_for(self, reports: list[SyncReport]) -> None:
        """Until the files these reports queued are indexed; their failures go on them."""
        wanted: dict[tuple[int, str], SyncReport] = {}
        for report in reports:
            for path in report.added + report.changed:
                wanted[(report.collection_id, path)] = report

        def collect(event: IndexerEvent) -> None:
            if isinstance(event, FileEvent) and isinstance(event.event, FileFinished):
                finished = event.event
                report = wanted.get((event.collection_id, finished.path))
                if report is not None and finished.status == "failed":
                    report.failed.append((finished.path, finished.reason))

        unsubscribe = self.subscribe(collect)
        paths = [path for _collection, path in wanted]
        try:
            await self.wait_idle()
            # A file the rescan found still being written goes to the queue once it holds
            # still (the watcher's settle): until then it is not in the queue, but these
            # reports named it, so it is waited for too.
            while not self._paused and self._watcher is not None and self._watcher.settling(paths):
                await asyncio.sleep(SETTLE_POLL_SECONDS)
                await self.wait_idle()
        finally:
            unsubscribe()
        if self._paused and self._pause_reason is not None:
            raise self._pause_reason

    # --- folders -------------------------------------------------------------------------

    async def _reload_folders(self) -> None:
        self._folders = await asyncio.to_thread(self._state.watched)
        if self._watcher is not None:
            self._watcher.refresh()
        self._announce_folders()

    def _folder_of(self, path: str, collection_id: int | None = None) -> WatchedFolderRecord | None:
        for folder in self._folders:
            if folder.holds(path) and collection_id in (None, folder.collection_id):
                return folder
        return None

    def _find_folder(self, path: str | Path) -> WatchedFolderRecord | None:
        wanted = normalize_path(path)
        return next((f for f in self._folders if f.path == wanted), None)

    async def _find_stored_folder(self, path: str | Path) -> WatchedFolderRecord:
        self._folders = await asyncio.to_thread(self._state.watched)
        folder = self._find_folder(path)
        if folder is None:
            raise NotFound(
                f"{normalize_path(path)} is not a watched folder.",
                "`allma watch list` shows the watched folders.",
            )
        return folder

    def _hand_over(self, call: Callable[[], None]) -> bool:
        """From another thread: schedule ``call`` on the home loop and return True; on the
        home loop (or before it runs), False: go on here."""
        home = self._home
        if home is None or home.is_closed() or running_loop_or_none() is home:
            return False
        home.call_soon_threadsafe(call)
        return True

    # --- events --------------------------------------------------------------------------

    def _emit(self, event: IndexerEvent) -> None:
        self._mailboxes.emit(event)

    def _announce_queue(self) -> None:
        self._emit(self.queue_state())
        # The folders' pending counts follow the queue, at most once a second: the
        # watched-folders card counts down while a folder is indexed.
        if self._folders and self._started and self._folders_announcement is None:
            self._folders_announcement = asyncio.get_running_loop().call_later(
                FOLDER_COUNTS_INTERVAL, self._announce_folder_counts
            )

    def _announce_folder_counts(self) -> None:
        self._folders_announcement = None
        if self._started:
            self._announce_folders()

    def _announce_folders(self) -> None:
        self._emit(FoldersChanged(tuple(self.folders())))

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.append(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if task in self._tasks and task.done():
            self._tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("an indexer task failed", exc_info=task.exception())


class _QueueSource:
    """The indexer's queue as the files of one ingest run (see ``FileSource``)."""

    def __init__(self, indexer: Indexer, collection_id: int, cancel: CancelToken) -> None:
        self._indexer = indexer
        self._collection_id = collection_id
        self._cancel = cancel

    def poll(self) -> FeedItem | None:
        if self._cancel.cancelled:
            return None
        item = self._indexer._take(self._collection_id)
        return None if item is None else FeedItem(Path(item.path), item.force)

    async def next(self) -> FeedItem | None:
        indexer = self._indexer
        while True:
            item = self.poll()
            if item is not None:
                return item
            if self._cancel.cancelled or indexer._paused or indexer._queue:
                return None  # paused, or another collection's turn: this run ends
            indexer._queue_changed.clear()
            try:
                await asyncio.wait_for(indexer._queue_changed.wait(), RUN_LINGER_SECONDS)
            except TimeoutError:
                return None
            indexer._queue_changed.set()  # leave the wake-up for the drain loop too


@dataclass
class _BatchCounts:
    indexed: int = 0
    unchanged: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: bool = False
    files_cancelled: int = 0
    started: float = field(default_factory=time.monotonic)


def _status(folder: WatchedFolderRecord, scanning: bool) -> str:
    if folder.offline:
        return "offline"
    if folder.paused:
        return "paused"
    return "scanning" if scanning else "watching"
