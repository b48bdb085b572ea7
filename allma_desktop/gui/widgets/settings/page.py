"""The Settings page: the cards, one under the other, and the Save / Revert footer.

Nothing applies until Save; a bad value is shown under its field with what it accepts.
The exceptions act at once: the theme, the local API switch, and moving the library to
another vector store (Save never switches stores, since a store left behind holds the
library). Each card is a module of this package; the page only lays them out, gathers
their changes for Save, and shows what the controller says of the whole form.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from allma_desktop.gui.controllers.settings_controller import FIELD_FOR_VARIABLE
from allma_desktop.gui.widgets.settings.about import AboutCard
from allma_desktop.gui.widgets.settings.answers import AnswersCard
from allma_desktop.gui.widgets.settings.appearance import AppearanceCard
from allma_desktop.gui.widgets.settings.card import FIELD_LABELS, SettingsCard, problem_text
from allma_desktop.gui.widgets.settings.local_api import LocalApiCard
from allma_desktop.gui.widgets.settings.mcp import McpCard
from allma_desktop.gui.widgets.settings.model_servers import ModelServerCard
from allma_desktop.gui.widgets.settings.models import ModelsCard
from allma_desktop.gui.widgets.settings.ocr import OcrCard
from allma_desktop.gui.widgets.settings.ollama import OllamaCard
from allma_desktop.gui.widgets.settings.quick_ask import QuickAskCard
from allma_desktop.gui.widgets.settings.search import SearchCard
from allma_desktop.gui.widgets.settings.storage import StorageCard
from allma_desktop.gui.widgets.settings.vector_store import VectorStoreCard

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig
    from allma_desktop.errors import AllmaError, ConfigError
    from allma_desktop.gui.controllers.api_controller import ApiController
    from allma_desktop.gui.controllers.settings_controller import SettingsController
    from allma_desktop.gui.global_shortcut import GlobalShortcut

CARD_WIDTH = 760


class SettingsPage(QWidget):
    """``api``: the app's local API; without one the Local API card is left out.
    ``shortcut``: the quick-ask key; without one the Quick ask card is left out."""

    def __init__(
        self,
        controller: SettingsController,
        parent: QWidget | None = None,
        api: ApiController | None = None,
        shortcut: GlobalShortcut | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.api = api
        self.shortcut = shortcut
        self.setObjectName("settingsPage")
        self._restarting = False
        self._library_busy = False
        self._checking_models = False
        self._build()
        self._wire()
        self.load(controller.config)
        if self.local_api is not None:
            self.local_api.resume()  # remembered: starts once the engine is open

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
        c = self.controller
        self.model_servers = ModelServerCard(body)
        self.ollama = OllamaCard(c, body)
        self.models = ModelsCard(c, body)
        self.answers = AnswersCard(body)
        self.search = SearchCard(body)
        # A look for the language data's files only: no PyMuPDF import while the window
        # is built.
        self.ocr = OcrCard(c, body)
        self.local_api = LocalApiCard(c, self.api, body) if self.api is not None else None
        self.mcp = McpCard(body)
        self.appearance = AppearanceCard(c, body)
        self.quick_ask = QuickAskCard(self.shortcut, body) if self.shortcut is not None else None
        # Asked once: a missing package does not turn up while the app runs.
        self.vector_store = VectorStoreCard(c, c.unavailable_stores(), body)
        self.storage = StorageCard(c, body)
        self.about = AboutCard(body)
        self.cards: tuple[SettingsCard, ...] = (
            self.model_servers,
            self.ollama,
            self.models,
            self.answers,
            self.search,
            self.ocr,
            *([self.local_api] if self.local_api is not None else []),
            self.mcp,
            self.appearance,
            *([self.quick_ask] if self.quick_ask is not None else []),
            self.vector_store,
            self.storage,
            self.about,
        )
        for card in self.cards:
            card.setMaximumWidth(CARD_WIDTH)
            card.align_labels()
            column.addWidget(card)
        column.addStretch(1)
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)
        # Each field by its key, whichever card holds it: an error names the key.
        self.inputs = {key: w for card in self.cards for key, w in card.inputs.items()}
        self.errors = {key: label for card in self.cards for key, label in card.errors.items()}
        # Screen readers announce each field by its form label.
        for key, field in self.inputs.items():
            if not field.accessibleName():
                field.setAccessibleName(FIELD_LABELS.get(key, key))

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

    def _wire(self) -> None:
        c = self.controller
        c.invalid.connect(self.show_invalid)
        c.failed.connect(self._show_failure)
        c.saved.connect(lambda _config: self.status_label.setText("Saved."))
        c.restarting.connect(self._on_restarting)
        c.checking_models.connect(self._on_checking_models)
        c.model_rejected.connect(self._show_model_rejected)
        c.library_busy.connect(self._set_library_busy)
        for card in self.cards:
            card.acting.connect(self.clear_errors)
        self.save_button.clicked.connect(self.save)
        self.revert_button.clicked.connect(self.revert)

    # --- values -----------------------------------------------------------------------------

    def load(self, config: AppConfig) -> None:
        for card in self.cards:
            card.load(config)
        self.clear_errors()

    def changes(self) -> dict[str, Any]:
        """The form's engine settings, as text and numbers ``AppConfig`` parses."""
        return {key: value for card in self.cards for key, value in card.changes().items()}

    def save(self) -> None:
        self.clear_errors()
        saved = self.controller.save(
            self.changes(),
            theme=self.appearance.theme,
            close_to_tray=self.appearance.close_to_tray,
        )
        if saved is not None:
            self.status_label.setText("Saved.")

    def revert(self) -> None:
        self.load(self.controller.config)
        self.status_label.setText("")

    # --- what the controller says of the form -----------------------------------------------

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

    def _show_model_rejected(self, error: AllmaError) -> None:
        """A model choice that cannot do its job: said under its field, nothing saved."""
        role = getattr(error, "role", "chat")
        key = "ollama_embedding_model" if role == "embedding" else "ollama_model"
        label = self.errors.get(key)
        if label is not None:
            label.setText(problem_text(error))
            label.show()
            self._mark_invalid(key, True)
        self.status_label.setText(f"Not saved: {error.message}")

    def _mark_invalid(self, key: str, invalid: bool) -> None:
        widget = self.inputs.get(key)
        if widget is not None:
            widget.setProperty("invalid", invalid)
            widget.style().unpolish(widget)
            widget.style().polish(widget)

    def _show_failure(self, error: AllmaError) -> None:
        self.status_label.setText(problem_text(error))

    # --- when Save may be pressed -----------------------------------------------------------

    def _on_checking_models(self, checking: bool) -> None:
        self._checking_models = checking
        self._enable_saving()
        if checking:
            self.status_label.setText("Checking the model with Ollama…")

    def _on_restarting(self, restarting: bool) -> None:
        self._restarting = restarting
        self._enable_saving()
        if restarting:
            self.status_label.setText("Saved. Restarting the engine with the new settings…")

    def _set_library_busy(self, busy: bool) -> None:
        """While a move or a restore has the library closed, nothing else may change it."""
        self._library_busy = busy
        self._enable_saving()

    def _enable_saving(self) -> None:
        self.save_button.setEnabled(
            not (self._restarting or self._library_busy or self._checking_models)
        )


__all__ = ["SettingsPage"]
