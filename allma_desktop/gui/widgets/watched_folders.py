"""The Library page's watched folders: a compact card per collection, and its dialogs.

One line per folder of the collection shown: its state (watching, scanning, paused,
offline), files pending, last sync and problems (listed in a tooltip); Pause/Resume, and
a menu to edit its ignore rules or stop watching it (its documents stay). Every action
goes through the ``LibraryController``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from allma_desktop.gui.theme import current_colors

if TYPE_CHECKING:
    from allma_desktop.gui.controllers.library_controller import LibraryController
    from allma_desktop.indexer.events import FolderState

MAX_PROBLEMS_IN_TOOLTIP = 15
MAX_FOLDERS_SHOWN = 6  # more than this: the card scrolls rather than push the table away


def state_text(state: FolderState) -> str:
    """What the folder is doing, for its line: "Watching · 3 pending"."""
    text = {
        "watching": "Watching",
        "scanning": "Scanning…",
        "paused": "Paused",
        "offline": "Offline — folder not found, documents kept",
    }.get(state.status, state.status.capitalize())
    if state.pending and state.status != "offline":
        text += f" · {state.pending:,} pending"
    return text


def last_sync_text(moment: datetime | None) -> str:
    if moment is None:
        return "not synced yet"
    local = moment.astimezone()
    if local.date() == datetime.now().astimezone().date():
        return f"synced {local:%H:%M}"
    return f"synced {local.day} {local:%b %Y}"


def problems_text(state: FolderState) -> str:
    """The folder's problems for a tooltip, one a line (the first few of many)."""
    lines = [f"{path}: {what}" for path, what in state.problems[:MAX_PROBLEMS_IN_TOOLTIP]]
    more = len(state.problems) - MAX_PROBLEMS_IN_TOOLTIP
    if more > 0:
        lines.append(f"… and {more:,} more")
    return "\n".join(lines)


class StateDot(QWidget):
    """A small coloured dot: green watching, accent scanning, grey paused, amber offline."""

    def __init__(self, status: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.status = status
        self.setFixedSize(10, 10)

    def paintEvent(self, event: QPaintEvent) -> None:
        colors = current_colors()
        color = {
            "watching": colors.success,
            "scanning": colors.accent,
            "paused": colors.muted,
            "offline": colors.warning,
        }.get(self.status, colors.muted)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(color))
        painter.drawEllipse(1, 1, 8, 8)


