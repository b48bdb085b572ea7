"""The Library's document table at scale: the filter's results while it narrows, widens and is
erased and while rows arrive or change under it, the selection kept through a filter, the
page's counts kept as rows come and go, and the cells painted where the style puts text."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

import pytest
from PySide6.QtCore import QItemSelectionModel, QModelIndex, QRect, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QAbstractItemView, QStyledItemDelegate, QTableView
from pytestqt.qtbot import QtBot

from allma_desktop.gui.controllers.library_controller import LibraryRow
from allma_desktop.gui.widgets import library_filter
from allma_desktop.gui.widgets.library_filter import DocumentFilterProxy
from allma_desktop.gui.widgets.library_model import (
    ADDED,
    CHUNKS,
    FILE,
    NAME,
    TYPE,
    DocumentCellDelegate,
    DocumentTableModel,
    status_text,
)
from allma_desktop.library_counts import count_documents
from tests.gui.test_library_folders import generated_rows


@pytest.fixture
def sliced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices of 100 rows and no time for more than one a turn: a filter over 1,000 rows
    takes ten event-loop turns, as one over 100,000 does in the app."""
    monkeypatch.setattr(library_filter, "FILTER_SLICE", 100)
    monkeypatch.setattr(library_filter, "FEW_TO_MAKE", 100)
    monkeypatch.setattr(library_filter, "FILTER_BUDGET", 0.0)


@pytest.fixture
def table(qtbot: QtBot) -> Iterator[QTableView]:
    """The page's model, filter and delegate in a table view, with no engine behind them."""
    model = DocumentTableModel()
    proxy = DocumentFilterProxy(model)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(proxy)
    view.setItemDelegate(DocumentCellDelegate(proxy.row_at, view))
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    view.setWordWrap(False)  # as on the page: one line a cell, cut with "…"
    view.setShowGrid(False)
    view.setSortingEnabled(True)
    view.sortByColumn(NAME, Qt.SortOrder.AscendingOrder)
    view.resize(900, 500)
    view.show()
    yield view


def parts(view: QTableView) -> tuple[DocumentTableModel, DocumentFilterProxy]:
    proxy = view.model()
    assert isinstance(proxy, DocumentFilterProxy)
    model = proxy.sourceModel()
    assert isinstance(model, DocumentTableModel)
    return model, proxy


def expected(rows: list[LibraryRow], text: str) -> set[str]:
    """The file names a filter should show, worked out on its own: every word of ``text``,
    in any case, in the title, the file name or the status shown."""
    words = text.lower().split()
    found = set()
    for row in rows:
        where = f"{row.title} {os.path.basename(row.path)} {status_text(row)}".lower()
        if all(word in where for word in words):
            found.add(os.path.basename(row.path))
    return found


def names(proxy: DocumentFilterProxy) -> list[str]:
    return [str(proxy.index(r, FILE).data()) for r in range(proxy.rowCount())]


def apply(qtbot: QtBot, proxy: DocumentFilterProxy, text: str) -> list[str]:
    proxy.set_filter_text(text)
    qtbot.waitUntil(lambda: not proxy.filtering, timeout=5_000)
    return names(proxy)


def sorted_names(rows: list[LibraryRow]) -> list[str]:
    """File names in Title-column order."""
    ordered = sorted(rows, key=lambda row: (row.title or os.path.basename(row.path)).lower())
    return [os.path.basename(row.path) for row in ordered]


def in_title_order(proxy: DocumentFilterProxy) -> bool:
    """Sorted by the Title column (a title, or the file name of a file with none yet)."""
    rows = [proxy.row_at(r) for r in range(proxy.rowCount())]
    titles = [(row.title or os.path.basename(row.path)).lower() for row in rows]
    return titles == sorted(titles)


def test_the_filter_is_right_while_it_narrows_widens_and_is_erased(
    qtbot: QtBot, table: QTableView, sliced: None
) -> None:
    model, proxy = parts(table)
    rows = generated_rows(1000)
    model.reset(rows)

    typed = ["r", "re", "report-1", "report-12", "report-12 damaged", "report-13", "failed"]
    erased = ["report-12 damaged", "report-12", "report-1", "re", ""]
    for text in typed + erased:
        shown = apply(qtbot, proxy, text)
        assert len(shown) == len(set(shown))  # no row twice
        assert set(shown) == expected(rows, text), text
        assert in_title_order(proxy), text
    assert proxy.rowCount() == 1000


