"""The Settings card "Vector store": the store in use, how to reach a Chroma or Qdrant
server, and moving the library to another store. A move acts at once (after asking):
it copies the vectors as they are, checks the copy, then switches; Save never switches
stores, since a store left behind holds the library."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from allma_desktop.config import VECTOR_STORES
from allma_desktop.gui.theme import inset_spin_box_text
from allma_desktop.gui.widgets.settings.card import SettingsCard, problem_text, restyle

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig
    from allma_desktop.errors import AllmaError
    from allma_desktop.gui.controllers.settings_controller import (
        LibraryMoved,
        SettingsController,
    )
    from allma_desktop.records import MigrationProgress, RestoreResult

STORE_LABELS = {
    "chroma": "Chroma, on this computer",
    "chroma-http": "Chroma server",
    "faiss": "FAISS, on this computer",
    "qdrant": "Qdrant",
}
STORE_SHORT_NAMES = {
    "chroma": "Chroma",
    "chroma-http": "the Chroma server",
    "faiss": "FAISS",
    "qdrant": "Qdrant",
}
# One line each: a hint that wraps differently per choice unsettles the form's layout.
STORE_HINTS = {
    "chroma": "The default: a folder in your data folder.",
    "chroma-http": "A Chroma server, which a team can share.",
    "faiss": "The fastest search for very large libraries.",
    "qdrant": "A Qdrant server, or a Qdrant folder here without an address.",
}
UNAVAILABLE_SUFFIX = " (not available)"


class VectorStoreCard(SettingsCard):
    """``unavailable``: why each store that cannot be used here cannot (its package is
    missing), asked of the controller once: a missing package does not turn up while
    the app runs."""

    def __init__(
        self,
        controller: SettingsController,
        unavailable: Mapping[str, str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(
            "Vector store",
            "Where the passages' vectors are kept for search. Moving the library copies "
            "them as they are: nothing is embedded again.",
            parent,
        )
        self.controller = controller
        self.unavailable_stores = dict(unavailable)
        self._library_busy = False
        self.store_in_use_label = QLabel("", self)
        self.store_in_use_label.setWordWrap(True)
        self.store_in_use_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.form.addRow("In use", self.store_in_use_label)
        self.store_box = QComboBox(self)
        for backend in VECTOR_STORES:
            self.store_box.addItem(STORE_LABELS[backend], backend)
        self.store_box.setAccessibleName("Vector store to move the library to")
        self.add_field("vector_store", self.store_box, hint=" ")  # set per store chosen
        self.store_hint = self.hints["vector_store"]
        # It may say which package to install: let the user copy the command.
        self.store_hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._build_servers()
        self._build_move()
        self._wire()

    def _build_servers(self) -> None:
        server = QWidget(self)
        server_row = QHBoxLayout(server)
        server_row.setContentsMargins(0, 0, 0, 0)
        self.chroma_host_edit = QLineEdit(server)
        self.chroma_host_edit.setPlaceholderText("localhost")
        self.chroma_port_spin = QSpinBox(server)
        self.chroma_port_spin.setRange(1, 65535)
        self.chroma_port_spin.setMaximumWidth(110)
        inset_spin_box_text(self.chroma_port_spin)
        self.chroma_port_spin.setAccessibleName("Chroma server port")
        self.chroma_ssl_check = QCheckBox("SSL", server)
        self.chroma_ssl_check.setAccessibleName("Connect to the Chroma server with SSL")
        server_row.addWidget(self.chroma_host_edit, 1)
        server_row.addWidget(QLabel("Port", server))
        server_row.addWidget(self.chroma_port_spin)
        server_row.addWidget(self.chroma_ssl_check)
        self.add_field("chroma_host", server)
        self.inputs["chroma_host"] = self.chroma_host_edit
        self.inputs["chroma_port"] = self.chroma_port_spin
        self.errors["chroma_port"] = self.errors["chroma_host"]
        self.chroma_token_edit = QLineEdit(self)
        self.chroma_token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.chroma_token_edit.setPlaceholderText("none")
        self.add_field("chroma_token", self.chroma_token_edit)
        self.chroma_token_edit.setAccessibleName("Chroma server token")
        self.qdrant_url_edit = QLineEdit(self)
        self.qdrant_url_edit.setPlaceholderText("http://host:6333, or empty for a folder here")
        self.add_field("qdrant_url", self.qdrant_url_edit)
        self.qdrant_key_edit = QLineEdit(self)
        self.qdrant_key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.qdrant_key_edit.setPlaceholderText("none")
        self.add_field("qdrant_api_key", self.qdrant_key_edit)
        self.qdrant_key_edit.setAccessibleName("Qdrant API key")

    def _build_move(self) -> None:
        move = QWidget(self)
        move_rows = QVBoxLayout(move)
        move_rows.setContentsMargins(0, 0, 0, 0)
        move_rows.setSpacing(4)
        buttons = QHBoxLayout()
        self.move_button = QPushButton("Move library…", move)
        self.move_cancel_button = QPushButton("Cancel", move)
        self.move_cancel_button.setAccessibleName("Cancel moving the library")
        self.move_cancel_button.hide()
        buttons.addWidget(self.move_button)
        buttons.addWidget(self.move_cancel_button)
        buttons.addStretch(1)
        move_rows.addLayout(buttons)
        self.move_progress = QProgressBar(move)
        self.move_progress.setRange(0, 1000)
        self.move_progress.setTextVisible(False)
        self.move_progress.hide()
        move_rows.addWidget(self.move_progress)
        self.move_status = QLabel("", move)
        self.move_status.setObjectName("fieldHint")
        self.move_status.setWordWrap(True)
        self.move_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.move_status.hide()
        move_rows.addWidget(self.move_status)
        self.form.addRow("Move", move)

    def _wire(self) -> None:
        c = self.controller
        c.move_started.connect(self._show_move_started)
        c.move_progress.connect(self._show_move_progress)
        c.move_finished.connect(self._show_move_finished)
        c.move_failed.connect(self._show_move_failed)
        c.library_busy.connect(self._set_library_busy)
        c.restore_finished.connect(self._follow_restore)
        c.saved.connect(self._show_saved)
        self.store_box.currentIndexChanged.connect(self._show_store_fields)
        self.move_button.clicked.connect(self.move_library)
        self.move_cancel_button.clicked.connect(self.cancel_move)

    def load(self, config: AppConfig) -> None:
        self.chroma_host_edit.setText(config.chroma_host)
        self.chroma_port_spin.setValue(config.chroma_port)
        self.chroma_ssl_check.setChecked(config.chroma_ssl)
        self.chroma_token_edit.setText(config.chroma_token)
        self.qdrant_url_edit.setText(config.qdrant_url)
        self.qdrant_key_edit.setText(config.qdrant_api_key)
        self.store_box.setCurrentIndex(max(0, self.store_box.findData(config.vector_store)))
        self._show_store_in_use(config)
        self._show_store_fields()

    def changes(self) -> dict[str, Any]:
        """How to reach a Chroma or Qdrant server (saved with Save, used by Move)."""
        return {
            "chroma_host": self.chroma_host_edit.text().strip(),
            "chroma_port": self.chroma_port_spin.value(),
            "chroma_ssl": self.chroma_ssl_check.isChecked(),
            "chroma_token": self.chroma_token_edit.text().strip(),
            "qdrant_url": self.qdrant_url_edit.text().strip(),
            "qdrant_api_key": self.qdrant_key_edit.text().strip(),
        }

    def _show_saved(self, config: AppConfig) -> None:
        self._show_store_in_use(config)
        self._show_store_fields()

    def _set_library_busy(self, busy: bool) -> None:
        """While a move or a restore has the library closed, no other move may start."""
        self._library_busy = busy
        self._show_store_fields()

    def _follow_restore(self, _result: RestoreResult) -> None:
        # A backup of another store's library switches to that store.
        config = self.controller.config
        self._show_store_in_use(config)
        self.store_box.setCurrentIndex(max(0, self.store_box.findData(config.vector_store)))

    # --- the store in use and the one chosen ----------------------------------------

    def _show_store_in_use(self, config: AppConfig) -> None:
        backend = config.vector_store
        where = self.controller.store_location(config)
        self.store_in_use_label.setText(STORE_LABELS[backend] + (f" · {where}" if where else ""))
        self._show_store_availability(backend)

    def _show_store_availability(self, current: str) -> None:
        """Grey out each store whose package is missing, saying why, before it is picked.
        The one in use stays pickable even so: it is where the library is now."""
        model = self.store_box.model()
        if not isinstance(model, QStandardItemModel):
            return
        for row in range(self.store_box.count()):
            item = model.item(row)
            backend = str(item.data(Qt.ItemDataRole.UserRole))
            reason = self.unavailable_stores.get(backend)
            item.setText(STORE_LABELS[backend] + (UNAVAILABLE_SUFFIX if reason else ""))
            item.setToolTip(reason or "")
            item.setEnabled(reason is None or backend == current)  # greyed by the theme

    def _show_store_fields(self, _index: int = 0) -> None:
        """The chosen store's connection fields, and a Move button named for it."""
        backend = str(self.store_box.currentData())
        self._show_store_hint(backend)
        for key, wanted in (
            ("chroma_host", "chroma-http"),
            ("chroma_token", "chroma-http"),
            ("qdrant_url", "qdrant"),
            ("qdrant_api_key", "qdrant"),
        ):
            self.form.setRowVisible(self.rows[key], backend == wanted)
        current = self.controller.config.vector_store
        if backend == current:
            self.move_button.setText("Move library…")
        else:
            self.move_button.setText(f"Move library to {STORE_SHORT_NAMES[backend]}…")
        self.move_button.setEnabled(
            backend != current and backend not in self.unavailable_stores and not self._library_busy
        )
        self.store_box.setEnabled(not self.controller.moving)

    def _show_store_hint(self, backend: str) -> None:
        current = self.controller.config.vector_store
        in_use = backend == current
        unavailable = self.unavailable_stores.get(backend)
        if unavailable:
            # The reason last: it may end in a command to copy.
            self.store_hint.setText(("In use now. " if in_use else "") + unavailable)
        else:
            self.store_hint.setText(STORE_HINTS[backend] + (" In use now." if in_use else ""))
        restyle(self.store_hint, "fieldError" if unavailable else "fieldHint")
        self.store_box.setToolTip(unavailable or "")
        self.move_button.setToolTip(
            ""
            if backend == current
            else f"Copies the library to {STORE_SHORT_NAMES[backend]}, checks the copy, then "
            f"switches to it. Save alone keeps {STORE_SHORT_NAMES[current]}."
        )

    # --- moving the library ---------------------------------------------------------

    def move_library(self) -> None:
        """Ask, then copy the library to the chosen store and switch to it."""
        backend = str(self.store_box.currentData())
        if backend == self.controller.config.vector_store or backend in self.unavailable_stores:
            return
        self.acting.emit()
        chunks = self.controller.library_chunk_count()
        answer = QMessageBox.question(
            self,
            f"Move the library to {STORE_SHORT_NAMES[backend]}?",
            f"Its {chunks:,} passages are copied to {STORE_LABELS[backend]} and checked, "
            "then Allma uses the copy. The library is closed until then: chats and imports "
            f"wait. {STORE_SHORT_NAMES[self.controller.config.vector_store]} keeps its copy "
            "as it is.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.controller.move_library(backend, self.changes())

    def cancel_move(self) -> None:
        self.move_cancel_button.setEnabled(False)
        self.move_status.setText("Cancelling after the current batch…")
        self.controller.cancel_move()

    def _show_move_started(self, backend: str) -> None:
        self.move_progress.setRange(0, 0)  # busy until the first batch says how many
        self.move_progress.show()
        self.move_cancel_button.setEnabled(True)
        self.move_cancel_button.show()
        self._show_move_status(
            f"Moving the library to {STORE_SHORT_NAMES[backend]}… it is closed until done.",
            "fieldHint",
        )

    def _show_move_progress(self, progress: MigrationProgress) -> None:
        total = progress.library_total
        if total <= 0:
            return
        self.move_progress.setRange(0, 1000)
        self.move_progress.setValue(round(1000 * progress.library_copied / total))
        if progress.library_copied >= total:
            self.move_status.setText(f"Copied {total:,} passages; checking the copy…")
        else:
            self.move_status.setText(f"Copied {progress.library_copied:,} of {total:,} passages…")

    def _show_move_finished(self, moved: LibraryMoved) -> None:
        self._end_move()
        self.load(self.controller.config)
        report = moved.report
        collections = len(report.collections)
        text = (
            f"✓ Moved and checked {report.chunks:,} passages in {collections} "
            f"collection{'s' if collections != 1 else ''}; the library now uses "
            f"{STORE_SHORT_NAMES[moved.backend]}."
        )
        if moved.resumed:
            text += f" {moved.resumed:,} were already there from an earlier, interrupted move."
        if moved.previous_folder is not None:
            text += (
                f" The {STORE_SHORT_NAMES[moved.previous_backend]} copy is still in "
                f"{moved.previous_folder}; delete it once you are happy."
            )
        if moved.overridden_by is not None:
            text += (
                f" Note: VECTOR_STORE={moved.overridden_by} in your environment still "
                "wins at the next start; change or unset it."
            )
        self._show_move_status(text, "fieldSuccess")

    def _show_move_failed(self, error: AllmaError) -> None:
        self._end_move()
        self._show_move_status(problem_text(error), "fieldError")

    def _end_move(self) -> None:
        self.move_progress.hide()
        self.move_cancel_button.hide()

    def _show_move_status(self, text: str, style: str) -> None:
        self.move_status.setText(text)
        restyle(self.move_status, style)
        self.move_status.show()
