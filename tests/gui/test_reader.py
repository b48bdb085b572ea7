"""The reader beside the chat: citations open at their page with the passage highlighted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pymupdf
from PySide6.QtCore import QPointF, QRectF, Qt, QUrl
from PySide6.QtGui import QGuiApplication, QTextCharFormat, QTextCursor
from pytestqt.qtbot import QtBot

from allma_desktop.gui.main_window import MainWindow
from allma_desktop.gui.widgets.chat_message import MessageWidget
from allma_desktop.reader.pages import PagedDocument, normal_words
from allma_desktop.reader.viewers import ViewerPlan
from allma_desktop.records import Box
from allma_desktop.services.retrieval.grounding import check_answer
from allma_desktop.sources import Source
from tests.gui.conftest import ingest
from tests.gui.test_chat import ask, last_answer
from tests.reader.test_reader_service import scanned_copy
from tests.support.sample_docs import (
    DOCX_FACT,
    MARKDOWN_FACT,
    PDF_ANSWER_PAGE,
    PDF_QUESTION,
    write_docx,
    write_markdown,
    write_pdf,
)
from tests.support.scans import write_tiff

READER_TIMEOUT_MS = 10_000


def click_chip(qtbot: QtBot, widget: MessageWidget, index: int = 0) -> None:
    qtbot.mouseClick(widget.sources.chips[index], Qt.MouseButton.LeftButton)


def wait_for_page(qtbot: QtBot, window: MainWindow, page: int) -> None:
    reader = window.reader
    qtbot.waitUntil(
        lambda: (
            not reader.resizing
            and reader.canvas.image is not None
            and reader.canvas.image.request.page == page
        ),
        timeout=READER_TIMEOUT_MS,
    )


def cited_word_boxes(path: str, page: int, passage: str) -> list[Box]:
    """PyMuPDF's own boxes of the words of ``page`` that belong to ``passage``."""
    wanted = set(normal_words(passage))
    with pymupdf.open(path) as document:
        words = document[page - 1].get_text("words")
    return [
        Box(w[0], w[1], w[2], w[3])
        for w in words
        if normal_words(w[4]) and set(normal_words(w[4])) <= wanted
    ]


def covered(boxes: Sequence[Box], by: Sequence[Box]) -> bool:
    return all(any(cover.contains(box) for cover in by) for box in boxes)


def test_clicking_a_source_chip_opens_the_pdf_at_the_cited_page_with_the_passage_highlighted(
    qtbot: QtBot, window: MainWindow, lighthouse_pdf: Path
) -> None:
    ingest(qtbot, window.host, [lighthouse_pdf])
    done = ask(qtbot, window, PDF_QUESTION)
    assert not window.reader.isVisible()

    click_chip(qtbot, last_answer(window))
    wait_for_page(qtbot, window, PDF_ANSWER_PAGE)

    reader = window.reader
    assert reader.isVisible() and window.chat_view.isVisible()  # beside the chat
    assert reader.page_box.value() == PDF_ANSWER_PAGE
    orchestrator = window.host.orchestrator
    assert orchestrator is not None
    chunk = orchestrator.library.chunks_by_ids([done.sources[0].chunk_id])[done.sources[0].chunk_id]
    expected = cited_word_boxes(str(lighthouse_pdf), PDF_ANSWER_PAGE, chunk.text)
    assert expected and reader.canvas.highlight
    assert covered(expected, reader.canvas.highlight)
    # On screen, each highlight is its box at the page's zoom, inside the drawn page.
    page_area = reader.canvas.rect()
    for box, rect in zip(reader.canvas.highlight, reader.canvas.highlight_rects(), strict=True):
        assert rect.x() == box.x0 * reader.canvas.zoom
        assert page_area.contains(rect.toAlignedRect())


def test_an_inline_citation_opens_the_reader_too(
    qtbot: QtBot, window: MainWindow, lighthouse_pdf: Path
) -> None:
    ingest(qtbot, window.host, [lighthouse_pdf])
    done = ask(qtbot, window, PDF_QUESTION)
    number = done.sources[0].number
    last_answer(window).body.anchorClicked.emit(QUrl(f"cite:{number}"))
    wait_for_page(qtbot, window, PDF_ANSWER_PAGE)


