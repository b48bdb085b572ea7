"""When Ollama or the models are missing, a panel says what to do and clears itself."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint
from pytestqt.qtbot import QtBot

import tests.support.ollama_server as server_module
from allma_desktop.gui.controllers.health_controller import UNHEALTHY_INTERVAL_MS
from allma_desktop.gui.main_window import MainWindow
from tests.support.ollama_server import LLAMA_3_2, OllamaTestServer

CHECK_TIMEOUT_MS = 15_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def late_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[OllamaTestServer]:
    """A test server bound to a fixed port, not started yet: Ollama "comes up" mid-test."""
    port = free_port()

    class FixedPortHTTPServer(server_module._HTTPServer):
        def __init__(self, address: tuple[str, int], app: OllamaTestServer) -> None:
            super().__init__((address[0], port), app)

    monkeypatch.setattr(server_module, "_HTTPServer", FixedPortHTTPServer)
    server = OllamaTestServer()
    server.port = port  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture
def gui_config(tmp_path: Path, late_server: OllamaTestServer):  # type: ignore[no-untyped-def]
    from allma_desktop.config import AppConfig

    return AppConfig(
        ollama_host=f"http://127.0.0.1:{late_server.port}",  # type: ignore[attr-defined]
        data_dir=tmp_path / "data",
    )


def test_unreachable_ollama_shows_the_first_run_panel_then_recovers(
    qtbot: QtBot, window: MainWindow, late_server: OllamaTestServer
) -> None:
    qtbot.waitUntil(
        lambda: window.first_run.problem == "ollama_unreachable", timeout=CHECK_TIMEOUT_MS
    )
    assert window.chat_page.currentWidget() is window.first_run
    assert window.first_run.get_ollama.isVisibleTo(window)
    assert "not reachable" in window.status.ollama.text()
    assert window.health._timer.interval() == UNHEALTHY_INTERVAL_MS

    late_server.start()
    window.first_run.check_button.click()

    qtbot.waitUntil(
        lambda: window.chat_page.currentWidget() is window.chat_view, timeout=CHECK_TIMEOUT_MS
    )
    assert "connected" in window.status.ollama.text()


def test_missing_models_are_downloaded_with_one_click_each(
    qtbot: QtBot, window: MainWindow, late_server: OllamaTestServer
) -> None:
    late_server._installed.clear()
    late_server._install(replace(LLAMA_3_2))
    late_server.start()
    window.health.check_now()
    qtbot.waitUntil(lambda: window.first_run.problem == "models_missing", timeout=CHECK_TIMEOUT_MS)
    rows = window.first_run.model_rows

    with qtbot.waitSignal(window.health.pull_finished, timeout=CHECK_TIMEOUT_MS):
        rows["chat"].button.click()
    qtbot.waitUntil(lambda: not rows["chat"].button.isEnabled(), timeout=CHECK_TIMEOUT_MS)
    assert rows["chat"].progress.value() == rows["chat"].progress.maximum()
    assert window.chat_page.currentWidget() is window.first_run  # the embedding model is missing

    with qtbot.waitSignal(window.health.pull_finished, timeout=CHECK_TIMEOUT_MS):
        rows["embedding"].button.click()

    qtbot.waitUntil(
        lambda: window.chat_page.currentWidget() is window.chat_view, timeout=CHECK_TIMEOUT_MS
    )


def test_every_install_step_is_shown_whole_inside_the_card(
    qtbot: QtBot, window: MainWindow, late_server: OllamaTestServer
) -> None:
    panel = window.first_run
    qtbot.waitUntil(lambda: panel.problem == "ollama_unreachable", timeout=CHECK_TIMEOUT_MS)

    for label in panel.step_labels:
        assert label.height() >= label.heightForWidth(label.width())
        bottom = label.mapTo(panel.card, QPoint(0, label.height())).y()
        assert bottom <= panel.card.height()
