"""The Settings card "Use from other apps": a ready-to-paste MCP configuration for Claude
Desktop, VS Code or Cursor, with a Copy button. The host then starts ``allma mcp`` itself
and can search your library, ask it, and read pages."""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QWidget,
)

from allma_desktop.gui.widgets.settings.card import SettingsCard
from allma_desktop.mcp_config import HOSTS, host_config, mcp_command

SUBTITLE = (
    "Let AI assistants look things up in your documents: paste this into the app's MCP "
    "configuration, then ask it to search your papers. It gets passages with file and "
    "page; it cannot change your library."
)


class McpCard(SettingsCard):
    def __init__(self, parent: QWidget | None = None, command: list[str] | None = None) -> None:
        super().__init__("Use from other apps", SUBTITLE, parent)
        self._command = command or mcp_command()
        line = QWidget(self)
        row = QHBoxLayout(line)
        row.setContentsMargins(0, 0, 0, 0)
        self.host_box = QComboBox(line)
        for host in HOSTS:
            self.host_box.addItem(host.name)
        self.host_box.setAccessibleName("App to connect")
        self.copy_button = QPushButton("Copy", line)
        self.copy_button.setAccessibleName("Copy the MCP configuration")
        row.addWidget(self.host_box, 1)
        row.addWidget(self.copy_button)
        self.form.addRow("App", line)
        self.config_edit = QPlainTextEdit(self)
        self.config_edit.setReadOnly(True)
        self.config_edit.setAccessibleName("MCP configuration")
        self.config_edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.form.addRow("Configuration", self.config_edit)
        self.where_label = QLabel("", self)
        self.where_label.setObjectName("fieldHint")
        self.where_label.setWordWrap(True)
        self.form.addRow("", self.where_label)
        self.host_box.currentIndexChanged.connect(self._show_host)
        self.copy_button.clicked.connect(self.copy)
        self._show_host()

    def _show_host(self, _index: int = 0) -> None:
        host = HOSTS[max(0, self.host_box.currentIndex())]
        text = host_config(host, self._command)
        self.config_edit.setPlainText(text)
        lines = text.count("\n") + 1  # the whole snippet, without a scroll bar
        spacing = self.config_edit.fontMetrics().lineSpacing()
        self.config_edit.setFixedHeight(lines * spacing + 2 * spacing)
        self.where_label.setText(f"Add it in {host.where}, then restart {host.name}.")
        self.copy_button.setText("Copy")

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.config_edit.toPlainText())
        self.copy_button.setText("Copied")