def test_a_filter_typed_right_after_a_reload_makes_the_missing_filter_text_a_slice_a_turn(
    qtbot: QtBot, table: QTableView, sliced: None
) -> None:
    model, proxy = parts(table)
    rows = generated_rows(1000)
    model.reset(rows)  # no filter text made yet (the page makes it in idle slices)

    proxy.set_filter_text("report-7")

    assert proxy.filtering  # not all at once in the keystroke
    assert not model.prepare_haystacks(0)
    qtbot.waitUntil(lambda: not proxy.filtering, timeout=5_000)
    assert set(names(proxy)) == expected(rows, "report-7")


def test_rows_that_arrive_or_change_while_a_filter_is_worked_out_are_filtered_too(
    qtbot: QtBot, table: QTableView, sliced: None
) -> None:
    model, proxy = parts(table)
    rows = generated_rows(1000)
    model.reset(rows)
    model.haystacks()
    proxy.set_filter_text("report-12")
    assert proxy.filtering

    # Mid-filter, as the controller's rows_changed delivers them: new rows (one matching,
    # one not), a row that starts to match, one that stops, and one changed but matching.
    arriving = [
        replace(rows[0], path="/library/new/report-12000.pdf", title="New"),
        replace(rows[0], path="/library/new/other.pdf", title="Other"),
    ]
    changed = [
        replace(rows[5], title="Report-12 appendix"),
        replace(rows[12], path=rows[12].path, title="Renamed"),  # its file name still matches
        replace(rows[120], status="indexing", fraction=0.5),
    ]
    model.upsert_many(changed + arriving)
    qtbot.waitUntil(lambda: not proxy.filtering, timeout=5_000)

    current = model.rows
    assert set(names(proxy)) == expected(current, "report-12")
    assert "report-5.pdf" in names(proxy)
    assert "report-12000.pdf" in names(proxy)
    # A retitled row keeps its place until the next sort (as in a file manager); the
    # others, the new one among them, are in title order.
    kept = [n for n in names(proxy) if n not in ("report-5.pdf", "report-12.pdf")]
    assert kept == [n for n in sorted_names(current) if n in kept]
    # Typing on narrows among the rows shown; erasing widens to every row, the new ones too.
    assert set(apply(qtbot, proxy, "report-120")) == expected(current, "report-120")
    assert set(apply(qtbot, proxy, "")) == {os.path.basename(r.path) for r in current}


def test_the_selection_and_current_row_stay_on_their_rows_through_a_filter(
    qtbot: QtBot, table: QTableView, sliced: None
) -> None:
    model, proxy = parts(table)
    model.reset(generated_rows(1000))
    selection = table.selectionModel()
    picked = [names(proxy).index(name) for name in ("report-12.pdf", "report-512.pdf")]
    for position in picked:
        selection.select(
            proxy.index(position, 0),
            QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
        )
    # The current row set without touching the selection (the view's own setCurrentIndex
    # selects as the keyboard's modifiers say, and a test before may have left one held).
    selection.setCurrentIndex(
        proxy.index(picked[0], NAME), QItemSelectionModel.SelectionFlag.NoUpdate
    )
    assert len(selection.selectedRows()) == 2

    def selected() -> set[str]:
        return {str(index.siblingAtColumn(FILE).data()) for index in selection.selectedRows()}

    apply(qtbot, proxy, "report-12")  # keeps report-12, hides report-512
    assert selected() == {"report-12.pdf"}
    assert table.currentIndex().siblingAtColumn(FILE).data() == "report-12.pdf"
    apply(qtbot, proxy, "report-12.")  # still shown, somewhere else now
    assert selected() == {"report-12.pdf"}
    table.sortByColumn(FILE, Qt.SortOrder.DescendingOrder)  # a sort keeps it too
    assert selected() == {"report-12.pdf"}
    apply(qtbot, proxy, "")
    assert selected() == {"report-12.pdf"}
    assert table.currentIndex().siblingAtColumn(FILE).data() == "report-12.pdf"
    apply(qtbot, proxy, "report-3")  # hidden: no longer selected, no current row
    assert selected() == set()
    assert not table.currentIndex().isValid()


