"""The Settings card that picks the model servers: chat and embeddings, each from Ollama
or from an OpenAI-compatible server (LM Studio, llama.cpp, vLLM, Jan, LocalAI)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QWidget

from allma_desktop.gui.widgets.settings.card import SettingsCard

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig

PROVIDER_LABELS = {
    "ollama": "Ollama",
    "openai-compatible": "An OpenAI-compatible server",
}
SUBTITLE = (
    "Ollama runs the models unless you pick another server: LM Studio, llama.cpp's "
    "server, vLLM, Jan or LocalAI, at its address up to /v1. Chat and embeddings can "
    "come from different servers. Downloading models and thinking need Ollama."
)


class _ServerChoice:
    """One role's provider, address and key; the address and key show for a server only."""

    def __init__(self, card: SettingsCard, role: str, label: str, example: str) -> None:
        self.role = role
        self.provider_box = QComboBox(card)
        for value, text in PROVIDER_LABELS.items():
            self.provider_box.addItem(text, value)
        self.provider_box.setAccessibleName(f"{label} from")
        self.url_edit = QLineEdit(card)
        self.url_edit.setPlaceholderText(example)
        self.url_edit.setAccessibleName(f"{label} server address")
        self.key_edit = QLineEdit(card)
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText("none")
        self.key_edit.setAccessibleName(f"{label} server API key")
        self._form = form = card.form
        form.addRow(f"{label} from", self.provider_box)
        form.addRow("Address", self.url_edit)
        form.addRow("API key", self.key_edit)
        self.provider_box.currentIndexChanged.connect(self._show_fields)
        self._show_fields()

    def _show_fields(self, _index: int = 0) -> None:
        server = self.provider_box.currentData() != "ollama"
        self._form.setRowVisible(self.url_edit, server)
        self._form.setRowVisible(self.key_edit, server)

    def load(self, provider: str, url: str, key: str) -> None:
        self.provider_box.setCurrentIndex(max(0, self.provider_box.findData(provider)))
        self.url_edit.setText(url)
        self.key_edit.setText(key)
        self._show_fields()

    def changes(self) -> dict[str, str]:
        return {
            f"{self.role}_provider": str(self.provider_box.currentData()),
            f"{self.role}_base_url": self.url_edit.text().strip(),
            f"{self.role}_api_key": self.key_edit.text().strip(),
        }


class ModelServerCard(SettingsCard):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Model servers", SUBTITLE, parent)
        self.chat = _ServerChoice(self, "llm", "Chat", "http://localhost:1234/v1")
        self.embeddings = _ServerChoice(self, "embedding", "Embeddings", "http://localhost:8080/v1")
        self.note = QLabel("", self)
        self.note.setObjectName("fieldHint")
        self.note.setWordWrap(True)
        self.form.addRow("", self.note)

    def load(self, config: AppConfig) -> None:
        self.chat.load(config.llm_provider, config.llm_base_url, config.llm_api_key)
        self.embeddings.load(
            config.embedding_provider, config.embedding_base_url, config.embedding_api_key
        )
        self.note.setText(
            "Ollama is not used: its settings below are kept for when you switch back."
        )
        self.form.setRowVisible(self.note, not config.uses_ollama)

    def changes(self) -> dict[str, Any]:
        return {**self.chat.changes(), **self.embeddings.changes()}
