"""Write the sample documents the ``--self-test`` ingests (run once; the output is committed).

``python packaging/make_samples.py`` regenerates ``allma_desktop/resources/samples/``:
a two-page PDF (page 2 holds the passage the self-test searches for, so a correct
result also proves the page number survived), a short Markdown note, and a scanned page
(a PDF holding only a picture of text, which only OCR can read).
"""

# mypy: disable-error-code="no-untyped-call"
# (pymupdf's Document methods are unannotated upstream.)
from __future__ import annotations

from pathlib import Path

import pymupdf

from allma_desktop.bundle import resource_path

PDF_PAGES = (
    "Allma sample document\n\n"
    "This file ships with Allma Desktop so that the app can check itself.\n"
    "It is read, split into passages, indexed and searched on every self-test.",
    "Harbour notes\n\n"
    "The lighthouse keeper logs the tide twice a day, at dawn and at dusk.\n"
    "A green lantern marks the northern pier; a red one marks the southern pier.",
)
SCAN_TEXT = (
    "Ferry timetable\n\n"
    "The ferry to the island leaves the harbour at noon on Sundays.\n"
    "Bicycles travel free; dogs must stay on a lead."
)
MARKDOWN = """# Allma sample note

## Kitchen

Sourdough needs a starter fed with flour and water the evening before baking.
"""


def write_samples(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    pdf_path = folder / "allma-sample.pdf"
    document = pymupdf.open()
    for text in PDF_PAGES:
        page = document.new_page()
        page.insert_text((72, 72), text, fontsize=11)
    document.set_metadata({"title": "Allma sample document", "creationDate": "", "modDate": ""})
    document.save(str(pdf_path), garbage=4, deflate=True, no_new_id=True)
    document.close()
    markdown_path = folder / "allma-sample.md"
    markdown_path.write_text(MARKDOWN, encoding="utf-8")
    return [pdf_path, markdown_path, write_scan(folder / "allma-sample-scan.pdf")]


def write_scan(path: Path) -> Path:
    """A one-page PDF whose only content is a grey picture of ``SCAN_TEXT`` (150 dpi)."""
    source = pymupdf.open()
    source.new_page().insert_text((72, 90), SCAN_TEXT, fontsize=14)
    picture = source[0].get_pixmap(dpi=150, colorspace=pymupdf.csGRAY)
    document = pymupdf.open()
    page = document.new_page()
    page.insert_image(page.rect, pixmap=picture)
    document.set_metadata({"title": "Ferry timetable (scanned)", "creationDate": "", "modDate": ""})
    document.save(str(path), garbage=4, deflate=True, no_new_id=True)
    return path


if __name__ == "__main__":
    for path in write_samples(resource_path("samples")):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
