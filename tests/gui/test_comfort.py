"""Comfort: keyboard shortcuts, a remembered layout, accessible names, the remote-host notice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QFileDialog,
    QLineEdit,
    QPushButton,
    QTextEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot

from allma_desktop.config import AppConfig
from allma_desktop.gui.main_window import MainWindow
from allma_desktop.gui.orchestrator_host import OrchestratorHost

CTRL = Qt.KeyboardModifier.ControlModifier
REMOTE_HOST = "http://192.0.2.10:11434"  # TEST-NET: never contacted, the engine is not started


def press(qtbot: QtBot, window: MainWindow, key: Qt.Key) -> None:
    qtbot.keyClick(window, key, CTRL)


def test_ctrl_n_starts_a_new_chat_from_any_page(qtbot: QtBot, window: MainWindow) -> None:
    window.show_page("settings")

    press(qtbot, window, Qt.Key.Key_N)

    assert window.pages.currentWidget() is window.chat_page
    assert window.chat_view.conversation_id is None


def test_ctrl_l_focuses_the_question_box(qtbot: QtBot, window: MainWindow) -> None:
    window.show_page("library")

    press(qtbot, window, Qt.Key.Key_L)

    assert window.pages.currentWidget() is window.chat_page
    assert window.focusWidget() is window.chat_view.input


def test_ctrl_k_focuses_the_chat_search(qtbot: QtBot, window: MainWindow) -> None:
    press(qtbot, window, Qt.Key.Key_K)

    assert window.focusWidget() is window.sidebar.search


def test_ctrl_o_opens_the_file_picker_on_the_library(
    qtbot: QtBot, window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def pick_nothing(*_args: object, **_kwargs: object) -> tuple[list[str], str]:
        asked.append("files")
        return [], ""

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(pick_nothing))

    press(qtbot, window, Qt.Key.Key_O)

    assert window.pages.currentWidget() is window.library_page
    assert asked == ["files"]


def test_ctrl_comma_opens_settings(qtbot: QtBot, window: MainWindow) -> None:
    press(qtbot, window, Qt.Key.Key_Comma)

    assert window.pages.currentWidget() is window.settings_page


def test_window_size_and_sidebar_width_are_remembered_across_a_restart(
    qtbot: QtBot, window: MainWindow, host: OrchestratorHost
) -> None:
    # Within the offscreen screen (800 x 800), which restoreGeometry() clamps to.
    window.resize(796, 700)
    qtbot.waitUntil(lambda: window.width() == 796, timeout=2_000)
    window.splitter.setSizes([186, 609])  # the sidebar keeps at least 180 px
    assert window.splitter.sizes()[0] == 186  # not the default 260
    window.close()

    reopened = MainWindow(host)
    qtbot.addWidget(reopened)
    reopened.show()

    assert (reopened.width(), reopened.height()) == (796, 700)
    qtbot.waitUntil(lambda: reopened.splitter.sizes()[0] == 186, timeout=2_000)


def test_every_control_has_an_accessible_name_or_visible_text(window: MainWindow) -> None:
    controls = window.findChildren(QWidget)
    unnamed = []
    for control in controls:
        if not isinstance(control, QPushButton | QLineEdit | QTextEdit | QComboBox):
            continue
        if isinstance(control.parent(), QComboBox | QAbstractSpinBox):
            continue  # the editor inside a combo or spin box speaks for its owner
        text = control.text() if isinstance(control, QPushButton) else ""
        if not (control.accessibleName().strip() or text.strip()):
            parent = control.parent()
            unnamed.append(f"{type(control).__name__} {control.objectName()!r} in {parent}")
    assert unnamed == []


def open_window(qtbot: QtBot, config: AppConfig) -> MainWindow:
    window = MainWindow(OrchestratorHost(config))
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv("ALLMA_CONFIG_DIR", str(folder))
    return folder


def test_a_remote_ollama_is_announced_once_in_a_banner(
    qtbot: QtBot,
    qasync_loop: asyncio.AbstractEventLoop,
    config_dir: Path,
    tmp_path: Path,
) -> None:
    remote = AppConfig(ollama_host=REMOTE_HOST, data_dir=tmp_path / "data")
    first = open_window(qtbot, remote)
    banner = first.remote_banner
    assert banner.isVisibleTo(first)
    assert "192.0.2.10" in banner.text.text()

    banner.ok_button.click()

    assert not banner.isVisibleTo(first)
    second = open_window(qtbot, remote)
    assert not second.remote_banner.isVisibleTo(second)


def test_a_local_ollama_shows_no_notice(window: MainWindow, config_dir: Path) -> None:
    assert not window.remote_banner.isVisibleTo(window)


def test_switching_to_a_remote_ollama_in_settings_shows_the_notice(
    window: MainWindow, config_dir: Path, gui_config: AppConfig
) -> None:
    window.events.settings_changed.emit(gui_config.with_changes(ollama_host=REMOTE_HOST))

    assert window.remote_banner.isVisibleTo(window)
