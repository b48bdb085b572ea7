"""The tray icon: quick ask, show the window, pause indexing, quit; close keeps running.

The quick-ask key (Ctrl+Shift+Space unless changed in Settings) works while any Allma
window has focus, and from any program where the platform lets the app take a key
(``gui/global_shortcut.py``: X11, Windows, macOS, the Wayland portal). Elsewhere the tray
menu opens quick ask, or a desktop shortcut bound to ``allma-desktop --quick-ask`` (which
hands off to the running app: ``gui/single_instance.py``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QApplication, QMainWindow, QMenu, QSystemTrayIcon

from allma_desktop.gui.controllers.settings_controller import close_to_tray_enabled
from allma_desktop.gui.global_shortcut import DEFAULT_SHORTCUT, saved_shortcut
from allma_desktop.gui.quitting import application_quitting, quit_application
from allma_desktop.gui.theme import app_icon

if TYPE_CHECKING:
    from allma_desktop.gui.app_events import AppEvents
    from allma_desktop.gui.controllers.library_controller import BatchSummary, LibraryController
    from allma_desktop.gui.global_shortcut import GlobalShortcut, ShortcutState
    from allma_desktop.gui.widgets.quick_ask import QuickAskWindow

log = logging.getLogger(__name__)

QUICK_ASK_SHORTCUT = DEFAULT_SHORTCUT
LONG_JOB_SECONDS = 10.0  # indexing this long earns a notification when the window is hidden


class TrayIcon(QSystemTrayIcon):
    def __init__(
        self,
        window: QMainWindow,
        events: AppEvents,
        quick_ask: QuickAskWindow,
        parent: QObject | None = None,
        shortcut: GlobalShortcut | None = None,
    ) -> None:
        super().__init__(app_icon(), parent or window)
        self.window = window
        self.events = events
        self.quick_ask = quick_ask
        self.global_shortcut = shortcut
        self.quitting = False
        self._told_about_tray = False
        self.setToolTip("Allma")

        self.menu = QMenu()
        self.quick_ask_action = QAction("Quick ask…", self.menu)
        self.show_action = QAction("Show window", self.menu)
        self.pause_action = QAction("Pause indexing", self.menu)
        self.pause_action.setCheckable(True)
        self.quit_action = QAction("Quit Allma", self.menu)
        self.menu.addAction(self.quick_ask_action)
        self.menu.addAction(self.show_action)
        self.menu.addSeparator()
        self.menu.addAction(self.pause_action)
        self.menu.addSeparator()
        self.menu.addAction(self.quit_action)
        self.setContextMenu(self.menu)

        self.quick_ask_action.triggered.connect(self.open_quick_ask)
        self.show_action.triggered.connect(self.show_window)
        self.pause_action.toggled.connect(self._set_paused)
        self.quit_action.triggered.connect(self.quit)
        self.activated.connect(self._on_activated)
        events.open_conversation.connect(self.show_window)

        # Inside the app the key always works; from other programs where the platform allows.
        self.in_app_shortcut = QShortcut(window)
        self.in_app_shortcut.setContext(Qt.ShortcutContext.ApplicationShortcut)
        self.in_app_shortcut.activated.connect(self.open_quick_ask)
        if shortcut is not None:
            shortcut.activated.connect(self.open_quick_ask)
            shortcut.state_changed.connect(self._use_shortcut)
            self._use_shortcut(shortcut.state)
        else:
            self._set_key(saved_shortcut())

        library = self.library
        self.pause_action.setEnabled(library is not None)
        if library is not None:
            library.paused_changed.connect(self.pause_action.setChecked)
            library.batch_finished.connect(self._on_batch_finished)

        window.installEventFilter(self)
        if self.tray_available():
            QApplication.setQuitOnLastWindowClosed(False)
            self.show()

    @property
    def library(self) -> LibraryController | None:
        """The main window's library controller, when the library page exists."""
        controller = getattr(self.window, "library_controller", None)
        return controller if controller is not None and hasattr(controller, "set_paused") else None

    @staticmethod
    def tray_available() -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()

    def _use_shortcut(self, state: ShortcutState) -> None:
        self._set_key(state.sequence)

    def _set_key(self, sequence: str) -> None:
        keys = QKeySequence(sequence)
        self.in_app_shortcut.setKey(keys)
        self.quick_ask_action.setShortcut(keys)

    # --- actions ------------------------------------------------------------------------

    def open_quick_ask(self) -> None:
        self.quick_ask.open_popup()

    def show_window(self, _conversation_id: int | None = None) -> None:
        window = self.window
        if window.isMinimized():
            window.showNormal()
        window.show()
        window.raise_()
        window.activateWindow()

    def quit(self) -> None:
        """Really quit: save the window's layout (its closeEvent), then end the event loop."""
        self.quitting = True
        self.hide()
        quit_application()

    def _set_paused(self, paused: bool) -> None:
        library = self.library
        if library is not None:
            library.set_paused(paused)

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            if self.window.isVisible() and not self.window.isMinimized():
                self.window.hide()
            else:
                self.show_window()

    # --- close keeps running --------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window and event.type() == QEvent.Type.Close and not self.quitting:
            if application_quitting():  # Quit, Ctrl+Q, SIGTERM, logout: let the close pass
                self.quitting = True
                self.quick_ask.close()
                return super().eventFilter(watched, event)
            if self.tray_available() and close_to_tray_enabled():
                event.ignore()
                self.window.hide()
                if not self._told_about_tray:
                    self._told_about_tray = True
                    self.showMessage(
                        "Allma is still running",
                        "Find it in the tray. Quit from the tray menu.",
                        app_icon(),
                        4000,
                    )
                return True
            # Closing really closes: let the window save its layout, then end the app.
            self.quitting = True
            self.quick_ask.close()
            QApplication.setQuitOnLastWindowClosed(True)
        return super().eventFilter(watched, event)

    # --- notifications --------------------------------------------------------------------

    def _on_batch_finished(self, summary: BatchSummary) -> None:
        if self.window.isVisible() or summary.seconds < LONG_JOB_SECONDS:
            return
        title, text = notification_text(summary)
        self.showMessage(title, text, app_icon(), 8000)


def notification_text(summary: BatchSummary) -> tuple[str, str]:
    """The title and text of the "indexing finished" desktop notification."""
    if summary.error is not None:
        return "Indexing stopped", summary.error.message
    parts = [f"{summary.indexed} document{'s' if summary.indexed != 1 else ''} ready"]
    if summary.failed:
        parts.append(f"{summary.failed} could not be read")
    if summary.skipped:
        parts.append(f"{summary.skipped} skipped")
    if summary.files_cancelled:
        parts.append(f"{summary.files_cancelled} cancelled")
    title = "Indexing cancelled" if summary.cancelled else "Your library is up to date"
    return title, ", ".join(parts) + "."


__all__ = ["LONG_JOB_SECONDS", "QUICK_ASK_SHORTCUT", "TrayIcon", "notification_text"]
