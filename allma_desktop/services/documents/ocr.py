"""OCR for PDFs without a text layer (scans), through PyMuPDF and tesseract.

Off by default (``AppConfig.ocr``) and only possible when tesseract and its
language data are installed; PyMuPDF finds them itself (``pymupdf.get_tessdata``).
Every page is rendered and recognised, so this is slow: seconds per page.
"""

from __future__ import annotations

import functools
import logging
import shutil
from pathlib import Path
from typing import Any

from allma_desktop.errors import NoTextLayer
from allma_desktop.services.documents.files import finish_document
from allma_desktop.services.documents.model import ParsedDocument, TextBlock
from allma_desktop.services.documents.pdf import import_pymupdf

logger = logging.getLogger(__name__)

OCR_LANGUAGE = "eng"
_OCR_DPI = 200  # enough for body text; 300 costs twice the time for little gain


@functools.cache
def tesseract_on_path() -> bool:
    """The cheap half of :func:`tesseract_available` (no PyMuPDF import), for start-up."""
    return shutil.which("tesseract") is not None


def tesseract_available() -> bool:
    """Whether tesseract and PyMuPDF's view of its language data are both present."""
    if not tesseract_on_path():
        return False
    pymupdf = import_pymupdf()
    try:
        return bool(pymupdf.get_tessdata())
    except (RuntimeError, OSError):
        return False


def _page_text_blocks(page: Any, page_number: int) -> list[TextBlock]:
    textpage = page.get_textpage_ocr(language=OCR_LANGUAGE, dpi=_OCR_DPI, full=True)
    blocks: list[TextBlock] = []
    for *_box, raw, _number, block_type in page.get_text("blocks", textpage=textpage):
        text = " ".join(str(raw).split())
        if block_type == 0 and text:
            blocks.append(TextBlock(text=text, page=page_number))
    return blocks


def parse_pdf_with_ocr(path: Path) -> ParsedDocument:
    """The PDF's recognised text, page by page; ``NoTextLayer`` when nothing is recognised."""
    pymupdf = import_pymupdf()

    blocks: list[TextBlock] = []
    with pymupdf.open(str(path), filetype="pdf") as document:
        page_count = document.page_count
        metadata = document.metadata or {}
        for index in range(page_count):
            blocks.extend(_page_text_blocks(document.load_page(index), index + 1))
    if not blocks:
        raise NoTextLayer(path)
    logger.info("%s: read by OCR (%d pages)", path.name, page_count)
    return finish_document(
        path,
        "pdf",
        blocks,
        title=metadata.get("title"),
        author=metadata.get("author") or None,
        page_count=page_count,
    )
