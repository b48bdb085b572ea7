"""The window's one way to run an operation (``gui/ops.py``): off the GUI thread, the
outcome reported in one place, what changed announced once."""

from __future__ import annotations

import asyncio
import threading

from pytestqt.qtbot import QtBot

from allma_desktop.config import AppConfig
from allma_desktop.errors import AllmaError
from allma_desktop.gui.ops import async_op, attempt, background, op
from allma_desktop.gui.orchestrator_host import OrchestratorHost
from allma_desktop.orchestrator import Orchestrator
from tests.gui.conftest import run_async

TIMEOUT_MS = 10_000


def test_an_op_runs_its_call_in_a_worker_thread_and_its_handler_on_the_gui_thread(
    qtbot: QtBot, host: OrchestratorHost
) -> None:
    threads: dict[str, threading.Thread] = {}

    def create(o: Orchestrator) -> int:
        threads["call"] = threading.current_thread()
        return o.create_collection("Recipes").id

    created: list[int] = []

    def shown(collection_id: int) -> None:
        threads["success"] = threading.current_thread()
        created.append(collection_id)

    op(host, create).success(shown).run()
    qtbot.waitUntil(lambda: bool(created), timeout=TIMEOUT_MS)

    assert threads["call"] is not threading.main_thread()
    assert threads["success"] is threading.main_thread()
    assert host.orchestrator is not None
    assert [c.name for c in host.orchestrator.collections() if c.id == created[0]] == ["Recipes"]


def test_a_failure_reaches_the_failure_handler_with_its_next_step_and_announces_nothing(
    qtbot: QtBot, host: OrchestratorHost
) -> None:
    made: list[object] = []
    op(host, lambda o: o.create_collection("Work")).success(made.append).run()
    qtbot.waitUntil(lambda: bool(made), timeout=TIMEOUT_MS)  # the ops run in worker threads:
    announced: list[str] = []  # the second, started now, cannot overtake the first
    host.events.documents_changed.connect(lambda: announced.append("documents"))
    failures: list[AllmaError] = []
    successes: list[object] = []

    op(host, lambda o: o.create_collection("Work"), changes=("collections",)).success(
        successes.append
    ).failure(failures.append).run()
    qtbot.waitUntil(lambda: bool(failures), timeout=TIMEOUT_MS)

    assert "Work" in failures[0].message and failures[0].hint
    assert successes == [] and announced == []


def test_an_unexpected_error_becomes_a_message_that_points_to_the_log(
    qtbot: QtBot, host: OrchestratorHost
) -> None:
    def broken(_o: Orchestrator) -> None:
        raise ValueError("a bug")

    failures: list[AllmaError] = []
    op(host, broken, description="Sorting the shelves").failure(failures.append).run()
    qtbot.waitUntil(lambda: bool(failures), timeout=TIMEOUT_MS)

    assert failures[0].message == "Sorting the shelves failed: a bug"
    assert "log" in failures[0].hint


def test_what_changed_is_announced_once_after_the_success_handler(
    qtbot: QtBot, host: OrchestratorHost
) -> None:
    order: list[str] = []
    host.events.documents_changed.connect(lambda: order.append("documents changed"))
    host.events.conversations_changed.connect(lambda: order.append("conversations changed"))

    op(
        host,
        lambda o: o.create_collection("Letters"),
        changes=("collections", "documents", "conversations"),
    ).success(lambda _record: order.append("success")).run()
    qtbot.waitUntil(lambda: len(order) == 3, timeout=TIMEOUT_MS)

    assert order == ["success", "documents changed", "conversations changed"]


def test_before_the_library_opens_an_op_says_allma_is_starting_or_keeps_quiet(
    qtbot: QtBot, qasync_loop: asyncio.AbstractEventLoop, gui_config: AppConfig
) -> None:
    closed = OrchestratorHost(gui_config)
    failures: list[AllmaError] = []

    started = op(closed, lambda o: o.collections()).failure(failures.append).run()
    quiet = op(closed, lambda o: o.collections()).failure(failures.append)

    assert started is None and quiet.quiet_when_closed().run() is None
    assert [f.message for f in failures] == ["Allma is still starting."]


def test_the_end_handler_runs_after_success_failure_and_cancellation(
    qtbot: QtBot, host: OrchestratorHost
) -> None:
    ended: list[str] = []

    async def forever(_o: Orchestrator) -> None:
        await asyncio.Event().wait()

    op(host, lambda o: o.collections()).finally_(lambda: ended.append("success")).run()
    op(host, lambda o: o.collection(999_999)).finally_(lambda: ended.append("failure")).run()
    task = async_op(host, forever).finally_(lambda: ended.append("cancelled")).run()
    qtbot.waitUntil(lambda: len(ended) == 2, timeout=TIMEOUT_MS)
    assert task is not None
    task.cancel()
    qtbot.waitUntil(lambda: len(ended) == 3, timeout=TIMEOUT_MS)

    assert sorted(ended) == ["cancelled", "failure", "success"]


def test_a_background_op_runs_without_an_open_library(
    qtbot: QtBot, qasync_loop: asyncio.AbstractEventLoop, gui_config: AppConfig
) -> None:
    closed = OrchestratorHost(gui_config)
    results: list[int] = []

    async def answer() -> int:
        return await asyncio.to_thread(lambda: 42)

    background(closed, answer).success(results.append).run()
    qtbot.waitUntil(lambda: bool(results), timeout=TIMEOUT_MS)

    assert results == [42]


def test_one_failed_item_of_a_batch_leaves_the_others_done(
    qtbot: QtBot, host: OrchestratorHost
) -> None:
    orchestrator = host.orchestrator
    assert orchestrator is not None

    async def create(name: str) -> None:
        await asyncio.to_thread(orchestrator.create_collection, name)

    async def batch() -> list[AllmaError | None]:
        return [await attempt(create(name)) for name in ("Maps", "Maps", "Atlases")]

    outcomes = run_async(qtbot, batch())

    assert [o is None for o in outcomes] == [True, False, True]
    assert {"Maps", "Atlases"} <= {c.name for c in orchestrator.collections()}
