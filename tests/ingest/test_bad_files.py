"""Nothing a user drops can hang, crash or flood ingestion.

Every nasty input is generated here. Each test drops it (usually next to a good
file), checks the file's status and reason, that the batch went on, and that the
library is consistent afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pymupdf
import pytest

from allma_desktop.config import AppConfig
from allma_desktop.events import FileFinished, FileStarted, IngestFinished
from allma_desktop.orchestrator import Orchestrator
from allma_desktop.services.documents import service as service_module
from allma_desktop.services.documents.parse_worker import PARSER_PLUGINS_ENV
from allma_desktop.services.documents.registry import default_registry
from tests.support import parser_plugins
from tests.support.invariants import assert_library_consistent
from tests.support.ollama_server import OllamaTestServer

PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64
GOOD_TEXT = "The lighthouse keeper trims the wick every evening before dusk.\n"
REPO_ROOT = Path(__file__).resolve().parents[2]


async def ingest(orchestrator: Orchestrator, paths: Sequence[Path]) -> dict[str, FileFinished]:
    """Ingest ``paths``; each file's result by file name."""
    results: dict[str, FileFinished] = {}
    async for event in orchestrator.ingest(paths):
        if isinstance(event, FileFinished):
            results[Path(event.path).name] = event
    return results


def good_file(folder: Path, name: str = "good.txt") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(GOOD_TEXT, encoding="utf-8")
    return path


def make_pdf(path: Path, text: str, **save_options: object) -> Path:
    document = pymupdf.open()
    page = document.new_page()
    page.insert_textbox(pymupdf.Rect(72, 72, 540, 700), text, fontsize=11)
    document.save(path, **save_options)
    document.close()
    return path


def write_paragraphs(path: Path, size: int) -> Path:
    """About ``size`` bytes of distinct prose paragraphs, written in big pieces."""
    sentence = "The keeper trims the lamp wick and logs the weather before the night watch. "
    written = index = 0
    with path.open("w", encoding="utf-8") as stream:
        while written < size:
            piece = "".join(f"Entry {index + k}. {sentence * 5}\n\n" for k in range(2000))
            index += 2000
            written += stream.write(piece)
    return path


async def assert_fails_alone(
    orchestrator: Orchestrator, bad: Path, reason_part: str
) -> FileFinished:
    """``bad`` fails with a reason containing ``reason_part``; a good file after it is indexed."""
    good = good_file(bad.parent / "after")
    results = await ingest(orchestrator, [bad, good])

    assert results[bad.name].status == "failed"
    assert reason_part in results[bad.name].reason
    assert results[good.name].status == "indexed"
    assert_library_consistent(orchestrator)
    return results[bad.name]


# --- broken and disguised files ------------------------------------------------------


