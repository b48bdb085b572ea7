"""Where the indexer runs: the caller's event loop, or a loop in a thread of its own.

The window runs asyncio on Qt's event loop (qasync), where every callback is a Qt timer
event: a file through the ingest pipeline takes some 35 of them, and each costs several
times what it costs on a plain asyncio loop. On its own loop the indexer works at the
pace of ``allma sync``, and the window only receives its events, a burst at a time.

``LoopThread`` is that thread; ``on_home_loop`` lets any loop call the indexer's
coroutines; ``Mailboxes`` delivers its events on each listener's own loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")
Listener = Callable[[Any], None]


class HasHome(Protocol):
    @property
    def home_loop(self) -> asyncio.AbstractEventLoop | None: ...


H = TypeVar("H", bound=HasHome)


def on_home_loop(
    method: Callable[Concatenate[H, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[H, P], Coroutine[Any, Any, T]]:
    """Run the coroutine method on the object's home loop, whichever loop awaits it.

    Called from another loop, the call is handed over (``run_coroutine_threadsafe``) and
    awaited; cancelling the caller cancels the work on the home loop.
    """

    @functools.wraps(method)
    async def on_home(owner: H, /, *args: P.args, **kwargs: P.kwargs) -> T:
        home = owner.home_loop
        if home is None or home is asyncio.get_running_loop():
            return await method(owner, *args, **kwargs)
        future = asyncio.run_coroutine_threadsafe(method(owner, *args, **kwargs), home)
        return await asyncio.wrap_future(future)

    return on_home


class LoopThread:
    """An asyncio loop running in a daemon thread until ``stop()``."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._stopped = False
        self._calls: set[concurrent.futures.Future[Any]] = set()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Await ``work`` on this thread's loop from another loop. Once the loop is
        stopped, raises ``LoopStopped`` instead of waiting for ever."""
        if self._stopped:
            work.close()
            raise LoopStopped(self._thread.name)
        call = asyncio.run_coroutine_threadsafe(work, self.loop)
        self._calls.add(call)
        call.add_done_callback(self._calls.discard)
        return await asyncio.wrap_future(call)

    async def stop(self) -> None:
        """Stop the loop (what still runs on it is the caller's to have ended) and join.
        A call still waiting for it then raises ``LoopStopped``."""
        if not self._stopped:
            self._stopped = True
            self.loop.call_soon_threadsafe(self.loop.stop)
        await asyncio.to_thread(self._thread.join)
        for call in list(self._calls):
            if not call.done():
                call.set_exception(LoopStopped(self._thread.name))


def running_loop_or_none() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, or None in a thread that runs none."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class LoopStopped(RuntimeError):
    def __init__(self, name: str) -> None:
        super().__init__(f"the {name} loop has stopped")


class Mailboxes:
    """Listeners, each called on the loop it subscribed from.

    A listener of the emitting loop (or one with no loop) is called at once. For another
    loop, events wait in that loop's mailbox, and one wake-up delivers all that came
    meanwhile, in order. While events keep coming, that loop is woken at most every
    ``DELIVERY_INTERVAL``, and the spacing doubles up to ``BUSY_DELIVERY_INTERVAL`` while
    they go on: a short burst (one saved file) shows within 20 ms, and a long run of small
    files wakes the window some 10 times a second, not once or more per file.
    """

    def __init__(self) -> None:
        self._listeners: list[tuple[Listener, asyncio.AbstractEventLoop | None]] = []
        self._batched: set[int] = set()  # ids of the listeners that take a list per delivery
        self._version = 0  # moves on with each subscribe and unsubscribe
        self._boxes: dict[asyncio.AbstractEventLoop, _Mailbox] = {}
        self._lock = threading.Lock()
        # What ``emit`` reads, made anew under the lock on each (un)subscribe and read
        # whole without it: an emit per file event takes no lock and copies no list.
        self._plan: tuple[tuple[Listener, asyncio.AbstractEventLoop | None, bool], ...] = ()

    def subscribe(
        self,
        listener: Listener,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        batches: bool = False,
    ) -> Callable[[], None]:
        """Call ``listener`` on ``loop`` (by default the running loop; with none, on
        whichever thread emits). With ``batches``, it is called once per delivery with
        the list of events that came meanwhile, in order: it can skip what a later event
        of the same list makes moot (a file's progress once it is finished)."""
        if loop is None:
            loop = running_loop_or_none()
        entry = (listener, loop)
        with self._lock:
            self._listeners.append(entry)
            if batches:
                self._batched.add(id(listener))
            self._changed()

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._listeners:
                    self._listeners.remove(entry)
                    if all(other is not listener for other, _ in self._listeners):
                        self._batched.discard(id(listener))
                    self._changed()

        return unsubscribe

    def _changed(self) -> None:  # under the lock
        self._version += 1
        batched = self._batched
        self._plan = tuple((lsn, loop, id(lsn) in batched) for lsn, loop in self._listeners)

    def emit(self, event: object) -> None:
        here = running_loop_or_none()
        for listener, loop, batched in self._plan:
            if loop is None or loop is here:
                _call(listener, [event] if batched else event)
            else:
                (self._boxes.get(loop) or self._box(loop)).post(listener, event)

    def subscribed_now(self) -> tuple[int, frozenset[int], frozenset[int]]:
        """(version, ids of the listeners subscribed, ids of those taking batches): one
        snapshot for a whole delivery, taken again only if the version moves (a listener
        came or went meanwhile)."""
        with self._lock:
            ids = frozenset(id(entry[0]) for entry in self._listeners)
            return self._version, ids, frozenset(self._batched)

    @property
    def version(self) -> int:
        return self._version

    def _box(self, loop: asyncio.AbstractEventLoop) -> _Mailbox:
        with self._lock:
            box = self._boxes.get(loop)
            if box is None:
                box = self._boxes[loop] = _Mailbox(loop, self)
            return box


class _Mailbox:
    def __init__(self, loop: asyncio.AbstractEventLoop, owner: Mailboxes) -> None:
        self._loop = loop
        self._owner = owner
        self._items: deque[tuple[Listener, object]] = deque()
        self._lock = threading.Lock()
        self._scheduled = False
        self._interval = DELIVERY_INTERVAL  # until the next delivery; grows while busy

    def post(self, listener: Listener, event: object) -> None:
        with self._lock:
            if self._loop.is_closed():  # its listeners are gone with it (a timer too)
                self._items.clear()
                return
            self._items.append((listener, event))
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._deliver)
        except RuntimeError:  # that loop is closed: its listeners are gone with it
            with self._lock:
                self._items.clear()
                self._scheduled = False

    def _deliver(self) -> None:
        with self._lock:
            items, self._items = self._items, deque()
            if not items:  # quiet since the last delivery: the next post wakes the loop
                self._scheduled = False
                self._interval = DELIVERY_INTERVAL
                return
        owner = self._owner
        version, subscribed, batched = owner.subscribed_now()
        batches: dict[int, tuple[Listener, list[object]]] = {}
        for listener, event in items:
            if owner.version != version:
                version, subscribed, batched = owner.subscribed_now()
            key = id(listener)
            if key not in subscribed:  # unsubscribed since: not called any more
                continue
            if key in batched:
                batches.setdefault(key, (listener, []))[1].append(event)
            else:
                _call(listener, event)
        for key, (listener, events) in batches.items():
            if owner.version != version:
                version, subscribed, batched = owner.subscribed_now()
            if key in subscribed:
                _call(listener, events)
        # Still scheduled: what comes meanwhile waits for this one timer, not a wake-up each.
        interval, self._interval = self._interval, min(self._interval * 2, BUSY_DELIVERY_INTERVAL)
        self._loop.call_later(interval, self._deliver)


DELIVERY_INTERVAL = 0.02  # seconds: quicker than a person sees, and a frame at 50 Hz
# While a run goes on: still ten updates a second, and each wake-up of the window costs
# the indexer's threads the interpreter lock (a 5,000-file sync woke it 8,500 times).
BUSY_DELIVERY_INTERVAL = 0.1


def _call(listener: Listener, event: object) -> None:
    try:
        listener(event)
    except Exception:  # a front end's bug must not stop the queue
        log.exception("an indexer listener failed")
