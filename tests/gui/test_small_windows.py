"""The window holds at 800x600: titles end in "…", the pickers and the sidebar stay readable."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDragLeaveEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from allma_desktop.gui.main_window import DROP_CUE, SIDEBAR_MIN_WIDTH, MainWindow
from allma_desktop.gui.orchestrator_host import OrchestratorHost
from allma_desktop.gui.widgets.chat_view import ChatView
from tests.gui.conftest import drag_enter_event, ingest

LONG_TITLE = "How many watts is the xenon bulb of the lighthouse lamp rated at, and why?"


def test_at_800x600_the_chat_header_elides_its_title_and_keeps_the_pickers_whole(
    qtbot: QtBot, window: MainWindow
) -> None:
    window.resize(800, 600)
    window.chat_view.title.setText(LONG_TITLE)
    qtbot.waitUntil(lambda: window.width() == 800)
    window.chat_view.header.layout().activate()

    title = window.chat_view.title
    assert title.elided_text().endswith("…")
    assert title.toolTip() == LONG_TITLE
    for box in (window.chat_view.model_box, window.chat_view.collection_box):
        assert box.width() >= box.sizeHint().width(), box.currentText()
        assert box.geometry().right() <= window.chat_view.header.width()


def header_holds_everything(view: ChatView) -> bool:
    """The title is readable and every picker shown is whole, inside the header and clear of
    the others (squeezed, a picker cuts its text mid-word: "Library (", "deepseel")."""
    header = view.header
    title = view.title
    pickers = (view.collection_box, view.context_box, view.context_meter, view.model_box)
    shown = [w for w in pickers if w.isVisible()]
    readable = title.width() >= title.fontMetrics().averageCharWidth() * 12
    whole = all(w.width() >= w.sizeHint().width() for w in shown)
    areas = [
        w.geometry().translated(w.parentWidget().mapTo(header, QPoint())) for w in [title, *shown]
    ]
    inside = all(header.rect().contains(area) for area in areas)
    apart = not any(a.intersects(b) for i, a in enumerate(areas) for b in areas[i + 1 :])
    return readable and whole and inside and apart


def test_at_800x600_with_documents_the_title_and_every_chat_picker_stay_whole(
    qtbot: QtBot, window: MainWindow, host: OrchestratorHost, tmp_path: Path
) -> None:
    from tests.support.sample_docs import make_sample_library

    ingest(qtbot, host, [make_sample_library(tmp_path / "Lighthouse manuals").folder])
    view = window.chat_view
    view.refresh_choices()
    qtbot.waitUntil(lambda: view.context_meter.isVisible(), timeout=10_000)  # meter and all
    view.title.setText(LONG_TITLE)

    window.resize(800, 600)
    qtbot.waitUntil(lambda: window.width() == 800)

    qtbot.waitUntil(lambda: header_holds_everything(view), timeout=5_000)
    assert view.header.stacked  # no room for one row: the title above the pickers
    window.resize(1440, 900)
    qtbot.waitUntil(lambda: not view.header.stacked and header_holds_everything(view))


@pytest.mark.parametrize("width", [800, 1440])
def test_the_question_box_s_placeholder_is_never_cut(
    qtbot: QtBot, window: MainWindow, width: int
) -> None:
    box = window.chat_view.input
    window.resize(width, 600)
    qtbot.waitUntil(lambda: window.width() == width)

    def whole() -> bool:
        room = box.viewport().width() - 2 * int(box.document().documentMargin())
        return box.fontMetrics().horizontalAdvance(box.placeholderText()) <= room

    qtbot.waitUntil(whole)
    assert box.placeholderText().startswith("Ask about your documents…")
    if width == 1440:
        assert "Shift+Enter" in box.placeholderText()  # room for the keys: they are named


def test_at_800x600_the_sidebar_keeps_room_for_conversation_titles(
    qtbot: QtBot, window: MainWindow
) -> None:
    window.resize(800, 600)
    qtbot.waitUntil(lambda: window.width() == 800)

    assert window.sidebar.width() >= SIDEBAR_MIN_WIDTH


def test_dragging_files_over_any_page_says_what_dropping_will_do(window: MainWindow) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile("/docs/lease.pdf")])
    enter = drag_enter_event(200, 200, mime)
    QApplication.sendEvent(window, enter)

    assert enter.isAccepted()
    assert window.status.currentMessage() == DROP_CUE
    QApplication.sendEvent(window, QDragLeaveEvent())
    assert window.status.currentMessage() == ""


def show_library_with_a_row(qtbot: QtBot, window: MainWindow, width: int, height: int) -> None:
    from allma_desktop.gui.controllers.library_controller import LibraryRow
    from allma_desktop.gui.widgets.library_pane import LibraryPane

    window.show_page("library")
    pane = window.library_page
    assert isinstance(pane, LibraryPane)
    row = LibraryRow(
        path="/docs/a-rather-long-file-name-for-a-report-2024.pdf",
        collection_id=1,
        title="A rather long title of a yearly report on the state of lighthouses",
        file_type="pdf",
        status="failed",
        reason="damaged: the file ends before its last page",
    )
    pane.controller.rows_reset.emit([row])
    window.resize(width, height)
    qtbot.waitUntil(lambda: window.width() == width and pane.table.isVisible())
    QApplication.processEvents()


def test_at_800x600_the_library_shows_the_status_column_without_scrolling(
    qtbot: QtBot, window: MainWindow
) -> None:
    from allma_desktop.gui.widgets.library_model import NAME, STATUS
    from allma_desktop.gui.widgets.library_pane import STATUS_MIN_WIDTH

    show_library_with_a_row(qtbot, window, 800, 600)

    table = window.library_page.table  # type: ignore[attr-defined]
    header = table.horizontalHeader()
    viewport = table.viewport().width()
    assert not table.isColumnHidden(STATUS) and not table.isColumnHidden(NAME)
    assert header.sectionViewportPosition(STATUS) >= 0
    right = header.sectionViewportPosition(STATUS) + header.sectionSize(STATUS)
    assert header.sectionSize(STATUS) >= STATUS_MIN_WIDTH and right <= viewport
    assert table.horizontalScrollBar().maximum() == 0


def test_at_1440x900_the_library_shows_every_column(qtbot: QtBot, window: MainWindow) -> None:
    from allma_desktop.gui.widgets.library_model import COLUMNS

    show_library_with_a_row(qtbot, window, 1440, 900)

    table = window.library_page.table  # type: ignore[attr-defined]
    assert [c for c in range(len(COLUMNS)) if table.isColumnHidden(c)] == []
    assert table.horizontalScrollBar().maximum() == 0


def test_at_800x600_the_library_counts_end_in_an_ellipsis_whole_on_hover(
    qtbot: QtBot, window: MainWindow
) -> None:
    show_library_with_a_row(qtbot, window, 800, 600)
    pane = window.library_page
    pane.collection_box.addItem("Research papers of the harbour authority", 1)  # type: ignore[attr-defined]
    pane._update_summary()  # type: ignore[attr-defined]
    label = pane.summary_label  # type: ignore[attr-defined]
    label.parentWidget().layout().activate()

    assert label.elided_text().endswith("…")
    assert label.toolTip().endswith("0 documents · 1 could not be read")


# A library of every kind of file, and one still on its way in (it knows only its suffix).
EVERY_TYPE = ("docx", "pdf", "epub", "mobi", "image", "code", "html", "markdown", "asciidoc")


@pytest.mark.parametrize("size", [(800, 600), (1100, 720), (1440, 900), (2560, 1440)])
def test_the_type_column_shows_every_type_whole_at_every_window_size(
    qtbot: QtBot, window: MainWindow, size: tuple[int, int]
) -> None:
    from allma_desktop.gui.controllers.library_controller import LibraryRow
    from allma_desktop.gui.widgets.library_model import TYPE, type_label

    window.show_page("library")
    pane = window.library_page
    rows = [
        LibraryRow(path=f"/docs/file-{n}.{kind}", collection_id=1, title=f"File {n}",
                   file_type=kind, status="ready" if n else "queued")
        for n, kind in enumerate(EVERY_TYPE)
    ]  # fmt: skip
    pane.controller.rows_reset.emit(rows)  # type: ignore[attr-defined]
    window.resize(*size)
    qtbot.waitUntil(lambda: window.width() == size[0] and pane.table.isVisible())  # type: ignore[attr-defined]
    QApplication.processEvents()

    def rows_shown() -> bool:
        # The page's own first load (an empty library, off the GUI thread) may come after
        # the rows given here and empty the table: give them again.
        if pane.model.row_count != len(rows):  # type: ignore[attr-defined]
            pane.controller.rows_reset.emit(rows)  # type: ignore[attr-defined]
            return False
        return True

    table = pane.table  # type: ignore[attr-defined]
    qtbot.waitUntil(rows_shown)
    assert not table.isColumnHidden(TYPE)
    # The width each label asks for (padding included) fits in the column: no "DO…".
    # (Qt measures the rows on screen: the top ones, then the bottom ones.)
    assert table.horizontalHeader().sectionSize(TYPE) >= table.sizeHintForColumn(TYPE)
    table.scrollToBottom()
    QApplication.processEvents()
    qtbot.waitUntil(rows_shown)
    assert table.horizontalHeader().sectionSize(TYPE) >= table.sizeHintForColumn(TYPE)
    model = table.model()
    shown = {model.index(r, TYPE).data() for r in range(model.rowCount())}
    assert shown == {type_label(kind) for kind in EVERY_TYPE}
    hovers = {
        model.index(r, TYPE).data(Qt.ItemDataRole.ToolTipRole) for r in range(model.rowCount())
    }
    assert "Word document (DOCX)" in hovers and "ASCIIDOC file (.asciidoc)" in hovers


def test_a_new_kind_of_file_widens_the_type_column(qtbot: QtBot, window: MainWindow) -> None:
    from allma_desktop.gui.controllers.library_controller import LibraryRow
    from allma_desktop.gui.widgets.library_model import TYPE

    show_library_with_a_row(qtbot, window, 1100, 720)
    pane = window.library_page
    table = pane.table  # type: ignore[attr-defined]
    before = table.horizontalHeader().sectionSize(TYPE)
    asciidoc = LibraryRow(path="/docs/notes.asciidoc", collection_id=1, title="Notes",
                          file_type="asciidoc", status="queued")  # fmt: skip

    def widened() -> bool:
        if pane.model.row_for(asciidoc.path) is None:  # type: ignore[attr-defined]
            # Sent again if the page's own first load of the library emptied the table
            # after it came (that load is an operation in a worker thread).
            pane.controller.rows_changed.emit([asciidoc])  # type: ignore[attr-defined]
            return False
        return bool(table.horizontalHeader().sectionSize(TYPE) > before)

    qtbot.waitUntil(widened, timeout=5_000)
    assert table.horizontalHeader().sectionSize(TYPE) >= table.sizeHintForColumn(TYPE)
