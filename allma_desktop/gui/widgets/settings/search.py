"""The Settings card "Search": how documents are cut into passages, and how many are
found for a question (OCR has a card of its own, ``ocr.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QCheckBox, QSpinBox, QWidget

from allma_desktop.gui.widgets.settings.card import SettingsCard

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig


class SearchCard(SettingsCard):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "Search", "How documents are cut into passages and found for a question.", parent
        )
        self.chunk_size_spin = QSpinBox(self)
        self.chunk_size_spin.setRange(100, 20_000)
        self.chunk_size_spin.setSingleStep(100)
        self.chunk_size_spin.setSuffix(" characters")
        self.add_field("chunk_size", self.chunk_size_spin)
        self.chunk_overlap_spin = QSpinBox(self)
        self.chunk_overlap_spin.setRange(0, 10_000)
        self.chunk_overlap_spin.setSingleStep(50)
        self.chunk_overlap_spin.setSuffix(" characters")
        self.add_field("chunk_overlap", self.chunk_overlap_spin, "Less than half the size.")
        self.top_k_spin = QSpinBox(self)
        self.top_k_spin.setRange(1, 50)
        self.add_field("top_k", self.top_k_spin)
        self.hybrid_check = QCheckBox("Combine keyword and meaning search (hybrid)", self)
        self.form.addRow("Hybrid search", self.hybrid_check)
        self.related_check = QCheckBox("Match a question's words said another way", self)
        self.related_check.setToolTip(
            'Ranks a passage that says "children" higher for a question about "kids".\n'
            "The first search with such a word asks the embedding model for up to\n"
            "some 2,000 words of the passages found, so it can take a few seconds."
        )
        self.add_field(
            "related_words",
            self.related_check,
            "Found the right page first a little more often on our test questions; "
            "the first search with a rare word is slower.",
        )

    def load(self, config: AppConfig) -> None:
        self.chunk_size_spin.setValue(config.chunk_size)
        self.chunk_overlap_spin.setValue(config.chunk_overlap)
        self.top_k_spin.setValue(config.top_k)
        self.hybrid_check.setChecked(config.hybrid_search)
        self.related_check.setChecked(config.related_words)

    def changes(self) -> dict[str, Any]:
        return {
            "chunk_size": self.chunk_size_spin.value(),
            "chunk_overlap": self.chunk_overlap_spin.value(),
            "top_k": self.top_k_spin.value(),
            "hybrid_search": self.hybrid_check.isChecked(),
            "related_words": self.related_check.isChecked(),
        }
