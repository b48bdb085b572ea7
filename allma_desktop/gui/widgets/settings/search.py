"""The Settings card "Search": how documents are cut into passages, how many are found
for a question, and whether scanned pages and pictures are read with OCR."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QCheckBox, QLabel, QSpinBox, QVBoxLayout, QWidget

from allma_desktop.gui.widgets.settings.card import SettingsCard

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig

OCR_HINT = (
    "Pages without usable text (scans, broken fonts) and pictures are read from their image:"
    " a second or two a page."
)
OCR_UNAVAILABLE_HINT = (
    "OCR's language data is missing: reinstall the app, or set ALLMA_TESSDATA to a folder"
    " of Tesseract .traineddata files."
)


class SearchCard(SettingsCard):
    """``ocr_languages``: the languages OCR can read here; none turns the OCR switch off."""

    def __init__(self, ocr_languages: Sequence[str], parent: QWidget | None = None) -> None:
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
        self.ocr_check = QCheckBox("Read scanned pages and pictures with OCR", self)
        self.ocr_check.setAccessibleName("Read scanned pages and pictures with OCR")
        holder = QWidget(self)
        rows = QVBoxLayout(holder)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(3)
        rows.addWidget(self.ocr_check)
        self.ocr_hint = QLabel(OCR_HINT, holder)
        self.ocr_hint.setObjectName("fieldHint")
        self.ocr_hint.setWordWrap(True)
        rows.addWidget(self.ocr_hint)
        if ocr_languages:
            self.ocr_hint.setText(f"{OCR_HINT} Languages: {', '.join(ocr_languages)}.")
        else:
            self.ocr_check.setEnabled(False)
            self.ocr_check.setToolTip(OCR_UNAVAILABLE_HINT)
            self.ocr_hint.setText(OCR_UNAVAILABLE_HINT)
        self.form.addRow("Scans and pictures", holder)

    def load(self, config: AppConfig) -> None:
        self.chunk_size_spin.setValue(config.chunk_size)
        self.chunk_overlap_spin.setValue(config.chunk_overlap)
        self.top_k_spin.setValue(config.top_k)
        self.hybrid_check.setChecked(config.hybrid_search)
        self.ocr_check.setChecked(config.ocr)

    def changes(self) -> dict[str, Any]:
        return {
            "chunk_size": self.chunk_size_spin.value(),
            "chunk_overlap": self.chunk_overlap_spin.value(),
            "top_k": self.top_k_spin.value(),
            "hybrid_search": self.hybrid_check.isChecked(),
            "ocr": self.ocr_check.isChecked(),
        }
