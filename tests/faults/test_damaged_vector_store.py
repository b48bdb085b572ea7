"""A damaged vector store: Chroma's HNSW ``index_metadata.pickle`` cut short (a full disk).

Search falls back to keywords and says what to do; ``doctor`` reports the damage;
``doctor --repair`` sets the damaged folder aside and rebuilds every vector from the
chunk texts in SQLite (the files are not read again), after which nothing is missing.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from allma_desktop.config import AppConfig
from allma_desktop.orchestrator import Orchestrator
from tests.support.damage import truncate

WORDS = (
    "apple river mountain lamp otter beaver heron garden tomato bicycle chain lighthouse "
    "harbor storm xenon lens keeper boat radio channel flour starter rye bread oven copper"
).split()


def _write_notes(folder: Path, files: int = 6, paragraphs: int = 220) -> None:
    rng = random.Random(7)
    folder.mkdir(parents=True)
    for number in range(files):
        text = "\n\n".join(
            " ".join(rng.choice(WORDS) for _ in range(25)) + f" marker{number}x{paragraph}."
            for paragraph in range(paragraphs)
        )
        (folder / f"notes{number}.txt").write_text(text, encoding="utf-8")


@pytest.fixture
def small_chunks(config: AppConfig) -> AppConfig:
    # Small chunks: past Chroma's 1,000-vector threshold, where it writes its HNSW files.
    return config.with_changes(chunk_size=200, chunk_overlap=0)


async def test_a_truncated_hnsw_file_is_rebuilt_from_the_stored_texts(
    small_chunks: AppConfig, tmp_path: Path
) -> None:
    _write_notes(tmp_path / "notes")
    engine = Orchestrator(small_chunks)
    await engine.open()
    try:
        async for _ in engine.ingest([tmp_path / "notes"]):
            pass
        documents = engine.list_documents()
        expected = {d.id: engine.library.document_chunk_ids(d.id) for d in documents}
        assert sum(len(ids) for ids in expected.values()) > 1_100
    finally:
        await engine.close()
    (pickle,) = small_chunks.vectors_path.glob("*/index_metadata.pickle")
    truncate(pickle)

    engine = Orchestrator(small_chunks)
    await engine.open()  # opening never touches the damaged index
    try:
        found = await engine.search_results("otter heron marker3x17")
        assert found.sources  # from the keyword index
        assert found.notice is not None and "doctor --repair" in found.notice

        report = await engine.doctor()
        assert [p.kind for p in report.remaining] == ["vector_store_damaged"]
        assert str(small_chunks.vectors_path) in report.remaining[0].description

        progress: list[tuple[int, int]] = []
        repaired = await engine.doctor(
            repair=True, on_progress=lambda done, total, _: progress.append((done, total))
        )
        assert repaired.ok, repaired.as_dict()
        assert progress[-1] == (len(documents), len(documents))
        key = engine.collection(None).key
        for document_id, chunk_ids in expected.items():
            assert engine.store.chunk_ids(key, document_id) == chunk_ids  # nothing lost
        assert (await engine.doctor()).ok
        again = await engine.search_results("otter heron marker3x17")
        assert again.notice is None and again.sources  # vector search is back
    finally:
        await engine.close()
    aside = list(small_chunks.vectors_path.parent.glob("vectors.damaged-*"))
    assert len(aside) == 1  # the damaged folder is kept, not deleted


async def test_repair_without_ollama_keeps_the_texts_and_says_to_run_it_again(
    config: AppConfig, orchestrator: Orchestrator, tmp_path: Path
) -> None:
    notes = tmp_path / "few"
    _write_notes(notes, files=2, paragraphs=3)
    async for _ in orchestrator.ingest([notes]):
        pass
    key = orchestrator.collection(None).key
    orchestrator.store.delete_collection(key)  # every vector gone, the texts kept
    await orchestrator.close()

    offline = Orchestrator(config.with_changes(ollama_host="http://127.0.0.1:9"))
    await offline.open()
    try:
        report = await offline.doctor(repair=True)
        (left,) = report.remaining
        assert left.kind == "missing_vectors"
        assert "Ollama is not reachable" in left.description
        assert "doctor --repair" in left.description
        assert {d.status for d in offline.list_documents()} == {"ready"}  # not marked failed
    finally:
        await offline.close()
