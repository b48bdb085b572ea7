"""The qasync loop on our Qt keeps Python's reference counts whole.

PySide6 6.12.0 dropped a reference to None (or True) each time Qt called a Python
override of a C++ virtual, as qasync's ``timerEvent`` is for every asyncio callback:
after some thousand callbacks, an hour of use or one large folder, the app aborted with
"Fatal Python error: none_dealloc". A count that only falls is that bug coming back.
"""

from __future__ import annotations

import asyncio
import sys

from pytestqt.qtbot import QtBot

from tests.gui.conftest import run_async

CALLBACKS = 2_000


async def many_callbacks() -> None:
    for _ in range(CALLBACKS):
        await asyncio.sleep(0)  # one timer callback from Qt each


def test_asyncio_callbacks_on_the_qt_loop_do_not_eat_references_to_none_or_bools(
    qtbot: QtBot, qasync_loop: asyncio.AbstractEventLoop
) -> None:
    run_async(qtbot, many_callbacks())  # warm up: first calls create what they cache
    before = {name: sys.getrefcount(value) for name, value in _SINGLETONS.items()}

    run_async(qtbot, many_callbacks())

    after = {name: sys.getrefcount(value) for name, value in _SINGLETONS.items()}
    lost = {name: before[name] - after[name] for name in before}
    # A few come and go with whatever else runs; the bug lost one per callback.
    assert all(count < CALLBACKS // 10 for count in lost.values()), lost


_SINGLETONS = {"None": None, "True": True, "False": False}
