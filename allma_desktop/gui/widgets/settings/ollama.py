"""The Settings card "Ollama": its address, a connection test, and how long to wait."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from allma_desktop.config import MAX_CONNECT_TIMEOUT, MAX_READ_TIMEOUT
from allma_desktop.gui.widgets.settings.card import SettingsCard, restyle, seconds_box

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig
    from allma_desktop.gui.controllers.settings_controller import (
        ConnectionResult,
        SettingsController,
    )


class OllamaCard(SettingsCard):
    def __init__(self, controller: SettingsController, parent: QWidget | None = None) -> None:
        super().__init__("Ollama", "Allma talks to Ollama, which runs the models.", parent)
        self.controller = controller
        self.host_edit = QLineEdit(self)
        self.host_edit.setPlaceholderText("http://localhost:11434")
        self.test_button = QPushButton("Test connection", self)
        line = QWidget(self)
        row = QHBoxLayout(line)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.host_edit, 1)
        row.addWidget(self.test_button)
        self.add_field("ollama_host", line)
        self.inputs["ollama_host"] = self.host_edit
        self.connection_label = QLabel("", self)
        self.connection_label.setWordWrap(True)
        self.connection_label.hide()
        self.form.addRow("", self.connection_label)
        self.connect_timeout_spin = seconds_box(self, 0.5, MAX_CONNECT_TIMEOUT)
        self.add_field(
            "ollama_connect_timeout",
            self.connect_timeout_spin,
            "How long to wait for the address to answer before saying Ollama is unreachable.",
        )
        self.read_timeout_spin = seconds_box(self, 1.0, MAX_READ_TIMEOUT)
        self.add_field(
            "request_timeout",
            self.read_timeout_spin,
            "How long to wait for each part of an answer; allow for a large model loading.",
        )
        controller.connection_tested.connect(self._show_connection)
        # An address that cannot be tested is shown as invalid: it may be tested again.
        controller.invalid.connect(lambda _error: self.test_button.setEnabled(True))
        self.test_button.clicked.connect(self.test_connection)
        self.host_edit.returnPressed.connect(self.test_connection)
        # "Connected · 5 models" spoke of the address tested; a new one has not been.
        self.host_edit.textEdited.connect(lambda _text: self.connection_label.hide())
        # ... and of that moment: a download finished since (a model more), or Settings
        # opened again later (Ollama may have stopped), it is tested again.
        controller.models_loaded.connect(lambda _models: self.retest_shown_result())

    def load(self, config: AppConfig) -> None:
        self.host_edit.setText(config.ollama_host)
        self.connect_timeout_spin.setValue(config.ollama_connect_timeout)
        self.read_timeout_spin.setValue(config.request_timeout)

    def changes(self) -> dict[str, Any]:
        return {
            "ollama_host": self.host_edit.text().strip(),
            "ollama_connect_timeout": self.connect_timeout_spin.value(),
            "request_timeout": self.read_timeout_spin.value(),
        }

    def test_connection(self) -> None:
        self.acting.emit()
        self._run_test()

    def retest_shown_result(self) -> None:
        """Test again the address in use whose result is on screen (none is started for an
        address being edited, or while a test runs)."""
        shown = self.connection_label.isVisibleTo(self) and self.test_button.isEnabled()
        in_use = self.host_edit.text().strip() == self.controller.config.ollama_host
        if shown and in_use:
            self._run_test()

    def showEvent(self, event: QShowEvent) -> None:  # Qt's name
        super().showEvent(event)
        if not event.spontaneous():
            self.retest_shown_result()

    def _run_test(self) -> None:
        self.test_button.setEnabled(False)
        self.connection_label.setText("Testing…")
        restyle(self.connection_label, "fieldHint")
        self.connection_label.show()
        self.controller.test_connection(self.host_edit.text())

    def _show_connection(self, result: ConnectionResult) -> None:
        self.test_button.setEnabled(True)
        self.connection_label.setText(("✓ " if result.ok else "✕ ") + result.message)
        restyle(self.connection_label, "fieldSuccess" if result.ok else "fieldError")
        self.connection_label.show()
