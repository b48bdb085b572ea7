"""The Settings card "Answers": how the chat model writes its answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QLineEdit, QPlainTextEdit, QWidget

from allma_desktop.gui.widgets.settings.card import SettingsCard

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig


class AnswersCard(SettingsCard):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Answers", "How the chat model writes its answers.", parent)
        self.temperature_spin = QDoubleSpinBox(self)
        self.temperature_spin.setRange(0.0, 2.0)
        self.temperature_spin.setSingleStep(0.1)
        self.temperature_spin.setDecimals(2)
        self.add_field("temperature", self.temperature_spin, "Lower is more factual (0–2).")
        self.context_edit = QLineEdit(self)
        self.context_edit.setPlaceholderText("automatic")
        self.add_field(
            "context_length",
            self.context_edit,
            "Tokens the model reads at once; empty lets the model decide.",
        )
        self.think_check = QCheckBox("Let reasoning models think before answering", self)
        self.form.addRow("Thinking", self.think_check)
        self.documents_only_check = QCheckBox("Answer only from my documents", self)
        self.documents_only_check.setToolTip(
            "When nothing in your documents matches a question, say so and do not ask the "
            "model. Off: the model answers from general knowledge, marked as such."
        )
        self.form.addRow("Documents", self.documents_only_check)
        self.system_prompt_edit = QPlainTextEdit(self)
        self.system_prompt_edit.setPlaceholderText("Optional instructions added to every chat")
        self.system_prompt_edit.setFixedHeight(80)
        self.add_field("system_prompt", self.system_prompt_edit)

    def load(self, config: AppConfig) -> None:
        self.temperature_spin.setValue(config.temperature)
        self.context_edit.setText(
            "" if config.context_length is None else str(config.context_length)
        )
        self.think_check.setChecked(config.think)
        self.documents_only_check.setChecked(config.documents_only)
        self.system_prompt_edit.setPlainText(config.system_prompt)

    def changes(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature_spin.value(),
            "context_length": self.context_edit.text().strip() or None,
            "think": self.think_check.isChecked(),
            "documents_only": self.documents_only_check.isChecked(),
            "system_prompt": self.system_prompt_edit.toPlainText().strip(),
        }
