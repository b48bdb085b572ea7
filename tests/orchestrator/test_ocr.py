"""Scanned pages and pictures are read by OCR (MuPDF's built-in Tesseract), page by page.

Every document here is made in code (``tests.support.scans``): text rendered to pixels, so only
OCR can give the words back. No ``tesseract`` program is needed or looked for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from allma_desktop.config import AppConfig
from allma_desktop.events import AnswerDone, FileFinished, FileParsed, PageRecognised
from allma_desktop.orchestrator import (
    Orchestrator,
    add_ocr_language_from_folder,
    ocr_languages_folder,
)
from tests.support.invariants import assert_library_consistent
from tests.support.scans import (
    write_broken_font_pdf,
    write_mixed_pdf,
    write_picture,
    write_scanned_pdf,
    write_tiff,
    write_webp,
)
from tests.support.tessdata import folder_with

SCANNED_FACT = "The lighthouse lamp is cleaned with vinegar every Friday."
TEXT_FACT = "The harbour master keeps the tide tables in the blue cabinet."
SECOND_SCANNED_FACT = "Fog signals sound twice a minute during winter storms."


async def collect(stream: AsyncIterator[Any]) -> list[Any]:
    return [event async for event in stream]


async def ingest(engine: Orchestrator, paths: Sequence[Path]) -> dict[str, FileFinished]:
    results: dict[str, FileFinished] = {}
    async for event in engine.ingest(paths):
        if isinstance(event, FileFinished):
            results[Path(event.path).name] = event
    return results


@pytest.fixture
async def ocr_off(config: AppConfig) -> AsyncIterator[Orchestrator]:
    engine = Orchestrator(config.with_changes(ocr=False))
    await engine.open()
    try:
        yield engine
    finally:
        await engine.close()


def test_ocr_is_on_by_default(config: AppConfig) -> None:
    assert config.ocr is True


async def test_scanned_pdf_is_indexed_and_its_page_cited_without_a_tesseract_program(
    orchestrator: Orchestrator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The parse worker starts with the first file, with this PATH: no tesseract on it.
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    scan = write_scanned_pdf(tmp_path / "scan.pdf", ["A cover page.", SCANNED_FACT])

    results = await ingest(orchestrator, [scan])
    sources = await orchestrator.search("How is the lighthouse lamp cleaned?")

    assert results["scan.pdf"].status == "indexed"
    assert results["scan.pdf"].pages == 2
    assert sources[0].path == str(scan.resolve())
    assert sources[0].page == 2
    assert sources[0].ocr
    assert "vinegar" in sources[0].snippet
    assert_library_consistent(orchestrator)


async def test_an_answer_cites_the_scanned_page_and_marks_it_ocr(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    scan = write_scanned_pdf(tmp_path / "scan.pdf", [SCANNED_FACT])
    await ingest(orchestrator, [scan])

    events = await collect(orchestrator.chat(None, "How is the lighthouse lamp cleaned?"))
    done = [event for event in events if isinstance(event, AnswerDone)][-1]

    assert done.error is None
    assert done.sources, "the answer must cite the scanned page"
    assert (done.sources[0].path, done.sources[0].page) == (str(scan.resolve()), 1)
    assert done.sources[0].ocr


async def test_mixed_pdf_keeps_its_scanned_page_and_leaves_text_pages_alone(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    mixed = write_mixed_pdf(
        tmp_path / "mixed.pdf",
        [(TEXT_FACT, False), (SCANNED_FACT, True), ("An appendix of figures.", False)],
    )

    results = await ingest(orchestrator, [mixed])
    scanned = (await orchestrator.search("How is the lighthouse lamp cleaned?"))[0]
    typed = (await orchestrator.search("Where does the harbour master keep the tide tables?"))[0]

    assert results["mixed.pdf"].status == "indexed"
    assert (scanned.page, scanned.ocr) == (2, True)
    assert (typed.page, typed.ocr) == (1, False)
    assert typed.snippet.startswith(TEXT_FACT)  # the text layer, verbatim: not recognised


async def test_a_scanned_page_with_a_stamped_page_number_is_still_read_by_ocr(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    mixed = write_mixed_pdf(
        tmp_path / "stamped.pdf", [(TEXT_FACT, False), (SCANNED_FACT, True)], stamp="Page 2"
    )

    await ingest(orchestrator, [mixed])
    scanned = (await orchestrator.search("How is the lighthouse lamp cleaned?"))[0]
    typed = (await orchestrator.search("Where does the harbour master keep the tide tables?"))[0]

    assert (scanned.page, scanned.ocr) == (2, True)
    assert "vinegar" in scanned.snippet
    assert (typed.page, typed.ocr) == (1, False)


async def test_ingest_reports_each_page_ocr_reads_before_the_file_is_parsed(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    mixed = write_mixed_pdf(
        tmp_path / "mixed.pdf",
        [(TEXT_FACT, False), (SCANNED_FACT, True), (SECOND_SCANNED_FACT, True)],
    )

    events = await collect(orchestrator.ingest([mixed]))
    progress = [
        (type(e).__name__, getattr(e, "page", None))
        for e in events
        if isinstance(e, PageRecognised | FileParsed)
    ]

    assert progress == [("PageRecognised", 2), ("PageRecognised", 3), ("FileParsed", None)]
    assert {(e.path, e.pages) for e in events if isinstance(e, PageRecognised)} == {
        (str(mixed.resolve()), 3)
    }


async def test_png_picture_is_indexed_as_a_citable_page(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    picture = write_picture(tmp_path / "whiteboard.png", SCANNED_FACT)

    results = await ingest(orchestrator, [picture])
    source = (await orchestrator.search("How is the lighthouse lamp cleaned?"))[0]

    assert results["whiteboard.png"].status == "indexed"
    assert (source.path, source.page, source.ocr) == (str(picture.resolve()), 1, True)


async def test_webp_and_jpeg_pictures_are_indexed(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    webp = write_webp(tmp_path / "screenshot.webp", SCANNED_FACT)
    jpeg = write_picture(tmp_path / "photo.jpeg", SECOND_SCANNED_FACT)

    results = await ingest(orchestrator, [webp, jpeg])
    from_webp = (await orchestrator.search("How is the lighthouse lamp cleaned?"))[0]
    from_jpeg = (await orchestrator.search("How often do fog signals sound in storms?"))[0]

    assert results["screenshot.webp"].status == results["photo.jpeg"].status == "indexed"
    assert (from_webp.path, from_webp.page) == (str(webp.resolve()), 1)
    assert (from_jpeg.path, from_jpeg.page) == (str(jpeg.resolve()), 1)


async def test_a_picture_that_is_not_one_fails_as_unreadable(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    fake = tmp_path / "holiday.webp"
    fake.write_bytes(b"RIFF\x10\x00\x00\x00WEBPVP8 garbage")
    renamed_pdf = write_scanned_pdf(tmp_path / "letter.pdf", [SCANNED_FACT]).rename(
        tmp_path / "letter.png"
    )

    results = await ingest(orchestrator, [fake, renamed_pdf])

    assert results["holiday.webp"].status == "failed"
    assert "not a readable picture" in results["holiday.webp"].reason
    assert "not a picture (looks like PDF document)" in results["letter.png"].reason


async def test_each_page_of_a_multi_page_tiff_is_a_citable_page(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    tiff = write_tiff(tmp_path / "letter.tiff", [SCANNED_FACT, SECOND_SCANNED_FACT])

    results = await ingest(orchestrator, [tiff])
    first = (await orchestrator.search("How is the lighthouse lamp cleaned?"))[0]
    second = (await orchestrator.search("How often do fog signals sound in storms?"))[0]

    assert (results["letter.tiff"].status, results["letter.tiff"].pages) == ("indexed", 2)
    assert (first.page, second.page) == (1, 2)
    assert_library_consistent(orchestrator)


async def test_broken_font_encoding_pdf_is_read_by_ocr(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    broken = write_broken_font_pdf(tmp_path / "broken.pdf", "Ships unload grain at the north quay.")

    results = await ingest(orchestrator, [broken])
    source = (await orchestrator.search("Where do ships unload grain?"))[0]

    assert results["broken.pdf"].status == "indexed"
    assert (source.page, source.ocr) == (1, True)


async def test_broken_font_encoding_pdf_says_so_when_ocr_is_off(
    ocr_off: Orchestrator, tmp_path: Path
) -> None:
    broken = write_broken_font_pdf(tmp_path / "broken.pdf", "Ships unload grain at the north quay.")

    result = (await ingest(ocr_off, [broken]))["broken.pdf"]

    assert result.status == "failed"
    assert result.reason == (
        "its text uses a broken font encoding; read it with OCR (on by default)"
    )


async def test_blank_scan_says_no_text_was_found_even_with_ocr(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    blank = write_scanned_pdf(tmp_path / "blank.pdf", [""])

    result = (await ingest(orchestrator, [blank]))["blank.pdf"]

    assert result.status == "failed"
    assert result.reason == "no text found even with OCR (blank or pictures only)"
    assert "scanned?" not in result.reason


async def test_with_ocr_off_a_scan_and_a_picture_fail_saying_ocr_is_off(
    ocr_off: Orchestrator, tmp_path: Path
) -> None:
    scan = write_scanned_pdf(tmp_path / "scan.pdf", [SCANNED_FACT])
    picture = write_picture(tmp_path / "receipt.jpg", SCANNED_FACT)

    results = await ingest(ocr_off, [scan, picture])

    assert results["scan.pdf"].status == results["receipt.jpg"].status == "failed"
    assert "OCR" in results["scan.pdf"].reason and "is off" in results["scan.pdf"].reason
    assert results["receipt.jpg"].reason.startswith("is a picture")


async def test_without_language_data_the_reason_says_it_is_missing(
    config: AppConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The parse worker is a spawned process: it inherits the environment.
    monkeypatch.setenv("ALLMA_TESSDATA", str(tmp_path / "no-language-data"))
    scan = write_scanned_pdf(tmp_path / "scan.pdf", [SCANNED_FACT])
    engine = Orchestrator(config)
    await engine.open()
    try:
        result = (await ingest(engine, [scan]))["scan.pdf"]
    finally:
        await engine.close()

    assert result.status == "failed"
    assert "language data is missing" in result.reason


GERMAN_FACT = "Das Fährschiff zur Insel fährt sonntags um zwölf Uhr vom großen Steg ab."


async def test_a_language_added_in_settings_reads_a_german_scan(
    config: AppConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chosen languages (eng+deu) reach the parse worker through the config; German
    comes from a folder into the app's own, English from the installed package."""
    installed = folder_with(tmp_path / "installed", "eng")
    monkeypatch.setenv("ALLMA_TESSDATA", str(installed))  # the worker inherits it
    add_ocr_language_from_folder(config, "deu", folder_with(tmp_path / "picked", "deu"))
    scan = write_scanned_pdf(tmp_path / "brief.pdf", [GERMAN_FACT])
    engine = Orchestrator(config.with_changes(ocr_languages="eng+deu"))
    await engine.open()
    try:
        result = (await ingest(engine, [scan]))["brief.pdf"]
        sources = await engine.search("Wann fährt das Fährschiff zur Insel?")
    finally:
        await engine.close()

    assert result.status == "indexed"
    assert sources[0].ocr
    assert "Fährschiff" in sources[0].snippet and "zwölf" in sources[0].snippet
    # Tesseract reads every language from one folder: English was gathered beside German.
    assert (ocr_languages_folder(config) / "eng.traineddata").is_file()


async def test_a_chosen_language_without_data_fails_the_scan_saying_so(
    config: AppConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLMA_TESSDATA", str(folder_with(tmp_path / "installed", "eng")))
    scan = write_scanned_pdf(tmp_path / "scan.pdf", [SCANNED_FACT])
    engine = Orchestrator(config.with_changes(ocr_languages="eng+fra"))
    await engine.open()
    try:
        result = (await ingest(engine, [scan]))["scan.pdf"]
    finally:
        await engine.close()

    assert result.status == "failed"
    assert "language data is missing" in result.reason
