"""The chat page's header: the conversation's title, then its pickers (documents, what the
model reads of them, the context meter, the model).

On one row where they all fit beside a readable title. On a narrow window (800x600, or
any size at 200% scaling) there is no such row: squeezed, the pickers cut their text
mid-word ("Library (", "deepseel") and the title was pushed out of sight. There the title
takes a line of its own and the pickers go below it, wrapping onto another line when
even that line is too narrow for them, each always at its full size.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from allma_desktop.gui.widgets.flow_layout import FlowLayout

TITLE_MIN_CHARS = 16  # the title keeps room for about this many characters beside the pickers


class ChatHeader(QFrame):
    """A title (an elided label, given all room left) and pickers (kept whole)."""

    def __init__(self, title: QLabel, pickers: list[QWidget], parent: QWidget | None = None):
        super().__init__(parent)
        self.title = title
        self.pickers = pickers
        self._stacked = False
        self._column = column = QVBoxLayout(self)
        column.setContentsMargins(20, 10, 16, 10)
        column.setSpacing(8)
        self._row = QHBoxLayout()
        self._row.setSpacing(6)
        self._row.addWidget(title, 1)
        for picker in pickers:
            self._row.addWidget(picker)
        self._below = FlowLayout(spacing=6)
        column.addLayout(self._row)
        column.addLayout(self._below)

    @property
    def stacked(self) -> bool:
        """Whether the pickers are on lines of their own, below the title."""
        return self._stacked

    def one_row_width(self) -> int:
        """The width the header needs to hold the title and every picker on one row."""
        margins = self._column.contentsMargins()
        shown = [picker for picker in self.pickers if not picker.isHidden()]
        spacing = self._row.spacing() * len(shown)
        title = self.title.fontMetrics().averageCharWidth() * TITLE_MIN_CHARS
        pickers = sum(picker.sizeHint().width() for picker in shown)
        return margins.left() + margins.right() + title + spacing + pickers

    def fit(self) -> None:
        """One row when it holds everything, else the title above the pickers."""
        stacked = self.width() < self.one_row_width()
        if stacked == self._stacked:
            return
        self._stacked = stacked
        source, target = (self._row, self._below) if stacked else (self._below, self._row)
        for picker in self.pickers:
            source.removeWidget(picker)
            target.addWidget(picker)
        self._column.invalidate()

    def resizeEvent(self, event: object) -> None:  # Qt's name
        super().resizeEvent(event)  # type: ignore[arg-type]
        self.fit()

    def event(self, event: QEvent) -> bool:  # Qt's name
        # A picker shown, hidden or given new text asks its parent, this header, to lay
        # out again: its width may no longer fit the row (or fit it again).
        if event.type() == QEvent.Type.LayoutRequest:
            self.fit()
        return super().event(event)


__all__ = ["TITLE_MIN_CHARS", "ChatHeader"]
