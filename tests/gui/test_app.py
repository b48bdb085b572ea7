"""Start-up, single instance hand-off, a responsive loop, and a clean shutdown."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from allma_desktop.gui import app as gui_app
from allma_desktop.gui.loop_lag import LoopLagProbe
from allma_desktop.gui.main_window import MainWindow
from allma_desktop.gui.orchestrator_host import OrchestratorHost
from allma_desktop.gui.single_instance import InstanceServer, hand_off, instance_key
from tests.gui.conftest import run_async
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import write_pdf

MAX_LOOP_STALL_SECONDS = 0.5  # generous: the tight figure belongs in bench/


def test_second_launch_hands_its_paths_to_the_first(
    qtbot: QtBot, qapp: QApplication, tmp_path: Path
) -> None:
    key = instance_key(tmp_path)
    server = InstanceServer(key)
    assert server.listen()
    try:
        with qtbot.waitSignal(server.activated, timeout=5_000) as received:
            assert hand_off(key, ["/docs/a.pdf", "/docs/b.md"])
        assert received.args == [["/docs/a.pdf", "/docs/b.md"]]
    finally:
        server.close()


def test_first_launch_finds_no_instance_to_hand_off_to(tmp_path: Path) -> None:
    assert not hand_off(instance_key(tmp_path / "nobody"), ["/docs/a.pdf"])


def test_instance_key_differs_per_data_folder(tmp_path: Path) -> None:
    assert instance_key(tmp_path / "a") != instance_key(tmp_path / "b")


def test_paths_from_a_second_launch_are_ingested_and_the_window_raised(
    qtbot: QtBot, window: MainWindow
) -> None:
    window.showMinimized()
    with qtbot.waitSignal(window.events.ingest_requested, timeout=2_000) as requested:
        gui_app._on_second_launch(window, window.host, ["/docs/a.pdf"])

    assert requested.args == [["/docs/a.pdf"]]
    assert not window.isMinimized()


def test_engine_stop_closes_the_database(qtbot: QtBot, host: OrchestratorHost) -> None:
    orchestrator = host.orchestrator
    assert orchestrator is not None
    database = orchestrator._db

    run_async(qtbot, host.stop())

    assert host.orchestrator is None
    assert database is not None and database.is_closed()  # type: ignore[attr-defined]


def test_an_abrupt_end_during_the_engine_stop_still_closes_the_database(
    qtbot: QtBot, host: OrchestratorHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process may have to end while the engine is closing (the display went away
    during the shutdown): the synchronous close must still reach that engine's database."""
    orchestrator = host.orchestrator
    assert orchestrator is not None
    database = orchestrator._db
    gate = asyncio.Event()
    real_close = orchestrator.close

    async def held_close() -> None:
        await gate.wait()
        await real_close()

    monkeypatch.setattr(orchestrator, "close", held_close)
    stopping = asyncio.ensure_future(host.stop())
    qtbot.waitUntil(lambda: host.orchestrator is None)  # the close is under way

    assert database is not None
    log_files = [Path(f"{database.database}-wal"), Path(f"{database.database}-shm")]
    assert all(path.exists() for path in log_files)  # the engine's connections are open

    host.close_database_now()

    assert not any(path.exists() for path in log_files)  # every connection closed
    gate.set()
    qtbot.waitUntil(stopping.done)
    assert stopping.exception() is None


def test_loop_stays_responsive_during_a_large_ingestion_and_a_stream(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, ollama_server: OllamaTestServer
) -> None:
    pages = [f"Page {n}. " + "The keeper logs wind, tide and visibility. " * 40 for n in range(150)]
    big = write_pdf(tmp_path / "big.pdf", pages)
    probe = LoopLagProbe(interval=0.01)
    probe.start()
    orchestrator = window.host.orchestrator
    assert orchestrator is not None

    async def ingest_big() -> None:
        async for _ in orchestrator.ingest([str(big)]):
            pass

    ingestion = window.host.run(ingest_big())
    window.chat_view.input.setPlainText("How do keepers log the weather?")
    with qtbot.waitSignal(window.chat_controller.finished, timeout=60_000):
        window.chat_view.submit()
    qtbot.waitUntil(ingestion.done, timeout=120_000)
    run_async(qtbot, probe.stop())

    assert len(probe.samples) > 10
    assert probe.max_lag < MAX_LOOP_STALL_SECONDS, probe.summary()


def test_main_opens_the_window_and_shuts_down_cleanly(
    qapp: QApplication,
    tmp_path: Path,
    ollama_server: OllamaTestServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", ollama_server.url)
    monkeypatch.setenv("ALLMA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ALLMA_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("ALLMA_LOG_DIR", str(tmp_path / "logs"))
    seen: list[MainWindow] = []

    def close_when_ready() -> None:
        for widget in qapp.topLevelWidgets():
            if isinstance(widget, MainWindow) and widget.host.ready:
                seen.append(widget)
                widget.close()
                return
        QTimer.singleShot(20, close_when_ready)

    QTimer.singleShot(20, close_when_ready)
    caplog.set_level(logging.WARNING)
    root_handlers = list(logging.getLogger().handlers)
    try:
        assert gui_app.main(["allma-desktop"]) == 0
    finally:
        for handler in logging.getLogger().handlers:
            if handler not in root_handlers:
                logging.getLogger().removeHandler(handler)
                handler.close()

    assert seen and seen[0].host.orchestrator is None
    assert "Task was destroyed" not in caplog.text
    assert "never retrieved" not in caplog.text
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


def test_the_gui_thread_gets_the_interpreter_back_sooner_while_the_app_runs() -> None:
    import sys

    before = sys.getswitchinterval()
    restore = gui_app.favour_the_gui_thread()
    try:
        assert sys.getswitchinterval() == pytest.approx(gui_app.GUI_SWITCH_INTERVAL)
        assert before > gui_app.GUI_SWITCH_INTERVAL
    finally:
        restore()
    assert sys.getswitchinterval() == pytest.approx(before)


def test_a_quick_ask_hand_off_asks_the_first_instance_for_the_popup(
    qtbot: QtBot, qapp: QApplication, tmp_path: Path
) -> None:
    key = instance_key(tmp_path)
    server = InstanceServer(key)
    assert server.listen()
    try:
        with qtbot.waitSignal(server.quick_ask_requested, timeout=5_000):
            assert hand_off(key, [], quick_ask=True)
    finally:
        server.close()
