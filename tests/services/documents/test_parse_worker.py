"""The parse worker process: errors cross it intact, it starts late and is reused, and
files queued to it survive a file that hangs or crashes, or are dropped on cancel."""

from __future__ import annotations

import asyncio
import concurrent.futures
import pickle
from pathlib import Path

import pytest

from allma_desktop.errors import (
    BrokenFontEncoding,
    CorruptDocument,
    DocumentError,
    EncryptedDocument,
    NoTextLayer,
    ParserCrashed,
    ParseTimeout,
)
from allma_desktop.services.documents.parse_worker import (
    PARSER_PLUGINS_ENV,
    ParseResult,
    ParseWorker,
    pack_error,
    unpack_error,
)
from tests.support import parser_plugins
from tests.support.scans import write_mixed_pdf


@pytest.mark.parametrize(
    "error",
    [
        EncryptedDocument("/x/locked.pdf"),
        CorruptDocument("/x/bad.pdf", "no pages"),
        NoTextLayer("/x/scan.pdf"),
        BrokenFontEncoding("/x/garbled.pdf"),
        ParseTimeout("/x/slow.pdf", 120),
        ParserCrashed("/x/crash.pdf"),
    ],
)
def test_document_errors_survive_the_trip_between_processes(error: DocumentError) -> None:
    copy = unpack_error(pickle.loads(pickle.dumps(pack_error(error))))

    assert type(copy) is type(error)
    assert (copy.message, copy.hint, copy.reason, copy.path) == (
        error.message,
        error.hint,
        error.reason,
        error.path,
    )


async def test_worker_process_starts_on_the_first_file_and_is_reused(tmp_path: Path) -> None:
    worker = ParseWorker()
    assert not worker.process_ids  # nothing started yet
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("First note about the lamp.\n")
    second.write_text("Second note about the wick.\n")
    try:
        await worker.parse_and_chunk(first, chunk_size=500, chunk_overlap=50)
        process_ids = worker.process_ids
        metadata, chunks = await worker.parse_and_chunk(second, chunk_size=500, chunk_overlap=50)
        assert worker.process_ids == process_ids
    finally:
        await worker.close()

    assert metadata.file_type == "text"
    assert [chunk.text for chunk in chunks] == ["Second note about the wick."]


async def test_parser_error_in_the_worker_reaches_the_caller_as_itself(tmp_path: Path) -> None:
    worker = ParseWorker()
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    try:
        with pytest.raises(DocumentError, match="contains no text") as raised:
            await worker.parse_and_chunk(empty, chunk_size=500, chunk_overlap=50)
    finally:
        await worker.close()

    assert raised.value.reason == "empty"


# --- files queued ahead: a hung or crashing file, a cancel ----------------------------


@pytest.fixture
def read_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Workers started from here also have the misbehaving test parsers; ``.logged``
    files they read are listed in the returned file."""
    log = tmp_path / "read.log"
    log.touch()
    monkeypatch.setenv(PARSER_PLUGINS_ENV, parser_plugins.__name__)
    monkeypatch.setenv(parser_plugins.READ_LOG_ENV, str(log))
    return log


def write_files(folder: Path, *names: str) -> list[Path]:
    paths = [folder / name for name in names]
    for path in paths:
        path.write_text(f"A note kept in {path.stem} about the harbour lights.\n")
    return paths


async def results_of(
    futures: list[concurrent.futures.Future[ParseResult]],
) -> list[ParseResult | BaseException]:
    return await asyncio.gather(*map(asyncio.wrap_future, futures), return_exceptions=True)


async def test_files_queued_behind_a_hung_file_are_read_by_the_next_worker(
    read_log: Path, tmp_path: Path
) -> None:
    worker = ParseWorker(timeout=1.0)
    stuck, first, second = write_files(tmp_path, "stuck.hang", "a.logged", "b.logged")
    try:
        futures = [submit(worker, path) for path in (stuck, first, second)]
        results = await results_of(futures)
    finally:
        await worker.close()

    assert isinstance(results[0], ParseTimeout)
    assert [result[1][0].text for result in results[1:]] == [  # type: ignore[index]
        "A note kept in a about the harbour lights.",
        "A note kept in b about the harbour lights.",
    ]
    assert read_log.read_text().split() == ["a.logged", "b.logged"]


async def test_files_queued_behind_a_crashing_file_are_read_by_the_next_worker(
    read_log: Path, tmp_path: Path
) -> None:
    worker = ParseWorker()
    bomb, first, second = write_files(tmp_path, "bomb.crash", "a.logged", "b.logged")
    try:
        results = await results_of([submit(worker, path) for path in (bomb, first, second)])
    finally:
        await worker.close()

    assert isinstance(results[0], ParserCrashed)
    assert not any(isinstance(result, BaseException) for result in results[1:])
    assert read_log.read_text().split() == ["a.logged", "b.logged"]


async def test_cancelled_requests_are_never_read_and_the_next_file_gets_a_worker(
    read_log: Path, tmp_path: Path
) -> None:
    worker = ParseWorker(timeout=60.0)
    warm, stuck, dropped, also_dropped, later = write_files(
        tmp_path, "warm.logged", "stuck.hang", "a.logged", "b.logged", "c.logged"
    )
    try:
        await worker.parse_and_chunk(warm, chunk_size=500, chunk_overlap=0)
        futures = [submit(worker, path) for path in (stuck, dropped, also_dropped)]
        for future in futures:
            future.cancel()
        # Within the hung file's 60 s: the worker reading it was stopped, not waited for.
        _, chunks = await asyncio.wait_for(
            worker.parse_and_chunk(later, chunk_size=500, chunk_overlap=0), timeout=30
        )
    finally:
        await worker.close()

    assert chunks[0].text == "A note kept in c about the harbour lights."
    assert read_log.read_text().split() == ["warm.logged", "c.logged"]


async def test_closing_fails_files_still_queued(read_log: Path, tmp_path: Path) -> None:
    worker = ParseWorker(timeout=60.0)
    stuck, queued = write_files(tmp_path, "stuck.hang", "a.logged")
    futures = [submit(worker, path) for path in (stuck, queued)]

    await asyncio.wait_for(worker.close(), timeout=30)

    results = await results_of(futures)
    assert all(isinstance(result, RuntimeError) for result in results)
    assert read_log.read_text() == ""


def submit(worker: ParseWorker, path: Path) -> concurrent.futures.Future[ParseResult]:
    return worker.submit(path, chunk_size=500, chunk_overlap=0)


async def test_each_page_ocr_reads_is_reported_and_given_time_of_its_own(tmp_path: Path) -> None:
    # Three scanned pages take well over the file's half second to recognise; each page
    # OCR starts on adds to the limit, so the file is read whole, and the caller hears
    # of every such page (and of no page with a text layer).
    mixed = write_mixed_pdf(
        tmp_path / "mixed.pdf",
        [
            ("A typed page.", False),
            ("The first scanned page.", True),
            ("The second scanned page.", True),
            ("The third scanned page.", True),
        ],
    )
    pages: list[tuple[int, int]] = []
    worker = ParseWorker(timeout=0.5)
    try:
        _metadata, chunks = await worker.parse_and_chunk(
            mixed, chunk_size=500, chunk_overlap=50, on_page=lambda *page: pages.append(page)
        )
    finally:
        await worker.close()

    assert pages == [(2, 4), (3, 4), (4, 4)]
    assert [(chunk.page, chunk.ocr) for chunk in chunks] == [
        (1, False),
        (2, True),
        (3, True),
        (4, True),
    ]