def test_clicking_a_docx_citation_shows_its_text_with_the_passage_highlighted(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    docx = write_docx(tmp_path / "greenhouse.docx")
    ingest(qtbot, window.host, [docx])
    done = ask(qtbot, window, "How often do the greenhouse tomatoes need watering?")
    click_chip(qtbot, last_answer(window))
    reader = window.reader
    qtbot.waitUntil(
        lambda: reader.stack.currentWidget() is reader.text_view, timeout=READER_TIMEOUT_MS
    )
    orchestrator = window.host.orchestrator
    assert orchestrator is not None
    chunk = orchestrator.library.chunks_by_ids([done.sources[0].chunk_id])[done.sources[0].chunk_id]
    assert reader.highlighted_text() == chunk.text
    assert DOCX_FACT in reader.highlighted_text()
    assert not reader.page_box.isVisible()  # no pages to turn


def test_a_passage_deep_in_a_long_docx_is_scrolled_into_view(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    import docx

    fact = "The orchard's pear trees are pruned in the second week of February."
    document = docx.Document()
    document.add_heading("Garden diary", level=1)
    for week in range(1, 61):
        document.add_heading(f"Week {week}", level=2)
        document.add_paragraph(f"Week {week}: the lawn was mown and the paths swept. " * 3)
    document.add_heading("Orchard", level=2)
    document.add_paragraph(fact)
    for week in range(61, 81):
        document.add_paragraph(f"Week {week}: the hedges were trimmed along the lane. " * 3)
    document.save(str(tmp_path / "garden.docx"))
    ingest(qtbot, window.host, [tmp_path / "garden.docx"])
    ask(qtbot, window, "When are the orchard's pear trees pruned?")
    click_chip(qtbot, last_answer(window))
    reader = window.reader
    qtbot.waitUntil(
        lambda: reader.stack.currentWidget() is reader.text_view, timeout=READER_TIMEOUT_MS
    )
    assert fact in reader.highlighted_text()
    view = reader.text_view
    assert view.verticalScrollBar().value() > 0  # far down the document
    # The highlight's first line is on screen.
    assert reader.document is not None
    cursor = QTextCursor(view.document())
    cursor.setPosition(reader.document.span[0])
    assert view.viewport().rect().contains(view.cursorRect(cursor).center())


def open_citation_as_text(qtbot: QtBot, window: MainWindow) -> tuple[tuple[int, int], str]:
    """Click the last answer's first source chip; the span and text the reader highlights."""
    reader = window.reader
    with qtbot.waitSignal(window.reader_controller.opened, timeout=READER_TIMEOUT_MS) as opened:
        click_chip(qtbot, last_answer(window))
    qtbot.waitUntil(
        lambda: reader.stack.currentWidget() is reader.text_view, timeout=READER_TIMEOUT_MS
    )
    return opened.args[0].span, reader.highlighted_text()


def test_a_citation_reopened_from_history_highlights_the_span_it_did_live(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    notes = write_markdown(tmp_path / "bicycle.md")
    ingest(qtbot, window.host, [notes])
    done = ask(qtbot, window, "When should the bicycle chain be oiled?")
    live_span, live_text = open_citation_as_text(qtbot, window)
    assert live_span == done.sources[0].span and MARKDOWN_FACT in live_text
    # The file grows a section at its end: every chunk gets a new id, the cited one is gone
    # from the library, and only what the answer stored says where its passage was.
    with notes.open("a", encoding="utf-8") as file:
        file.write("\n## Brakes\n\nCheck the brake pads before every long ride.\n")
    ingest(qtbot, window.host, [notes])
    orchestrator = window.host.orchestrator
    assert orchestrator is not None
    assert orchestrator.library.chunks_by_ids([done.sources[0].chunk_id]) == {}

    window.new_chat()
    window.open_conversation(done.conversation_id)
    qtbot.waitUntil(lambda: bool(window.chat_view.messages), timeout=READER_TIMEOUT_MS)

    assert last_answer(window).sources.sources == list(done.sources)
    assert open_citation_as_text(qtbot, window) == (live_span, live_text)


def test_a_passage_read_by_ocr_is_highlighted_on_the_scanned_page(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    fact = "The ferry to the island leaves at noon on Sundays from the north quay."
    printed = write_pdf(tmp_path / "ferry-text.pdf", [f"Timetable notes.\n\n{fact}"])
    (tmp_path / "scans").mkdir()
    scan = scanned_copy(printed, tmp_path / "scans" / "ferry.pdf")
    ingest(qtbot, window.host, [scan])
    ask(qtbot, window, "When does the ferry to the island leave?")
    answer = last_answer(window)
    assert answer.sources.chips[0].text().endswith("p. 1 · OCR")

    click_chip(qtbot, answer)
    wait_for_page(qtbot, window, 1)
    reader = window.reader
    assert not reader.note.isVisible()  # not "the passage could not be located"
    # Where the cited words were printed before the page became a picture.
    original = PagedDocument(printed)
    try:
        words = original.passage_boxes(1, fact)
    finally:
        original.close()
    assert words and reader.canvas.highlight
    for word in words:
        centre = QPointF((word.x0 + word.x1) / 2, (word.y0 + word.y1) / 2)
        assert any(
            QRectF(box.x0, box.y0, box.x1 - box.x0, box.y1 - box.y0).contains(centre)
            for box in reader.canvas.highlight
        )


def test_find_in_a_scanned_document_goes_to_the_page_ocr_read_it_on(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    pages = [
        "Timetable notes of the harbour office.",
        "The ferry to the island leaves at noon on Sundays from the north quay.",
        "The lighthouse lamp is cleaned with vinegar every Friday.",
    ]
    printed = write_pdf(tmp_path / "harbour-text.pdf", pages)
    (tmp_path / "scans").mkdir()
    scan = scanned_copy(printed, tmp_path / "scans" / "harbour.pdf")
    ingest(qtbot, window.host, [scan])
    ask(qtbot, window, "When does the ferry to the island leave?")
    click_chip(qtbot, last_answer(window))
    wait_for_page(qtbot, window, 2)
    reader = window.reader

    reader.find_box.setText("cleaned with VINEGAR")  # on page 3's picture only
    qtbot.keyClick(reader.find_box, Qt.Key.Key_Return)
    wait_for_page(qtbot, window, 3)
    qtbot.waitUntil(lambda: bool(reader.canvas.found), timeout=READER_TIMEOUT_MS)
    original = PagedDocument(printed)
    try:
        (page, printed_hits) = original.search("cleaned with vinegar", 1)
    finally:
        original.close()
    assert page == 3
    found = reader.canvas.found
    for hit in printed_hits:  # where the words were printed before the page became a picture
        centre = QPointF((hit.x0 + hit.x1) / 2, (hit.y0 + hit.y1) / 2)
        assert any(QRectF(b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0).contains(centre) for b in found)

    reader.find_box.setText("quicksilver")  # in no page, read or recognised
    qtbot.keyClick(reader.find_box, Qt.Key.Key_Return)
    qtbot.waitUntil(reader.note.isVisible, timeout=READER_TIMEOUT_MS)
    assert reader.note.text() == "“quicksilver” is not in this document."


def test_a_cited_picture_shows_as_its_picture_with_the_passage_highlighted(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    fact = "The ferry to the island leaves at noon on Sundays from the north quay."
    (tmp_path / "photos").mkdir()
    tiff = write_tiff(
        tmp_path / "photos" / "timetable.tiff", ["A cover sheet of the harbour office.", fact]
    )
    ingest(qtbot, window.host, [tiff])
    ask(qtbot, window, "When does the ferry to the island leave?")
    answer = last_answer(window)
    assert answer.sources.chips[0].text().endswith("p. 2 · OCR")

    click_chip(qtbot, answer)
    wait_for_page(qtbot, window, 2)  # the picture, not its text: a page of 2
    reader = window.reader
    assert reader.stack.currentWidget() is reader.page_scroll
    assert reader.page_count.text() == "of 2"
    assert reader.canvas.highlight and not reader.note.isVisible()


def test_next_and_previous_citation_step_through_the_answers_sources(
    qtbot: QtBot, window: MainWindow, lighthouse_pdf: Path
) -> None:
    ingest(qtbot, window.host, [lighthouse_pdf])
    orchestrator = window.host.orchestrator
    assert orchestrator is not None
    # A stored answer citing two pages of the manual.
    found = {s.page: s for s in run_search(qtbot, window, "lighthouse lamp keepers fog horn")}
    pages = sorted(found)[:2]
    conversation = orchestrator.conversations.create()
    orchestrator.conversations.add_message(conversation.id, "user", "Tell me about it.")
    answer = orchestrator.conversations.add_message(
        conversation.id, "assistant", "One thing [1]. Another [2]."
    )
    orchestrator.conversations.add_sources(
        answer.id,
        [replace(found[p], number=n) for n, p in enumerate(pages, start=1)],
    )
    window.open_conversation(conversation.id)
    qtbot.waitUntil(lambda: bool(window.chat_view.messages), timeout=READER_TIMEOUT_MS)
    reader = window.reader

    click_chip(qtbot, last_answer(window), 0)
    wait_for_page(qtbot, window, pages[0])
    assert reader.citation_label.text().startswith("[1]")
    assert not reader.previous_citation.isEnabled()

    qtbot.mouseClick(reader.next_citation, Qt.MouseButton.LeftButton)
    wait_for_page(qtbot, window, pages[1])
    assert reader.citation_label.text().startswith("[2]")
    assert reader.canvas.highlight and not reader.next_citation.isEnabled()

    qtbot.mouseClick(reader.previous_citation, Qt.MouseButton.LeftButton)
    wait_for_page(qtbot, window, pages[0])


def test_paging_back_and_forth_draws_no_page_twice(
    qtbot: QtBot, window: MainWindow, lighthouse_pdf: Path
) -> None:
    ingest(qtbot, window.host, [lighthouse_pdf])
    ask(qtbot, window, PDF_QUESTION)
    click_chip(qtbot, last_answer(window))
    wait_for_page(qtbot, window, PDF_ANSWER_PAGE)
    reader = window.reader
    qtbot.mouseClick(reader.next_page, Qt.MouseButton.LeftButton)
    wait_for_page(qtbot, window, PDF_ANSWER_PAGE + 1)
    assert reader.canvas.highlight == ()  # the passage is not on this page
    drawn = window.reader_controller.render_count

    qtbot.mouseClick(reader.previous_page, Qt.MouseButton.LeftButton)
    wait_for_page(qtbot, window, PDF_ANSWER_PAGE)
    assert reader.canvas.highlight
    qtbot.mouseClick(reader.next_page, Qt.MouseButton.LeftButton)
    wait_for_page(qtbot, window, PDF_ANSWER_PAGE + 1)
    assert window.reader_controller.render_count == drawn  # both pages came from the cache


def test_find_goes_to_the_page_that_holds_the_text(
    qtbot: QtBot, window: MainWindow, lighthouse_pdf: Path
) -> None:
    ingest(qtbot, window.host, [lighthouse_pdf])
    ask(qtbot, window, PDF_QUESTION)
    click_chip(qtbot, last_answer(window))
    wait_for_page(qtbot, window, PDF_ANSWER_PAGE)
    reader = window.reader
    reader.find_box.setText("fog horn")
    qtbot.keyClick(reader.find_box, Qt.Key.Key_Return)
    wait_for_page(qtbot, window, 4)
    qtbot.waitUntil(lambda: bool(reader.canvas.found), timeout=READER_TIMEOUT_MS)

    # Text in no page: the reader says so, and the last find's marks are gone.
    reader.find_box.setText("quicksilver")
    qtbot.keyClick(reader.find_box, Qt.Key.Key_Return)
    qtbot.waitUntil(reader.note.isVisible, timeout=READER_TIMEOUT_MS)
    assert reader.note.text() == "“quicksilver” is not in this document."
    assert reader.canvas.found == ()


def choose_zoom(qtbot: QtBot, window: MainWindow, label: str) -> None:
    reader = window.reader
    reader.zoom_box.setCurrentIndex(reader.zoom_box.findText(label))
    qtbot.waitUntil(
        lambda: (
            reader.canvas.image is not None
            and reader.canvas.image.request.mode == reader.zoom_mode()[0]
            and reader.canvas.image.request.percent == reader.zoom_mode()[1]
        ),
        timeout=READER_TIMEOUT_MS,
    )


def test_zoom_to_a_percent_to_the_pages_width_and_to_the_whole_page(
    qtbot: QtBot, window: MainWindow, lighthouse_pdf: Path
) -> None:
    ingest(qtbot, window.host, [lighthouse_pdf])
    ask(qtbot, window, PDF_QUESTION)
    click_chip(qtbot, last_answer(window))
    wait_for_page(qtbot, window, PDF_ANSWER_PAGE)
    reader = window.reader
    with pymupdf.open(lighthouse_pdf) as document:
        rect = document[PDF_ANSWER_PAGE - 1].rect
        width, height = rect.width, rect.height
    viewport = reader.page_scroll.viewport()

    choose_zoom(qtbot, window, "200%")  # a point is 1/72 inch, drawn on a 96 dpi screen
    assert abs(reader.canvas.width() - width * 2 * 96 / 72) <= 1
    assert abs(reader.canvas.height() - height * 2 * 96 / 72) <= 1
    assert reader.canvas.highlight  # the passage stays marked at every zoom

    choose_zoom(qtbot, window, "Fit page")  # all of the page in view
    assert reader.canvas.width() <= viewport.width()
    assert reader.canvas.height() <= viewport.height()
    whole_page_width = reader.canvas.width()

    choose_zoom(qtbot, window, "Fit width")  # as wide as the pane (less its margins)
    assert viewport.width() - 2 * 16 - 40 <= reader.canvas.width() <= viewport.width()
    assert reader.canvas.width() >= whole_page_width


def test_copy_takes_the_cited_passage_and_show_in_folder_opens_its_folder(
    qtbot: QtBot, window: MainWindow, lighthouse_pdf: Path
) -> None:
    ingest(qtbot, window.host, [lighthouse_pdf])
    done = ask(qtbot, window, PDF_QUESTION)
    click_chip(qtbot, last_answer(window))
    wait_for_page(qtbot, window, PDF_ANSWER_PAGE)
    reader = window.reader
    orchestrator = window.host.orchestrator
    assert orchestrator is not None
    chunk = orchestrator.library.chunks_by_ids([done.sources[0].chunk_id])[done.sources[0].chunk_id]

    qtbot.mouseClick(reader.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == chunk.text

    opened: list[QUrl] = []
    reader.open_url = lambda url: opened.append(url) is None
    qtbot.mouseClick(reader.folder_button, Qt.MouseButton.LeftButton)
    assert opened == [QUrl.fromLocalFile(str(lighthouse_pdf.parent))]
    # A desktop that opens no folder: said so, naming it.
    reader.open_url = lambda url: False
    qtbot.mouseClick(reader.folder_button, Qt.MouseButton.LeftButton)
    assert reader.note.isVisible()
    assert str(lighthouse_pdf.parent) in reader.note.text()


def test_open_in_viewer_passes_the_page_to_the_viewer_found(
    qtbot: QtBot, window: MainWindow, lighthouse_pdf: Path
) -> None:
    ingest(qtbot, window.host, [lighthouse_pdf])
    ask(qtbot, window, PDF_QUESTION)
    click_chip(qtbot, last_answer(window))
    wait_for_page(qtbot, window, PDF_ANSWER_PAGE)
    reader = window.reader
    launched: list[Sequence[str]] = []
    reader.plan_opening = lambda path, page, **_: ViewerPlan(
        ("/usr/bin/evince", "--page-index", str(page), path), "Evince"
    )
    reader.launch = lambda argv: launched.append(argv) is None
    qtbot.mouseClick(reader.viewer_button, Qt.MouseButton.LeftButton)
    assert launched == [("/usr/bin/evince", "--page-index", "3", str(lighthouse_pdf))]
    assert "Evince" in reader.note.text()


def test_with_no_viewer_at_all_the_reader_says_so(
    qtbot: QtBot, window: MainWindow, lighthouse_pdf: Path
) -> None:
    ingest(qtbot, window.host, [lighthouse_pdf])
    ask(qtbot, window, PDF_QUESTION)
    click_chip(qtbot, last_answer(window))
    wait_for_page(qtbot, window, PDF_ANSWER_PAGE)
    reader = window.reader
    reader.plan_opening = lambda path, page, **_: ViewerPlan((), "", "No PDF viewer was found")
    opened: list[QUrl] = []
    reader.open_url = lambda url: opened.append(url) and False
    qtbot.mouseClick(reader.viewer_button, Qt.MouseButton.LeftButton)
    assert opened == [QUrl.fromLocalFile(str(lighthouse_pdf))]
    assert reader.note.isVisible()
    assert "No application on this computer opens lighthouse-manual.pdf" in reader.note.text()


def test_the_library_can_open_a_document_in_the_reader(
    qtbot: QtBot, window: MainWindow, lighthouse_pdf: Path
) -> None:
    finished = ingest(qtbot, window.host, [lighthouse_pdf])
    document_id = finished.results[0].document_id
    assert document_id is not None
    window.open_document_requested.emit(document_id, 2)
    wait_for_page(qtbot, window, 2)
    assert window.reader.canvas.highlight == ()


def test_double_clicking_a_document_in_the_library_opens_it_in_the_reader(
    qtbot: QtBot, window: MainWindow, lighthouse_pdf: Path
) -> None:
    ingest(qtbot, window.host, [lighthouse_pdf])
    window.show_page("library")
    pane = window.library_page
    table = pane.table  # type: ignore[attr-defined]
    window.host.events.documents_changed.emit()
    qtbot.waitUntil(lambda: table.model().rowCount() == 1, timeout=READER_TIMEOUT_MS)
    index = table.model().index(0, 0)
    table.doubleClicked.emit(index)
    wait_for_page(qtbot, window, 1)
    assert window.reader.title.text() == "Lighthouse Manual"


def test_the_answer_check_shows_under_the_answer_and_again_when_reopened(
    qtbot: QtBot, window: MainWindow, lighthouse_pdf: Path
) -> None:
    ingest(qtbot, window.host, [lighthouse_pdf])
    with qtbot.waitSignal(window.chat_controller.checked, timeout=20_000):
        done = ask(qtbot, window, PDF_QUESTION)
    line = last_answer(window).grounding
    qtbot.waitUntil(line.isVisible, timeout=READER_TIMEOUT_MS)
    checked = line.text()
    assert checked == "✓ 1 of 1 sentence supported by their sources"

    window.new_chat()
    window.open_conversation(done.conversation_id)
    qtbot.waitUntil(lambda: bool(window.chat_view.messages), timeout=READER_TIMEOUT_MS)
    assert last_answer(window).grounding.text() == checked


def test_an_unsupported_sentence_is_underlined_with_what_was_not_found(
    qtbot: QtBot, window: MainWindow, lighthouse_pdf: Path
) -> None:
    ingest(qtbot, window.host, [lighthouse_pdf])
    orchestrator = window.host.orchestrator
    assert orchestrator is not None
    source = run_search(qtbot, window, PDF_QUESTION)[0]
    passage = orchestrator.library.chunks_by_ids([source.chunk_id])[source.chunk_id].text
    answer_text = "The lamp uses a xenon bulb rated at 4200 watts [1]."
    conversation = orchestrator.conversations.create()
    orchestrator.conversations.add_message(conversation.id, "user", PDF_QUESTION)
    answer = orchestrator.conversations.add_message(conversation.id, "assistant", answer_text)
    orchestrator.conversations.add_sources(
        answer.id,
        [replace(source, number=1)],
    )
    orchestrator.conversations.set_grounding(answer.id, check_answer(answer_text, {1: passage}))

    window.open_conversation(conversation.id)
    qtbot.waitUntil(lambda: bool(window.chat_view.messages), timeout=READER_TIMEOUT_MS)
    widget = last_answer(window)
    assert widget.grounding.text().startswith("⚠ 0 of 1 sentence supported by their sources")
    assert "4200" in widget.grounding.toolTip()
    document = widget.body.document()
    sentence = document.find("xenon bulb").charFormat()  # the sentence says what is missing
    assert sentence.underlineStyle() == QTextCharFormat.UnderlineStyle.DotLine
    assert sentence.toolTip() == "Not found in source [1]: “4200”."
    number = document.find("4200").charFormat()  # and the number that is in no source
    assert number.toolTip() == "4200 is in none of the sources."


def run_search(qtbot: QtBot, window: MainWindow, query: str) -> list[Source]:
    from tests.gui.conftest import run_async

    orchestrator = window.host.orchestrator
    assert orchestrator is not None
    return run_async(qtbot, orchestrator.search(query))  # type: ignore[return-value]
