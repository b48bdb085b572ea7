"""The Settings card "Models": the chat and embedding model pickers, advice on the
library's languages, a warning when a new embedding model means re-embedding, and
downloading a model by name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from allma_desktop.gui.widgets.settings.card import SettingsCard, problem_text, set_models

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig
    from allma_desktop.errors import AllmaError
    from allma_desktop.gui.controllers.settings_controller import (
        ConnectionResult,
        SettingsController,
    )
    from allma_desktop.records import ModelInfo


class ModelsCard(SettingsCard):
    def __init__(self, controller: SettingsController, parent: QWidget | None = None) -> None:
        super().__init__("Models", "Pick from the models your Ollama has.", parent)
        self.controller = controller
        self._pulling = ""  # the model being downloaded
        self.chat_model_box = QComboBox(self)
        self.chat_model_box.setEditable(True)
        self.add_field("ollama_model", self.chat_model_box)
        self.embedding_model_box = QComboBox(self)
        self.embedding_model_box.setEditable(True)
        self.add_field(
            "ollama_embedding_model",
            self.embedding_model_box,
            "Turns passages into vectors for search.",
        )
        self.language_hint = QLabel("", self)
        self.language_hint.setObjectName("fieldHint")
        self.language_hint.setWordWrap(True)
        self.language_hint.hide()
        self.form.addRow("", self.language_hint)
        self.reembed_label = QLabel("", self)
        self.reembed_label.setObjectName("noticeBanner")
        self.reembed_label.setWordWrap(True)
        self.reembed_label.hide()
        self.form.addRow("", self.reembed_label)
        self._build_pull()
        self._wire()

    def _build_pull(self) -> None:
        pull_line = QWidget(self)
        pull_row = QHBoxLayout(pull_line)
        pull_row.setContentsMargins(0, 0, 0, 0)
        self.pull_edit = QLineEdit(pull_line)
        self.pull_edit.setPlaceholderText("e.g. llama3.2 or qwen3:0.6b")
        self.pull_edit.setAccessibleName("Model to download")
        self.pull_button = QPushButton("Download", pull_line)
        self.pull_cancel_button = QPushButton("Cancel", pull_line)
        self.pull_cancel_button.setAccessibleName("Cancel the download")
        self.pull_cancel_button.hide()
        pull_row.addWidget(self.pull_edit, 1)
        pull_row.addWidget(self.pull_button)
        pull_row.addWidget(self.pull_cancel_button)
        self.pull_progress = QProgressBar(self)
        self.pull_progress.setRange(0, 1000)
        self.pull_progress.hide()
        self.pull_status = QLabel("", self)
        self.pull_status.setObjectName("fieldHint")
        self.pull_status.hide()
        holder = QWidget(self)
        rows = QVBoxLayout(holder)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(4)
        rows.addWidget(pull_line)
        rows.addWidget(self.pull_progress)
        rows.addWidget(self.pull_status)
        self.form.addRow("Pull a model", holder)

    def _wire(self) -> None:
        c = self.controller
        c.connection_tested.connect(self._offer_tested_models)
        c.models_loaded.connect(self._offer_models)
        c.pull_progress.connect(self._show_pull_progress)
        c.pull_finished.connect(self._show_pull_finished)
        c.pull_failed.connect(self._show_pull_failed)
        c.pull_cancelled.connect(self._show_pull_cancelled)
        c.saved.connect(lambda _config: self._warn_reembed())
        # The library's passages and languages are counted off the GUI thread.
        c.library_facts_changed.connect(self._warn_reembed)
        c.library_facts_changed.connect(self._advise_on_languages)
        self.pull_button.clicked.connect(self.pull_model)
        self.pull_cancel_button.clicked.connect(self.cancel_pull)
        self.pull_edit.returnPressed.connect(self.pull_model)
        self.embedding_model_box.currentTextChanged.connect(self._warn_reembed)
        self.embedding_model_box.currentTextChanged.connect(self._advise_on_languages)

    def load(self, config: AppConfig) -> None:
        models = self.controller.models
        set_models(self.chat_model_box, config.ollama_model, [m.name for m in models if m.can_chat])
        set_models(
            self.embedding_model_box,
            config.ollama_embedding_model,
            [m.name for m in models if m.can_embed],
        )
        self._advise_on_languages()
        self._warn_reembed()

    def changes(self) -> dict[str, Any]:
        return {
            "ollama_model": self.chat_model_box.currentText().strip(),
            "ollama_embedding_model": self.embedding_model_box.currentText().strip(),
        }

    # --- what the pickers offer -----------------------------------------------------

    def _offer_tested_models(self, result: ConnectionResult) -> None:
        if result.ok:
            set_models(self.chat_model_box, self.chat_model_box.currentText(), result.chat_models)
            set_models(
                self.embedding_model_box,
                self.embedding_model_box.currentText(),
                result.embedding_models,
            )

    def _offer_models(self, models: list[ModelInfo]) -> None:
        # Each picker offers what Ollama says the model can do (/api/show capabilities).
        chat = tuple(m.name for m in models if m.can_chat)
        embedding = tuple(m.name for m in models if m.can_embed)
        set_models(self.chat_model_box, self.chat_model_box.currentText(), chat)
        current = self.embedding_model_box.currentText()
        set_models(self.embedding_model_box, current, embedding)

    def _advise_on_languages(self, _text: str = "") -> None:
        advice = self.controller.embedding_advice(self.embedding_model_box.currentText().strip())
        self.language_hint.setText(advice or "")
        self.language_hint.setVisible(advice is not None)

    def _warn_reembed(self, _text: str = "") -> None:
        chosen = self.embedding_model_box.currentText().strip()
        current = self.controller.config.ollama_embedding_model
        changed = bool(chosen) and chosen != current
        chunks = self.controller.library_chunk_count() if changed else 0
        if changed and chunks:
            self.reembed_label.setText(
                f"Changing the embedding model re-embeds your library ({chunks:,} passages) "
                "with the new model. It runs in the background after you save; search uses "
                "the old vectors until it is done."
            )
        self.reembed_label.setVisible(changed and chunks > 0)

    # --- downloading a model --------------------------------------------------------

    def pull_model(self) -> None:
        name = self.pull_edit.text().strip()
        if not name:
            return
        self.pull_button.setEnabled(False)
        self._pulling = name
        self.pull_cancel_button.show()
        self.pull_progress.setValue(0)
        self.pull_progress.show()
        self.pull_status.setText(f"Downloading {name}…")
        self.pull_status.show()
        self.controller.pull(name)

    def cancel_pull(self) -> None:
        if self._pulling:
            self.controller.cancel_pull(self._pulling)

    def _show_pull_progress(self, name: str, status: str, fraction: float) -> None:
        if fraction < 0:
            self.pull_progress.setRange(0, 0)  # busy indicator while the size is unknown
        else:
            self.pull_progress.setRange(0, 1000)
            self.pull_progress.setValue(round(fraction * 1000))
        self.pull_status.setText(f"{name}: {status}")

    def _show_pull_finished(self, name: str) -> None:
        self._pull_ended()
        self.pull_progress.setRange(0, 1000)
        self.pull_progress.setValue(1000)
        self.pull_status.setText(f"{name} is ready to use.")
        self.pull_edit.clear()

    def _show_pull_failed(self, name: str, error: AllmaError) -> None:
        self._pull_ended()
        self.pull_progress.hide()
        self.pull_status.setText(f"{name}: {problem_text(error)}")

    def _show_pull_cancelled(self, name: str) -> None:
        self._pull_ended()
        self.pull_progress.hide()
        self.pull_status.setText(f"Download of {name} cancelled.")

    def _pull_ended(self) -> None:
        self._pulling = ""
        self.pull_cancel_button.hide()
        self.pull_button.setEnabled(True)
