"""PDF reading details: what importing PyMuPDF loads, and where an untitled PDF's title
comes from. Documents are generated here, in ``tmp_path``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pymupdf
import pytest

from allma_desktop.services.documents.pdf import parse_pdf

IMPORT_THROUGH_THE_PARSER = """
import sys
from allma_desktop.services.documents import pdf
pdf.import_pymupdf()
import pymupdf
print(pymupdf._get_layout is None, "onnxruntime" in sys.modules)
"""


def test_importing_pymupdf_for_parsing_loads_no_layout_models() -> None:
    # A fresh process: this one has imported PyMuPDF already, layout analyser and all.
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_THROUGH_THE_PARSER],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    layout_skipped, onnx_loaded = result.stdout.split()
    assert (layout_skipped, onnx_loaded) == ("True", "False")


def test_untitled_pdf_takes_its_title_from_the_first_page_with_text(tmp_path: Path) -> None:
    document = pymupdf.open()
    document.new_page()  # a blank cover
    page = document.new_page()
    page.insert_text((72, 72), "Fog Horn Schedule", fontsize=24)
    page.insert_text((72, 120), "The horn sounds every thirty seconds.", fontsize=11)
    page.insert_text((72, 140), "The keeper logs each storm.", fontsize=11)
    document.save(tmp_path / "untitled.pdf")

    assert parse_pdf(tmp_path / "untitled.pdf").metadata.title == "Fog Horn Schedule"


def test_metadata_title_wins_over_the_largest_text(tmp_path: Path) -> None:
    document = pymupdf.open()
    document.set_metadata({"title": "Harbor Manual"})
    page = document.new_page()
    page.insert_text((72, 72), "Fog Horn Schedule", fontsize=24)
    page.insert_text((72, 120), "The harbor horn sounds every thirty seconds.", fontsize=11)
    document.save(tmp_path / "titled.pdf")

    assert parse_pdf(tmp_path / "titled.pdf").metadata.title == "Harbor Manual"


def titled_pdf(path: Path, title: str) -> Path:
    document = pymupdf.open()
    document.set_metadata({"title": title})
    page = document.new_page()
    page.insert_text((72, 72), "The keeper trims the wick at dusk.", fontsize=11)
    page.insert_text((72, 92), "The lamp burns until dawn.", fontsize=11)
    document.save(path)
    return path


@pytest.mark.parametrize("junk", ["A5.0", "1", "v2", "Slide 1", "Click to edit Master title style"])
def test_a_junk_metadata_title_gives_way_to_the_file_name(tmp_path: Path, junk: str) -> None:
    path = titled_pdf(tmp_path / "Brotli-Prototype-FileA.pdf", junk)

    assert parse_pdf(path).metadata.title == "Brotli-Prototype-FileA"


def test_a_metadata_title_unrelated_to_the_text_gives_way_to_the_file_name(
    tmp_path: Path,
) -> None:
    path = titled_pdf(tmp_path / "wick-and-lamp.pdf", "Quarterly Sales Report Template")

    assert parse_pdf(path).metadata.title == "wick-and-lamp"


def test_a_metadata_title_the_text_shares_words_with_is_kept(tmp_path: Path) -> None:
    path = titled_pdf(tmp_path / "notes.pdf", "Keeping the Lamp")

    assert parse_pdf(path).metadata.title == "Keeping the Lamp"
