"""The GUI thread's garbage collector: full collections spaced out by their own cost."""

from __future__ import annotations

import gc
import weakref

from PySide6.QtWidgets import QApplication

from allma_desktop.gui.gc_guard import FULL_COLLECTION_SHARE, MainThreadGarbageCollector


class SteppingClock:
    """Moves on by ``step`` each time it is read: a collection 'takes' one step."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class Node:
    me: Node | None = None


def _want_a_full_collection() -> list[list[object]]:
    """Counts past every threshold, as a busy app's allocations leave them."""
    first, second, third = gc.get_threshold()
    for _ in range(third + 1):
        gc.collect(1)  # each one counts towards the oldest generation
    for _ in range(second + 1):
        gc.collect(0)  # each one counts towards the middle generation
    return [[] for _ in range(first + 100)]  # young containers, kept alive


def _full_collections() -> int:
    return int(gc.get_stats()[2]["collections"])


def test_a_full_collection_waits_until_its_cost_is_a_small_share_of_the_time(
    qapp: QApplication,
) -> None:
    clock = SteppingClock(step=0.01)
    guard = MainThreadGarbageCollector(interval_ms=600_000, clock=clock)
    try:
        kept = _want_a_full_collection()
        before = _full_collections()
        guard.check()
        assert _full_collections() == before + 1
        budget_ends = clock.now + 0.01 / FULL_COLLECTION_SHARE

        kept += _want_a_full_collection()
        middle_before = gc.get_stats()[1]["collections"]
        guard.check()  # too soon after the last one: the younger generations only
        assert _full_collections() == before + 1
        assert gc.get_stats()[1]["collections"] == middle_before + 1

        clock.now = budget_ends
        kept += _want_a_full_collection()
        guard.check()
        assert _full_collections() == before + 2
        assert kept
    finally:
        guard.stop(collect=False)


def test_cycles_are_still_collected_while_a_full_collection_waits(qapp: QApplication) -> None:
    clock = SteppingClock(step=1.0)  # a full collection 'takes' a second: a long wait after
    guard = MainThreadGarbageCollector(interval_ms=600_000, clock=clock)
    try:
        kept = _want_a_full_collection()
        guard.check()
        waits_until = guard._next_full
        assert waits_until > clock.now

        node = Node()
        node.me = node  # a cycle only the collector frees
        gone = weakref.ref(node)
        del node
        kept += _want_a_full_collection()
        full_before = _full_collections()
        guard.check()

        assert gone() is None
        assert _full_collections() == full_before  # the full one still waits
        assert clock.now < waits_until
        assert kept
    finally:
        guard.stop(collect=False)
