"""The ingest pipeline's stages: batches across files, merged store writes, event order,
and a cancel in the middle of overlapping files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from allma_desktop.cancel import CancelToken
from allma_desktop.events import (
    EmbedProgress,
    FileFinished,
    FileParsed,
    FileStarted,
    IngestFinished,
)
from allma_desktop.orchestrator import Orchestrator
from tests.invariants import assert_library_consistent
from tests.ollama_server import OllamaTestServer

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
