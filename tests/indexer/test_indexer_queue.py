"""The indexer's queue: one stream of files into one ingest run, durable, pausable."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from allma_desktop.config import AppConfig
from allma_desktop.events import FileFinished
from allma_desktop.indexer import BatchFinished, FileEvent, IndexerEvent, QueueChanged
from allma_desktop.indexer.state import IndexerState
from allma_desktop.orchestrator import Orchestrator
from tests.support.ollama_server import OllamaTestServer

WAIT = 60.0


def write_notes(folder: Path, count: int, words: int = 40) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        path = folder / f"note-{n:03d}.txt"
        body = " ".join(f"topic{n} word{i}" for i in range(words))
        path.write_text(f"Note {n} is about the subject number {n}. {body}\n")
        paths.append(path)
    return paths


class Recorder:
    def __init__(self) -> None:
        self.events: list[IndexerEvent] = []

    def __call__(self, event: IndexerEvent) -> None:
        self.events.append(event)

    def finished(self) -> list[FileFinished]:
        return [
            e.event
            for e in self.events
            if isinstance(e, FileEvent) and isinstance(e.event, FileFinished)
        ]


async def test_files_added_one_at_a_time_are_embedded_in_batches_across_files(
    orchestrator: Orchestrator, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    files = write_notes(tmp_path / "notes", 12)
    indexer = orchestrator.indexer
    recorder = Recorder()
    indexer.subscribe(recorder)
    await indexer.start(watch=False)
    ollama_server.clear_requests()
    indexer.pause()  # the files arrive one by one, as drops do, before the queue runs
    for path in files:
        await indexer.add_paths([path])
    indexer.resume()
    await asyncio.wait_for(indexer.wait_idle(), WAIT)

    finished = recorder.finished()
    assert sorted(Path(f.path).name for f in finished) == sorted(p.name for p in files)
    assert {f.status for f in finished} == {"indexed"}
    chunks = sum(f.chunks for f in finished)
    embeds = ollama_server.requests_to("/api/embed")
    batch = orchestrator.config.embed_batch_size
    # One run for the whole queue: requests are full batches, not one (or more) per file.
    assert len(embeds) == -(-chunks // batch) < len(files)
    assert any(isinstance(e, BatchFinished) and e.indexed == 12 for e in recorder.events)
    assert await asyncio.to_thread(IndexerState(orchestrator.library.db).queued) == []


async def test_the_queue_is_kept_in_the_library_and_resumes_at_the_next_start(
    config: AppConfig, tmp_path: Path
) -> None:
    files = write_notes(tmp_path / "notes", 5)
    first = Orchestrator(config)
    await first.open()
    await first.indexer.start(watch=False)
    first.indexer.pause()
    await first.indexer.add_paths([tmp_path / "notes"])
    assert len(first.indexer.queued()) == 5
    await first.close()  # as if the app quit (or died) with the queue full

    second = Orchestrator(config)
    await second.open()
    try:
        recorder = Recorder()
        second.indexer.subscribe(recorder)
        await second.indexer.start(watch=False)
        await asyncio.wait_for(second.indexer.wait_idle(), WAIT)
        assert sorted(Path(f.path).name for f in recorder.finished()) == [p.name for p in files]
        ready = second.list_documents()
        assert {d.status for d in ready} == {"ready"} and len(ready) == 5
    finally:
        await second.close()


async def test_a_second_indexer_on_the_same_library_is_refused_with_a_clear_message(
    orchestrator: Orchestrator, config: AppConfig
) -> None:
    await orchestrator.indexer.start(watch=False)
    other = Orchestrator(config)
    await other.open()
    try:
        with pytest.raises(Exception) as raised:
            await other.indexer.start(watch=False)
        assert "already indexing this library" in str(raised.value)
    finally:
        await other.close()


async def test_ollama_going_away_pauses_the_queue_with_its_reason_and_keeps_the_files(
    orchestrator: Orchestrator, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    files = write_notes(tmp_path / "notes", 4)
    indexer = orchestrator.indexer
    recorder = Recorder()
    indexer.subscribe(recorder)
    await indexer.start(watch=False)
    ollama_server.faults.missing_models.add("nomic-embed-text:latest")
    await indexer.add_paths(files)
    await asyncio.wait_for(indexer.wait_idle(), WAIT)

    assert indexer.paused and indexer.pause_reason is not None
    states = [e for e in recorder.events if isinstance(e, QueueChanged)]
    assert states[-1].paused and states[-1].pause_reason is not None
    assert len(indexer.queued()) == 4  # nothing lost: they wait for Resume

    ollama_server.faults.missing_models.clear()
    indexer.resume()
    await asyncio.wait_for(indexer.wait_idle(), WAIT)
    assert not indexer.paused and indexer.queued() == []
    assert {d.status for d in orchestrator.list_documents()} == {"ready"}


async def test_an_unexpected_error_pauses_the_queue_with_its_name_and_resume_goes_on(
    orchestrator: Orchestrator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug (here SQLite refusing a write, as a failing SQL function makes it) used to end
    the queue's task: the files stayed queued and nothing said so until a restart."""
    files = write_notes(tmp_path / "notes", 4)
    indexer = orchestrator.indexer
    await indexer.start(watch=False)

    def broken_commit(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("user-defined function raised exception")

    monkeypatch.setattr(orchestrator.library, "commit_document", broken_commit)
    await indexer.add_paths(files)
    await asyncio.wait_for(indexer.wait_idle(), WAIT)

    assert indexer.paused and indexer.pause_reason is not None
    assert "OperationalError" in indexer.pause_reason.message
    assert len(indexer.queued()) == 4  # nothing lost
    monkeypatch.undo()
    indexer.resume()
    await asyncio.wait_for(indexer.wait_idle(), WAIT)
    assert not indexer.paused
    ready = [d for d in orchestrator.list_documents() if d.status == "ready"]
    assert sorted(Path(d.path).name for d in ready) == sorted(f.name for f in files)


async def test_cancel_empties_the_queue_and_reindex_forces_an_unchanged_file(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    files = write_notes(tmp_path / "notes", 3)
    indexer = orchestrator.indexer
    recorder = Recorder()
    indexer.subscribe(recorder)
    await indexer.start(watch=False)
    indexer.pause()
    await indexer.add_paths(files)
    await indexer.cancel()
    assert indexer.queued() == []
    indexer.resume()

    await indexer.add_paths(files[:1])
    await asyncio.wait_for(indexer.wait_idle(), WAIT)
    await indexer.add_paths(files[:1])
    await asyncio.wait_for(indexer.wait_idle(), WAIT)
    await indexer.add_paths(files[:1], force=True)
    await asyncio.wait_for(indexer.wait_idle(), WAIT)
    assert [f.status for f in recorder.finished()] == ["indexed", "unchanged", "indexed"]