class FolderLine(QWidget):
    """One watched folder: dot, name, state · last sync · problems, Pause, ⋯ menu."""

    def __init__(
        self, state: FolderState, controller: LibraryController, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.controller = controller
        folder = state.folder
        self.setObjectName("folderLine")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        layout.setSpacing(8)
        self.dot = StateDot(state.status, self)
        self.name_label = QLabel(Path(folder.path).name or folder.path, self)
        self.name_label.setObjectName("folderName")
        self.name_label.setToolTip(folder.path)
        self.name_label.setMinimumWidth(60)
        self.details_label = QLabel(self)
        self.details_label.setObjectName("folderState")
        self.details_label.setMinimumWidth(60)
        self.problems_label = QLabel("", self)
        self.problems_label.setObjectName("folderProblems")
        self.pause_button = QToolButton(self)
        self.pause_button.clicked.connect(self._toggle_pause)
        self.show_state(state)
        self.menu_button = QToolButton(self)
        self.menu_button.setText("⋯")
        self.menu_button.setToolTip("Ignore rules, stop watching")
        self.menu_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self)
        self.rules_action = menu.addAction("Edit ignore rules…")
        self.rules_action.triggered.connect(self.edit_rules)
        menu.addSeparator()
        self.stop_action = menu.addAction("Stop watching…")
        self.stop_action.triggered.connect(self.stop_watching)
        self.menu_button.setMenu(menu)
        layout.addWidget(self.dot, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.name_label)
        layout.addWidget(self.details_label, 1)
        layout.addWidget(self.problems_label)
        layout.addWidget(self.pause_button)
        layout.addWidget(self.menu_button)
        self.setToolTip(folder.path)

    def show_state(self, state: FolderState) -> None:
        """This line for the folder's state now: its counts, last sync, problems, pause.
        Updated in place: the counts change about once a second while the folder syncs,
        and a new line each time (with its buttons and menu) cost the window 18 ms."""
        self.state = state
        folder = state.folder
        if self.dot.status != state.status:
            self.dot.status = state.status
            self.dot.update()
        self.details_label.setText(
            " · ".join([state_text(state), last_sync_text(folder.last_sync)])
        )
        if self.details_label.property("status") != state.status:
            self.details_label.setProperty("status", state.status)
            self.details_label.style().unpolish(self.details_label)  # the colour follows
            self.details_label.style().polish(self.details_label)
        count = len(state.problems)
        self.problems_label.setText(
            f"⚠ {count:,} problem{'s' if count != 1 else ''}" if count else ""
        )
        self.problems_label.setToolTip(problems_text(state) if count else "")
        self.problems_label.setVisible(bool(count))
        paused = folder.paused
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.setToolTip(
            "Follow this folder's changes again"
            if paused
            else "Stop following this folder's changes for now (its documents stay searchable)"
        )
        self.pause_button.setEnabled(state.status != "offline" or paused)

    def _toggle_pause(self) -> None:
        folder = self.state.folder
        self.controller.set_folder_paused(folder.path, not folder.paused)

    def edit_rules(self) -> None:
        dialog = IgnoreRulesDialog(self.state, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            ignore, cap = dialog.rules()
            self.controller.set_folder_rules(self.state.folder.path, ignore, cap)

    def stop_watching(self) -> None:
        path = self.state.folder.path
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Stop watching",
            f"Stop watching “{path}”?\n\nIts documents stay in the library and can still be "
            "searched; new, changed or deleted files in it are no longer followed.",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        stop = box.addButton("Stop watching", QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(stop)
        box.exec()
        if box.clickedButton() is stop:
            self.controller.remove_folder(path)


class WatchedFoldersCard(QFrame):
    """The current collection's watched folders; hidden when it has none."""

    def __init__(self, controller: LibraryController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setObjectName("watchedFolders")
        self.lines: list[FolderLine] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 8, 8, 8)
        layout.setSpacing(2)
        self.title_label = QLabel("Watched folders", self)
        self.title_label.setObjectName("cardTitle")
        layout.addWidget(self.title_label)
        self._lines_layout = QVBoxLayout()
        self._lines_layout.setSpacing(0)
        layout.addLayout(self._lines_layout)
        controller.folders_changed.connect(self.refresh)
        controller.current_collection_changed.connect(self.refresh)
        self.refresh()

    def shown_folders(self) -> list[FolderState]:
        current = self.controller.current_collection_id
        return [s for s in self.controller.folders if s.folder.collection_id == current]

    def refresh(self, _changed: object = None) -> None:
        states = sorted(self.shown_folders(), key=lambda s: s.folder.path.lower())
        same = [s.folder.path for s in states] == [line.state.folder.path for line in self.lines]
        if same and self.lines:
            for line, state in zip(self.lines, states, strict=True):
                line.show_state(state)  # the same folders: their lines show the news
            return
        for line in self.lines:
            self._lines_layout.removeWidget(line)
            line.deleteLater()
        self.lines = [FolderLine(state, self.controller, self) for state in states]
        for line in self.lines[:MAX_FOLDERS_SHOWN]:
            self._lines_layout.addWidget(line)
        hidden = len(self.lines) - MAX_FOLDERS_SHOWN
        for line in self.lines[MAX_FOLDERS_SHOWN:]:
            line.hide()
        title = "Watched folders" if len(states) < 2 else f"Watched folders ({len(states)})"
        self.title_label.setText(title + (f" · {hidden} more not shown" if hidden > 0 else ""))
        self.setVisible(bool(states))

    def line_for(self, path: str) -> FolderLine | None:
        return next((line for line in self.lines if line.state.folder.path == path), None)


class IgnoreRulesDialog(QDialog):
    """A folder's ignore globs (one a line) and size cap."""

    def __init__(self, state: FolderState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        folder = state.folder
        self.setWindowTitle("Ignore rules")
        self.setModal(True)
        layout = QVBoxLayout(self)
        intro = QLabel(
            f"Files in “{Path(folder.path).name}” that Allma leaves out. One pattern a line: "
            "node_modules/ (a folder), *.tmp (by name), drafts/*.md (a path inside the "
            "folder). Hidden files are always left out.",
            self,
        )
        intro.setWordWrap(True)
        intro.setObjectName("hintLabel")
        self.patterns_edit = QPlainTextEdit("\n".join(folder.ignore), self)
        self.patterns_edit.setAccessibleName("Ignore patterns, one a line")
        self.patterns_edit.setMinimumHeight(140)
        self.cap_box = QDoubleSpinBox(self)
        self.cap_box.setRange(0, 100_000)
        self.cap_box.setDecimals(1)
        self.cap_box.setSuffix(" MB")
        self.cap_box.setSpecialValueText("no limit")
        self.cap_box.setValue(folder.max_file_mb or 0)
        form = QFormLayout()
        form.addRow("Skip files larger than", self.cap_box)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(intro)
        layout.addWidget(self.patterns_edit)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.resize(440, 320)

    def rules(self) -> tuple[list[str], float | None]:
        lines = [line.strip() for line in self.patterns_edit.toPlainText().splitlines()]
        cap = self.cap_box.value()
        return [line for line in lines if line], (cap if cap > 0 else None)


class KeepInSyncDialog(QDialog):
    """Asked when folders are added: keep them in sync (the default) or import them once."""

    def __init__(self, folders: list[str], collection: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add folder" if len(folders) == 1 else "Add folders")
        self.setModal(True)
        layout = QVBoxLayout(self)
        names = ", ".join(f"“{Path(f).name or f}”" for f in folders[:3])
        if len(folders) > 3:
            names += f" and {len(folders) - 3} more"
        target = f" to “{collection}”" if collection else ""
        title = QLabel(f"Add {names}{target}", self)
        title.setObjectName("cardTitle")
        title.setWordWrap(True)
        self.keep_in_sync_box = QCheckBox("Keep in sync", self)
        self.keep_in_sync_box.setChecked(True)
        hint = QLabel(
            "Allma adds new files, updates changed ones and removes deleted ones while it "
            "runs, and catches up at start. Unticked: the files are imported once.",
            self,
        )
        hint.setObjectName("hintLabel")
        hint.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.add_button = buttons.addButton("Add", QDialogButtonBox.ButtonRole.AcceptRole)
        self.add_button.setObjectName("accentButton")
        self.add_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(title)
        layout.addSpacing(4)
        layout.addWidget(self.keep_in_sync_box)
        layout.addWidget(hint)
        layout.addSpacing(6)
        layout.addWidget(buttons)
        self.resize(420, 0)

    @property
    def keep_in_sync(self) -> bool:
        return self.keep_in_sync_box.isChecked()


__all__ = [
    "IgnoreRulesDialog",
    "KeepInSyncDialog",
    "WatchedFoldersCard",
    "last_sync_text",
    "problems_text",
    "state_text",
]
