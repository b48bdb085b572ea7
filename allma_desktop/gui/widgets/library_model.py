"""The document list as a Qt table model, updated row by row from the library controller."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QRectF,
    QSize,
    Qt,
)
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QStaticText
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from allma_desktop.gui.controllers.library_controller import LibraryRow
from allma_desktop.gui.theme import current_colors
from allma_desktop.library_counts import DocumentCounts, count_documents
from allma_desktop.pathnames import display_path, display_text

COLUMNS = ("Title", "File name", "Type", "Pages", "Chunks", "Size", "Added", "Status")
NAME, FILE, TYPE, PAGES, CHUNKS, SIZE, ADDED, STATUS = range(len(COLUMNS))
ROW_ROLE = Qt.ItemDataRole.UserRole
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
# Roles as plain ints: Qt hands ``data()`` an int, and comparing it with an enum member (or
# or-ing two alignment flags) costs microseconds, a repaint asks ~1,300 times.
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_ROW = int(ROW_ROLE)
_SORT = int(SORT_ROLE)
ANSWERED_ROLES = frozenset({_DISPLAY, _TOOLTIP, _ALIGNMENT, _FOREGROUND, _ROW, _SORT})
"""The roles ``row_data`` answers; for the others (font, decoration, ...) it is None."""
_RIGHT_ALIGNED = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT_ALIGNED = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
_NUMBERS = frozenset({PAGES, CHUNKS, SIZE})
_MUTED = frozenset({TYPE, PAGES, CHUNKS, SIZE, ADDED})
_STATUS_ORDER = {
    "indexing": 0, "queued": 1, "failed": 2, "cancelled": 3, "skipped": 4, "offline": 5, "ready": 6,
}  # fmt: skip

Index = QModelIndex | QPersistentModelIndex
LAID_OUT_TEXTS = 4_096
"""Texts the delegate keeps laid out: a few screens of cells, so a filter typed or erased
mostly shows texts already laid out."""
_SELECTED = QStyle.StateFlag.State_Selected
_DOTS = {
    "ready": "success", "failed": "danger", "indexing": "accent", "queued": "muted",
    "skipped": "warning", "cancelled": "muted", "offline": "warning",
}  # fmt: skip
"""The colour (a theme colour's name) of the dot before each status."""


def status_text(row: LibraryRow) -> str:
    if row.status == "indexing":
        return f"Indexing {round(row.fraction * 100)}%"
    if row.status == "failed":
        return f"Failed: {row.reason}" if row.reason else "Failed"
    if row.status == "skipped":
        return f"Skipped: {row.reason}" if row.reason else "Skipped"
    if row.status == "offline":
        return "Offline: folder not found, still searchable"
    return {"queued": "Queued", "ready": "Ready", "cancelled": "Cancelled"}[row.status]


_TYPE_LABELS = {"markdown": "MD", "text": "TXT", "htm": "HTML", "markdown-text": "MD"}
# What each file type is, in words, for the Type column's hover.
_TYPE_NAMES = {
    "pdf": "PDF document", "docx": "Word document (DOCX)", "markdown": "Markdown text",
    "text": "Plain text", "code": "Source code or data file", "html": "Web page (HTML)",
    "image": "Image (read with OCR)", "epub": "EPUB e-book", "mobi": "Mobipocket e-book",
    "fb2": "FictionBook e-book", "xps": "XPS document", "cbz": "Comic book archive (CBZ)",
}  # fmt: skip


def haystack(row: LibraryRow) -> str:
    """What the filter box looks in, lower-cased once: title, file name and status."""
    status = row.status if row.status in ("ready", "queued") else status_text(row)
    return f"{row.title}\n{os.path.basename(row.path)}\n{status}".lower()


def type_label(file_type: str) -> str:
    """A short, uniform label: files on their way in know only their suffix."""
    return _TYPE_LABELS.get(file_type.lower(), file_type.upper())


def type_name(file_type: str) -> str:
    """The file type in words (a file still on its way in knows only its suffix)."""
    return _TYPE_NAMES.get(file_type.lower()) or f"{type_label(file_type)} file (.{file_type})"


def human_size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""


def short_date(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return _date_label(moment, datetime.now().astimezone().date())


@functools.lru_cache(maxsize=4096)
def _date_label(moment: datetime, today: date) -> str:
    """Remembered: a painted screen of the table asks for the same few dates again and
    again (``astimezone`` and ``strftime`` were a tenth of the Python time of a repaint)."""
    local = moment.astimezone()
    if local.date() == today:
        return f"Today {local:%H:%M}"
    return f"{local.day} {local:%b %Y}"


class DocumentTableModel(QAbstractTableModel):
    """Rows keyed by file path; ``reset``, ``upsert`` and ``remove`` touch only what changed."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[LibraryRow] = []
        self._index: dict[str, int] = {}
        # What the filter box matches, per row, made in idle slices after a reset (and at
        # once for rows that arrive or change later): the first rows have theirs.
        self._haystacks: list[str] = []
        self._tally: dict[str, list[int]] = {}  # status -> [rows, their chunks]: the counts
        self._muted: QColor | None = None  # the theme's muted text colour, read once a theme

    # --- updates ---------------------------------------------------------------------

    def reset(self, rows: list[LibraryRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self._haystacks = []
        self._tally = {}
        self._count(self._rows, 1)
        self._reindex()
        self.endResetModel()

    def palette_changed(self) -> None:
        """The theme changed: colours are read again at the next paint."""
        self._muted = None

    def upsert(self, row: LibraryRow) -> None:
        self.upsert_many([row])

    def upsert_many(self, rows: Iterable[LibraryRow]) -> None:
        """Update the rows already shown and append the new ones, in one insertion."""
        fresh: dict[str, LibraryRow] = {}
        changed: set[int] = set()
        haystacks = self._haystacks
        for row in rows:
            position = self._index.get(row.path)
            if position is None:
                fresh[row.path] = row
                continue
            if self._rows[position].path is not row.path:
                # Filed under the new row's own path string: the old one (the file's
                # first row, made from an event) is then freed with that row.
                del self._index[row.path]
                self._index[row.path] = position
            self._count((self._rows[position],), -1)
            self._count((row,), 1)
            self._rows[position] = row
            changed.add(position)
            if position < len(haystacks):
                haystacks[position] = haystack(row)
        last_column = len(COLUMNS) - 1
        for first, last in _runs(sorted(changed)):  # a run each: the proxy re-checks them all
            self.dataChanged.emit(self.index(first, 0), self.index(last, last_column))
        if not fresh:
            return
        end = len(self._rows)
        self.beginInsertRows(QModelIndex(), end, end + len(fresh) - 1)
        for offset, row in enumerate(fresh.values()):
            self._index[row.path] = end + offset
        self._rows.extend(fresh.values())
        self._count(fresh.values(), 1)
        if len(haystacks) == end:
            haystacks.extend(haystack(row) for row in fresh.values())
        self.endInsertRows()

    def remove(self, path: str) -> None:
        position = self._index.get(path)
        if position is None:
            return
        self.beginRemoveRows(QModelIndex(), position, position)
        self._count((self._rows[position],), -1)
        del self._rows[position]
        if position < len(self._haystacks):
            del self._haystacks[position]
        self._reindex()
        self.endRemoveRows()

    def _count(self, rows: Iterable[LibraryRow], sign: int) -> None:
        """Add (``sign`` 1) or take away (-1) rows from the tallies the counts are made of."""
        tally = self._tally
        for row in rows:
            entry = tally.get(row.status)
            if entry is None:
                entry = tally[row.status] = [0, 0]
            entry[0] += sign
            entry[1] += sign * (row.chunks or 0)

    def _reindex(self) -> None:
        self._index = {row.path: i for i, row in enumerate(self._rows)}

    # --- reading -----------------------------------------------------------------------

    def row_for(self, path: str) -> LibraryRow | None:
        position = self._index.get(path)
        return None if position is None else self._rows[position]

    @property
    def rows(self) -> list[LibraryRow]:
        return list(self._rows)

    @property
    def row_count(self) -> int:
        return len(self._rows)

    def counts(self) -> DocumentCounts:
        """The rows counted as everywhere else (``library_counts``), from tallies kept as rows
        come, change and go: a pass over 100,000 rows took 38 ms, and rows change during
        a sync several times a second."""
        return count_documents(
            (status, None, rows, chunks) for status, (rows, chunks) in self._tally.items()
        )

    def row_at(self, position: int) -> LibraryRow:
        return self._rows[position]

    def haystacks(self) -> list[str]:
        """Per row, in lower case, what the filter box matches: title, file name, status
        (all made now if some are not yet: a filter makes them a slice a turn instead)."""
        while not self.prepare_haystacks(len(self._rows)):
            pass
        return self._haystacks

    def haystack_at(self, position: int) -> str:
        """One row's filter text, made now if it is not made yet."""
        if position < len(self._haystacks):
            return self._haystacks[position]
        return haystack(self._rows[position])

    def prepare_haystacks(self, limit: int = 2_000) -> bool:
        """Make the next ``limit`` rows' filter text (about 1 us a row); True once every
        row has it. The page calls this in idle slices after a reset, and a filter typed
        before they are all made makes the rest a slice a turn."""
        done = len(self._haystacks)
        if done < len(self._rows):
            self._haystacks.extend(haystack(row) for row in self._rows[done : done + limit])
        return len(self._haystacks) == len(self._rows)

    def sort_keys(self, column: int) -> list[Any]:
        """Every row's sort key for ``column``, in row order (for sorting in bulk)."""
        key = self._sort_key
        return [key(row, column) for row in self._rows]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        role = int(role)
        if role not in (_DISPLAY, _ALIGNMENT) or orientation != Qt.Orientation.Horizontal:
            return None
        if role == _DISPLAY:
            return COLUMNS[section]
        return _RIGHT_ALIGNED if section in _NUMBERS else _LEFT_ALIGNED

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if int(role) not in ANSWERED_ROLES:
            return None
        position = index.row()
        if not index.isValid() or not 0 <= position < len(self._rows):
            return None
        return self.row_data(self._rows[position], index.column(), role)

    def sort_key(self, position: int, column: int) -> Any:
        return self._sort_key(self._rows[position], column)

    def row_data(self, row: LibraryRow, column: int, role: int) -> Any:
        """``data()`` for a row already looked up (the filter proxy calls it directly)."""
        role = int(role)
        if role == _DISPLAY:
            return self.display(row, column)
        if role == _ROW:
            return row
        if role == _SORT:
            return self._sort_key(row, column)
        if role == _TOOLTIP:
            if column == STATUS and row.status in ("failed", "skipped"):
                return "\n".join(part for part in (status_text(row), row.hint) if part)
            if column in (NAME, FILE):
                return display_path(row.path)  # Qt drops bytes that are not UTF-8
            if column == TYPE:
                return type_name(row.file_type)
        if role == _ALIGNMENT and column in _NUMBERS:
            return _RIGHT_ALIGNED
        if role == _FOREGROUND and column in _MUTED:
            if self._muted is None:  # the palette is read once, not once a cell
                self._muted = QColor(current_colors().muted)
            return self._muted
        return None

    @staticmethod
    def display(row: LibraryRow, column: int) -> str:
        """What ``column`` shows of ``row`` (the delegate paints this without ``data()``)."""
        if column == NAME:
            title = row.title if row.title and row.status in ("ready", "offline") else row.name
            return display_text(title)
        if column == FILE:
            return display_text(row.name)
        if column == TYPE:
            return type_label(row.file_type)
        if column == PAGES:
            return "" if row.pages is None else str(row.pages)
        if column == CHUNKS:
            return "" if not row.chunks else str(row.chunks)
        if column == SIZE:
            return human_size(row.size_bytes)
        if column == ADDED:
            return short_date(row.added)
        return status_text(row)

    @staticmethod
    def _sort_key(row: LibraryRow, column: int) -> Any:
        if column == NAME:
            return (row.title or row.name).lower()
        if column == FILE:
            return row.name.lower()
        if column == TYPE:
            return row.file_type
        if column == PAGES:
            return row.pages or 0
        if column == CHUNKS:
            return row.chunks or 0
        if column == SIZE:
            return row.size_bytes or 0
        if column == ADDED:
            return row.added.timestamp() if row.added else 0.0
        return _STATUS_ORDER.get(row.status, 9)


@dataclass(frozen=True)
class _Look:
    """What painting a cell needs from the theme and the style, read once a theme."""

    text: QColor
    muted: QColor
    failed: QColor
    selection: QColor
    dots: dict[str, QColor]
    bar: QColor
    bar_fill: QColor
    left: int  # from a cell's edge to its text, as the style lays an item out
    right: int
    line_height: int
    tops: dict[int, int]  # a cell's height -> from its top to its text's top (the style's)


class DocumentCellDelegate(QStyledItemDelegate):
    """Paints every cell of the document table straight from its row, each text laid out
    once and kept (``QStaticText``); the Status cell gets a coloured dot, and a thin
    progress bar while indexing.

    The style's own item painting asks the model for seven roles a cell and lays each
    text out three times (to size it, to elide it, to draw it). At 100,000 rows a filter
    keystroke repaints the whole view, and that paint was most of the keystroke: about
    5 ms against 1-2 ms this way. Text sits where the style would put it (its insets are
    read from the style), so the Type column's fitted width still fits its labels.
    """

    def __init__(self, row_at: Callable[[int], LibraryRow], parent: QWidget) -> None:
        super().__init__(parent)
        self._row_at = row_at  # a view row -> its LibraryRow (the filter proxy's)
        # Laid-out texts and their widths, keyed by room and text in one string: a key
        # tuple kept per text would be one more object for the garbage collector to count.
        self._texts: dict[str, QStaticText] = {}
        self._advances: dict[str, int] = {}
        self._look: _Look | None = None
        self._metrics: QFontMetrics | None = None

    def style_changed(self) -> None:
        """The theme, the style or the font changed: read them again at the next paint."""
        self._look = None
        self._metrics = None
        self._texts.clear()
        self._advances.clear()

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        try:
            row = self._row_at(index.row())
        except IndexError:  # not one of the proxy's rows: paint it the usual way
            super().paint(painter, option, index)
            return
        look = self._look or self._read_look(option)
        column = index.column()
        rect: QRect = option.rect
        left, top, width = rect.left(), rect.top(), rect.width()
        selected = bool(option.state & _SELECTED)
        if selected:
            painter.fillRect(rect, look.selection)
        if column == STATUS:
            self._paint_status(painter, row, rect, look)
            return
        text = DocumentTableModel.display(row, column)
        if not text:
            return
        room = width - look.left - look.right
        static, advance = self._static(text, room)
        x = left + look.left
        if column in _NUMBERS:
            x += room - advance
        height = rect.height()
        text_top = look.tops.get(height)
        if text_top is None:
            text_top = self._text_top(option, height)
        painter.setPen(look.muted if column in _MUTED and not selected else look.text)
        painter.drawStaticText(x, top + text_top, static)

    def _paint_status(self, painter: QPainter, row: LibraryRow, rect: QRect, look: _Look) -> None:
        left, top, height = rect.left(), rect.top(), rect.height()
        middle = top + height // 2
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(look.dots.get(row.status, look.muted))
        painter.drawEllipse(QRectF(left + 8, middle - 4, 8, 8))
        room = rect.width() - 32
        text_top, text_height = top, height
        if row.status == "indexing":
            text_height -= 8
            bar = QRectF(left + 24, rect.bottom() - 9, max(rect.width() - 40, 10), 4)
            painter.setBrush(look.bar)
            painter.drawRoundedRect(bar, 2, 2)
            filled = QRectF(bar.left(), bar.top(), bar.width() * row.fraction, bar.height())
            painter.setBrush(look.bar_fill)
            painter.drawRoundedRect(filled, 2, 2)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        static, _advance = self._static(status_text(row), room)
        painter.setPen(look.failed if row.status == "failed" else look.text)
        painter.drawStaticText(left + 24, text_top + (text_height - look.line_height) // 2, static)

    def _text_top(self, option: QStyleOptionViewItem, height: int) -> int:
        """Where the style puts a line of text in a cell ``height`` pixels high (centred in
        what its padding leaves), from the cell's top."""
        look = self._look
        assert look is not None
        text_rect = self._style_text_rect(option, 400, height)
        top = text_rect.top() + (text_rect.height() - look.line_height) // 2
        look.tops[height] = top
        return top

    @staticmethod
    def _style_text_rect(option: QStyleOptionViewItem, width: int, height: int) -> QRect:
        widget = option.widget
        style = widget.style() if widget is not None else QApplication.style()
        sample = QStyleOptionViewItem(option)
        sample.rect = QRect(0, 0, width, height)
        sample.text = "X"
        sample.features |= QStyleOptionViewItem.ViewItemFeature.HasDisplay
        return style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, sample, widget)

    def _static(self, text: str, room: int) -> tuple[QStaticText, int]:
        """``text`` cut to ``room`` pixels ("…"), laid out once, and its width."""
        key = f"{room}\t{text}"
        static = self._texts.get(key)
        if static is not None:
            return static, self._advances[key]
        metrics = self._metrics
        assert metrics is not None  # read with the look
        shown = metrics.elidedText(text, Qt.TextElideMode.ElideRight, max(room, 0))
        static = QStaticText(shown)
        static.setTextFormat(Qt.TextFormat.PlainText)
        advance = metrics.horizontalAdvance(shown)
        if len(self._texts) >= LAID_OUT_TEXTS:  # a screenful comes back at once: no LRU
            self._texts.clear()
            self._advances.clear()
        self._texts[key] = static
        self._advances[key] = advance
        return static, advance

    def _read_look(self, option: QStyleOptionViewItem) -> _Look:
        widget = option.widget
        style = widget.style() if widget is not None else QApplication.style()
        text_rect = self._style_text_rect(option, 400, 60)
        margin = style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, widget) + 1
        self._metrics = QFontMetrics(option.font)
        colors = current_colors()
        look = _Look(
            text=QColor(colors.text),
            muted=QColor(colors.muted),
            failed=QColor(colors.danger),
            selection=QColor(colors.selection),
            dots={status: QColor(getattr(colors, name)) for status, name in _DOTS.items()},
            bar=QColor(colors.hover),
            bar_fill=QColor(colors.accent),
            left=text_rect.left() + margin,
            right=400 - text_rect.right() - 1 + margin,
            line_height=self._metrics.height(),
            tops={},
        )
        self._look = look
        return look

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        hint = super().sizeHint(option, index)
        if index.column() != STATUS:
            return hint
        return QSize(hint.width() + 24, max(hint.height(), 34))  # the dot, the bar


__all__ = [
    "COLUMNS",
    "FILE",
    "ROW_ROLE",
    "SORT_ROLE",
    "DocumentCellDelegate",
    "DocumentTableModel",
    "status_text",
    "type_label",
    "type_name",
]


def _runs(positions: list[int]) -> Iterator[tuple[int, int]]:
    """Sorted positions as (first, last) runs of neighbours."""
    start = previous = -2
    for position in positions:
        if position != previous + 1:
            if start >= 0:
                yield start, previous
            start = position
        previous = position
    if start >= 0:
        yield start, previous
