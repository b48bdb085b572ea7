"""Runs ``allma-desktop`` (``gui.app.main``) for the tests that signal or time a real process.

    python -m tests.support.gui_app_driver [--tray] [APP ARGUMENTS...]

Configuration comes from the environment (ALLMA_DATA_DIR, OLLAMA_HOST, QT_QPA_PLATFORM,
...), as for the app. ``--tray`` makes the desktop look as if it had a system tray with
close-to-tray on (the offscreen platform has none), as on most Linux desktops. It prints
``ready`` once the engine is open, ``quick ask open`` when the quick-ask popup appears,
``shortcut: MESSAGE`` with the quick-ask key's state once ready, and ``exit N`` with the
app's exit code at the end.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from allma_desktop.gui import app as gui_app
from allma_desktop.gui.main_window import MainWindow


def say(line: str) -> None:
    print(line, flush=True)


def announce_when_ready() -> None:
    application = QApplication.instance()
    if application is not None:
        for widget in application.topLevelWidgets():  # type: ignore[attr-defined]
            if isinstance(widget, MainWindow) and widget.host.ready:
                shortcut = widget.quick_ask_shortcut
                if shortcut is not None:
                    say(f"shortcut: {shortcut.state.message}")
                say("ready")
                QTimer.singleShot(50, announce_quick_ask)
                return
    QTimer.singleShot(50, announce_when_ready)


def announce_quick_ask() -> None:
    """Say "quick ask open" each time the quick-ask popup appears."""
    from allma_desktop.gui.widgets.quick_ask import QuickAskWindow

    application = QApplication.instance()
    visible = application is not None and any(
        isinstance(widget, QuickAskWindow) and widget.isVisible()
        for widget in application.topLevelWidgets()  # type: ignore[attr-defined]
    )
    if visible and not announce_quick_ask.shown:  # type: ignore[attr-defined]
        say("quick ask open")
    announce_quick_ask.shown = visible  # type: ignore[attr-defined]
    QTimer.singleShot(50, announce_quick_ask)


announce_quick_ask.shown = False  # type: ignore[attr-defined]


def main(arguments: list[str]) -> int:
    if arguments[:1] == ["--tray"]:
        arguments = arguments[1:]
        from allma_desktop.gui.controllers.settings_controller import CLOSE_TO_TRAY_KEY
        from allma_desktop.gui.tray import TrayIcon

        TrayIcon.tray_available = staticmethod(lambda: True)  # type: ignore[method-assign]
        QSettings("Allma", "Allma Desktop").setValue(CLOSE_TO_TRAY_KEY, True)
    QApplication(["allma-desktop"])  # main() uses this one, as a test's qapp
    QTimer.singleShot(50, announce_when_ready)
    code = gui_app.main(["allma-desktop", *arguments])
    say(f"exit {code}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
