"""Runs ``allma-desktop`` (``gui.app.main``) for the tests that signal or time a real process.

    python -m tests.support.gui_app_driver [--tray] [--display-lost[-while-quitting]] [ARGS...]

Configuration comes from the environment (ALLMA_DATA_DIR, OLLAMA_HOST, QT_QPA_PLATFORM,
...), as for the app. ``--tray`` makes the desktop look as if it had a system tray with
close-to-tray on (the offscreen platform has none), as on most Linux desktops.
``--display-lost`` does what Qt's X11 platform does when the X server goes away (the end
of a desktop session): from then on it ends every turn of the event loop with
``QCoreApplication.exit(1)``; it starts once the app is ready, or with
``--display-lost-while-quitting`` once the app has begun to quit. It prints
``ready`` once the engine is open, ``quick ask open`` when the quick-ask popup appears,
``shortcut: MESSAGE`` with the quick-ask key's state once ready, and ``exit N`` with the
app's exit code at the end.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from allma_desktop.gui import app as gui_app
from allma_desktop.gui.main_window import MainWindow
from allma_desktop.gui.quitting import application_quitting

DISPLAY_LOST = "--display-lost"
DISPLAY_LOST_WHILE_QUITTING = "--display-lost-while-quitting"


def say(line: str) -> None:
    print(line, flush=True)


class DisplayLoss:
    """Qt's xcb platform after its connection broke: each turn of the event loop finds the
    connection dead, warns and calls ``QCoreApplication::exit(1)`` (so ``exec`` returns 1,
    and any later ``exec`` returns 1 at its first turn)."""

    def __init__(self) -> None:
        self._timer = QTimer()
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._end_the_loop)

    def start(self) -> None:
        self._timer.start()

    def start_once_quitting(self) -> None:
        if application_quitting():
            self.start()
        else:
            QTimer.singleShot(5, self.start_once_quitting)

    def _end_the_loop(self) -> None:
        say("The X11 connection broke (emulated)")
        QCoreApplication.exit(1)


def announce_when_ready(on_ready: Callable[[], None] | None = None) -> None:
    application = QApplication.instance()
    if application is not None:
        for widget in application.topLevelWidgets():  # type: ignore[attr-defined]
            if isinstance(widget, MainWindow) and widget.host.ready:
                shortcut = widget.quick_ask_shortcut
                if shortcut is not None:
                    say(f"shortcut: {shortcut.state.message}")
                say("ready")
                QTimer.singleShot(50, announce_quick_ask)
                if on_ready is not None:
                    on_ready()
                return
    QTimer.singleShot(50, lambda: announce_when_ready(on_ready))


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
    display_lost = (
        arguments[0] if arguments[:1] in ([DISPLAY_LOST], [DISPLAY_LOST_WHILE_QUITTING]) else None
    )
    if display_lost is not None:
        arguments = arguments[1:]
    QApplication(["allma-desktop"])  # main() uses this one, as a test's qapp
    on_ready: Callable[[], None] | None = None
    if display_lost is not None:
        loss = DisplayLoss()
        on_ready = loss.start if display_lost == DISPLAY_LOST else loss.start_once_quitting
    QTimer.singleShot(50, lambda: announce_when_ready(on_ready))
    code = gui_app.main(["allma-desktop", *arguments])
    say(f"exit {code}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
