"""The Settings card "Storage": the data folder, and backing the library up to one file
or restoring it from one (the library in place is kept aside, not deleted)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from allma_desktop.gui.recent_folders import remember, start_path
from allma_desktop.gui.widgets.settings.card import SettingsCard, problem_text, restyle

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig
    from allma_desktop.errors import AllmaError
    from allma_desktop.gui.controllers.settings_controller import SettingsController
    from allma_desktop.records import BackupResult, RestoreResult

BACKUP_FILES = "Allma backup (*.zip);;All files (*)"


class StorageCard(SettingsCard):
    def __init__(self, controller: SettingsController, parent: QWidget | None = None) -> None:
        super().__init__(
            "Storage", "Your library's database and your chats stay on this computer.", parent
        )
        self.controller = controller
        line = QWidget(self)
        row = QHBoxLayout(line)
        row.setContentsMargins(0, 0, 0, 0)
        self.data_dir_label = QLabel("", line)
        self.data_dir_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.data_dir_label.setWordWrap(True)
        self.open_data_button = QPushButton("Open", line)
        row.addWidget(self.data_dir_label, 1)
        row.addWidget(self.open_data_button)
        self.form.addRow("Data folder", line)
        keep = QWidget(self)
        keep_rows = QVBoxLayout(keep)
        keep_rows.setContentsMargins(0, 0, 0, 0)
        buttons = QHBoxLayout()
        self.backup_button = QPushButton("Back up library…", keep)
        self.backup_button.setToolTip("Save documents, chats and search index to one file")
        self.restore_button = QPushButton("Restore…", keep)
        self.restore_button.setToolTip("Replace the library with a backup; it is kept aside")
        buttons.addWidget(self.backup_button)
        buttons.addWidget(self.restore_button)
        buttons.addStretch(1)
        keep_rows.addLayout(buttons)
        self.backup_status = QLabel("", keep)
        self.backup_status.setObjectName("fieldHint")
        self.backup_status.setWordWrap(True)
        self.backup_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.backup_status.hide()
        keep_rows.addWidget(self.backup_status)
        self.form.addRow("Backup", keep)
        self._wire()

    def _wire(self) -> None:
        c = self.controller
        c.backup_finished.connect(self._show_backup_finished)
        c.backup_failed.connect(self._show_backup_failed)
        c.restore_started.connect(self._show_restore_started)
        c.restore_finished.connect(self._show_restore_finished)
        c.restore_failed.connect(self._show_backup_failed)
        # While a move or a restore has the library closed, it cannot be backed up.
        c.library_busy.connect(self._set_busy)
        c.saved.connect(self.load)
        self.open_data_button.clicked.connect(self.open_data_folder)
        self.backup_button.clicked.connect(self.back_up)
        self.restore_button.clicked.connect(self.restore)

    def load(self, config: AppConfig) -> None:
        self.data_dir_label.setText(str(config.data_dir))

    def open_data_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.controller.config.data_dir)))

    def back_up(self) -> None:
        suggested = start_path("backups", self.controller.default_backup_name())
        chosen, _filter = QFileDialog.getSaveFileName(
            self, "Back up library", suggested, BACKUP_FILES
        )
        if not chosen:
            return
        remember("backups", chosen)
        self._set_busy(True)
        self._show_status("Backing up…", "fieldHint")
        if self.controller.back_up(Path(chosen)) is None:
            self._set_busy(False)

    def restore(self) -> None:
        chosen, _filter = QFileDialog.getOpenFileName(
            self, "Restore library", start_path("backups"), BACKUP_FILES
        )
        if not chosen:
            return
        remember("backups", chosen)
        archive = Path(chosen)
        manifest = self.controller.read_backup(archive)
        if manifest is None:
            return
        answer = QMessageBox.question(
            self,
            "Restore library?",
            f"{archive.name} was made {manifest.created_at} and holds {manifest.documents} "
            f"documents and {manifest.conversations} chats.\n\nIt replaces the library in "
            f"{self.controller.config.data_dir}. The current library is kept aside next to "
            "it, not deleted.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.controller.restore(archive)

    def _set_busy(self, busy: bool) -> None:
        self.backup_button.setEnabled(not busy)
        self.restore_button.setEnabled(not busy)

    def _show_status(self, text: str, style: str) -> None:
        self.backup_status.setText(text)
        restyle(self.backup_status, style)
        self.backup_status.show()

    def _show_backup_finished(self, result: BackupResult) -> None:
        self._set_busy(False)
        manifest = result.manifest
        self._show_status(
            f"Backed up {manifest.documents} documents and {manifest.conversations} chats to "
            f"{result.path} ({result.size_bytes / 1e6:.1f} MB).",
            "fieldHint",
        )

    def _show_backup_failed(self, error: AllmaError) -> None:
        self._set_busy(False)
        self._show_status(problem_text(error), "fieldError")

    def _show_restore_started(self) -> None:
        self._set_busy(True)
        self._show_status("Restoring… the library is closed until it is done.", "fieldHint")

    def _show_restore_finished(self, result: RestoreResult) -> None:
        self._set_busy(False)
        text = (
            f"Restored {result.manifest.documents} documents and "
            f"{result.manifest.conversations} chats."
        )
        if result.previous_data is not None:
            text += f" The previous library is kept in {result.previous_data}."
        self._show_status(text, "fieldHint")
