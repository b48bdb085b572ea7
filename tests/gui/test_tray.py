"""The tray icon's menu, close-to-tray, pausing indexing and the end-of-indexing notice."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from allma_desktop.gui import app as gui_app
from allma_desktop.gui.controllers.chat_controller import ChatController
from allma_desktop.gui.controllers.library_controller import BatchSummary
from allma_desktop.gui.controllers.settings_controller import CLOSE_TO_TRAY_KEY
from allma_desktop.gui.main_window import MainWindow
from allma_desktop.gui.quitting import reset_quitting
from allma_desktop.gui.tray import TrayIcon
from allma_desktop.gui.widgets.quick_ask import QuickAskWindow


@pytest.fixture
def tray(qtbot: QtBot, window: MainWindow) -> Iterator[TrayIcon]:
    quick_ask = QuickAskWindow(lambda: ChatController(window.host), window.events)
    qtbot.addWidget(quick_ask)
    tray = TrayIcon(window, window.events, quick_ask)
    yield tray
    tray.hide()
    QApplication.setQuitOnLastWindowClosed(True)


@pytest.fixture
def with_a_tray(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend the desktop has a tray (the offscreen platform has none)."""
    monkeypatch.setattr(TrayIcon, "tray_available", staticmethod(lambda: True))
    QSettings().setValue(CLOSE_TO_TRAY_KEY, True)


def test_the_menu_offers_quick_ask_show_pause_and_quit(tray: TrayIcon) -> None:
    texts = [action.text() for action in tray.contextMenu().actions() if action.text()]

    assert texts == ["Quick ask…", "Show window", "Pause indexing", "Quit Allma"]
    assert not tray.icon().isNull()


def test_quick_ask_opens_the_popup(qtbot: QtBot, tray: TrayIcon) -> None:
    tray.quick_ask_action.trigger()

    assert tray.quick_ask.isVisible()


def test_show_window_brings_back_a_hidden_window(tray: TrayIcon, window: MainWindow) -> None:
    window.hide()

    tray.show_action.trigger()

    assert window.isVisible()


def test_pause_indexing_pauses_the_library_queue(tray: TrayIcon, window: MainWindow) -> None:
    tray.pause_action.trigger()

    assert window.library_controller.paused
    tray.pause_action.trigger()
    assert not window.library_controller.paused


def test_closing_the_window_keeps_the_app_in_the_tray(
    with_a_tray: None, tray: TrayIcon, window: MainWindow
) -> None:
    window.close()

    assert not window.isVisible()
    assert not tray.quitting
    assert not QApplication.quitOnLastWindowClosed()


def test_quit_closes_the_window_and_ends_the_app(
    with_a_tray: None, tray: TrayIcon, window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    quits: list[bool] = []
    monkeypatch.setattr(QApplication, "quit", staticmethod(lambda: quits.append(True)))

    tray.quit_action.trigger()

    assert quits == [True]
    assert not window.isVisible()


def test_a_long_indexing_job_ending_while_hidden_is_announced(
    tray: TrayIcon, window: MainWindow
) -> None:
    shown: list[tuple[str, str]] = []
    tray.showMessage = lambda title, text, *_: shown.append((title, text))  # type: ignore[method-assign]
    window.hide()

    summary = BatchSummary(indexed=12, failed=1, skipped=0, cancelled=False, seconds=42.0)
    window.library_controller.batch_finished.emit(summary)

    assert shown == [("Your library is up to date", "12 documents ready, 1 could not be read.")]


def test_a_quit_request_gets_through_close_to_tray(
    with_a_tray: None, tray: TrayIcon, window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM at logout, Ctrl+Q: the close the quit sends must not be turned into "hide"."""
    monkeypatch.setattr(QApplication, "quit", staticmethod(lambda: None))
    restore = gui_app._quit_on_termination(QApplication.instance(), window)  # type: ignore[arg-type]
    try:
        signal.raise_signal(signal.SIGTERM)  # the handler runs before the next bytecode
        close = QCloseEvent()
        QApplication.sendEvent(window, close)
    finally:
        restore()
        reset_quitting()

    assert close.isAccepted()
    assert tray.quitting


def test_ctrl_q_quits_even_with_close_to_tray(
    qtbot: QtBot,
    with_a_tray: None,
    tray: TrayIcon,
    window: MainWindow,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    quits: list[bool] = []
    monkeypatch.setattr(QApplication, "quit", staticmethod(lambda: quits.append(True)))
    window.activateWindow()
    try:
        qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    finally:
        reset_quitting()

    assert quits == [True]
    assert tray.quitting
    assert not window.isVisible()
