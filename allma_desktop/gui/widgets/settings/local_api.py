"""The Settings card "Local API": a switch that runs the app's HTTP API, its state, the
token clients send (masked until revealed), and a warning when it listens beyond this
machine. The switch acts at once and is remembered for the next launch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from allma_desktop.gui.widgets.settings.card import SettingsCard, restyle

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig
    from allma_desktop.gui.controllers.api_controller import ApiController
    from allma_desktop.gui.controllers.settings_controller import SettingsController

API_DESCRIPTION = (
    "Lets scripts and OpenAI-compatible tools use your library while Allma runs. "
    "Clients send the token below."
)


class LocalApiCard(SettingsCard):
    def __init__(
        self,
        controller: SettingsController,
        api: ApiController,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Local API", API_DESCRIPTION, parent)
        self.controller = controller
        self.api = api
        holder = QWidget(self)
        rows = QVBoxLayout(holder)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(3)
        self.api_switch = QCheckBox("Run the local API", holder)
        self.api_switch.setObjectName("switch")
        self.api_switch.setAccessibleName("Run the local API")
        self.api_state_label = QLabel("Off", holder)
        self.api_state_label.setObjectName("fieldHint")
        self.api_state_label.setWordWrap(True)
        self.api_state_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        rows.addWidget(self.api_switch)
        rows.addWidget(self.api_state_label)
        self.form.addRow("Local API", holder)
        line = QWidget(self)
        row = QHBoxLayout(line)
        row.setContentsMargins(0, 0, 0, 0)
        self.api_token_edit = QLineEdit(line)
        self.api_token_edit.setReadOnly(True)
        self.api_token_edit.setAccessibleName("API token")
        self.api_token_edit.setText(api.token())
        # Masked: a screenshot or a screen share must not give the library away.
        self.api_token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_reveal_button = QPushButton("Reveal", line)
        self.api_reveal_button.setCheckable(True)
        self.api_reveal_button.setAccessibleName("Show the API token")
        self.api_copy_button = QPushButton("Copy", line)
        self.api_copy_button.setAccessibleName("Copy the API token")
        row.addWidget(self.api_token_edit, 1)
        row.addWidget(self.api_reveal_button)
        row.addWidget(self.api_copy_button)
        self.form.addRow("Token", line)
        self.api_warning_label = QLabel("", self)
        self.api_warning_label.setObjectName("noticeBanner")
        self.api_warning_label.setWordWrap(True)
        self.api_warning_label.hide()
        self.form.addRow("", self.api_warning_label)
        self.api_reveal_button.toggled.connect(self._reveal_api_token)
        api.state_changed.connect(self._show_api_state)
        self.api_switch.toggled.connect(self._toggle_api)
        self.api_copy_button.clicked.connect(self.copy_api_token)
        controller.saved.connect(self._show_api_exposure)

    def load(self, config: AppConfig) -> None:
        self._show_api_exposure(config)

    def resume(self) -> None:
        """Turn the switch on if the user left it on: the API starts once the engine is open."""
        if self.controller.api_enabled:
            self.api_switch.setChecked(True)
            if self.api.running:  # the page is built on first show: the window started it
                self._show_api_state(True, "")

    def _show_api_state(self, running: bool, message: str) -> None:
        """The URL while running; otherwise "Off", or why it could not start."""
        url = self.api.url
        if running and url:
            self.api_state_label.setText(f"Running at {url}")
            restyle(self.api_state_label, "fieldSuccess")
            return
        failed = message not in ("", "Stopped")
        self.api_state_label.setText(f"✕ {message}" if failed else "Off")
        restyle(self.api_state_label, "fieldError" if failed else "fieldHint")
        if failed and self.api_switch.isChecked():
            # Show it off without forgetting the choice: the next launch tries again.
            self.api_switch.blockSignals(True)
            self.api_switch.setChecked(False)
            self.api_switch.blockSignals(False)

    def _show_api_exposure(self, config: AppConfig) -> None:
        warning = self.api.exposure_warning(config.api_host, config.api_port)
        self.api_warning_label.setText(warning or "")
        self.api_warning_label.setVisible(warning is not None)

    def _reveal_api_token(self, shown: bool) -> None:
        self.api_token_edit.setEchoMode(
            QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password
        )
        self.api_reveal_button.setText("Hide" if shown else "Reveal")

    def copy_api_token(self) -> None:
        QGuiApplication.clipboard().setText(self.api_token_edit.text())
        self.api_copy_button.setText("Copied")

    def _toggle_api(self, on: bool) -> None:
        self.controller.remember_api_enabled(on)
        if on:
            self.api_state_label.setText("Starting…")
            restyle(self.api_state_label, "fieldHint")
            self.controller.when_engine_ready(self._start_api_if_on)
        else:
            self.api.stop()

    def _start_api_if_on(self) -> None:
        # The switch may have been turned off again while the engine was opening.
        if self.api_switch.isChecked():
            self.api.start()
