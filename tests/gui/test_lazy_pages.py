"""Library and Settings are built on first show, not with the window (a faster first frame).

The window must behave as if they had always been there: the page shown is the real
one, and a local API the user left on starts at launch without Settings being opened.
"""

from __future__ import annotations

import dataclasses
import socket

from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from allma_desktop.gui.controllers.settings_controller import SettingsController
from allma_desktop.gui.main_window import MainWindow
from allma_desktop.gui.orchestrator_host import OrchestratorHost
from allma_desktop.gui.theme import DARK, LIGHT, apply_theme
from allma_desktop.gui.widgets.library_pane import LibraryPane
from allma_desktop.gui.widgets.settings.page import SettingsPage
from tests.gui.conftest import run_async

TIMEOUT_MS = 20_000


def test_library_and_settings_are_built_when_first_shown(window: MainWindow) -> None:
    assert not any(
        isinstance(window.pages.widget(i), LibraryPane | SettingsPage)
        for i in range(window.pages.count())
    )

    window.show_page("library")
    assert isinstance(window.pages.currentWidget(), LibraryPane)
    window.show_page("settings")
    assert isinstance(window.pages.currentWidget(), SettingsPage)

    window.show_page("library")
    assert window.pages.currentWidget() is window.library_page
    assert window.pages.count() == 3


def test_a_remembered_local_api_starts_at_launch_without_opening_settings(
    qtbot: QtBot, host: OrchestratorHost
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    host.config = dataclasses.replace(host.config, api_host="127.0.0.1", api_port=port)
    SettingsController(host).remember_api_enabled(True)  # as if it quit with the API on

    window = MainWindow(host)
    qtbot.addWidget(window)
    api = window.api_controller
    assert api is not None
    try:
        qtbot.waitUntil(lambda: api.running, timeout=TIMEOUT_MS)
        url = api.url

        window.show_page("settings")
        settings = window.settings_page
        assert isinstance(settings, SettingsPage) and settings.local_api is not None
        assert settings.local_api.api_switch.isChecked()
        assert settings.local_api.api_state_label.text() == f"Running at {url}"
        assert api.url == url  # the page did not start a second server
    finally:
        window.health.stop()
        run_async(qtbot, api.shutdown())


def test_the_shell_takes_the_dark_palette_when_the_theme_turns_dark(
    qtbot: QtBot, window: MainWindow
) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    assert LIGHT.sidebar in window.styleSheet()
    try:
        apply_theme(app, "dark")
        qtbot.waitUntil(lambda: DARK.sidebar in window.styleSheet(), timeout=TIMEOUT_MS)
    finally:
        apply_theme(app, "light")
    qtbot.waitUntil(lambda: LIGHT.sidebar in window.styleSheet(), timeout=TIMEOUT_MS)