def test_the_counts_follow_rows_as_they_come_change_and_go(table: QTableView) -> None:
    model, _proxy = parts(table)
    rows = generated_rows(300)
    model.reset(rows)

    def recounted() -> object:
        return count_documents((row.status, None, 1, row.chunks) for row in model.rows)

    assert model.counts() == recounted()
    model.upsert_many(
        [replace(rows[3], status="ready", chunks=7), replace(rows[4], status="failed")]
        + [replace(rows[0], path=f"/library/new/{n}.pdf", status="queued") for n in range(5)]
    )
    assert model.counts() == recounted()
    model.remove(rows[10].path)
    model.remove("/library/new/2.pdf")
    assert model.counts() == recounted()
    assert model.counts().documents == sum(r.status in ("ready", "offline") for r in model.rows)
    model.reset([])
    assert model.counts() == count_documents([])


def ink(image: QImage, rect: QRect) -> set[tuple[int, int]]:
    """The pixels of ``rect`` that differ from its corner's colour: where text was drawn."""
    background = image.pixelColor(rect.left() + 1, rect.top() + 1)
    found = set()
    for y in range(rect.top(), rect.bottom() + 1):
        for x in range(rect.left(), rect.right() + 1):
            color = image.pixelColor(x, y)
            if abs(color.value() - background.value()) > 60:
                found.add((x, y))
    return found


def test_cells_are_painted_where_the_style_would_paint_their_text(
    qtbot: QtBot, table: QTableView
) -> None:
    model, proxy = parts(table)
    model.reset(
        [*generated_rows(6), replace(generated_rows(1)[0], path="/x/y.pdf", title="W" * 90)]
    )
    table.clearSelection()
    table.setCurrentIndex(QModelIndex())
    table.doItemsLayout()

    ours = table.viewport().grab().toImage()
    table.setItemDelegate(QStyledItemDelegate(table))
    theirs = table.viewport().grab().toImage()

    compared = 0
    for row in range(proxy.rowCount()):
        for column in (NAME, FILE, TYPE, ADDED):  # left-aligned text; the long title elided
            rect = table.visualRect(proxy.index(row, column))
            drawn = ink(ours, rect)
            assert drawn, (row, column)
            assert len(drawn ^ ink(theirs, rect)) <= len(drawn) // 20, (row, column)
            compared += 1
    assert compared == 4 * proxy.rowCount()


# --- a flush of rows reaches the view in bulk -----------------------------------------------
# New files that land side by side are one insertion, and changed rows still shown are one
# refresh. One signal per row made the view lay out its rows 5,000 times in a 5,000-file
# sync, and rebuilt the proxy's row map for each changed row.


class Insertions:
    """The proxy's rowsInserted signals, as (first, last) pairs."""

    def __init__(self, proxy: DocumentFilterProxy) -> None:
        self.spans: list[tuple[int, int]] = []
        proxy.rowsInserted.connect(lambda _p, first, last: self.spans.append((first, last)))


def reference(model: DocumentTableModel, column: int, order: Qt.SortOrder) -> list[str]:
    """The same rows through a new proxy, sorted once from scratch."""
    fresh = DocumentFilterProxy(model)
    fresh.sort(column, order)
    return names(fresh)


def new_rows(template: LibraryRow, titles: list[str]) -> list[LibraryRow]:
    return [
        replace(template, path=f"/library/new/{title}-{n}.pdf", title=title, status="queued")
        for n, title in enumerate(titles)
    ]


def test_new_files_that_sort_together_are_one_insertion(table: QTableView) -> None:
    model, proxy = parts(table)  # sorted by title, ascending
    rows = generated_rows(300)
    model.reset(rows)
    inserted = Insertions(proxy)

    model.upsert_many(new_rows(rows[0], [f"Zeta {n:03d}" for n in range(50)]))

    assert inserted.spans == [(300, 349)]
    assert names(proxy) == reference(model, NAME, Qt.SortOrder.AscendingOrder)


