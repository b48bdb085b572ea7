"""A layout that places its widgets left to right and wraps onto new lines, like text.

Qt has none built in (this is the "Flow Layout" of Qt's examples). Used for the source
chips under an answer: four or five chips are wider than a narrow chat column, and in a
row they pushed every message's text off the right edge.

The height for a width is worked out once per width until the layout changes: one pass
of the window's layout asks it dozens of times (the splitter, the page stack and the
scroll area each probe a few widths), and the window lays itself out again whenever a
label elsewhere changes its size, which is several times a second while a folder is
indexed. Qt's own box layouts keep the same cache.
"""

from __future__ import annotations

from PySide6.QtCore import QMargins, QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QLayout, QLayoutItem, QWidget


class FlowLayout(QLayout):
    def __init__(self, parent: QWidget | None = None, spacing: int = 6) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._spacing = spacing
        self._heights: dict[int, int] = {}  # width -> height, until invalidate()
        self.setContentsMargins(QMargins(0, 0, 0, 0))

    # --- QLayout's interface ---------------------------------------------------------------

    def addItem(self, item: QLayoutItem) -> None:  # Qt's name
        self._items.append(item)
        self.invalidate()

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:  # Qt's name
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:  # Qt's name
        if not 0 <= index < len(self._items):
            return None
        self.invalidate()
        return self._items.pop(index)

    def expandingDirections(self) -> Qt.Orientation:  # Qt's name
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # Qt's name
        return True

    def heightForWidth(self, width: int) -> int:  # Qt's name
        height = self._heights.get(width)
        if height is None:
            height = self._heights[width] = self._arrange(QRect(0, 0, width, 0), move=False)
        return height

    def invalidate(self) -> None:  # Qt's name: an item was added, removed or resized
        self._heights.clear()
        super().invalidate()

    def setGeometry(self, rect: QRect) -> None:  # Qt's name
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QSize:  # Qt's name
        return self.minimumSize()

    def minimumSize(self) -> QSize:  # Qt's name: as wide as the widest item, no wider
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        margins = self.contentsMargins()
        return size + QSize(margins.left() + margins.right(), margins.top() + margins.bottom())

    # --- placing -----------------------------------------------------------------------------

    def _arrange(self, rect: QRect, *, move: bool) -> int:
        """Place the items in ``rect`` (when ``move``), each centred on its line's height;
        the height they take."""
        margins = self.contentsMargins()
        area = rect.adjusted(margins.left(), margins.top(), -margins.right(), -margins.bottom())
        lines: list[list[tuple[QLayoutItem, QSize]]] = [[]]
        x = area.x()
        for item in self._items:
            if item.isEmpty():
                continue
            hint = item.sizeHint().boundedTo(QSize(max(1, area.width()), item.sizeHint().height()))
            if x > area.x() and x + hint.width() > area.right() + 1:
                lines.append([])
                x = area.x()
            lines[-1].append((item, hint))
            x += hint.width() + self._spacing
        y = area.y()
        for number, line in enumerate(line for line in lines if line):
            if number:
                y += self._spacing
            line_height = max(hint.height() for _, hint in line)
            if move:
                x = area.x()
                for item, hint in line:
                    item.setGeometry(QRect(QPoint(x, y + (line_height - hint.height()) // 2), hint))
                    x += hint.width() + self._spacing
            y += line_height
        return y - rect.y() + margins.bottom()
