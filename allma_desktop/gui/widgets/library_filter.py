"""The document table's sorted, filtered view of ``DocumentTableModel``, built for 100,000 rows.

A ``QSortFilterProxyModel`` asks Python for every row: with our Python model, one filter
pass over 100,000 rows took 140 ms (a ``filterAcceptsRow`` call per row) and one sort
28 s (two ``data()`` calls per comparison). This proxy does both in bulk instead: a sort
is one ``sorted()`` over the column's keys (about 50 ms at 100,000 rows, only when a
header is clicked or the list is reloaded), and a filter keystroke is one list
comprehension over lower-cased text kept per row by the model. The model is never
rebuilt: the proxy keeps a list of the model's row numbers in display order.

A filter over more than ``FILTER_SLICE`` rows is worked through in slices, about
``FILTER_BUDGET`` seconds of them per event-loop turn, so a keystroke never holds the
window for the whole list (at 100,000 rows one pass took 7-25 ms, longer than a frame);
rows whose filter text is not made yet (just after a reload) get it in the same slices.
The view changes once, when the last slice is done, as one layout change: the selection
and the current row stay on the rows still shown. Typing on only narrows, so a longer
filter looks only among the rows the shorter one showed; filters applied since the rows
last changed are remembered, so backspacing over what was just typed shows each earlier
result at once.

Rows that change (a file finishes indexing) keep their place until the next sort, as in a
file manager; rows that start or stop matching the filter appear or go at once.
"""

from __future__ import annotations

import bisect
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import (
    QAbstractProxyModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)

from allma_desktop.gui.controllers.library_controller import LibraryRow
from allma_desktop.gui.widgets.library_model import ANSWERED_ROLES, COLUMNS, DocumentTableModel

Index = QModelIndex | QPersistentModelIndex

FILTER_SLICE = 5_000
"""Rows a filter looks at in one go: about 0.3 ms of list comprehension."""
FILTER_BUDGET = 0.003
"""Seconds of slices one event-loop turn of a filter works (at least one slice)."""
FEW_TO_MAKE = 2_000
"""Rows whose filter text a keystroke makes at once, if that is all that is missing."""
FEW_HELD = 8
"""Up to this many rows held by the view (selection, current row) are found again one by
one after a filter; more, through one map of every row."""
REMEMBERED_FILTERS = 8
COLUMN_COUNT = len(COLUMNS)
_ROW_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable  # or-ed once, not a cell


@dataclass
class _FilterJob:
    """A filter being worked through ``rows`` (source rows in display order), a slice a turn."""

    words: tuple[str, ...]
    rows: list[int]
    position: int = 0
    kept: list[int] = field(default_factory=list)
    changed: set[int] = field(default_factory=set)  # rows whose data changed meanwhile


