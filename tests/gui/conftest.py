"""GUI fixtures: offscreen Qt, one qasync loop per test, the real engine over the test server.

pytest-qt spins Qt's event loop (``qtbot.waitUntil`` / ``waitSignal``); a qasync loop
created with ``already_running=True`` runs asyncio tasks on those same spins, so the
controllers' coroutines make progress while a test waits.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import qasync
from PySide6.QtCore import QCoreApplication, QEvent, QMimeData, QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QDragEnterEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from allma_desktop.config import AppConfig
from allma_desktop.events import IngestFinished
from allma_desktop.gui.app import install_asyncgen_hooks
from allma_desktop.gui.gc_guard import MainThreadGarbageCollector
from allma_desktop.gui.main_window import MainWindow
from allma_desktop.gui.orchestrator_host import OrchestratorHost
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import PDF_PAGES, write_pdf

T = TypeVar("T")
GUI_TESTS = Path(__file__).resolve().parent
ASYNC_TIMEOUT_MS = 20_000


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """No automatic garbage collection during a GUI test; collect its leftovers here, after it.

    Python collects cycles on whatever thread allocates, and GUI tests run the engine's
    work in worker threads. A cycle holding a QObject with a live timer (the qasync loop's
    own timer object, a controller's QTimer) destroyed there leaves Qt a dangling timer,
    and its next tick is a segmentation fault. So: collection stays off while a test runs
    (``MainThreadGarbageCollector`` collects on the GUI thread meanwhile), and once pytest
    has let go of the test's fixtures, everything it left is deleted on this thread.
    """
    if GUI_TESTS not in item.path.parents:
        yield  # pytest calls this hook for every test once this conftest is loaded
        return
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if QCoreApplication.instance() is not None:
            # Widgets pytest-qt closed with deleteLater(): delete them now, on this thread.
            QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        gc.collect()
        # What survives a test (modules, session fixtures) need not be scanned again: this
        # keeps the per-test collection fast. Frozen objects are still freed by refcount.
        gc.freeze()
        if was_enabled:
            gc.enable()


@pytest.fixture(autouse=True)
def gui_settings_in_tmp(tmp_path: Path) -> Iterator[None]:
    """QSettings (window geometry, theme) go to a temp folder, never the user's."""
    folder = str(tmp_path / "qsettings")
    for settings_format in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        QSettings.setPath(settings_format, QSettings.Scope.UserScope, folder)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    yield


@pytest.fixture
def qasync_loop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    """A qasync loop driven by pytest-qt's Qt event processing; closed cleanly afterwards.

    As in the app, garbage is collected on the GUI thread only, from a timer.
    """
    collector = MainThreadGarbageCollector()
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    restore_hooks = install_asyncgen_hooks(loop)
    try:
        yield loop
    finally:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        pending.append(asyncio.ensure_future(loop.shutdown_asyncgens()))
        for _ in range(200):
            qapp.processEvents()
            if all(task.done() for task in pending):
                break
        restore_hooks()
        # Not loop.stop(): that calls QApplication.exit(), which makes every later nested
        # Qt event loop (pytest-qt's waits) return at once. Mark the loop stopped instead.
        loop._QEventLoop__is_running = False  # type: ignore[attr-defined]
        asyncio.events._set_running_loop(None)
        loop.close()
        asyncio.set_event_loop(None)
        del loop, pending
        collector.stop(collect=False)  # pytest_runtest_protocol collects once fixtures are gone


def run_async(
    qtbot: QtBot, coroutine: Coroutine[Any, Any, T], timeout: int = ASYNC_TIMEOUT_MS
) -> T:
    """Run ``coroutine`` on the qasync loop while Qt keeps processing events; its result."""
    task = asyncio.ensure_future(coroutine)
    qtbot.waitUntil(task.done, timeout=timeout)
    return task.result()


@pytest.fixture
def gui_config(tmp_path: Path, ollama_server: OllamaTestServer) -> AppConfig:
    return AppConfig(
        ollama_host=ollama_server.url,
        ollama_model="deepseek-r1:latest",
        ollama_embedding_model="nomic-embed-text:latest",
        data_dir=tmp_path / "data",
    )


@pytest.fixture
def host(
    qtbot: QtBot,
    qasync_loop: asyncio.AbstractEventLoop,
    gui_config: AppConfig,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[OrchestratorHost]:
    """The real engine (orchestrator, SQLite, Chroma) opened in a temp data folder."""
    monkeypatch.setenv("ALLMA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ALLMA_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("ALLMA_LOG_DIR", str(tmp_path / "logs"))
    host = OrchestratorHost(gui_config)
    failures: list[object] = []
    host.events.engine_failed.connect(failures.append)
    run_async(qtbot, host.start())
    assert host.ready, f"the engine did not open: {failures}"
    try:
        yield host
    finally:
        run_async(qtbot, host.stop())


@pytest.fixture
def window(qtbot: QtBot, host: OrchestratorHost) -> Iterator[MainWindow]:
    window = MainWindow(host)
    qtbot.addWidget(window)
    window.resize(1100, 720)
    window.show()
    # The window was created after engine_ready: load what the engine holds now.
    window.conversations.refresh()
    window.chat_view.refresh_choices()
    window.health.check_now()
    yield window
    window.health.stop()


def ingest(qtbot: QtBot, host: OrchestratorHost, paths: list[Path]) -> IngestFinished:
    """Index ``paths`` through the orchestrator, as the library would; the final event."""
    orchestrator = host.orchestrator
    assert orchestrator is not None

    async def index() -> IngestFinished:
        finished: IngestFinished | None = None
        async for event in orchestrator.ingest([str(p) for p in paths]):
            if isinstance(event, IngestFinished):
                finished = event
        assert finished is not None
        return finished

    return run_async(qtbot, index(), timeout=60_000)


@pytest.fixture
def lighthouse_pdf(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir(exist_ok=True)
    return write_pdf(tmp_path / "docs" / "lighthouse-manual.pdf", PDF_PAGES)


def drag_enter_event(x: float, y: float, mime: QMimeData) -> QDragEnterEvent:
    """A drag of ``mime`` entering at (x, y), as a file manager sends it.

    PySide6 6.12 takes the position as a QPointF (the QPoint form is deprecated there);
    the versions before it take only a QPoint.
    """
    args = (
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    try:
        return QDragEnterEvent(QPointF(x, y), *args)
    except TypeError:
        return QDragEnterEvent(QPoint(round(x), round(y)), *args)
