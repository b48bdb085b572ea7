"""The Settings page: connection, models, answers, retrieval, local API, appearance,
vector store, storage.

Nothing applies until Save; a bad value is shown under its field with what it accepts.
The exceptions act at once: the local API switch, and moving the library to another
vector store (Save never switches stores, since a store left behind holds the library).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from allma_desktop.config import MAX_CONNECT_TIMEOUT, MAX_READ_TIMEOUT, VECTOR_STORES
from allma_desktop.gui.controllers.settings_controller import (
    FIELD_FOR_VARIABLE,
    ConnectionResult,
    LibraryMoved,
    SettingsController,
)
from allma_desktop.gui.theme import THEME_LABELS, THEMES, inset_spin_box_text
from allma_desktop.services.documents import ocr

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig
    from allma_desktop.errors import AllmaError, ConfigError
    from allma_desktop.gui.controllers.api_controller import ApiController
    from allma_desktop.records import BackupResult, MigrationProgress, ModelInfo, RestoreResult

LABEL_WIDTH = 130
API_DESCRIPTION = (
    "Lets scripts and OpenAI-compatible tools use your library while Allma runs. "
    "Clients send the token below."
)
OCR_HINT = (
    "Pages without usable text (scans, broken fonts) and pictures are read from their image:"
    " a second or two a page."
)
OCR_UNAVAILABLE_HINT = (
    "OCR's language data is missing: reinstall the app, or set ALLMA_TESSDATA to a folder"
    " of Tesseract .traineddata files."
)
# Hosts known to be this machine without importing the API package (FastAPI, uvicorn).
PLAIN_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
FIELD_LABELS = {
    "ollama_host": "Ollama address",
    "ollama_model": "Chat model",
    "ollama_embedding_model": "Embedding model",
    "temperature": "Temperature",
    "context_length": "Context length",
    "system_prompt": "System prompt",
    "chunk_size": "Passage size",
    "chunk_overlap": "Passage overlap",
    "top_k": "Sources per answer",
    "data_dir": "Data folder",
    "ollama_connect_timeout": "Connect timeout",
    "request_timeout": "Answer timeout",
    "vector_store": "Store",
    "chroma_host": "Chroma server",
    "chroma_port": "Port",
    "chroma_ssl": "SSL",
    "chroma_token": "Token",
    "qdrant_url": "Qdrant server",
    "qdrant_api_key": "API key",
    "llm_provider": "Chat from",
    "llm_base_url": "Chat server address",
    "llm_api_key": "Chat server API key",
    "embedding_provider": "Embeddings from",
    "embedding_base_url": "Embedding server address",
    "embedding_api_key": "Embedding server API key",
}
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


# What the user may do with the app they run, said plainly (LICENSE says it in full).
LICENSE_NOTICE = (
    "Allma Desktop's source code is under the MIT License. The packaged app (installers "
    "and the one-folder build) includes PyMuPDF and MuPDF, which are under the GNU "
    "AGPL-3.0, so the packaged app as a whole is distributed under the AGPL-3.0; its "
    "source is the Allma Desktop repository. Qt for Python is under the LGPL-3.0."
)


class SettingsCard(QFrame):
    """A titled group of fields with aligned labels."""

    def __init__(self, title: str, subtitle: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsCard")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 18)
        layout.setSpacing(4)
        heading = QLabel(title, self)
        heading.setObjectName("cardTitle")
        layout.addWidget(heading)
        if subtitle:
            hint = QLabel(subtitle, self)
            hint.setObjectName("fieldHint")
            hint.setWordWrap(True)
            layout.addWidget(hint)
        layout.addSpacing(8)
        self.form = QFormLayout()
        self.form.setHorizontalSpacing(18)
        self.form.setVerticalSpacing(6)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        layout.addLayout(self.form)


class SettingsPage(QWidget):
    """``api``: the app's local API; without one the Local API card is left out."""

    def __init__(
        self,
        controller: SettingsController,
        parent: QWidget | None = None,
        api: ApiController | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.api = api
        self.setObjectName("settingsPage")
        self.errors: dict[str, QLabel] = {}
        self.inputs: dict[str, QWidget] = {}
        self.hints: dict[str, QLabel] = {}
        self.rows: dict[str, QWidget] = {}  # each field's row, to show or hide it
        self._restarting = False
        self._library_busy = False
        self._checking_models = False
        self._pulling = ""  # the model being downloaded
        self._build()
        self._wire()
        self.load(controller.config)
        if api is not None and controller.api_enabled:
            self.api_switch.setChecked(True)  # remembered: starts once the engine is open
            if api.running:  # the page is built on first show: the window started it
                self._show_api_state(True, "")

    # --- layout ---------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        scroll = QScrollArea(self)
        scroll.setObjectName("settingsScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget(scroll)
        column = QVBoxLayout(body)
        column.setContentsMargins(28, 22, 28, 22)
        column.setSpacing(16)
        title = QLabel("Settings", body)
        title.setObjectName("pageTitle")
        column.addWidget(title)
        # Cards of their own modules (they subclass SettingsCard, defined above).
        from allma_desktop.gui.widgets.mcp_card import McpCard
        from allma_desktop.gui.widgets.model_server_card import ModelServerCard

        self.model_server_card = ModelServerCard(body)
        self.mcp_card = McpCard(body)
        for card in (
            self.model_server_card,
            self._connection_card(body),
            self._models_card(body),
            self._answers_card(body),
            self._retrieval_card(body),
            *([self._api_card(body)] if self.api is not None else []),
            self.mcp_card,
            self._appearance_card(body),
            self._vector_store_card(body),
            self._storage_card(body),
            self._about_card(body),
        ):
            card.setMaximumWidth(760)
            _align_labels(card.form)
            column.addWidget(card)
        column.addStretch(1)
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)

        footer = QFrame(self)
        footer.setObjectName("settingsFooter")
        bar = QHBoxLayout(footer)
        bar.setContentsMargins(28, 10, 28, 14)
        self.status_label = QLabel("", footer)
        self.status_label.setObjectName("fieldHint")
        self.revert_button = QPushButton("Revert", footer)
        self.save_button = QPushButton("Save", footer)
        self.save_button.setObjectName("accentButton")
        self.save_button.setDefault(True)
        bar.addWidget(self.status_label, 1)
        bar.addWidget(self.revert_button)
        bar.addWidget(self.save_button)
        outer.addWidget(footer)
        # Screen readers announce each field by its form label.
        for key, field in self.inputs.items():
            if not field.accessibleName():
                field.setAccessibleName(FIELD_LABELS.get(key, key))
        self.pull_edit.setAccessibleName("Model to download")
        self.theme_box.setAccessibleName("Theme")

    def _add(self, card: SettingsCard, key: str, widget: QWidget, hint: str = "") -> None:
        """A field with its label, an optional hint and a (hidden) inline error under it."""
        holder = QWidget(card)
        rows = QVBoxLayout(holder)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(3)
        # Short values get a short box; the hint and error below use the full width.
        if isinstance(widget, QSpinBox | QDoubleSpinBox):
            widget.setMaximumWidth(220)
            inset_spin_box_text(widget)
        elif isinstance(widget, QComboBox):
            widget.setMaximumWidth(420)
        rows.addWidget(widget)
        if hint:
            hint_label = QLabel(hint, holder)
            hint_label.setObjectName("fieldHint")
            hint_label.setWordWrap(True)
            rows.addWidget(hint_label)
            self.hints[key] = hint_label
        error = QLabel("", holder)
        error.setObjectName("fieldError")
        error.setWordWrap(True)
        error.hide()
        rows.addWidget(error)
        self.errors[key] = error
        self.inputs[key] = widget
        self.rows[key] = holder
        card.form.addRow(FIELD_LABELS.get(key, key), holder)

    def _connection_card(self, parent: QWidget) -> SettingsCard:
        card = SettingsCard("Ollama", "Allma talks to Ollama, which runs the models.", parent)
        self.host_edit = QLineEdit(card)
        self.host_edit.setPlaceholderText("http://localhost:11434")
        self.test_button = QPushButton("Test connection", card)
        line = QWidget(card)
        row = QHBoxLayout(line)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.host_edit, 1)
        row.addWidget(self.test_button)
        self._add(card, "ollama_host", line)
        self.inputs["ollama_host"] = self.host_edit
        self.connection_label = QLabel("", card)
        self.connection_label.setWordWrap(True)
        self.connection_label.hide()
        card.form.addRow("", self.connection_label)
        self.connect_timeout_spin = _seconds_box(card, 0.5, MAX_CONNECT_TIMEOUT)
        self._add(
            card,
            "ollama_connect_timeout",
            self.connect_timeout_spin,
            "How long to wait for the address to answer before saying Ollama is unreachable.",
        )
        self.read_timeout_spin = _seconds_box(card, 1.0, MAX_READ_TIMEOUT)
        self._add(
            card,
            "request_timeout",
            self.read_timeout_spin,
            "How long to wait for each part of an answer; allow for a large model loading.",
        )
        return card

    def _models_card(self, parent: QWidget) -> SettingsCard:
        card = SettingsCard("Models", "Pick from the models your Ollama has.", parent)
        self.chat_model_box = QComboBox(card)
        self.chat_model_box.setEditable(True)
        self._add(card, "ollama_model", self.chat_model_box)
        self.embedding_model_box = QComboBox(card)
        self.embedding_model_box.setEditable(True)
        self._add(
            card,
            "ollama_embedding_model",
            self.embedding_model_box,
            "Turns passages into vectors for search.",
        )
        self.language_hint = QLabel("", card)
        self.language_hint.setObjectName("fieldHint")
        self.language_hint.setWordWrap(True)
        self.language_hint.hide()
        card.form.addRow("", self.language_hint)
        self.reembed_label = QLabel("", card)
        self.reembed_label.setObjectName("noticeBanner")
        self.reembed_label.setWordWrap(True)
        self.reembed_label.hide()
        card.form.addRow("", self.reembed_label)
        pull_line = QWidget(card)
        pull_row = QHBoxLayout(pull_line)
        pull_row.setContentsMargins(0, 0, 0, 0)
        self.pull_edit = QLineEdit(pull_line)
        self.pull_edit.setPlaceholderText("e.g. llama3.2 or qwen3:0.6b")
        self.pull_button = QPushButton("Download", pull_line)
        self.pull_cancel_button = QPushButton("Cancel", pull_line)
        self.pull_cancel_button.setAccessibleName("Cancel the download")
        self.pull_cancel_button.hide()
        pull_row.addWidget(self.pull_edit, 1)
        pull_row.addWidget(self.pull_button)
        pull_row.addWidget(self.pull_cancel_button)
        self.pull_progress = QProgressBar(card)
        self.pull_progress.setRange(0, 1000)
        self.pull_progress.hide()
        self.pull_status = QLabel("", card)
        self.pull_status.setObjectName("fieldHint")
        self.pull_status.hide()
        holder = QWidget(card)
        rows = QVBoxLayout(holder)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(4)
        rows.addWidget(pull_line)
        rows.addWidget(self.pull_progress)
        rows.addWidget(self.pull_status)
        card.form.addRow("Pull a model", holder)
        return card

    def _answers_card(self, parent: QWidget) -> SettingsCard:
        card = SettingsCard("Answers", "How the chat model writes its answers.", parent)
        self.temperature_spin = QDoubleSpinBox(card)
        self.temperature_spin.setRange(0.0, 2.0)
        self.temperature_spin.setSingleStep(0.1)
        self.temperature_spin.setDecimals(2)
        self._add(card, "temperature", self.temperature_spin, "Lower is more factual (0–2).")
        self.context_edit = QLineEdit(card)
        self.context_edit.setPlaceholderText("automatic")
        self._add(
            card,
            "context_length",
            self.context_edit,
            "Tokens the model reads at once; empty lets the model decide.",
        )
        self.think_check = QCheckBox("Let reasoning models think before answering", card)
        card.form.addRow("Thinking", self.think_check)
        self.documents_only_check = QCheckBox("Answer only from my documents", card)
        self.documents_only_check.setToolTip(
            "When nothing in your documents matches a question, say so and do not ask the "
            "model. Off: the model answers from general knowledge, marked as such."
        )
        card.form.addRow("Documents", self.documents_only_check)
        self.system_prompt_edit = QPlainTextEdit(card)
        self.system_prompt_edit.setPlaceholderText("Optional instructions added to every chat")
        self.system_prompt_edit.setFixedHeight(80)
        self._add(card, "system_prompt", self.system_prompt_edit)
        return card

    def _retrieval_card(self, parent: QWidget) -> SettingsCard:
        card = SettingsCard(
            "Search", "How documents are cut into passages and found for a question.", parent
        )
        self.chunk_size_spin = QSpinBox(card)
        self.chunk_size_spin.setRange(100, 20_000)
        self.chunk_size_spin.setSingleStep(100)
        self.chunk_size_spin.setSuffix(" characters")
        self._add(card, "chunk_size", self.chunk_size_spin)
        self.chunk_overlap_spin = QSpinBox(card)
        self.chunk_overlap_spin.setRange(0, 10_000)
        self.chunk_overlap_spin.setSingleStep(50)
        self.chunk_overlap_spin.setSuffix(" characters")
        self._add(card, "chunk_overlap", self.chunk_overlap_spin, "Less than half the size.")
        self.top_k_spin = QSpinBox(card)
        self.top_k_spin.setRange(1, 50)
        self._add(card, "top_k", self.top_k_spin)
        self.hybrid_check = QCheckBox("Combine keyword and meaning search (hybrid)", card)
        card.form.addRow("Hybrid search", self.hybrid_check)
        self.ocr_check = QCheckBox("Read scanned pages and pictures with OCR", card)
        self.ocr_check.setAccessibleName("Read scanned pages and pictures with OCR")
        holder = QWidget(card)
        rows = QVBoxLayout(holder)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(3)
        rows.addWidget(self.ocr_check)
        self.ocr_hint = QLabel(OCR_HINT, holder)
        self.ocr_hint.setObjectName("fieldHint")
        self.ocr_hint.setWordWrap(True)
        rows.addWidget(self.ocr_hint)
        # A look for the language data's files only: no PyMuPDF import while the window
        # is built.
        languages = ocr.installed_languages()
        if languages:
            self.ocr_hint.setText(f"{OCR_HINT} Languages: {', '.join(languages)}.")
        else:
            self.ocr_check.setEnabled(False)
            self.ocr_check.setToolTip(OCR_UNAVAILABLE_HINT)
            self.ocr_hint.setText(OCR_UNAVAILABLE_HINT)
        card.form.addRow("Scans and pictures", holder)
        return card

    def _api_card(self, parent: QWidget) -> SettingsCard:
        assert self.api is not None
        card = SettingsCard("Local API", API_DESCRIPTION, parent)
        holder = QWidget(card)
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
        card.form.addRow("Local API", holder)
        line = QWidget(card)
        row = QHBoxLayout(line)
        row.setContentsMargins(0, 0, 0, 0)
        self.api_token_edit = QLineEdit(line)
        self.api_token_edit.setReadOnly(True)
        self.api_token_edit.setAccessibleName("API token")
        self.api_token_edit.setText(self.api.token())
        # Masked: a screenshot or a screen share must not give the library away.
        self.api_token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_reveal_button = QPushButton("Reveal", line)
        self.api_reveal_button.setCheckable(True)
        self.api_reveal_button.setAccessibleName("Show the API token")
        self.api_reveal_button.toggled.connect(self._reveal_api_token)
        self.api_copy_button = QPushButton("Copy", line)
        self.api_copy_button.setAccessibleName("Copy the API token")
        row.addWidget(self.api_token_edit, 1)
        row.addWidget(self.api_reveal_button)
        row.addWidget(self.api_copy_button)
        card.form.addRow("Token", line)
        self.api_warning_label = QLabel("", card)
        self.api_warning_label.setObjectName("noticeBanner")
        self.api_warning_label.setWordWrap(True)
        self.api_warning_label.hide()
        card.form.addRow("", self.api_warning_label)
        return card

    def _appearance_card(self, parent: QWidget) -> SettingsCard:
        card = SettingsCard("Appearance", "", parent)
        self.theme_box = QComboBox(card)
        for theme in THEMES:
            self.theme_box.addItem(THEME_LABELS[theme], theme)
        card.form.addRow("Theme", self.theme_box)
        self.tray_check = QCheckBox("Keep Allma in the tray when the window is closed", card)
        card.form.addRow("Tray", self.tray_check)
        return card

    def _vector_store_card(self, parent: QWidget) -> SettingsCard:
        card = SettingsCard(
            "Vector store",
            "Where the passages' vectors are kept for search. Moving the library copies "
            "them as they are: nothing is embedded again.",
            parent,
        )
        self.store_in_use_label = QLabel("", card)
        self.store_in_use_label.setWordWrap(True)
        self.store_in_use_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        card.form.addRow("In use", self.store_in_use_label)
        self.store_box = QComboBox(card)
        for backend in VECTOR_STORES:
            self.store_box.addItem(STORE_LABELS[backend], backend)
        # Asked once: a missing package does not turn up while the app runs.
        self.unavailable_stores = {
            backend: reason
            for backend in VECTOR_STORES
            if (reason := self.controller.store_unavailable_reason(backend)) is not None
        }
        self.store_box.setAccessibleName("Vector store to move the library to")
        self._add(card, "vector_store", self.store_box, hint=" ")  # set per store chosen
        self.store_hint = self.hints["vector_store"]
        # It may say which package to install: let the user copy the command.
        self.store_hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        server = QWidget(card)
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
        self._add(card, "chroma_host", server)
        self.inputs["chroma_host"] = self.chroma_host_edit
        self.inputs["chroma_port"] = self.chroma_port_spin
        self.errors["chroma_port"] = self.errors["chroma_host"]
        self.chroma_token_edit = QLineEdit(card)
        self.chroma_token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.chroma_token_edit.setPlaceholderText("none")
        self._add(card, "chroma_token", self.chroma_token_edit)
        self.chroma_token_edit.setAccessibleName("Chroma server token")
        self.qdrant_url_edit = QLineEdit(card)
        self.qdrant_url_edit.setPlaceholderText("http://host:6333, or empty for a folder here")
        self._add(card, "qdrant_url", self.qdrant_url_edit)
        self.qdrant_key_edit = QLineEdit(card)
        self.qdrant_key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.qdrant_key_edit.setPlaceholderText("none")
        self._add(card, "qdrant_api_key", self.qdrant_key_edit)
        self.qdrant_key_edit.setAccessibleName("Qdrant API key")

        move = QWidget(card)
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
        card.form.addRow("Move", move)
        self._store_card = card
        return card

    def _about_card(self, parent: QWidget) -> SettingsCard:
        from allma_desktop import __version__

        card = SettingsCard("About Allma", f"Allma Desktop {__version__}", parent)
        self.license_label = QLabel(LICENSE_NOTICE, card)
        self.license_label.setObjectName("fieldHint")
        self.license_label.setWordWrap(True)
        self.license_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        card.form.addRow("License", self.license_label)
        return card

    def _storage_card(self, parent: QWidget) -> SettingsCard:
        card = SettingsCard(
            "Storage", "Your library's database and your chats stay on this computer.", parent
        )
        line = QWidget(card)
        row = QHBoxLayout(line)
        row.setContentsMargins(0, 0, 0, 0)
        self.data_dir_label = QLabel("", line)
        self.data_dir_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.data_dir_label.setWordWrap(True)
        self.open_data_button = QPushButton("Open", line)
        row.addWidget(self.data_dir_label, 1)
        row.addWidget(self.open_data_button)
        card.form.addRow("Data folder", line)
        keep = QWidget(card)
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
        card.form.addRow("Backup", keep)
        return card

    # --- wiring ---------------------------------------------------------------------------

    def _wire(self) -> None:
        c = self.controller
        c.connection_tested.connect(self._show_connection)
        c.models_loaded.connect(self._show_models)
        c.pull_progress.connect(self._show_pull_progress)
        c.pull_finished.connect(self._show_pull_finished)
        c.pull_failed.connect(self._show_pull_failed)
        c.pull_cancelled.connect(self._show_pull_cancelled)
        c.invalid.connect(self.show_invalid)
        c.failed.connect(self._show_failure)
        c.saved.connect(self._on_saved)
        c.restarting.connect(self._on_restarting)
        c.checking_models.connect(self._on_checking_models)
        c.model_rejected.connect(self._show_model_rejected)
        c.backup_finished.connect(self._show_backup_finished)
        c.backup_failed.connect(self._show_backup_failed)
        c.restore_started.connect(self._show_restore_started)
        c.restore_finished.connect(self._show_restore_finished)
        c.restore_failed.connect(self._show_backup_failed)
        c.library_busy.connect(self._set_library_busy)
        c.move_started.connect(self._show_move_started)
        c.move_progress.connect(self._show_move_progress)
        c.move_finished.connect(self._show_move_finished)
        c.move_failed.connect(self._show_move_failed)
        self.store_box.currentIndexChanged.connect(self._show_store_fields)
        self.move_button.clicked.connect(self.move_library)
        self.move_cancel_button.clicked.connect(self.cancel_move)
        self.test_button.clicked.connect(self.test_connection)
        self.host_edit.returnPressed.connect(self.test_connection)
        # "Connected · 5 models" spoke of the address tested; a new one has not been.
        self.host_edit.textEdited.connect(lambda _text: self.connection_label.hide())
        self.pull_button.clicked.connect(self.pull_model)
        self.pull_cancel_button.clicked.connect(self.cancel_pull)
        self.pull_edit.returnPressed.connect(self.pull_model)
        self.save_button.clicked.connect(self.save)
        # The theme applies as soon as it is picked (a GUI preference; no Save needed).
        self.theme_box.activated.connect(
            lambda _index: self.controller.use_theme(str(self.theme_box.currentData()))
        )
        self.revert_button.clicked.connect(self.revert)
        self.open_data_button.clicked.connect(self.open_data_folder)
        self.backup_button.clicked.connect(self.back_up)
        self.restore_button.clicked.connect(self.restore)
        self.embedding_model_box.currentTextChanged.connect(self._warn_reembed)
        self.embedding_model_box.currentTextChanged.connect(self._advise_on_languages)
        if self.api is not None:
            self.api.state_changed.connect(self._show_api_state)
            self.api_switch.toggled.connect(self._toggle_api)
            self.api_copy_button.clicked.connect(self.copy_api_token)

    # --- values -----------------------------------------------------------------------------

    def load(self, config: AppConfig) -> None:
        self.model_server_card.load(config)
        self.host_edit.setText(config.ollama_host)
        models = self.controller.models
        self._set_models(
            self.chat_model_box, config.ollama_model, [m.name for m in models if m.can_chat]
        )
        self._set_models(
            self.embedding_model_box,
            config.ollama_embedding_model,
            [m.name for m in models if m.can_embed],
        )
        self._advise_on_languages()
        self.temperature_spin.setValue(config.temperature)
        self.context_edit.setText(
            "" if config.context_length is None else str(config.context_length)
        )
        self.think_check.setChecked(config.think)
        self.documents_only_check.setChecked(config.documents_only)
        self.system_prompt_edit.setPlainText(config.system_prompt)
        self.chunk_size_spin.setValue(config.chunk_size)
        self.chunk_overlap_spin.setValue(config.chunk_overlap)
        self.top_k_spin.setValue(config.top_k)
        self.hybrid_check.setChecked(config.hybrid_search)
        self.ocr_check.setChecked(config.ocr)
        self.connect_timeout_spin.setValue(config.ollama_connect_timeout)
        self.read_timeout_spin.setValue(config.request_timeout)
        self.chroma_host_edit.setText(config.chroma_host)
        self.chroma_port_spin.setValue(config.chroma_port)
        self.chroma_ssl_check.setChecked(config.chroma_ssl)
        self.chroma_token_edit.setText(config.chroma_token)
        self.qdrant_url_edit.setText(config.qdrant_url)
        self.qdrant_key_edit.setText(config.qdrant_api_key)
        self.store_box.setCurrentIndex(max(0, self.store_box.findData(config.vector_store)))
        self._show_store_in_use(config)
        self._show_store_fields()
        self.theme_box.setCurrentIndex(max(0, self.theme_box.findData(self.controller.theme)))
        self.tray_check.setChecked(self.controller.close_to_tray)
        self.data_dir_label.setText(str(config.data_dir))
        self.clear_errors()
        self._warn_reembed()
        self._show_api_exposure(config)

    def changes(self) -> dict[str, Any]:
        """The form's engine settings, as text and numbers ``AppConfig`` parses."""
        return {
            "ollama_host": self.host_edit.text().strip(),
            "ollama_model": self.chat_model_box.currentText().strip(),
            "ollama_embedding_model": self.embedding_model_box.currentText().strip(),
            "temperature": self.temperature_spin.value(),
            "context_length": self.context_edit.text().strip() or None,
            "think": self.think_check.isChecked(),
            "documents_only": self.documents_only_check.isChecked(),
            "system_prompt": self.system_prompt_edit.toPlainText().strip(),
            "chunk_size": self.chunk_size_spin.value(),
            "chunk_overlap": self.chunk_overlap_spin.value(),
            "top_k": self.top_k_spin.value(),
            "hybrid_search": self.hybrid_check.isChecked(),
            "ocr": self.ocr_check.isChecked(),
            "ollama_connect_timeout": self.connect_timeout_spin.value(),
            "request_timeout": self.read_timeout_spin.value(),
            **self.store_connection(),
            **self.model_server_card.changes(),
        }

    def store_connection(self) -> dict[str, Any]:
        """How to reach a Chroma or Qdrant server (saved with Save, used by Move)."""
        return {
            "chroma_host": self.chroma_host_edit.text().strip(),
            "chroma_port": self.chroma_port_spin.value(),
            "chroma_ssl": self.chroma_ssl_check.isChecked(),
            "chroma_token": self.chroma_token_edit.text().strip(),
            "qdrant_url": self.qdrant_url_edit.text().strip(),
            "qdrant_api_key": self.qdrant_key_edit.text().strip(),
        }

    def save(self) -> None:
        self.clear_errors()
        saved = self.controller.save(
            self.changes(),
            theme=str(self.theme_box.currentData()),
            close_to_tray=self.tray_check.isChecked(),
        )
        if saved is not None:
            self.status_label.setText("Saved.")

    def revert(self) -> None:
        self.load(self.controller.config)
        self.status_label.setText("")

    def test_connection(self) -> None:
        self.clear_errors()
        self.test_button.setEnabled(False)
        self.connection_label.setText("Testing…")
        self._style(self.connection_label, "fieldHint")
        self.connection_label.show()
        self.controller.test_connection(self.host_edit.text())

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

    def _show_pull_cancelled(self, name: str) -> None:
        self._pull_ended()
        self.pull_progress.hide()
        self.pull_status.setText(f"Download of {name} cancelled.")

    def _pull_ended(self) -> None:
        self._pulling = ""
        self.pull_cancel_button.hide()
        self.pull_button.setEnabled(True)

    def _reveal_api_token(self, shown: bool) -> None:
        self.api_token_edit.setEchoMode(
            QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password
        )
        self.api_reveal_button.setText("Hide" if shown else "Reveal")

    def copy_api_token(self) -> None:
        QGuiApplication.clipboard().setText(self.api_token_edit.text())
        self.api_copy_button.setText("Copied")

    def _toggle_api(self, on: bool) -> None:
        if self.api is None:
            return
        self.controller.remember_api_enabled(on)
        if on:
            self.api_state_label.setText("Starting…")
            self._style(self.api_state_label, "fieldHint")
            self.controller.when_engine_ready(self._start_api_if_on)
        else:
            self.api.stop()

    def _start_api_if_on(self) -> None:
        # The switch may have been turned off again while the engine was opening.
        if self.api is not None and self.api_switch.isChecked():
            self.api.start()

    def move_library(self) -> None:
        """Ask, then copy the library to the chosen store and switch to it."""
        backend = str(self.store_box.currentData())
        if backend == self.controller.config.vector_store or backend in self.unavailable_stores:
            return
        self.clear_errors()
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
            self.controller.move_library(backend, self.store_connection())

    def cancel_move(self) -> None:
        self.move_cancel_button.setEnabled(False)
        self.move_status.setText("Cancelling after the current batch…")
        self.controller.cancel_move()

    def open_data_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.controller.config.data_dir)))

    # --- feedback ---------------------------------------------------------------------------

    def back_up(self) -> None:
        from allma_desktop.services.upkeep.backup import default_backup_name

        suggested = str(Path.home() / default_backup_name())
        chosen, _filter = QFileDialog.getSaveFileName(
            self, "Back up library", suggested, "Allma backup (*.zip);;All files (*)"
        )
        if not chosen:
            return
        self._set_backup_busy(True)
        self._show_backup_status("Backing up…", "fieldHint")
        if self.controller.back_up(Path(chosen)) is None:
            self._set_backup_busy(False)

    def restore(self) -> None:
        chosen, _filter = QFileDialog.getOpenFileName(
            self, "Restore library", str(Path.home()), "Allma backup (*.zip);;All files (*)"
        )
        if not chosen:
            return
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

    def clear_errors(self) -> None:
        for key, label in self.errors.items():
            label.hide()
            self._mark_invalid(key, False)

    def show_invalid(self, error: ConfigError) -> None:
        key = FIELD_FOR_VARIABLE.get(error.variable, error.variable)
        name = FIELD_LABELS.get(key, key)
        text = f"{name}: {error.value!r} is not valid. Accepted: {error.accepted}."
        label = self.errors.get(key)
        if label is None:
            self.status_label.setText(text)
            return
        label.setText(text)
        label.show()
        self._mark_invalid(key, True)
        self.status_label.setText(f"Check {name}.")
        self.test_button.setEnabled(True)

    def _mark_invalid(self, key: str, invalid: bool) -> None:
        widget = self.inputs.get(key)
        if widget is not None:
            widget.setProperty("invalid", invalid)
            widget.style().unpolish(widget)
            widget.style().polish(widget)

    def _show_model_rejected(self, error: AllmaError) -> None:
        """A model choice that cannot do its job: said under its field, nothing saved."""
        role = getattr(error, "role", "chat")
        key = "ollama_embedding_model" if role == "embedding" else "ollama_model"
        text = f"{error.message} {error.hint}".strip()
        label = self.errors.get(key)
        if label is not None:
            label.setText(text)
            label.show()
            self._mark_invalid(key, True)
        self.status_label.setText(f"Not saved: {error.message}")

    def _on_checking_models(self, checking: bool) -> None:
        self._checking_models = checking
        self._enable_saving()
        if checking:
            self.status_label.setText("Checking the model with Ollama…")

    def _show_failure(self, error: AllmaError) -> None:
        self.status_label.setText(f"{error.message} {error.hint}".strip())

    def _show_connection(self, result: ConnectionResult) -> None:
        self.test_button.setEnabled(True)
        self.connection_label.setText(("✓ " if result.ok else "✕ ") + result.message)
        self._style(self.connection_label, "fieldSuccess" if result.ok else "fieldError")
        self.connection_label.show()
        if result.ok:
            self._set_models(
                self.chat_model_box, self.chat_model_box.currentText(), result.chat_models
            )
            self._set_models(
                self.embedding_model_box,
                self.embedding_model_box.currentText(),
                result.embedding_models,
            )

    def _show_models(self, models: list[ModelInfo]) -> None:
        # Each picker offers what Ollama says the model can do (/api/show capabilities).
        chat = tuple(m.name for m in models if m.can_chat)
        embedding = tuple(m.name for m in models if m.can_embed)
        self._set_models(self.chat_model_box, self.chat_model_box.currentText(), chat)
        current = self.embedding_model_box.currentText()
        self._set_models(self.embedding_model_box, current, embedding)

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
        self.pull_status.setText(f"{name}: {error.message} {error.hint}".strip())

    def _on_saved(self, config: AppConfig) -> None:
        self.status_label.setText("Saved.")
        self.data_dir_label.setText(str(config.data_dir))
        self._warn_reembed()
        self._show_api_exposure(config)
        self._show_store_in_use(config)
        self._show_store_fields()

    def _show_api_state(self, running: bool, message: str) -> None:
        """The URL while running; otherwise "Off", or why it could not start."""
        url = self.api.url if self.api is not None else None
        if running and url:
            self.api_state_label.setText(f"Running at {url}")
            self._style(self.api_state_label, "fieldSuccess")
            return
        failed = message not in ("", "Stopped")
        self.api_state_label.setText(f"✕ {message}" if failed else "Off")
        self._style(self.api_state_label, "fieldError" if failed else "fieldHint")
        if failed and self.api_switch.isChecked():
            # Show it off without forgetting the choice: the next launch tries again.
            self.api_switch.blockSignals(True)
            self.api_switch.setChecked(False)
            self.api_switch.blockSignals(False)

    def _show_api_exposure(self, config: AppConfig) -> None:
        if self.api is None:
            return
        warning = None
        if config.api_host not in PLAIN_LOOPBACK_HOSTS:
            from allma_desktop.api.server import exposure_warning

            warning = exposure_warning(config.api_host, config.api_port)
        self.api_warning_label.setText(warning or "")
        self.api_warning_label.setVisible(warning is not None)

    def _on_restarting(self, restarting: bool) -> None:
        self._restarting = restarting
        self._enable_saving()
        if restarting:
            self.status_label.setText("Saved. Restarting the engine with the new settings…")

    def _set_backup_busy(self, busy: bool) -> None:
        self.backup_button.setEnabled(not busy)
        self.restore_button.setEnabled(not busy)

    def _set_library_busy(self, busy: bool) -> None:
        """While a move or a restore has the library closed, nothing else may change it."""
        self._library_busy = busy
        self._enable_saving()
        self._set_backup_busy(busy)
        self._show_store_fields()

    def _enable_saving(self) -> None:
        self.save_button.setEnabled(
            not (self._restarting or self._library_busy or self._checking_models)
        )

    # --- the vector store ------------------------------------------------------------------

    def _show_store_in_use(self, config: AppConfig) -> None:
        backend = config.vector_store
        where = {
            "chroma-http": f"{config.chroma_host}:{config.chroma_port}",
            "qdrant": config.qdrant_url or "",
        }.get(backend, "")
        if not where:
            from allma_desktop.services.vectorstore.backends import local_store_folder

            folder = local_store_folder(config)
            where = str(folder) if folder is not None else ""
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
        form = self._store_card.form
        self._show_store_hint(backend)
        for key, wanted in (
            ("chroma_host", "chroma-http"),
            ("chroma_token", "chroma-http"),
            ("qdrant_url", "qdrant"),
            ("qdrant_api_key", "qdrant"),
        ):
            form.setRowVisible(self.rows[key], backend == wanted)
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
        self._style(self.store_hint, "fieldError" if unavailable else "fieldHint")
        self.store_box.setToolTip(unavailable or "")
        self.move_button.setToolTip(
            ""
            if backend == current
            else f"Copies the library to {STORE_SHORT_NAMES[backend]}, checks the copy, then "
            f"switches to it. Save alone keeps {STORE_SHORT_NAMES[current]}."
        )

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
        self._show_move_status(f"{error.message} {error.hint}".strip(), "fieldError")

    def _end_move(self) -> None:
        self.move_progress.hide()
        self.move_cancel_button.hide()

    def _show_move_status(self, text: str, style: str) -> None:
        self.move_status.setText(text)
        self._style(self.move_status, style)
        self.move_status.show()

    def _show_backup_status(self, text: str, style: str) -> None:
        self.backup_status.setText(text)
        self._style(self.backup_status, style)
        self.backup_status.show()

    def _show_backup_finished(self, result: BackupResult) -> None:
        self._set_backup_busy(False)
        manifest = result.manifest
        self._show_backup_status(
            f"Backed up {manifest.documents} documents and {manifest.conversations} chats to "
            f"{result.path} ({result.size_bytes / 1e6:.1f} MB).",
            "fieldHint",
        )

    def _show_backup_failed(self, error: AllmaError) -> None:
        self._set_backup_busy(False)
        self._show_backup_status(f"{error.message} {error.hint}".strip(), "fieldError")

    def _show_restore_started(self) -> None:
        self._set_backup_busy(True)
        self._show_backup_status("Restoring… the library is closed until it is done.", "fieldHint")

    def _show_restore_finished(self, result: RestoreResult) -> None:
        self._set_backup_busy(False)
        text = (
            f"Restored {result.manifest.documents} documents and "
            f"{result.manifest.conversations} chats."
        )
        if result.previous_data is not None:
            text += f" The previous library is kept in {result.previous_data}."
        self._show_backup_status(text, "fieldHint")
        # A backup of another store's library switches to that store.
        self._show_store_in_use(self.controller.config)
        self.store_box.setCurrentIndex(
            max(0, self.store_box.findData(self.controller.config.vector_store))
        )

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

    # --- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _set_models(box: QComboBox, current: str, names: tuple[str, ...] | list[str]) -> None:
        box.blockSignals(True)
        box.clear()
        for name in sorted(set(names)):
            box.addItem(name)
        if current and box.findText(current) < 0:
            box.addItem(current)
        box.setCurrentText(current)
        box.blockSignals(False)

    @staticmethod
    def _style(label: QLabel, name: str) -> None:
        label.setObjectName(name)
        label.style().unpolish(label)
        label.style().polish(label)


def _seconds_box(parent: QWidget, minimum: float, maximum: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox(parent)
    box.setRange(minimum, maximum)
    box.setDecimals(1)
    box.setSingleStep(1.0)
    box.setSuffix(" s")
    return box


def _align_labels(form: QFormLayout) -> None:
    """One label width for every card, so the fields line up down the page."""
    for row in range(form.rowCount()):
        item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
        label = item.widget() if item is not None else None
        if label is not None:
            label.setMinimumWidth(LABEL_WIDTH)


__all__ = ["FIELD_LABELS", "STORE_LABELS", "SettingsCard", "SettingsPage"]