class _Descending:
    """A sort key compared the other way round (for bisect in a descending list)."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: _Descending) -> bool:
        return bool(other.key < self.key)


def _row_number(row: int) -> int:
    return row


def _slot(placed: tuple[int, int]) -> int:
    return placed[0]


class DocumentFilterProxy(QAbstractProxyModel):
    """Sorts and filters a ``DocumentTableModel`` (case-insensitive words in title, file name
    and status) without asking Python once per row."""

    filter_applied = Signal()  # the rows shown now answer the filter text last set

    def __init__(self, source: DocumentTableModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._source = source
        self._column = -1
        self._descending = False
        self._words: tuple[str, ...] = ()
        self._sorted: list[int] = []  # every source row, in display order
        self._visible: list[int] = []  # the source rows shown, in display order
        self._proxy_rows: list[int] | None = None  # source row -> proxy row (-1: hidden)
        self._job: _FilterJob | None = None
        self._remembered: dict[tuple[str, ...], list[int]] = {}  # since the rows last changed
        self._step_timer = QTimer(self)
        self._step_timer.setInterval(0)
        self._step_timer.timeout.connect(self._filter_step)
        self.setSourceModel(source)
        source.modelAboutToBeReset.connect(self.beginResetModel)
        source.modelReset.connect(self._on_source_reset)
        source.rowsInserted.connect(self._on_rows_inserted)
        source.rowsAboutToBeRemoved.connect(self._on_rows_about_to_be_removed)
        source.rowsRemoved.connect(self._on_rows_removed)
        source.dataChanged.connect(self._on_data_changed)
        self._rebuild()

    # --- filter and sort ------------------------------------------------------------------

    @property
    def filter_text(self) -> str:
        """The filter the rows shown answer (a newer one may still be being worked out)."""
        return " ".join(self._words)

    @property
    def filtering(self) -> bool:
        """Whether a filter is still being worked through the rows."""
        return self._job is not None

    def set_filter_text(self, text: str) -> None:
        words = tuple(text.lower().split())
        if words == (self._job.words if self._job is not None else self._words):
            return
        self._cancel_job()
        if words == self._words:  # back to what is shown
            self.filter_applied.emit()
            return
        remembered = self._remembered.get(words)
        if remembered is not None or not words:
            self._show(words, remembered if remembered is not None else list(self._sorted))
            return
        rows = self._narrowest_base(words)
        # A short list at once (its rows' filter text made now if a few lack it), a long one
        # a slice at a time.
        if len(rows) <= FILTER_SLICE and self._source.prepare_haystacks(FEW_TO_MAKE):
            self._show(words, _matching(rows, words, self._source.haystacks()))
            return
        self._job = _FilterJob(words, rows)
        self._step_timer.start()

    def _narrowest_base(self, words: tuple[str, ...]) -> list[int]:
        """The fewest rows that surely hold every match of ``words``: the rows of a filter
        whose text ``words``' text starts with (typing on only narrows), else all."""
        text = " ".join(words)
        base = self._sorted
        known = dict(self._remembered)
        known[self._words] = self._visible
        for earlier, rows in known.items():
            if earlier and text.startswith(" ".join(earlier)) and len(rows) < len(base):
                base = rows
        return base

    def _filter_step(self) -> None:
        job = self._job
        if job is None:
            self._step_timer.stop()
            return
        source = self._source
        deadline = time.perf_counter() + FILTER_BUDGET
        while True:
            if not source.prepare_haystacks(FILTER_SLICE):  # just reloaded: make them first
                if time.perf_counter() >= deadline:
                    return
                continue
            end = job.position + FILTER_SLICE
            job.kept.extend(_matching(job.rows[job.position : end], job.words, source.haystacks()))
            job.position = end
            if end >= len(job.rows):
                break
            if time.perf_counter() >= deadline:
                return
        self._cancel_job()
        self._show(job.words, job.kept)
        for source_row in sorted(job.changed):  # decided on their old text, perhaps
            if source_row < self._source.row_count:
                self._follow_row(source_row)

    def _cancel_job(self) -> None:
        self._job = None
        self._step_timer.stop()

    def _restart_job(self) -> None:
        """Rows were added or removed under a filter being worked out: start it again."""
        if self._job is not None:
            words = self._job.words
            self._cancel_job()
            self.set_filter_text(" ".join(words))

    def _show(self, words: tuple[str, ...], rows: list[int]) -> None:
        def change() -> None:
            self._words = words
            self._visible = rows
            self._proxy_rows = None

        self._relayout(change)
        self._remember()
        self.filter_applied.emit()

    def _relayout(self, change: Callable[[], None]) -> None:
        """Run ``change`` (other rows shown, or another order) as one layout change, not a
        reset: the view keeps its selection and current row where those rows are shown."""
        self.layoutAboutToBeChanged.emit()  # (PySide emits it with no hint only)
        persistent = self.persistentIndexList()
        visible, count = self._visible, len(self._visible)
        held = [
            (visible[i.row()], i.column()) if i.isValid() and i.row() < count else (-1, 0)
            for i in persistent
        ]
        change()
        where = self._proxy_rows_of({row for row, _column in held if row >= 0})
        moved = [
            self.index(where[row], column) if row in where else QModelIndex()
            for row, column in held
        ]
        self.changePersistentIndexList(persistent, moved)
        self.layoutChanged.emit()

    def _proxy_rows_of(self, source_rows: set[int]) -> dict[int, int]:
        """Where each of ``source_rows`` is shown now (left out: not shown)."""
        if len(source_rows) <= FEW_HELD:  # a search in C each, no map of every row
            found: dict[int, int] = {}
            for source_row in source_rows:
                try:
                    found[source_row] = self._visible.index(source_row)
                except ValueError:
                    continue
            return found
        rows = self._map()
        return {row: rows[row] for row in source_rows if 0 <= row < len(rows) and rows[row] >= 0}

    def _remember(self) -> None:
        if not self._words:
            return
        self._remembered.pop(self._words, None)
        self._remembered[self._words] = list(self._visible)
        while len(self._remembered) > REMEMBERED_FILTERS:
            del self._remembered[next(iter(self._remembered))]

    def _forget(self) -> None:
        """The rows changed: no earlier result holds any more."""
        self._remembered.clear()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        def change() -> None:
            self._column = column
            self._descending = order == Qt.SortOrder.DescendingOrder
            self._sort_all()
            self._apply_filter()

        self._relayout(change)
        self._forget()
        self._remember()
        self._restart_job()

    def sort_column(self) -> int:
        return self._column

    def _rebuild(self) -> None:
        self._sort_all()
        self._apply_filter()

    def _sort_all(self) -> None:
        count = self._source.row_count
        if self._column < 0:
            self._sorted = list(range(count))
            return
        keys = self._source.sort_keys(self._column)
        self._sorted = sorted(range(count), key=keys.__getitem__, reverse=self._descending)

    def _apply_filter(self, among: list[int] | None = None) -> None:
        """The rows to show: of ``among`` (rows in display order), or of all of them."""
        self._proxy_rows = None
        if not self._words:
            self._visible = list(self._sorted)
            return
        rows = self._sorted if among is None else among
        self._visible = _matching(rows, self._words, self._source.haystacks())

    def _matches(self, source_row: int) -> bool:
        if not self._words:
            return True
        text = self._source.haystack_at(source_row)
        return all(word in text for word in self._words)

    def _map(self) -> list[int]:
        """Source row -> proxy row (-1 when filtered out); rebuilt after rows move."""
        if self._proxy_rows is None:
            rows = [-1] * self._source.row_count
            for proxy_row, source_row in enumerate(self._visible):
                rows[source_row] = proxy_row
            self._proxy_rows = rows
        return self._proxy_rows

    def _position(self, rows: list[int], source_row: int) -> int:
        """Where ``source_row`` goes in ``rows`` (a list in display order)."""
        if self._column < 0:
            return bisect.bisect_left(rows, source_row)
        key = self._display_key()
        return bisect.bisect_right(rows, key(source_row), key=key)

    def _display_key(self) -> Callable[[int], Any]:
        """What orders a row in the display (its row number when unsorted)."""
        if self._column < 0:
            return _row_number
        column, model = self._column, self._source
        key: Callable[[int], Any]
        if self._descending:

            def key(row: int) -> Any:
                return _Descending(model.sort_key(row, column))
        else:

            def key(row: int) -> Any:
                return model.sort_key(row, column)

        return key

    # --- the source's changes -------------------------------------------------------------

    def _on_source_reset(self) -> None:
        self._forget()
        self._rebuild()
        self.endResetModel()
        self._remember()
        self._restart_job()

    def _on_rows_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        self._forget()
        count = last - first + 1
        if first < self._source.row_count - count:  # inserted before existing rows: shift
            self._sorted = [row + count if row >= first else row for row in self._sorted]
            self._visible = [row + count if row >= first else row for row in self._visible]
        shown = []
        for source_row in range(first, last + 1):
            self._sorted.insert(self._position(self._sorted, source_row), source_row)
            if self._matches(source_row):
                shown.append(source_row)
        self._insert_visible_many(shown)
        self._proxy_rows = None
        self._restart_job()

    def _insert_visible_many(self, source_rows: list[int]) -> None:
        """Show ``source_rows`` (in the order they came) where they belong: one insertion
        for each run of them that lands side by side, not one per row. A flush of new
        files, appended or sorted to one end, is one insertion; one each, the view was
        told 5,000 times in a 5,000-file sync and laid out its rows each time."""
        if len(source_rows) == 1:
            self._insert_visible(source_rows[0])
            return
        # As inserting them one by one would place them: by the display order's key
        # (equal keys in the order they came; sorts are stable), then by their slot among
        # the rows already shown.
        by_key = sorted(source_rows, key=self._display_key())
        placed = sorted(((self._position(self._visible, row), row) for row in by_key), key=_slot)
        inserted = 0
        for slot, together in itertools.groupby(placed, key=_slot):
            run = [row for _, row in together]
            at = slot + inserted
            self.beginInsertRows(QModelIndex(), at, at + len(run) - 1)
            self._visible[at:at] = run
            self._proxy_rows = None
            self.endInsertRows()
            inserted += len(run)

    def _insert_visible(self, source_row: int) -> None:
        position = self._position(self._visible, source_row)
        self.beginInsertRows(QModelIndex(), position, position)
        self._visible.insert(position, source_row)
        self._proxy_rows = None
        self.endInsertRows()

    def _remove_visible(self, proxy_row: int) -> None:
        self.beginRemoveRows(QModelIndex(), proxy_row, proxy_row)
        del self._visible[proxy_row]
        self._proxy_rows = None
        self.endRemoveRows()

    def _on_rows_about_to_be_removed(self, _parent: QModelIndex, first: int, last: int) -> None:
        self._forget()
        for source_row in range(last, first - 1, -1):
            proxy_row = self._map()[source_row]
            if proxy_row >= 0:
                self._remove_visible(proxy_row)

    def _on_rows_removed(self, _parent: QModelIndex, first: int, last: int) -> None:
        count = last - first + 1

        def shifted(rows: list[int]) -> list[int]:
            return [row - count if row > last else row for row in rows if not first <= row <= last]

        self._sorted = shifted(self._sorted)
        self._visible = shifted(self._visible)
        self._proxy_rows = None
        self._restart_job()

    def _on_data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex) -> None:
        self._forget()
        rows = range(top_left.row(), bottom_right.row() + 1)
        if self._job is not None:
            self._job.changed.update(rows)
        # Rows still shown are refreshed with one signal over their span; only rows that
        # start or stop matching move (each changes the map, so they go one by one).
        proxy_rows, refreshed, moved = self._map(), [], []
        for source_row in rows:
            proxy_row = proxy_rows[source_row]
            matches = self._matches(source_row)
            if proxy_row >= 0 and matches:
                refreshed.append(proxy_row)
            elif proxy_row >= 0 or matches:
                moved.append(source_row)
        if refreshed:
            last_column = self.columnCount() - 1
            self.dataChanged.emit(
                self.index(min(refreshed), 0), self.index(max(refreshed), last_column)
            )
        for source_row in moved:
            self._follow_row(source_row)

    def _follow_row(self, source_row: int) -> None:
        """Show, refresh or hide one changed row as the filter now says."""
        proxy_row = self._map()[source_row]
        matches = self._matches(source_row)
        if proxy_row >= 0 and matches:
            last_column = self.columnCount() - 1
            self.dataChanged.emit(self.index(proxy_row, 0), self.index(proxy_row, last_column))
        elif proxy_row >= 0:
            self._remove_visible(proxy_row)
        elif matches:
            self._insert_visible(source_row)

    # --- QAbstractProxyModel ----------------------------------------------------------------

    def mapToSource(self, proxy_index: Index) -> QModelIndex:
        if not proxy_index.isValid() or not 0 <= proxy_index.row() < len(self._visible):
            return QModelIndex()
        return self._source.index(self._visible[proxy_index.row()], proxy_index.column())

    def mapFromSource(self, source_index: Index) -> QModelIndex:
        if not source_index.isValid():
            return QModelIndex()
        rows = self._map()
        if not 0 <= source_index.row() < len(rows) or rows[source_index.row()] < 0:
            return QModelIndex()
        return self.index(rows[source_index.row()], source_index.column())

    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        if parent.isValid() or not 0 <= row < len(self._visible):
            return QModelIndex()
        if not 0 <= column < COLUMN_COUNT:
            return QModelIndex()
        return self.createIndex(row, column)

    def parent(self, child: Index | None = None) -> Any:
        if child is None:  # QObject.parent()
            return QObject.parent(self)
        return QModelIndex()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._visible)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else self._source.columnCount()

    def hasChildren(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and bool(self._visible)

    def row_at(self, position: int) -> LibraryRow:
        """The row shown at ``position`` (IndexError when there is none)."""
        if position < 0:
            raise IndexError(position)
        return self._source.row_at(self._visible[position])

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if int(role) not in ANSWERED_ROLES:  # most roles a paint asks for: no row needed
            return None
        position = index.row()
        if not index.isValid() or not 0 <= position < len(self._visible):
            return None
        row = self._source.row_at(self._visible[position])
        return self._source.row_data(row, index.column(), role)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        return self._source.headerData(section, orientation, role)

    def flags(self, index: Index) -> Qt.ItemFlag:
        return _ROW_FLAGS if index.isValid() else Qt.ItemFlag.NoItemFlags


def _matching(rows: Sequence[int], words: tuple[str, ...], texts: list[str]) -> list[int]:
    """The rows of ``rows`` whose text holds every word, in the same order."""
    kept = list(rows)
    for word in words:  # one pass a word: a list comprehension, no call per row
        kept = [row for row in kept if word in texts[row]]
    return kept


__all__ = ["FILTER_SLICE", "DocumentFilterProxy"]
