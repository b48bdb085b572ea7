from __future__ import annotations

from pytestqt.qtbot import QtBot

from allma_desktop.gui.main_window import MainWindow


def test_main_window_shows_chat_with_healthy_engine(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.health.report is not None, timeout=10_000)
    assert window.health.report is not None and window.health.report.ok
    assert window.chat_page.currentWidget() is window.chat_view
