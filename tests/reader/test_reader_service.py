"""Locating a cited passage on its page, with PyMuPDF on real PDFs made in the test."""

from __future__ import annotations

from pathlib import Path

import pymupdf

from allma_desktop.reader.pages import (
    Box,
    PagedDocument,
    align_passage,
    is_paged,
    normal_words,
    text_span,
)
from allma_desktop.services.documents.service import DocumentService
from tests.support.sample_docs import DOCX_FACT, write_docx
from tests.support.scans import write_webp

PARAGRAPHS = [
    "Harbour dues are paid at the office by the east pier before noon.",
    "The ferry to Skerry Island leaves at 07:40 from the north quay, weather permitting, "
    "and returns at 16:15; tickets cost 12 euros for adults.",
    "Fishing is not allowed from the breakwater between April and September.",
]


def write_page(path: Path, paragraphs: list[str], header: str = "Port guide — page 1") -> Path:
    document = pymupdf.open()
    page = document.new_page()
    page.insert_text((72, 40), header, fontsize=8)
    page.insert_textbox(pymupdf.Rect(72, 72, 300, 770), "\n\n".join(paragraphs), fontsize=11)
    document.save(path)
    document.close()
    return path


def test_the_passage_words_are_found_in_page_order() -> None:
    page = normal_words("a b The ferry leaves at 07:40 from the quay . c d")
    span = align_passage(page, "The ferry leaves at 07:40 from the quay.")
    assert [page[i] for i in span] == normal_words("The ferry leaves at 07:40 from the quay")


def test_a_passage_not_on_the_page_is_not_found() -> None:
    page = normal_words("Fishing is not allowed from the breakwater")
    assert align_passage(page, "Tickets cost twelve euros for adults on the ferry") == range(0)


def test_the_boxes_cover_the_cited_paragraph_and_nothing_around_it(tmp_path: Path) -> None:
    pdf = write_page(tmp_path / "guide.pdf", PARAGRAPHS)
    document = PagedDocument(pdf)
    # The parser joins lines with spaces: the passage as a chunk stores it.
    boxes = document.passage_boxes(1, " ".join(PARAGRAPHS[1].split()))
    words = document.words(1)
    inside = {w.text for w in words if any(b == w.box for b in boxes)}
    assert "Skerry" in inside and "16:15;" in inside and "adults." in inside
    assert "Harbour" not in inside and "Fishing" not in inside and "guide" not in inside
    document.close()


def test_rendering_is_at_the_asked_scale(tmp_path: Path) -> None:
    pdf = write_page(tmp_path / "guide.pdf", PARAGRAPHS)
    document = PagedDocument(pdf)
    width, height = document.page_size(1)
    page = document.render(1, 2.0)
    assert (page.width, page.height) == (round(width * 2), round(height * 2))
    assert len(page.samples) == page.stride * page.height
    document.close()


def test_search_wraps_around_to_earlier_pages(tmp_path: Path) -> None:
    path = tmp_path / "two.pdf"
    document = pymupdf.open()
    for text in ("The pilot boat waits here.", "Nothing to see."):
        document.new_page().insert_text((72, 72), text)
    document.save(path)
    document.close()
    reader = PagedDocument(path)
    page, boxes = reader.search("pilot boat", start_page=2)
    assert page == 1 and len(boxes) == 1 and isinstance(boxes[0], Box)
    assert reader.search("lighthouse", start_page=1) == (0, [])
    reader.close()


def test_a_text_documents_stored_span_indexes_its_parsed_text(tmp_path: Path) -> None:
    docx = write_docx(tmp_path / "greenhouse.docx")
    service = DocumentService()
    parsed = service.parse(docx)
    chunk = next(c for c in service.chunk(parsed, "d") if DOCX_FACT in c.text)
    assert text_span(parsed.full_text, chunk.text, chunk.char_start, chunk.char_end) == (
        chunk.char_start,
        chunk.char_end,
    )


def test_a_moved_passage_is_found_by_its_text_and_a_gone_one_not_at_all() -> None:
    text = "Intro.\n\nNew paragraph first.\n\nThe passage itself."
    assert text_span(text, "The passage itself.", 8, 27) == (text.index("The"), len(text))
    assert text_span(text, "Deleted since.", 8, 22) == (0, 0)


def scanned_copy(text_pdf: Path, path: Path) -> Path:
    """``text_pdf``'s pages as pictures only (200 dpi, grey): its words only OCR can find."""
    with pymupdf.open(text_pdf) as original, pymupdf.open() as scan:
        for page in original:
            copy = scan.new_page(width=page.rect.width, height=page.rect.height)
            picture = page.get_pixmap(dpi=200, colorspace=pymupdf.csGRAY)
            copy.insert_image(copy.rect, pixmap=picture)
        scan.save(path)
    return path


def centre_covered(boxes: list[Box], by: list[Box]) -> bool:
    def inside(box: Box, cover: Box) -> bool:
        x, y = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
        return cover.x0 <= x <= cover.x1 and cover.y0 <= y <= cover.y1

    return all(any(inside(box, cover) for cover in by) for box in boxes)


def test_a_passage_read_by_ocr_is_found_on_the_page_picture(tmp_path: Path) -> None:
    text_pdf = write_page(tmp_path / "port.pdf", PARAGRAPHS)
    scan = scanned_copy(text_pdf, tmp_path / "port-scan.pdf")
    passage = PARAGRAPHS[1]  # as OCR read it, the chunk's text is the same words
    document = PagedDocument(scan)
    try:
        assert document.passage_boxes(1, passage) == []  # no text layer to match
        boxes = document.passage_boxes(1, passage, ocr=("eng", None))
        # A language whose data is not here: nothing found, no error (the reader says so).
        assert document.passage_boxes(1, passage, ocr=("xyz", None)) == []
    finally:
        document.close()
    # The same words as the text PDF shows them (its own word boxes, aligned as above).
    original = PagedDocument(text_pdf)
    try:
        printed = original.passage_boxes(1, passage)
        others = [word.box for word in original.words(1) if word.box not in printed]
    finally:
        original.close()
    assert printed and boxes and others
    assert centre_covered(printed, boxes)
    assert not any(centre_covered([box], boxes) for box in others)  # nothing around it


def test_a_webp_picture_opens_as_a_page_and_its_passage_is_found_by_ocr(tmp_path: Path) -> None:
    fact = "The ferry to the island leaves at noon on Sundays."
    photo = write_webp(tmp_path / "timetable.webp", fact)  # MuPDF reads no WebP: Pillow does
    assert is_paged("image") and is_paged("", str(photo))
    document = PagedDocument(photo)
    try:
        assert document.page_count == 1
        width, height = document.page_size(1)
        drawn = document.render(1, 1.0)
        assert abs(drawn.width - width) <= 1 and abs(drawn.height - height) <= 1
        assert document.passage_boxes(1, fact, ocr=("eng", None))
    finally:
        document.close()
