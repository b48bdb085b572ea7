"""Moving documents between collections and re-embedding a collection with another model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from allma_desktop.cancel import CancelToken
from allma_desktop.config import AppConfig
from allma_desktop.events import EmbedProgress, IngestFinished
from allma_desktop.orchestrator import Orchestrator
from tests.support.ollama_server import DEFAULT_MODELS, FakeModel, OllamaTestServer
from tests.support.sample_docs import PDF_ANSWER_PAGE, PDF_QUESTION, SampleLibrary

SMALL_EMBEDDER = FakeModel(
    "all-minilm:latest", "bert", ("embedding",), parameter_size="23M", embedding_length=384
)


async def collect(stream: AsyncIterator[Any]) -> list[Any]:
    return [event async for event in stream]


async def test_moved_document_is_found_in_its_new_collection_only(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    await collect(orchestrator.ingest([sample_library.pdf]))
    document = orchestrator.list_documents()[0]
    papers = orchestrator.create_collection("Papers")
    moved = await orchestrator.move_document(document.id, papers.id)
    assert moved.collection_id == papers.id
    assert await orchestrator.search(PDF_QUESTION) == []
    hits = await orchestrator.search(PDF_QUESTION, collection_id=papers.id)
    assert hits[0].page == PDF_ANSWER_PAGE
    default_key = orchestrator.collection(None).key
    assert orchestrator.store.count(default_key) == 0
    assert orchestrator.store.count(papers.key) == moved.chunk_count


async def test_moving_works_after_the_file_is_gone(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    await collect(orchestrator.ingest([sample_library.pdf]))
    document = orchestrator.list_documents()[0]
    Path(document.path).unlink()
    papers = orchestrator.create_collection("Papers")
    await orchestrator.move_document(document.id, papers.id)
    assert (await orchestrator.search(PDF_QUESTION, collection_id=papers.id))[0].page == 3


@pytest.fixture
def two_embedders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OllamaTestServer:
    server = OllamaTestServer(models=[*DEFAULT_MODELS, SMALL_EMBEDDER]).start()
    monkeypatch.setenv("OLLAMA_HOST", server.url)
    monkeypatch.setenv("ALLMA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ALLMA_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("ALLMA_LOG_DIR", str(tmp_path / "logs"))
    yield server  # type: ignore[misc]
    server.stop()


async def test_reembedding_switches_the_collection_to_the_new_model(
    two_embedders: OllamaTestServer, sample_library: SampleLibrary
) -> None:
    first = Orchestrator(AppConfig.from_env())
    await first.open()
    await collect(first.ingest([sample_library.folder]))
    await first.close()

    config = AppConfig.from_env().with_changes(ollama_embedding_model=SMALL_EMBEDDER.name)
    engine = Orchestrator(config)
    await engine.open()
    try:
        events = await collect(engine.reembed())
        finished = [e for e in events if isinstance(e, IngestFinished)][-1]
        assert finished.error is None and not finished.cancelled
        assert finished.count("indexed") == 4
        collection = engine.collection(None)
        assert collection.embedding_model == SMALL_EMBEDDER.name
        assert collection.embedding_dim == 384
        assert (await engine.search(PDF_QUESTION))[0].page == PDF_ANSWER_PAGE
        stores = {c.key for c in engine.store.list_collections()}
        assert collection.key in stores
        assert len(stores) == 1, "the old vectors are dropped after the swap"
        # New files now go in with the new model, with no dimension clash.
        extra = sample_library.folder / "extra.md"
        extra.write_text("# Kites\n\nA kite needs wind of at least ten knots.\n")
        results = [
            e for e in await collect(engine.ingest([extra])) if isinstance(e, IngestFinished)
        ]
        assert results[-1].results[0].status == "indexed"
    finally:
        await engine.close()


async def test_cancelled_reembedding_keeps_the_old_vectors(
    two_embedders: OllamaTestServer, sample_library: SampleLibrary
) -> None:
    first = Orchestrator(AppConfig.from_env())
    await first.open()
    await collect(first.ingest([sample_library.folder]))
    await first.close()

    config = AppConfig.from_env().with_changes(ollama_embedding_model=SMALL_EMBEDDER.name)
    engine = Orchestrator(config)
    await engine.open()
    try:
        cancel = CancelToken()
        async for event in engine.reembed(cancel=cancel):
            if isinstance(event, EmbedProgress):
                cancel.cancel()
        collection = engine.collection(None)
        assert collection.embedding_model == "nomic-embed-text:latest"
        assert {c.key for c in engine.store.list_collections()} == {collection.key}
        assert engine.store.count(collection.key) == collection.chunk_count
    finally:
        await engine.close()
