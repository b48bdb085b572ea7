"""The parse worker process: errors cross it intact, it starts late and is reused."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from allma_desktop.errors import (
    CorruptDocument,
    DocumentError,
    EncryptedDocument,
    NoTextLayer,
    ParserCrashed,
    ParseTimeout,
)
from allma_desktop.services.documents.parse_worker import ParseWorker, pack_error, unpack_error


@pytest.mark.parametrize(
    "error",
    [
        EncryptedDocument("/x/locked.pdf"),
        CorruptDocument("/x/bad.pdf", "no pages"),
        NoTextLayer("/x/scan.pdf"),
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
    assert not worker._idle  # nothing started yet
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("First note about the lamp.\n")
    second.write_text("Second note about the wick.\n")
    try:
        await worker.parse_and_chunk(first, chunk_size=500, chunk_overlap=50)
        process_id = worker._idle[0].process.pid
        metadata, chunks = await worker.parse_and_chunk(second, chunk_size=500, chunk_overlap=50)
        assert worker._idle[0].process.pid == process_id
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
