"""One way to run an operation from the window, in the spirit of Anki's ``CollectionOp``.

A controller builds an ``Op`` from the call to make on the orchestrator, says what to
do with its result and with a failure, and runs it::

    op(self._host, lambda o: o.create_collection(name), changes=("documents",))
        .success(self._on_created)
        .failure(self.failed.emit)
        .run()

- ``op`` runs a plain (blocking) call in a worker thread: SQLite and the vector store
  are never touched on the GUI thread. ``async_op`` awaits an orchestrator coroutine on
  the loop (such a coroutine puts its own blocking work in worker threads).
- The handlers run on the GUI thread, after the call.
- Failures are reported in one place, here: an ``AllmaError`` (with its next step) goes
  to the ``failure`` handler as it is; anything else is logged with its traceback and
  reaches the handler as an ``AllmaError`` that points to the log. The library not being
  open yet is a failure too ("Allma is still starting"), unless ``quiet_when_closed()``.
- What a successful operation changed is announced once on the app's events
  (``documents_changed``, ``conversations_changed``) after its success handler; each
  view decides for itself whether to refresh. An operation never pokes other views.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

from allma_desktop.errors import AllmaError

if TYPE_CHECKING:
    from allma_desktop.gui.app_events import AppEvents
    from allma_desktop.gui.orchestrator_host import OrchestratorHost
    from allma_desktop.orchestrator import Orchestrator

log = logging.getLogger(__name__)

T = TypeVar("T")
Change = Literal["documents", "collections", "conversations"]


Outcome = tuple[T, AllmaError | None]  # one item of a batch, and its failure if it failed


async def attempt(step: Awaitable[object]) -> AllmaError | None:
    """Run one item of a batch (a file to remove, say) and give back its failure, if any:
    one file's failure is its own, the others go on. The op's success handler reports
    each failure it finds among the outcomes."""
    try:
        await step
    except AllmaError as error:
        return error
    return None


def not_open_error() -> AllmaError:
    return AllmaError("Allma is still starting.", "Try again in a moment.")


def announce(events: AppEvents, changes: Iterable[Change]) -> None:
    """Tell every view what changed, once per kind (collections are library views too)."""
    kinds = set(changes)
    if kinds & {"documents", "collections"}:
        events.documents_changed.emit()
    if "conversations" in kinds:
        events.conversations_changed.emit()


class Op(Generic[T]):
    """One operation on the orchestrator, run off the GUI thread; build it with ``op`` or
    ``async_op``, give it handlers, then ``run()``."""

    def __init__(
        self,
        host: OrchestratorHost,
        call: Callable[[Orchestrator | None], Awaitable[T]],
        changes: Iterable[Change] = (),
        description: str = "",
        needs_library: bool = True,
    ) -> None:
        self._host = host
        self._call = call
        self._needs_library = needs_library
        self._changes: tuple[Change, ...] = tuple(changes)
        self._description = description
        self._on_success: Callable[[T], object] | None = None
        self._on_failure: Callable[[AllmaError], object] | None = None
        self._on_end: Callable[[], object] | None = None
        self._quiet_when_closed = False

    def success(self, handler: Callable[[T], object]) -> Op[T]:
        """Called on the GUI thread with the call's result."""
        self._on_success = handler
        return self

    def failure(self, handler: Callable[[AllmaError], object]) -> Op[T]:
        """Called on the GUI thread with the error (without one, failures are only logged)."""
        self._on_failure = handler
        return self

    def finally_(self, handler: Callable[[], object]) -> Op[T]:
        """Called once it has run, whatever happened (also when cancelled): a busy flag off."""
        self._on_end = handler
        return self

    def quiet_when_closed(self) -> Op[T]:
        """Do nothing, and report nothing, when the library is not open (a refresh)."""
        self._quiet_when_closed = True
        return self

    def run(self) -> asyncio.Task[None] | None:
        """Start it; the task is the host's (``host.stop()`` cancels it). None: not started."""
        orchestrator = self._host.orchestrator
        if orchestrator is None and self._needs_library:
            if not self._quiet_when_closed:
                self._fail(not_open_error())
            return None
        return self._host.run(self._run(orchestrator))

    async def result(self) -> T:
        """Run it here and now (inside another coroutine), for callers that chain steps.

        Raises what the call raised; the handlers are not called, the changes not announced.
        """
        return await self._call(self._host.orchestrator)

    async def _run(self, orchestrator: Orchestrator | None) -> None:
        try:
            await self._outcome(orchestrator)
        finally:
            if self._on_end is not None:
                _handle(self._on_end)

    async def _outcome(self, orchestrator: Orchestrator | None) -> None:
        try:
            value = await self._call(orchestrator)
        except asyncio.CancelledError:
            raise
        except AllmaError as error:
            log.info("%s failed: %s", self._description or "an operation", error)
            self._fail(error)
            return
        except Exception as error:
            log.exception("%s failed unexpectedly", self._description or "an operation")
            self._fail(
                AllmaError(
                    f"{self._description or 'That'} failed: {error}",
                    "See the log file for details.",
                )
            )
            return
        if self._on_success is not None:
            _handle(self._on_success, value)
        announce(self._host.events, self._changes)

    def _fail(self, error: AllmaError) -> None:
        if self._on_failure is not None:
            _handle(self._on_failure, error)
        else:
            log.warning("%s failed: %s", self._description or "an operation", error)


def op(
    host: OrchestratorHost,
    call: Callable[[Orchestrator], T],
    *,
    changes: Iterable[Change] = (),
    description: str = "",
) -> Op[T]:
    """An operation whose ``call`` blocks (SQLite, the vector store): run in a worker thread."""

    async def in_worker(orchestrator: Orchestrator | None) -> T:
        # The host's threads: it lets them finish before it closes the library.
        return await host.in_worker(call, _opened(orchestrator))

    return Op(host, in_worker, changes, description)


def async_op(
    host: OrchestratorHost,
    call: Callable[[Orchestrator], Awaitable[T]],
    *,
    changes: Iterable[Change] = (),
    description: str = "",
) -> Op[T]:
    """An operation that awaits an orchestrator coroutine on the loop."""

    async def on_loop(orchestrator: Orchestrator | None) -> T:
        return await call(_opened(orchestrator))

    return Op(host, on_loop, changes, description)


def background(
    host: OrchestratorHost,
    call: Callable[[], Awaitable[T]],
    *,
    changes: Iterable[Change] = (),
    description: str = "",
) -> Op[T]:
    """An operation that needs no open library (a connection test, a restore that closes
    and reopens it); ``call`` puts its blocking work in worker threads itself."""

    async def free(_orchestrator: Orchestrator | None) -> T:
        return await call()

    return Op(host, free, changes, description, needs_library=False)


def _handle(handler: Callable[..., object], *args: object) -> None:
    """Call a handler; one whose view is gone (closed while the op ran) is skipped."""
    try:
        handler(*args)
    except RuntimeError as error:
        # PySide's words for a deleted QObject: "Signal source has been deleted",
        # "Internal C++ object (...) already deleted."
        if "deleted" not in str(error):
            raise
        log.debug("an operation's view was closed before it finished: %s", error)


def _opened(orchestrator: Orchestrator | None) -> Orchestrator:
    """The library, which closed after the op was started when None."""
    if orchestrator is None:
        raise not_open_error()
    return orchestrator


__all__ = [
    "Change",
    "Op",
    "Outcome",
    "announce",
    "async_op",
    "attempt",
    "background",
    "not_open_error",
    "op",
]
