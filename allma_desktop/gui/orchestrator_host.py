"""The engine the GUI runs on: the orchestrator, opened after the window is on screen.

``allma_desktop.orchestrator`` pulls in chromadb, pymupdf and the ollama client, so
it is imported inside ``start()``, never at module level.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QObject

from allma_desktop.config import AppConfig
from allma_desktop.errors import AllmaError
from allma_desktop.gui.app_events import AppEvents
from allma_desktop.gui.model_pulls import ModelPulls

if TYPE_CHECKING:
    from allma_desktop.orchestrator import Orchestrator

log = logging.getLogger(__name__)

T = TypeVar("T")
WORKER_THREADS = 4  # the window's operations at once (SQLite and the store, off the GUI thread)


class OrchestratorHost(QObject):
    """Holds the config, the event hub and (once open) the orchestrator.

    ``run()`` starts a background task that ``stop()`` will cancel, so shutting
    down never leaves "Task was destroyed but it is pending" behind.
    """

    def __init__(
        self, config: AppConfig, events: AppEvents | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.config = config
        self.events = events or AppEvents(self)
        self.orchestrator: Orchestrator | None = None
        self._closing: Orchestrator | None = None  # during ``stop``
        self._tasks: set[asyncio.Task[Any]] = set()
        self._workers = _CountedWorkers(WORKER_THREADS, thread_name_prefix="allma-op")
        # The one owner of model downloads: every screen that pulls asks here.
        self.pulls = ModelPulls(self, self)

    @property
    def ready(self) -> bool:
        return self.orchestrator is not None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run ``coroutine`` on the loop, tracked so ``stop()`` can cancel it."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._forget)
        return task

    async def in_worker(self, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)`` in one of the window's worker threads. ``stop()`` lets the calls
        under way finish before it closes the library: a cancelled task does not stop its
        thread, and closing a connection a thread is using crashes SQLite."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._workers, functools.partial(call, *args))

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    async def start(self) -> None:
        """Open the orchestrator; emits ``engine_ready`` or ``engine_failed``."""
        try:
            from allma_desktop.orchestrator import Orchestrator  # heavy: after the window is up
        except ImportError as error:
            log.exception("the engine cannot be imported")
            self.events.engine_failed.emit(
                AllmaError(f"Allma is incomplete: {error}.", "Reinstall Allma Desktop.")
            )
            return
        orchestrator = Orchestrator(self.config)
        try:
            await orchestrator.open()
        except AllmaError as error:
            log.error("cannot open the engine: %s", error)
            await _close_quietly(orchestrator)
            self.events.engine_failed.emit(error)
            return
        except Exception as error:
            log.exception("unexpected failure opening the engine")
            await _close_quietly(orchestrator)
            self.events.engine_failed.emit(
                AllmaError(f"Allma could not start: {error}", "See the log file for details.")
            )
            return
        self.orchestrator = orchestrator
        self.events.engine_ready.emit(orchestrator)

    async def restart(self, config: AppConfig) -> None:
        """Close and reopen with ``config`` (a new data folder or Ollama address)."""
        await self.stop()
        self.config = config
        await self.start()

    def close_database_now(self) -> None:
        """The open library's database closed at once, with no event loop (see
        ``Orchestrator.close_database_now``): for a process that is ending abruptly."""
        for orchestrator in (self.orchestrator, self._closing):
            if orchestrator is not None:
                orchestrator.close_database_now()

    async def stop(self) -> None:
        """Cancel background tasks, then close the orchestrator (and with it the database)."""
        current = asyncio.current_task()
        pending = [task for task in self._tasks if task is not current and not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        await self._workers.idle()
        orchestrator, self.orchestrator = self.orchestrator, None
        if orchestrator is not None:
            # Still reachable by ``close_database_now`` while it closes: an end of the
            # process in the middle of this close must still close its database.
            self._closing = orchestrator
            try:
                await _close_quietly(orchestrator)
            finally:
                self._closing = None


class _CountedWorkers(concurrent.futures.ThreadPoolExecutor):
    """Worker threads that know which of their calls are still running."""

    def __init__(self, workers: int, thread_name_prefix: str) -> None:
        super().__init__(workers, thread_name_prefix=thread_name_prefix)
        self._running: set[concurrent.futures.Future[Any]] = set()

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        self._running.add(future)
        future.add_done_callback(self._running.discard)
        return future

    async def idle(self) -> None:
        """Until every call under way has returned (those not started yet are dropped)."""
        running = [f for f in list(self._running) if not f.cancel()]
        if running:
            await asyncio.wait([asyncio.wrap_future(f) for f in running])


async def _close_quietly(orchestrator: Orchestrator) -> None:
    try:
        await orchestrator.close()
    except Exception:
        log.exception("error while closing the engine")
