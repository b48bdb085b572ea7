"""The status bar: Ollama's state (connected, version, model) with a Reconnect action."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import QLabel, QStatusBar, QToolButton, QWidget

from allma_desktop.gui.theme import Colors, current_colors

if TYPE_CHECKING:
    from allma_desktop.errors import AllmaError
    from allma_desktop.records import HealthReport


class AppStatusBar(QStatusBar):
    reconnect_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("appStatusBar")
        self.setSizeGripEnabled(False)
        # Room at both ends: the dot and the last label were drawn against the window edge.
        self.setContentsMargins(8, 0, 10, 0)
        self.dot = QLabel("●", self)
        self.dot.setObjectName("statusDot")
        self.dot.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.dot.setMinimumWidth(self.dot.fontMetrics().horizontalAdvance("●") + 6)
        self.ollama = QLabel("Starting…", self)
        self.ollama.setObjectName("ollamaStatus")
        self.ollama.setAccessibleName("Ollama status")
        self.library = QLabel("", self)
        self.library.setObjectName("libraryStatus")
        self.reconnect = QToolButton(self)
        self.reconnect.setText("Reconnect")
        self.reconnect.setObjectName("reconnectButton")
        self.reconnect.setAccessibleName("Reconnect to Ollama")
        self.reconnect.setToolTip("Check Ollama again now")
        self.reconnect.setAutoRaise(True)
        self.reconnect.clicked.connect(self.reconnect_requested)
        self.addWidget(self.dot)
        self.addWidget(self.ollama, 1)
        self.addPermanentWidget(self.library)
        self.addPermanentWidget(self.reconnect)
        self._set_state("starting")
        self.reconnect.hide()

    def show_checking(self, checking: bool) -> None:
        self.reconnect.setEnabled(not checking)
        if checking and self.property("state") != "ok":
            self.ollama.setText("Checking Ollama…")

    def show_report(self, report: HealthReport) -> None:
        ollama = report.ollama
        if ollama.reachable:
            version = f" {ollama.version}" if ollama.version else ""
            if ollama.ok:
                self.ollama.setText(f"{ollama.server}{version} connected · {ollama.chat_model}")
                self._set_state("ok")
            else:
                missing = [
                    name
                    for name, present in (
                        (ollama.chat_model, ollama.chat_model_present),
                        (ollama.embedding_model, ollama.embedding_model_present),
                    )
                    if not present
                ]
                what = ", ".join(missing) if missing else "a model"
                self.ollama.setText(f"{ollama.server}{version} connected · missing {what}")
                self._set_state("warning")
        else:
            self.ollama.setText(f"{ollama.server} not reachable at {ollama.host}")
            self._set_state("error")
        # The data folder, the database or the vector store (a damaged index, say).
        trouble = report.store_error or report.database_error or report.vectors_error
        if trouble is not None:
            self.ollama.setText(self.ollama.text() + f" · {trouble.message}")
            self._set_state("error")
        # Counted and worded as the Library's header and the chat's picker (library_counts).
        self.library.setText(report.document_counts.summary())
        self.reconnect.setVisible(not report.ok)

    def show_engine_failed(self, error: AllmaError) -> None:
        self.ollama.setText(error.message)
        self._set_state("error")

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        state = self.property("state")  # None until the dot exists
        if event.type() == QEvent.Type.PaletteChange and isinstance(state, str):
            self._paint_dot(state)  # the theme changed: take its dot colour

    def _set_state(self, state: str) -> None:
        self.setProperty("state", state)
        self._paint_dot(state)
        self.dot.setAccessibleName(
            {"ok": "Connected", "warning": "Needs attention"}.get(state, state)
        )

    def _paint_dot(self, state: str) -> None:
        self.dot.setStyleSheet(f"color: {dot_color(state, current_colors())};")


def dot_color(state: str, colors: Colors) -> str:
    """The status dot's colour for ``state`` ("ok", "warning", "error"; else not checked)."""
    return {
        "ok": colors.status_ok,
        "warning": colors.status_warning,
        "error": colors.status_error,
    }.get(state, colors.status_idle)