async def test_zero_byte_file_fails_as_containing_no_text(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")

    await assert_fails_alone(orchestrator, empty, "contains no text")


async def test_truncated_pdf_fails_as_damaged(orchestrator: Orchestrator, tmp_path: Path) -> None:
    whole = make_pdf(tmp_path / "whole.pdf", "Some text.").read_bytes()
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(whole[: len(whole) // 3])

    await assert_fails_alone(orchestrator, truncated, "damaged")


async def test_png_named_pdf_fails_as_not_a_pdf(orchestrator: Orchestrator, tmp_path: Path) -> None:
    fake = tmp_path / "photo.pdf"
    fake.write_bytes(PNG_BYTES)

    await assert_fails_alone(orchestrator, fake, "not a PDF (looks like PNG image)")


async def test_encrypted_pdf_fails_as_password_protected(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    locked = make_pdf(
        tmp_path / "locked.pdf",
        "Secret notes.",
        encryption=pymupdf.PDF_ENCRYPT_AES_256,
        user_pw="x",
        owner_pw="y",
    )

    await assert_fails_alone(orchestrator, locked, "password-protected")


def make_scanned_pdf(path: Path, text: str = "") -> Path:
    """A PDF whose only page is a picture: of ``text`` when given, else of nothing."""
    source = pymupdf.open()
    page = source.new_page()
    if text:
        page.insert_textbox(pymupdf.Rect(72, 72, 540, 400), text, fontsize=20)
    picture = page.get_pixmap(dpi=150)
    scanned = pymupdf.open()
    scanned.new_page().insert_image(scanned[0].rect, pixmap=picture)
    scanned.save(path)
    return path


async def test_image_only_pdf_of_nothing_fails_as_blank_even_with_ocr(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    scan = make_scanned_pdf(tmp_path / "scan.pdf")

    result = await assert_fails_alone(orchestrator, scan, "no text found even with OCR")

    assert result.error is not None
    assert "blank or pictures only" in result.error.message


async def test_docx_that_is_not_a_zip_fails_as_invalid(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    fake = tmp_path / "letter.docx"
    fake.write_bytes(b"This is plain text, saved with the wrong name.\n" * 10)

    await assert_fails_alone(orchestrator, fake, "not a valid DOCX file")


def write_zip_bomb(path: Path, member_bytes: int) -> Path:
    """A DOCX whose document part inflates to ``member_bytes`` of spaces (small on disk)."""
    piece = b" " * (1 << 20)
    # Level 1 deflates a gigabyte of spaces in about two seconds (level 9: five times that).
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            for _ in range(member_bytes // len(piece)):
                member.write(piece)
    return path


async def test_docx_inflating_to_gigabytes_is_refused(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    bomb = write_zip_bomb(tmp_path / "bomb.docx", 1 << 30)
    assert bomb.stat().st_size < 5 << 20

    await assert_fails_alone(orchestrator, bomb, "too large when decompressed")


async def test_invalid_utf8_text_is_indexed_with_the_bad_bytes_replaced(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.txt"
    broken.write_bytes(b"Valid start. " + b"\xff\xfe\xc3\x28 \xed\xa0\x80" * 50 + b" Valid end.\n")

    results = await ingest(orchestrator, [broken])

    assert results["broken.txt"].status == "indexed"
    assert_library_consistent(orchestrator)


async def test_deeply_nested_html_ends_with_a_status(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    depth = 50_000
    nested = tmp_path / "nested.html"
    nested.write_text("<div>" * depth + "Deep keeper text." + "</div>" * depth, encoding="utf-8")
    good = good_file(tmp_path / "after")

    results = await ingest(orchestrator, [nested, good])

    outcome = results["nested.html"]
    assert outcome.status == "indexed" or "nested too deeply" in outcome.reason
    assert results["good.txt"].status == "indexed"
    assert_library_consistent(orchestrator)


# --- files that change or vanish, odd folders, many files -------------------------


async def test_file_deleted_while_queued_fails_and_the_batch_goes_on(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    first, doomed, last = (good_file(folder, f"{name}.txt") for name in ("a", "b", "c"))
    results: dict[str, FileFinished] = {}

    async for event in orchestrator.ingest([folder]):
        # "b" is read only once "a" is being embedded: removing it at "a"'s start is in time.
        if isinstance(event, FileStarted) and Path(event.path) == first.resolve():
            doomed.unlink()
        if isinstance(event, FileFinished):
            results[Path(event.path).name] = event

    assert results["b.txt"].status == "failed"
    # The same words whether it vanished before its hash or before its parse (parse-ahead
    # may have hashed it already when "a" starts).
    assert "was moved or deleted before it could be read" in results["b.txt"].reason
    assert results[first.name].status == results[last.name].status == "indexed"
    assert_library_consistent(orchestrator)


async def test_a_file_gone_before_its_hash_reads_as_gone_before_its_parse(
    orchestrator: Orchestrator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The other side of the race above: the file vanished before the ingest hashed it.
    folder = tmp_path / "drop"
    gone, kept = good_file(folder, "gone.txt"), good_file(folder, "kept.txt")
    hash_file = orchestrator.documents.hash_file

    def vanishing(path: Path) -> str:
        if path.name == gone.name:
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return hash_file(path)

    monkeypatch.setattr(orchestrator.documents, "hash_file", vanishing)

    results = await ingest(orchestrator, [gone, kept])

    assert results["gone.txt"].status == "failed"
    assert results["gone.txt"].reason == "was moved or deleted before it could be read"
    assert results["kept.txt"].status == "indexed"
    assert_library_consistent(orchestrator)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
async def test_file_made_unreadable_while_queued_fails_and_the_batch_goes_on(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    first, locked, last = (good_file(folder, f"{name}.txt") for name in ("a", "b", "c"))
    results: dict[str, FileFinished] = {}

    async for event in orchestrator.ingest([folder]):
        if isinstance(event, FileStarted) and Path(event.path) == first.resolve():
            locked.chmod(0)
        if isinstance(event, FileFinished):
            results[Path(event.path).name] = event

    assert results["b.txt"].status == "failed"
    assert "cannot be read (Permission denied)" in results["b.txt"].reason
    assert results[last.name].status == "indexed"
    assert_library_consistent(orchestrator)


async def test_folder_with_a_symlink_to_itself_is_walked_once(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    good = good_file(folder)
    (folder / "again").symlink_to(folder, target_is_directory=True)

    results = await ingest(orchestrator, [folder])

    assert list(results) == [good.name]
    assert results[good.name].status == "indexed"
    assert_library_consistent(orchestrator)


async def test_symlink_loop_in_a_dropped_folder_is_skipped(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    good = good_file(folder)
    (folder / "loop.txt").symlink_to(folder / "loop.txt")

    results = await ingest(orchestrator, [folder])

    assert results["loop.txt"].status in ("skipped", "failed")
    assert results["loop.txt"].reason
    assert results[good.name].status == "indexed"
    assert_library_consistent(orchestrator)


async def assert_many_tiny_files_all_end_indexed(
    orchestrator: Orchestrator, folder: Path, count: int
) -> None:
    folder.mkdir()
    for number in range(count):
        (folder / f"note-{number:04}.txt").write_text(f"Note {number} about the lamp.\n")

    finished: IngestFinished | None = None
    async for event in orchestrator.ingest([folder]):
        if isinstance(event, IngestFinished):
            finished = event

    assert finished is not None and finished.error is None
    assert len(finished.results) == count
    assert {result.status for result in finished.results} == {"indexed"}
    assert_library_consistent(orchestrator)


async def test_hundreds_of_tiny_files_in_one_drop_all_end_indexed(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    await assert_many_tiny_files_all_end_indexed(orchestrator, tmp_path / "many", 150)


@pytest.mark.skipif(
    not os.environ.get("ALLMA_SLOW_TESTS"), reason="slow (about 2 min): set ALLMA_SLOW_TESTS=1"
)
async def test_two_thousand_tiny_files_in_one_drop_all_end_indexed(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    await assert_many_tiny_files_all_end_indexed(orchestrator, tmp_path / "many", 2000)


# --- parsers that hang or crash ------------------------------------------------------


@pytest.fixture
async def plugin_orchestrator(
    config: AppConfig, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Orchestrator]:
    """An orchestrator whose parse worker also has the misbehaving test parsers."""
    monkeypatch.setenv(PARSER_PLUGINS_ENV, parser_plugins.__name__)
    registry = default_registry()  # the app side must know the extensions too
    parser_plugins.register(registry)
    monkeypatch.setattr(service_module, "DEFAULT_REGISTRY", registry)
    engine = Orchestrator(config)
    engine.parse_worker.timeout = 3.0
    await engine.open()
    try:
        yield engine
    finally:
        await engine.close()


async def test_parser_that_never_returns_is_stopped_at_the_time_limit(
    plugin_orchestrator: Orchestrator, tmp_path: Path
) -> None:
    stuck = tmp_path / f"stuck{parser_plugins.HANG_EXTENSION}"
    stuck.write_text("anything")

    await assert_fails_alone(plugin_orchestrator, stuck, "took longer than 3 s to read")


async def test_parser_that_kills_its_process_fails_only_that_file(
    plugin_orchestrator: Orchestrator, tmp_path: Path
) -> None:
    bomb = tmp_path / f"bomb{parser_plugins.CRASH_EXTENSION}"
    bomb.write_text("anything")

    await assert_fails_alone(plugin_orchestrator, bomb, "the reader crashed on this file")


async def test_failed_reader_is_replaced_for_the_next_files(
    plugin_orchestrator: Orchestrator, tmp_path: Path
) -> None:
    files = [tmp_path / f"x{parser_plugins.CRASH_EXTENSION}", good_file(tmp_path / "a")]
    files += [tmp_path / f"y{parser_plugins.HANG_EXTENSION}", good_file(tmp_path / "b", "z.txt")]
    for path in files:
        if not path.exists():
            path.write_text("anything")

    results = await ingest(plugin_orchestrator, files)

    assert [results[path.name].status for path in files] == [
        "failed",
        "indexed",
        "failed",
        "indexed",
    ]
    assert_library_consistent(plugin_orchestrator)


# --- big files: memory stays bounded ------------------------------------------------


def ingest_in_subprocess(path: Path, data_dir: Path, server: OllamaTestServer) -> dict[str, Any]:
    """Ingest ``path`` in a fresh process; its outcome and peak memory (see the driver)."""
    command = [sys.executable, "-m", "tests.support.ingest_memory_driver", str(path), str(data_dir)]
    completed = subprocess.run(
        [*command, server.url], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    report: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return report


def test_big_text_file_is_indexed_in_bounded_memory(
    tmp_path: Path, ollama_server: OllamaTestServer
) -> None:
    size = 1 << 20
    big = write_paragraphs(tmp_path / "big.txt", size)

    report = ingest_in_subprocess(big, tmp_path / "data", ollama_server)

    assert report["status"] == "indexed"
    # The chunks are held once in the app (plus the vector store's index), never the
    # whole text twice; the worker holds the text and its chunks while it cuts them.
    assert report["app_growth_bytes"] < 40 * size
    assert report["worker_peak_bytes"] < 150 * 2**20 + 8 * size


@pytest.mark.skipif(
    not os.environ.get("ALLMA_SLOW_TESTS"), reason="slow (minutes): set ALLMA_SLOW_TESTS=1"
)
def test_200_megabyte_text_file_is_indexed_in_bounded_memory(
    tmp_path: Path, ollama_server: OllamaTestServer
) -> None:
    size = 200 << 20
    big = write_paragraphs(tmp_path / "big.txt", size)

    report = ingest_in_subprocess(big, tmp_path / "data", ollama_server)

    assert report["status"] == "indexed"
    assert report["worker_peak_bytes"] < 150 * 2**20 + 8 * size
