"""The Settings card "Quick ask": the key that opens the quick-ask popup, from any program
where the desktop allows it. The key applies as soon as it is entered (no Save needed);
a key another program holds is said with its name; on Wayland the desktop portal is
asked for the key (and may bind another); a desktop that lends none (macOS, Wayland
without the portal's shortcuts) gets the command to bind in its own keyboard settings."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QKeySequenceEdit, QLabel, QPushButton, QWidget

from allma_desktop.gui.global_shortcut import DEFAULT_SHORTCUT, GlobalShortcut, ShortcutState
from allma_desktop.gui.widgets.settings.card import SettingsCard, restyle

SUBTITLE = (
    "A small window that answers from your library, with sources, over whatever you are "
    "doing. Press the key, ask, press Esc."
)


class QuickAskCard(SettingsCard):
    def __init__(self, shortcut: GlobalShortcut, parent: QWidget | None = None) -> None:
        super().__init__("Quick ask", SUBTITLE, parent)
        self.shortcut = shortcut
        line = QWidget(self)
        row = QHBoxLayout(line)
        row.setContentsMargins(0, 0, 0, 0)
        self.key_edit = QKeySequenceEdit(line)
        self.key_edit.setMaximumSequenceLength(1)
        self.key_edit.setClearButtonEnabled(True)
        self.key_edit.setAccessibleName("Quick ask shortcut")
        self.key_edit.setToolTip("Click, then press the keys together")
        self.key_edit.setMaximumWidth(260)
        self.default_button = QPushButton("Default", line)
        self.default_button.setToolTip(f"Use {DEFAULT_SHORTCUT}")
        row.addWidget(self.key_edit, 1)
        row.addWidget(self.default_button)
        row.addStretch(1)
        self.form.addRow("Shortcut", line)
        self.state_label = QLabel("", self)
        self.state_label.setObjectName("fieldHint")
        self.state_label.setWordWrap(True)
        # The command to bind can be selected and copied.
        self.state_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.form.addRow("", self.state_label)
        self.key_edit.editingFinished.connect(self.apply)
        # The clear button empties the field without an editingFinished.
        self.key_edit.keySequenceChanged.connect(self._on_changed)
        self.default_button.clicked.connect(self.use_default)
        shortcut.state_changed.connect(self.show_state)
        self.show_state(shortcut.state)

    def apply(self) -> None:
        """Use the key in the field from now on."""
        text = self.key_edit.keySequence().toString(QKeySequence.SequenceFormat.PortableText)
        if text != self.shortcut.sequence:
            self.shortcut.set_sequence(text)

    def use_default(self) -> None:
        self.key_edit.setKeySequence(QKeySequence(DEFAULT_SHORTCUT))
        self.apply()

    def _on_changed(self, sequence: QKeySequence) -> None:
        if sequence.isEmpty():
            self.apply()

    def show_state(self, state: ShortcutState) -> None:
        if (
            self.key_edit.keySequence().toString(QKeySequence.SequenceFormat.PortableText)
            != state.sequence
        ):
            self.key_edit.blockSignals(True)
            self.key_edit.setKeySequence(QKeySequence(state.sequence))
            self.key_edit.blockSignals(False)
        self.state_label.setText(state.message)
        refused = (
            bool(state.sequence)
            and not state.global_
            and not state.pending
            and self.shortcut.available
        )
        restyle(self.state_label, "fieldError" if refused else "fieldHint")


__all__ = ["QuickAskCard"]
