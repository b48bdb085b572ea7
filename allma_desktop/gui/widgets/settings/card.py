"""What the Settings cards share: a titled frame whose form lines its labels up with
the other cards', and fields that carry a hint and a (hidden) inline error."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from allma_desktop.gui.theme import inset_spin_box_text

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig
    from allma_desktop.errors import AllmaError

LABEL_WIDTH = 130
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
    "related_words": "Related words",
    "ocr_languages": "Languages",
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


class _CardColumn(QVBoxLayout):
    """A card's column, asked its height at the width the card will have.

    A vertical layout asks each item's height for its own full width, not for the width
    the item's maximum leaves it (QBoxLayoutPrivate::calcHfw), then lays the item out at
    that narrower width. A card narrower than the page's column (``CARD_WIDTH``) so
    promised the height of its text wrapped wider: the column came out short by a line a
    wrapped label, and the card with room between its least and its wished height (the
    MCP card) took the cut, its hint drawn over the configuration box."""

    def heightForWidth(self, width: int) -> int:
        card = self.parentWidget()
        if card is not None:
            margins = card.contentsMargins()
            width = min(width, card.maximumWidth() - margins.left() - margins.right())
        return super().heightForWidth(width)


class SettingsCard(QFrame):
    """A titled group of fields with aligned labels.

    A field added with ``add_field`` is known by its settings key in ``inputs``,
    ``errors``, ``hints`` and ``rows``: the page shows a rejected value's error under it.
    A card that edits settings overrides ``load`` and ``changes``."""

    # An action starts that checks the form's values anew (a connection test, a move):
    # the errors shown for an earlier attempt no longer apply.
    acting = Signal()

    def __init__(self, title: str, subtitle: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsCard")
        self.inputs: dict[str, QWidget] = {}
        self.errors: dict[str, QLabel] = {}
        self.hints: dict[str, QLabel] = {}
        self.rows: dict[str, QWidget] = {}  # each field's row, to show or hide it
        layout = _CardColumn(self)
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

    def load(self, config: AppConfig) -> None:
        """Show ``config``'s values (a card without settings of its own has none)."""

    def changes(self) -> dict[str, Any]:
        """The card's settings as text and numbers ``AppConfig`` parses."""
        return {}

    def add_field(self, key: str, widget: QWidget, hint: str = "") -> None:
        """A field with its label, an optional hint and a (hidden) inline error under it."""
        holder = QWidget(self)
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
        self.form.addRow(FIELD_LABELS.get(key, key), holder)

    def align_labels(self) -> None:
        """One label width for every card, so the fields line up down the page."""
        for row in range(self.form.rowCount()):
            item = self.form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            label = item.widget() if item is not None else None
            if label is not None:
                label.setMinimumWidth(LABEL_WIDTH)


def seconds_box(parent: QWidget, minimum: float, maximum: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox(parent)
    box.setRange(minimum, maximum)
    box.setDecimals(1)
    box.setSingleStep(1.0)
    box.setSuffix(" s")
    return box


def set_models(box: QComboBox, current: str, names: tuple[str, ...] | list[str]) -> None:
    """Offer ``names`` in a model picker, keeping ``current`` chosen (and listed)."""
    box.blockSignals(True)
    box.clear()
    for name in sorted(set(names)):
        box.addItem(name)
    if current and box.findText(current) < 0:
        box.addItem(current)
    box.setCurrentText(current)
    box.blockSignals(False)


def restyle(widget: QWidget, name: str) -> None:
    """Give ``widget`` the theme's look for ``name`` (fieldHint, fieldError, fieldSuccess)."""
    widget.setObjectName(name)
    widget.style().unpolish(widget)
    widget.style().polish(widget)


def problem_text(error: AllmaError) -> str:
    """An error as the cards show it: what went wrong, then what to do."""
    return f"{error.message} {error.hint}".strip()


__all__ = [
    "FIELD_LABELS",
    "LABEL_WIDTH",
    "SettingsCard",
    "problem_text",
    "restyle",
    "seconds_box",
    "set_models",
]