@pytest.mark.parametrize("order", [Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder])
def test_new_files_that_land_apart_keep_the_order_one_by_one_would_give(
    table: QTableView, order: Qt.SortOrder
) -> None:
    model, proxy = parts(table)
    table.sortByColumn(NAME, order)
    rows = generated_rows(300)
    model.reset(rows)
    inserted = Insertions(proxy)
    # Titles among the existing ones, some equal to each other and to existing titles.
    titles = [f"Annual Report {n}" for n in (7, 7, 150, 150, 150, 299, 3)] + ["Aardvark"] * 3

    model.upsert_many(new_rows(rows[0], titles))

    assert names(proxy) == reference(model, NAME, order)
    assert sum(last - first + 1 for first, last in inserted.spans) == len(titles)
    assert len(inserted.spans) < len(titles)  # rows landing together went in together


def test_unsorted_new_files_are_appended_in_one_insertion(qtbot: QtBot) -> None:
    model = DocumentTableModel()
    proxy = DocumentFilterProxy(model)  # no column sorted: the model's own order
    rows = generated_rows(100)
    model.reset(rows)
    inserted = Insertions(proxy)

    model.upsert_many(new_rows(rows[0], ["one", "two", "three"]))

    assert inserted.spans == [(100, 102)]
    assert [proxy.row_at(r).path for r in range(proxy.rowCount())] == [r.path for r in model.rows]


def test_changed_rows_still_shown_are_one_refresh_and_the_filter_follows_the_rest(
    qtbot: QtBot, table: QTableView
) -> None:
    model, proxy = parts(table)
    table.sortByColumn(ADDED, Qt.SortOrder.AscendingOrder)
    rows = generated_rows(400)
    model.reset(rows)
    apply(qtbot, proxy, "annual report 1")  # every word, in the title or the file name
    shown_before = set(names(proxy))
    assert "report-13.pdf" in shown_before and "report-20.pdf" not in shown_before
    refreshes: list[tuple[int, int]] = []
    proxy.dataChanged.connect(
        lambda top, bottom, _roles=(): refreshes.append((top.row(), bottom.row()))
    )
    removed: list[int] = []
    proxy.rowsRemoved.connect(lambda _p, first, last: removed.extend(range(first, last + 1)))

    # A flush, as the model sends it (one run of changed rows, 10-20): progress on rows
    # 10-19, which are shown; row 13 retitled so that it stops matching; row 20, hidden,
    # retitled so that it starts to.
    changed = [replace(row, status="indexing", fraction=0.5) for row in rows[10:20]]
    changed[3] = replace(rows[13], title="Renamed")
    changed.append(replace(rows[20], title="Annual Report 20 (1 of 2)"))
    model.upsert_many(changed)

    assert len(refreshes) == 1  # the nine rows still shown, in one signal
    top, bottom = refreshes[0]
    refreshed = {proxy.row_at(r).path for r in range(top, bottom + 1)}
    assert {row.path for row in changed[:3] + changed[4:10]} <= refreshed
    assert len(removed) == 1
    now = set(names(proxy))
    assert now == (shown_before - {"report-13.pdf"}) | {"report-20.pdf"}
    assert [proxy.row_at(r).status for r in range(top, bottom + 1)].count("indexing") >= 9


def test_a_row_is_its_fields_alone_and_a_changed_copy_keeps_the_rest(qtbot: QtBot) -> None:
    row = generated_rows(1)[0]

    moved_on = row.progressed(0.5, pages=3)

    assert not hasattr(row, "__dict__") and not hasattr(moved_on, "__dict__")
    assert moved_on == replace(row, fraction=0.5, pages=3)
    assert row.indexing() == replace(row, status="indexing", fraction=0.0, reason="", hint="")


def test_a_row_read_again_takes_its_place_and_the_table_keeps_one_copy_of_its_path(
    qtbot: QtBot,
) -> None:
    model = DocumentTableModel()
    first = generated_rows(3)
    model.reset(first)
    # The stored row of a file arrives with its own (equal) path string, as read back.
    stored = replace(first[1], path="".join(list(first[1].path)), status="ready", chunks=9)
    assert stored.path == first[1].path and stored.path is not first[1].path

    model.upsert_many([stored])

    assert model.row_count == 3
    assert model.row_for(first[1].path) is stored
    assert model.index(1, CHUNKS).data() == "9"
    assert all(path is model.row_for(path).path for path in model._index)
