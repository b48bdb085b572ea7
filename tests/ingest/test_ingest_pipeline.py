"""The ingest pipeline's stages: batches across files, merged store writes, event order,
a cancel in the middle of overlapping files, and files queued to the parse worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from allma_desktop.cancel import CancelToken
from allma_desktop.config import AppConfig
from allma_desktop.errors import DiskFull
from allma_desktop.events import (
    EmbedProgress,
    FileFinished,
    FileParsed,
    FileStarted,
    IngestFinished,
)
from allma_desktop.orchestrator import Orchestrator
from allma_desktop.services.documents import service as service_module
from allma_desktop.services.documents.parse_worker import PARSER_PLUGINS_ENV
from allma_desktop.services.documents.registry import default_registry
from tests.support import parser_plugins
from tests.support.invariants import assert_library_consistent
from tests.support.ollama_server import OllamaTestServer

FILES = 12


def write_notes(folder: Path, count: int = FILES) -> list[Path]:
    """Small Markdown files of two or three chunks each (1,000-character chunks)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        paragraphs = [
            f"Note {n}, paragraph {p}: the ferry to island {n} leaves at {p + 6} o'clock "
            f"from pier {n}-{p}, and the harbour master checks tickets number {n * 100 + p}."
            for p in range(12 + n % 3 * 4)
        ]
        path = folder / f"note-{n:02d}.md"
        path.write_text(f"# Note {n}\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


async def collect(orchestrator: Orchestrator, paths: Sequence[Path], **kwargs: Any) -> list[Any]:
    return [event async for event in orchestrator.ingest(list(paths), **kwargs)]


async def test_small_files_share_embedding_requests_across_file_boundaries(
    orchestrator: Orchestrator, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    write_notes(tmp_path / "notes")
    events = await collect(orchestrator, [tmp_path / "notes"])
    finished = [e for e in events if isinstance(e, IngestFinished)][-1]
    chunks = sum(result.chunks for result in finished.results)
    assert finished.count("indexed") == FILES
    requests = [r for r in ollama_server.requests if r.path == "/api/embed"]
    assert len(requests) == -(-chunks // orchestrator.config.embed_batch_size)


async def test_small_files_share_vector_store_writes(
    orchestrator: Orchestrator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_notes(tmp_path / "notes")
    store = orchestrator.store
    writes: list[int] = []
    add = store.add

    def counting_add(key: str, chunks: Sequence[Any], vectors: Sequence[Any]) -> None:
        writes.append(len(chunks))
        add(key, chunks, vectors)

    monkeypatch.setattr(store, "add", counting_add)
    events = await collect(orchestrator, [tmp_path / "notes"])
    finished = [e for e in events if isinstance(e, IngestFinished)][-1]
    assert finished.count("indexed") == FILES
    assert sum(writes) == sum(result.chunks for result in finished.results)
    assert len(writes) < FILES
    assert_library_consistent(orchestrator)


async def test_each_file_reports_started_parsed_embedded_finished_in_that_order(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    paths = write_notes(tmp_path / "notes")
    events = await collect(orchestrator, [tmp_path / "notes"])
    order = {FileStarted: 0, FileParsed: 1, EmbedProgress: 2, FileFinished: 3}
    for path in paths:
        kinds = [order[type(e)] for e in events if type(e) in order and e.path == str(path)]
        assert kinds[0] == 0 and kinds[1] == 1 and kinds[-1] == 3
        assert kinds == sorted(kinds), f"{path.name}: {kinds}"
    finished_paths = [e.path for e in events if isinstance(e, FileFinished)]
    assert finished_paths == [str(path) for path in paths]


async def test_cancel_while_files_overlap_leaves_no_half_document(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    write_notes(tmp_path / "notes")
    cancel = CancelToken()
    events = []
    async for event in orchestrator.ingest([tmp_path / "notes"], cancel=cancel):
        events.append(event)
        if isinstance(event, EmbedProgress) and event.path.endswith("note-01.md"):
            cancel.cancel()
    finished = [e for e in events if isinstance(e, IngestFinished)][-1]
    started = {e.path for e in events if isinstance(e, FileStarted)}
    assert finished.cancelled
    assert {result.path for result in finished.results} == started
    assert finished.count("indexed") < FILES
    assert_library_consistent(orchestrator)


async def assert_put_in_order_at_the_next_start(
    orchestrator: Orchestrator, config: AppConfig
) -> None:
    """Close, open again (the start-up repair marks what was left half-way interrupted)
    and check the library is consistent."""
    await orchestrator.close()
    reopened = Orchestrator(config)
    await reopened.open()
    try:
        assert_library_consistent(reopened)
    finally:
        await reopened.close()


async def test_a_file_that_cannot_even_be_marked_failed_does_not_hide_the_run_s_end(
    config: AppConfig, orchestrator: Orchestrator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a full disk, marking the files in flight failed fails too: the run still ends
    with its own outcome, and the next start puts those documents in order."""
    write_notes(tmp_path / "notes")

    def disk_full(document_id: str, error: str) -> None:
        raise DiskFull(config.data_dir)

    monkeypatch.setattr(orchestrator.library, "mark_failed", disk_full)
    cancel = CancelToken()
    events = []
    async for event in orchestrator.ingest([tmp_path / "notes"], cancel=cancel):
        events.append(event)
        if isinstance(event, EmbedProgress) and event.path.endswith("note-01.md"):
            cancel.cancel()

    finished = events[-1]
    assert isinstance(finished, IngestFinished) and finished.cancelled
    monkeypatch.undo()
    await assert_put_in_order_at_the_next_start(orchestrator, config)


async def test_a_full_disk_at_commit_that_also_stops_marking_the_file_failed_ends_the_run(
    config: AppConfig, orchestrator: Orchestrator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills as a file is committed, and marking it failed fails the same way:
    the run ends with DiskFull on its IngestFinished, not an exception out of ingest."""
    write_notes(tmp_path / "notes")

    def disk_full(*_args: object, **_kwargs: object) -> None:
        raise DiskFull(config.data_dir)

    monkeypatch.setattr(orchestrator.library, "commit_document", disk_full)
    monkeypatch.setattr(orchestrator.library, "mark_failed", disk_full)
    events = [event async for event in orchestrator.ingest([tmp_path / "notes"])]

    finished = events[-1]
    assert isinstance(finished, IngestFinished)
    assert isinstance(finished.error, DiskFull) and finished.error.hint
    assert finished.count("indexed") == 0
    monkeypatch.undo()
    await assert_put_in_order_at_the_next_start(orchestrator, config)


# --- files queued to the parse worker ahead of the one it reads ----------------------


@pytest.fixture
async def plugin_orchestrator(
    config: AppConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Orchestrator]:
    """An orchestrator whose parse worker also has the test parsers (``.hang``, ``.logged``)."""
    monkeypatch.setenv(PARSER_PLUGINS_ENV, parser_plugins.__name__)
    monkeypatch.setenv(parser_plugins.READ_LOG_ENV, str(tmp_path / "read.log"))
    (tmp_path / "read.log").touch()
    registry = default_registry()  # the app side must know the extensions too
    parser_plugins.register(registry)
    monkeypatch.setattr(service_module, "DEFAULT_REGISTRY", registry)
    engine = Orchestrator(config)
    await engine.open()
    try:
        yield engine
    finally:
        await engine.close()


async def test_files_queued_behind_a_hung_file_are_still_indexed(
    plugin_orchestrator: Orchestrator, tmp_path: Path
) -> None:
    plugin_orchestrator.parse_worker.timeout = 2.0
    stuck = tmp_path / f"stuck{parser_plugins.HANG_EXTENSION}"
    stuck.write_text("anything")
    notes = write_notes(tmp_path / "notes", 3)

    events = await collect(plugin_orchestrator, [stuck, *notes])

    results = {e.path: e for e in events if isinstance(e, FileFinished)}
    assert results[str(stuck)].status == "failed"
    assert "took longer than 2 s" in results[str(stuck)].reason
    assert [results[str(path)].status for path in notes] == ["indexed"] * 3
    assert_library_consistent(plugin_orchestrator)


async def test_cancel_drops_the_files_queued_to_the_parse_worker(
    plugin_orchestrator: Orchestrator, tmp_path: Path
) -> None:
    plugin_orchestrator.parse_worker.timeout = 60.0
    stuck = tmp_path / f"stuck{parser_plugins.HANG_EXTENSION}"
    queued = [tmp_path / f"{name}{parser_plugins.LOGGED_EXTENSION}" for name in "ab"]
    for path in (stuck, *queued):
        path.write_text("The harbour master logs the tide.\n")
    cancel = CancelToken()
    events = []

    async def consume() -> None:
        async for event in plugin_orchestrator.ingest([stuck, *queued], cancel=cancel):
            events.append(event)
            if isinstance(event, FileStarted):
                cancel.cancel()

    await asyncio.wait_for(consume(), timeout=30)  # well within the hung file's 60 s

    finished = [e for e in events if isinstance(e, IngestFinished)][-1]
    assert finished.cancelled
    assert finished.count("indexed") == 0
    assert (tmp_path / "read.log").read_text() == ""
    assert_library_consistent(plugin_orchestrator)
