"""The document list as a Qt table model, updated row by row from the library controller."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator
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
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

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
        self._haystacks: list[str] | None = None  # what the filter box matches, made on demand
        self._muted: QColor | None = None  # the theme's muted text colour, read once a theme

    # --- updates ---------------------------------------------------------------------

    def reset(self, rows: list[LibraryRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self._haystacks = None
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
            self._rows[position] = row
            changed.add(position)
            if haystacks is not None and position < len(haystacks):
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
        if haystacks is not None and len(haystacks) == end:
            haystacks.extend(haystack(row) for row in fresh.values())
        self.endInsertRows()

    def remove(self, path: str) -> None:
        position = self._index.get(path)
        if position is None:
            return
        self.beginRemoveRows(QModelIndex(), position, position)
        del self._rows[position]
        if self._haystacks is not None and position < len(self._haystacks):
            del self._haystacks[position]
        self._reindex()
        self.endRemoveRows()

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
        """The rows counted as everywhere else (``library_counts``), in one pass."""
        return count_documents((row.status, None, 1, row.chunks) for row in self._rows)

    def row_at(self, position: int) -> LibraryRow:
        return self._rows[position]

    def haystacks(self) -> list[str]:
        """Per row, in lower case, what the filter box matches: title, file name, status."""
        while not self.prepare_haystacks(len(self._rows)):
            pass
        assert self._haystacks is not None
        return self._haystacks

    def prepare_haystacks(self, limit: int = 5_000) -> bool:
        """Make the next ``limit`` rows' filter text; True once every row has it (the page
        calls this in idle slices after a reset, so the first keystroke finds it ready)."""
        if self._haystacks is None:
            self._haystacks = []
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
            return self._display(row, column)
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
    def _display(row: LibraryRow, column: int) -> str:
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


class StatusDelegate(QStyledItemDelegate):
    """A coloured dot and the status; a thin progress bar under it while indexing."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        row = index.data(ROW_ROLE)
        if not isinstance(row, LibraryRow):
            super().paint(painter, option, index)
            return
        colors = current_colors()
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, QColor(colors.selection))
        rect: QRect = option.rect
        dot_color = {
            "ready": colors.success,
            "failed": colors.danger,
            "indexing": colors.accent,
            "queued": colors.muted,
            "skipped": colors.warning,
            "cancelled": colors.muted,
            "offline": colors.warning,
        }[row.status]
        text_color = colors.danger if row.status == "failed" else colors.text
        middle = rect.center().y()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(dot_color))
        painter.drawEllipse(QRectF(rect.left() + 8, middle - 4, 8, 8))
        text_rect = rect.adjusted(24, 0, -8, 0)
        if row.status == "indexing":
            text_rect = rect.adjusted(24, 0, -8, -8)
            bar = QRectF(rect.left() + 24, rect.bottom() - 9, max(rect.width() - 40, 10), 4)
            painter.setBrush(QColor(colors.hover))
            painter.drawRoundedRect(bar, 2, 2)
            filled = QRectF(bar.left(), bar.top(), bar.width() * row.fraction, bar.height())
            painter.setBrush(QColor(colors.accent))
            painter.drawRoundedRect(filled, 2, 2)
        painter.setPen(QColor(text_color))
        painter.setFont(option.font)
        text = painter.fontMetrics().elidedText(
            status_text(row), Qt.TextElideMode.ElideRight, text_rect.width()
        )
        align = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
        painter.drawText(text_rect, int(align), text)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        hint = super().sizeHint(option, index)
        return QSize(hint.width() + 24, max(hint.height(), 34))


__all__ = [
    "COLUMNS",
    "FILE",
    "ROW_ROLE",
    "SORT_ROLE",
    "DocumentTableModel",
    "StatusDelegate",
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
