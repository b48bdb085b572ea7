"""How an answer's check against its sources shows in the transcript.

A small line under the answer ("3 of 4 sentences supported by their sources"),
and a quiet dotted underline on each sentence its source does not support, and on
each number found in no source, with a tooltip that says what was not found.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor, QTextDocument
from PySide6.QtWidgets import QLabel, QTextBrowser, QWidget

from allma_desktop.gui.theme import current_colors
from allma_desktop.records import GroundingReport

_CITATION = re.compile(r"\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\]")
_MARKUP = re.compile(r"[*_`#>]+")
_PROBE_CHARS = 40


class GroundingLine(QLabel):
    """ "✓ 3 of 3 sentences supported by their sources", with the details in a tooltip."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("groundingLine")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.report: GroundingReport | None = None
        self.hide()

    def show_report(self, report: GroundingReport | None) -> None:
        self.report = report
        if report is None or not (report.checked or report.unsupported_numbers):
            self.hide()
            return
        all_supported = report.supported == report.checked and not report.unsupported_numbers
        summary = report.summary or (
            "Not in any source: " + ", ".join(report.unsupported_numbers[:5])
        )
        self.setText(f"{'✓' if all_supported else '⚠'} {summary}")
        self.setProperty("warning", not all_supported)
        details = [f"“{s.text}”\n    {s.note}" for s in report.unsupported]
        if report.unsupported_numbers:
            numbers = ", ".join(report.unsupported_numbers)
            details.append(f"Numbers found in no source: {numbers}")
        tip = "Each sentence that cites a source was checked against that source's text."
        self.setToolTip("\n\n".join([tip, *details]))
        self.setAccessibleName(self.text())
        self.style().unpolish(self)
        self.style().polish(self)
        self.show()


def mark_unsupported(view: QTextBrowser, report: GroundingReport | None) -> int:
    """Underline, in the rendered answer, the sentences and numbers the check did not find;
    returns how many marks were made (a sentence whose text cannot be found is skipped)."""
    if report is None:
        return 0
    document = view.document()
    marks = 0
    for sentence in report.unsupported:
        cursor = _find_sentence(document, sentence.text)
        if cursor is not None:
            _underline(cursor, sentence.note)
            marks += 1
    for number in report.unsupported_numbers:
        cursor = QTextCursor(document)
        flags = QTextDocument.FindFlag.FindWholeWords
        while True:
            cursor = document.find(number, cursor, flags)
            if cursor.isNull():
                break
            _underline(cursor, f"{number} is in none of the sources.")
            marks += 1
    return marks


def _find_sentence(document: QTextDocument, sentence: str) -> QTextCursor | None:
    plain = " ".join(_MARKUP.sub("", _CITATION.sub("", sentence)).split())
    if not plain:
        return None
    head = plain[:_PROBE_CHARS]
    start = document.find(head)
    if start.isNull():
        return None
    tail = plain[-min(len(plain), _PROBE_CHARS) :]
    end = document.find(tail, start.selectionStart())
    cursor = QTextCursor(document)
    cursor.setPosition(start.selectionStart())
    last = end.selectionEnd() if not end.isNull() else start.selectionEnd()
    cursor.setPosition(last, QTextCursor.MoveMode.KeepAnchor)
    return cursor


def _underline(cursor: QTextCursor, tooltip: str) -> None:
    mark = QTextCharFormat()
    mark.setUnderlineStyle(QTextCharFormat.UnderlineStyle.DotLine)
    mark.setUnderlineColor(QColor(current_colors().warning))
    mark.setToolTip(tooltip)
    cursor.mergeCharFormat(mark)
