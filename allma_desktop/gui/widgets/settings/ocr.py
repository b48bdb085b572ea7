"""The Settings card "Scans and pictures (OCR)": whether pages without usable text and
pictures are read with OCR, in which languages, and adding a language: downloaded
(its ``tessdata-fast-<code>`` package) or from a folder holding ``<code>.traineddata``.

Ticking languages is a setting like any other (applied on Save); adding one acts at
once (the file is copied into the app's data folder) and ticks it, ready to save.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from allma_desktop.errors import OcrDownloadCancelled
from allma_desktop.gui.widgets.settings.card import SettingsCard, problem_text, restyle

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig
    from allma_desktop.errors import AllmaError
    from allma_desktop.gui.controllers.settings_controller import SettingsController
    from allma_desktop.records import OcrLanguage

OCR_HINT = (
    "Pages without usable text (scans, broken fonts) and pictures are read from their image:"
    " a second or two a page."
)
OCR_UNAVAILABLE_HINT = (
    "OCR's language data is missing: add a language below, reinstall the app, or set"
    " ALLMA_TESSDATA to a folder of Tesseract .traineddata files."
)
LANGUAGES_HINT = "Pages are read in the ticked languages; each one adds a little time."
ADD_HINT = (
    "Type a Tesseract code (deu, fra, jpn, chi_sim…). Download fetches its tessdata-fast"
    " package where one is published (deu, jpn); From a folder takes the language's"
    " .traineddata file from a folder you pick."
)
MAX_VISIBLE_LANGUAGES = 5
CODE_ROLE = Qt.ItemDataRole.UserRole


class OcrCard(SettingsCard):
    def __init__(self, controller: SettingsController, parent: QWidget | None = None) -> None:
        super().__init__(
            "Scans and pictures (OCR)",
            "Reads the text of scanned pages and pictures, with the engine built into the app.",
            parent,
        )
        self.controller = controller
        self._languages: list[OcrLanguage] = controller.ocr_languages()
        self._build()
        self._wire()
        self._rebuild(["eng"])  # until ``load`` shows the saved choice

    # --- layout ---------------------------------------------------------------------------

    def _build(self) -> None:
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
        self.form.addRow("OCR", holder)

        self.language_list = QListWidget(self)
        self.language_list.setObjectName("ocrLanguages")
        self.language_list.setAccessibleName("OCR languages")
        self.language_list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.language_list.setMaximumWidth(420)
        self.add_field("ocr_languages", self.language_list, LANGUAGES_HINT)

        line = QWidget(self)
        row = QHBoxLayout(line)
        row.setContentsMargins(0, 0, 0, 0)
        self.code_edit = QLineEdit(line)
        self.code_edit.setPlaceholderText("e.g. deu")
        self.code_edit.setAccessibleName("Code of the language to add")
        self.code_edit.setMaximumWidth(140)
        self.download_button = QPushButton("Download", line)
        self.download_button.setAccessibleName("Download the language")
        self.folder_button = QPushButton("From a folder…", line)
        self.folder_button.setAccessibleName("Add the language from a folder")
        self.cancel_button = QPushButton("Cancel", line)
        self.cancel_button.setAccessibleName("Cancel the language download")
        self.cancel_button.hide()
        row.addWidget(self.code_edit)
        row.addWidget(self.download_button)
        row.addWidget(self.folder_button)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        self.progress = QProgressBar(self)
        self.progress.setMaximumWidth(420)
        self.progress.hide()
        self.add_status = QLabel("", self)
        self.add_status.setTextFormat(Qt.TextFormat.PlainText)  # messages name paths
        self.add_status.setObjectName("fieldHint")
        self.add_status.setWordWrap(True)
        self.add_status.hide()
        add_hint = QLabel(ADD_HINT, self)
        add_hint.setTextFormat(Qt.TextFormat.PlainText)
        add_hint.setObjectName("fieldHint")
        add_hint.setWordWrap(True)
        add_holder = QWidget(self)
        add_rows = QVBoxLayout(add_holder)
        add_rows.setContentsMargins(0, 0, 0, 0)
        add_rows.setSpacing(4)
        add_rows.addWidget(line)
        add_rows.addWidget(add_hint)
        add_rows.addWidget(self.progress)
        add_rows.addWidget(self.add_status)
        self.form.addRow("Add a language", add_holder)

    def _wire(self) -> None:
        c = self.controller
        c.ocr_language_progress.connect(self._show_progress)
        c.ocr_language_added.connect(self._show_added)
        c.ocr_language_failed.connect(self._show_failed)
        self.download_button.clicked.connect(self.download)
        self.code_edit.returnPressed.connect(self.download)
        self.folder_button.clicked.connect(self.choose_folder)
        self.cancel_button.clicked.connect(self.controller.cancel_ocr_download)

    # --- values -----------------------------------------------------------------------------

    def load(self, config: AppConfig) -> None:
        self.ocr_check.setChecked(config.ocr)
        self._rebuild([code for code in config.ocr_languages.split("+") if code])

    def changes(self) -> dict[str, Any]:
        return {"ocr": self.ocr_check.isChecked(), "ocr_languages": "+".join(self.ticked())}

    def ticked(self) -> list[str]:
        """The codes of the ticked languages, in the list's order."""
        items = (self.language_list.item(row) for row in range(self.language_list.count()))
        return [
            str(item.data(CODE_ROLE))
            for item in items
            if item is not None and item.checkState() == Qt.CheckState.Checked
        ]

    # --- the list of languages --------------------------------------------------------------

    def show_languages(self, languages: list[OcrLanguage], tick: str = "") -> None:
        """List ``languages`` keeping the ticks (``tick``: a code to tick as well)."""
        ticked = self.ticked()
        if tick and tick not in ticked:
            ticked.append(tick)
        self._languages = languages
        self._rebuild(ticked)

    def _rebuild(self, ticked: list[str]) -> None:
        """The list anew, ``ticked`` ticked; a ticked language whose data is missing is
        listed too, marked so."""
        languages = self._languages
        self.language_list.clear()
        known = {language.code for language in languages}
        for language in languages:
            text = f"{language.label} · added" if language.added else language.label
            self._add_item(language.code, text, f"{language.folder}")
        for code in ticked:
            if code not in known:
                self._add_item(code, f"{code} · data missing", "Add it again below.")
        self._tick(ticked)
        rows = max(1, min(self.language_list.count(), MAX_VISIBLE_LANGUAGES))
        row_height = self.language_list.sizeHintForRow(0) if self.language_list.count() else 0
        frame = 2 * self.language_list.frameWidth()
        self.language_list.setFixedHeight(rows * max(row_height, 18) + frame + 2)
        available = bool(languages)
        self.ocr_check.setEnabled(available)
        self.ocr_check.setToolTip("" if available else OCR_UNAVAILABLE_HINT)
        self.ocr_hint.setText(OCR_HINT if available else OCR_UNAVAILABLE_HINT)

    def _add_item(self, code: str, text: str, tip: str) -> None:
        item = QListWidgetItem(text, self.language_list)
        item.setData(CODE_ROLE, code)
        item.setToolTip(tip)
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Unchecked)

    def _tick(self, codes: list[str]) -> None:
        for row in range(self.language_list.count()):
            item = self.language_list.item(row)
            if item is not None:
                wanted = str(item.data(CODE_ROLE)) in codes
                item.setCheckState(Qt.CheckState.Checked if wanted else Qt.CheckState.Unchecked)

    # --- adding a language ------------------------------------------------------------------

    def download(self) -> None:
        code = self.code_edit.text().strip()
        if not code:
            self._say("Type the code of the language to download, such as deu.", "fieldError")
            return
        self._set_busy(True, downloading=True)
        self.progress.setRange(0, 0)  # busy until the index says how large the file is
        self.progress.show()
        self._say(f"Downloading the {code} language data…", "fieldHint")
        self.acting.emit()
        self.controller.download_ocr_language(code)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "The folder that holds the language's .traineddata file", str(Path.home())
        )
        if folder:
            self.add_from_folder(Path(folder))

    def add_from_folder(self, folder: Path) -> None:
        """Add the typed language (or the folder's only one) from ``folder``."""
        self._set_busy(True, downloading=False)
        self._say(f"Adding from {folder}…", "fieldHint")
        self.acting.emit()
        self.controller.add_ocr_language_from_folder(self.code_edit.text().strip(), folder)

    def _show_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(min(done, total) / total * 1000))
            self._say(
                f"Downloading the language data: {done / 1e6:.1f} of {total / 1e6:.1f} MB",
                "fieldHint",
            )

    def _show_added(self, language: OcrLanguage, languages: list[OcrLanguage]) -> None:
        self._set_busy(False)
        self.code_edit.clear()
        self.show_languages(languages, tick=language.code)
        self._say(f"{language.label} added. Save to read pages in it.", "fieldSuccess")

    def _show_failed(self, error: AllmaError) -> None:
        self._set_busy(False)
        if isinstance(error, OcrDownloadCancelled):
            self._say("Download cancelled.", "fieldHint")
        else:
            self._say(problem_text(error), "fieldError")

    def _set_busy(self, busy: bool, downloading: bool = False) -> None:
        self.download_button.setEnabled(not busy)
        self.folder_button.setEnabled(not busy)
        self.code_edit.setEnabled(not busy)
        self.cancel_button.setVisible(busy and downloading)
        if not busy:
            self.progress.hide()

    def _say(self, text: str, style: str) -> None:
        restyle(self.add_status, style)
        self.add_status.setText(text)
        self.add_status.show()


__all__ = ["OCR_HINT", "OCR_UNAVAILABLE_HINT", "OcrCard"]
