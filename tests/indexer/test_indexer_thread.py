"""The indexer on a loop of its own (the window's choice), and events on each listener's loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from pathlib import Path

import pytest

from allma_desktop.config import AppConfig
from allma_desktop.events import FileFinished
from allma_desktop.indexer import FileEvent, IndexerEvent
from allma_desktop.indexer.home import (
    BUSY_DELIVERY_INTERVAL,
    DELIVERY_INTERVAL,
    LoopThread,
    Mailboxes,
    on_home_loop,
)
from allma_desktop.orchestrator import Orchestrator
from tests.indexer.test_indexer_queue import WAIT, write_notes


def indexer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "allma-indexer"]


async def test_an_indexer_on_its_own_thread_indexes_and_calls_listeners_on_their_loop(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    files = write_notes(tmp_path / "notes", 6)
    indexer = orchestrator.indexer
    here = threading.get_ident()
    seen: list[tuple[int, IndexerEvent]] = []
    indexer.subscribe(lambda event: seen.append((threading.get_ident(), event)))
    before = set(indexer_threads())

    await indexer.start(watch=False, own_thread=True)
    home = indexer.home_loop
    assert home is not None and home is not asyncio.get_running_loop()
    (thread,) = set(indexer_threads()) - before
    added = await indexer.add_paths([tmp_path / "notes"])  # awaited from this loop
    await asyncio.wait_for(indexer.wait_idle(), WAIT)
    await asyncio.sleep(0.2)  # the last burst of events is on its way to this loop

    assert sorted(added.queued) == sorted(str(p) for p in files)
    finished = [
        e.event for _, e in seen if isinstance(e, FileEvent) and isinstance(e.event, FileFinished)
    ]
    assert sorted(Path(f.path).name for f in finished) == sorted(p.name for p in files)
    assert {f.status for f in finished} == {"indexed"}
    assert {thread for thread, _ in seen} == {here}  # every event on the listener's thread
    await indexer.close()
    assert indexer.home_loop is None
    assert not thread.is_alive()


async def test_pause_given_from_another_thread_holds_the_queue_until_resume(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    write_notes(tmp_path / "notes", 5)
    indexer = orchestrator.indexer
    await indexer.start(watch=False, own_thread=True)
    try:
        indexer.pause()  # handed to the indexer's loop, ahead of the add below
        await indexer.add_paths([tmp_path / "notes"])
        await asyncio.sleep(RUN_GRACE)
        assert indexer.paused
        assert len(indexer.queued()) == 5

        indexer.resume()
        await asyncio.sleep(0.05)
        await asyncio.wait_for(indexer.wait_idle(), WAIT)
        assert indexer.queued() == []
        ready = await asyncio.to_thread(orchestrator.library.list_documents, None, "ready")
        assert len(ready) == 5
    finally:
        await indexer.close()


RUN_GRACE = 0.5  # long enough for a queue that was not paused to start its files


async def test_a_burst_of_events_reaches_another_loop_in_order_in_few_wake_ups() -> None:
    mailboxes = Mailboxes()
    received: list[int] = []
    loop = asyncio.get_running_loop()
    wake_ups = 0
    schedule = loop.call_soon_threadsafe

    def counting(callback, *args):  # type: ignore[no-untyped-def]
        nonlocal wake_ups
        wake_ups += 1
        return schedule(callback, *args)

    loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
    try:
        mailboxes.subscribe(received.append)

        def emit_burst() -> None:
            for n in range(1_000):
                mailboxes.emit(n)

        await asyncio.to_thread(emit_burst)
        deadline = loop.time() + 10.0  # a loaded machine may take a while to deliver
        while len(received) < 1_000 and loop.time() < deadline:
            await asyncio.sleep(0.01)
    finally:
        del loop.call_soon_threadsafe

    assert received == list(range(1_000))
    assert wake_ups < 100  # a few per burst (plus to_thread's own), not one per event


async def test_a_steady_trickle_of_events_wakes_the_loop_ten_times_a_second() -> None:
    mailboxes = Mailboxes()
    arrived: list[int] = []
    loop = asyncio.get_running_loop()
    mailboxes.subscribe(arrived.append)
    box = mailboxes._box(loop)
    deliver, wake_ups = box._deliver, 0

    def counted_deliver() -> None:
        nonlocal wake_ups
        wake_ups += 1
        deliver()

    box._deliver = counted_deliver  # type: ignore[method-assign]
    events, spacing = 300, 0.002  # one every 2 ms, as a run of small files sends them

    def trickle() -> None:
        for n in range(events):
            mailboxes.emit(n)
            time.sleep(spacing)

    started = loop.time()
    await asyncio.to_thread(trickle)
    took = loop.time() - started
    deadline = loop.time() + 10.0
    while len(arrived) < events and loop.time() < deadline:
        await asyncio.sleep(0.01)

    assert arrived == list(range(events))
    # 20, 40 and 80 ms apart at first, then one per busy interval; not one per event,
    # nor 50 a second for as long as the run goes on.
    assert wake_ups <= took / BUSY_DELIVERY_INTERVAL + 5


async def test_a_batch_listener_takes_each_delivery_as_one_list_in_order() -> None:
    mailboxes = Mailboxes()
    one_by_one: list[int] = []
    batches: list[list[int]] = []
    mailboxes.subscribe(one_by_one.append)
    mailboxes.subscribe(batches.append, batches=True)
    loop = asyncio.get_running_loop()

    def emit_burst() -> None:
        for n in range(500):
            mailboxes.emit(n)

    await asyncio.to_thread(emit_burst)
    deadline = loop.time() + 10.0
    while sum(len(b) for b in batches) < 500 and loop.time() < deadline:
        await asyncio.sleep(0.01)

    assert one_by_one == list(range(500))
    assert [n for batch in batches for n in batch] == list(range(500))
    assert len(batches) < 100  # a list per delivery, not per event
    mailboxes.emit(500)  # from the listener's own loop: at once, as a list of one
    assert batches[-1] == [500]


async def test_an_unsubscribed_batch_listener_gets_nothing_still_in_its_mailbox() -> None:
    mailboxes = Mailboxes()
    batches: list[list[int]] = []
    unsubscribe = mailboxes.subscribe(batches.append, batches=True)

    def emit_and_leave() -> None:
        mailboxes.emit(1)
        unsubscribe()
        mailboxes.emit(2)

    emitter = threading.Thread(target=emit_and_leave)
    emitter.start()
    emitter.join()
    await asyncio.sleep(0.05)
    assert batches == []


async def test_events_after_a_quiet_spell_still_wake_the_loop() -> None:
    mailboxes = Mailboxes()
    received: list[str] = []
    arrived = asyncio.Event()

    def listener(event: str) -> None:
        received.append(event)
        arrived.set()

    mailboxes.subscribe(listener)
    await asyncio.to_thread(mailboxes.emit, "first")
    await asyncio.wait_for(arrived.wait(), WAIT)
    await asyncio.sleep(DELIVERY_INTERVAL * 3)  # quiet: the mailbox's timer has stopped
    arrived.clear()

    await asyncio.to_thread(mailboxes.emit, "after a pause")
    await asyncio.wait_for(arrived.wait(), WAIT)
    assert received == ["first", "after a pause"]


async def test_an_unsubscribed_listener_gets_nothing_still_in_its_mailbox() -> None:
    mailboxes = Mailboxes()
    received: list[int] = []
    unsubscribe = mailboxes.subscribe(received.append)

    def emit_and_leave() -> None:
        mailboxes.emit(1)
        unsubscribe()  # before this loop had a chance to deliver
        mailboxes.emit(2)

    emitter = threading.Thread(target=emit_and_leave)
    emitter.start()
    emitter.join()  # this loop is held meanwhile: it delivers nothing before the unsubscribe
    await asyncio.sleep(0.05)
    assert received == []


async def test_a_failing_listener_does_not_stop_the_others() -> None:
    mailboxes = Mailboxes()
    received: list[str] = []

    def broken(_event: object) -> None:
        raise RuntimeError("a front end's bug")

    mailboxes.subscribe(broken)
    mailboxes.subscribe(received.append)
    await asyncio.to_thread(mailboxes.emit, "event")
    await asyncio.sleep(0.05)
    assert received == ["event"]


class _Worker:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.home_loop: asyncio.AbstractEventLoop | None = loop
        self.started = asyncio.Event()
        self.ran_on: int | None = None
        self.cancelled = threading.Event()

    @on_home_loop
    async def work(self, value: int) -> int:
        self.ran_on = threading.get_ident()
        return value * 2

    @on_home_loop
    async def fail(self) -> None:
        raise ValueError("bad value 7")

    @on_home_loop
    async def wait_forever(self) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


async def test_a_call_from_another_loop_runs_on_the_home_loop_and_cancels_with_its_caller() -> None:
    thread = LoopThread("test-home")
    worker = _Worker(thread.loop)
    try:
        assert await worker.work(21) == 42
        assert worker.ran_on is not None and worker.ran_on != threading.get_ident()
        with pytest.raises(ValueError, match="bad value 7"):
            await worker.fail()

        waiting = asyncio.ensure_future(worker.wait_forever())
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert await asyncio.to_thread(worker.cancelled.wait, 5.0)
    finally:
        await thread.stop()
    assert thread.loop.is_closed()


async def test_quitting_while_the_indexer_starts_on_its_thread_leaves_nothing_open(
    config: AppConfig,
) -> None:
    first = Orchestrator(config)
    await first.open()
    before = set(indexer_threads())
    starting = asyncio.ensure_future(first.indexer.start(watch=True, own_thread=True))
    await asyncio.sleep(0.01)  # under way, on its thread
    starting.cancel()  # the app quits now
    with contextlib.suppress(asyncio.CancelledError):
        await starting
    await first.close()

    assert [t for t in set(indexer_threads()) - before if t.is_alive()] == []
    second = Orchestrator(config)  # the queue's lock was given back, the library closed
    await second.open()
    try:
        await second.indexer.start(watch=False, own_thread=True)
        assert second.indexer.started
    finally:
        await second.close()
