"""Moving a library between vector stores: copied without embedding, resumable, verified."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from click.testing import CliRunner

from allma_desktop.cli import cli
from allma_desktop.services.documents.model import Chunk
from allma_desktop.services.upkeep.migrate_store import MigrationFailed, migrate_library
from allma_desktop.services.vectorstore.chroma import ChromaVectorStore

if TYPE_CHECKING:
    from allma_desktop.services.vectorstore.faiss_store import FaissVectorStore

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("faiss") is None, reason="faiss-cpu is not installed"
)

DIMENSION = 8


def chunks_and_vectors(document_id: str, count: int, seed: int) -> tuple[list[Chunk], np.ndarray]:
    chunks = [
        Chunk(
            chunk_id=f"{document_id}-{index}",
            document_id=document_id,
            index=index,
            text=f"{document_id} {index}",
            path=f"/docs/{document_id}.pdf",
            title=document_id,
            page=index + 1,
            heading_path=("A", "B"),
            char_start=index,
            char_end=index + 5,
            file_type="pdf",
        )
        for index in range(count)
    ]
    vectors = np.random.default_rng(seed).normal(size=(count, DIMENSION)).astype(np.float32)
    return chunks, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def chroma(tmp_path: Path) -> Iterator[ChromaVectorStore]:
    store = ChromaVectorStore(tmp_path / "data" / "vectors")
    for key, document_id, count, seed in (("c_a", "one", 30, 1), ("c_b", "two", 12, 2)):
        chunks, vectors = chunks_and_vectors(document_id, count, seed)
        store.add(key, chunks, vectors.tolist())
    store.ensure_collection("c_empty")
    yield store
    store.close()


def faiss_store(tmp_path: Path) -> FaissVectorStore:
    from allma_desktop.services.vectorstore.faiss_store import FaissVectorStore

    return FaissVectorStore(tmp_path / "data" / "vectors-faiss")


def test_migration_copies_every_collection_with_its_chunks_and_vectors(
    chroma: ChromaVectorStore, tmp_path: Path
) -> None:
    target = faiss_store(tmp_path)

    report = migrate_library(chroma, target, batch_size=7)

    assert [(c.key, c.target_count) for c in report.collections] == [
        ("c_a", 30),
        ("c_b", 12),
        ("c_empty", 0),
    ]
    assert report.collections[0].queries_compared > 0
    probe = chunks_and_vectors("one", 30, 1)[1][17]
    assert target.query("c_a", probe.tolist(), k=1)[0] == chroma.query("c_a", probe.tolist(), 1)[0]
    target.close()


def test_migration_resumes_and_drops_chunks_the_source_no_longer_has(
    chroma: ChromaVectorStore, tmp_path: Path
) -> None:
    target = faiss_store(tmp_path)
    chunks, vectors = chunks_and_vectors("one", 30, 1)
    target.add("c_a", chunks[:10], vectors[:10].tolist())  # an earlier run stopped here
    gone, gone_vectors = chunks_and_vectors("deleted-since", 2, 9)
    target.add("c_a", gone, gone_vectors.tolist())

    report = migrate_library(chroma, target)

    assert report.collections[0].already_there == 10
    assert target.chunk_ids("c_a") == chroma.chunk_ids("c_a")
    target.close()


def test_a_copy_that_loses_chunks_fails_verification(
    chroma: ChromaVectorStore, tmp_path: Path
) -> None:
    target = faiss_store(tmp_path)
    real_add = target.add

    def lossy_add(key: str, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        real_add(key, chunks[1:], vectors[1:])

    target.add = lossy_add  # type: ignore[method-assign,assignment]

    with pytest.raises(MigrationFailed, match="Run the migration again"):
        migrate_library(chroma, target)
    target.close()


def test_store_migrate_command_copies_then_switches_the_setting(
    chroma: ChromaVectorStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chroma.close()
    monkeypatch.setenv("ALLMA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ALLMA_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("VECTOR_STORE", raising=False)
    monkeypatch.delenv("VECTOR_STORE_PATH", raising=False)
    monkeypatch.delenv("CHROMA_PERSIST_DIRECTORY", raising=False)

    result = CliRunner().invoke(cli, ["store", "migrate", "--to", "faiss", "--json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["chunks"] == 42
    settings = json.loads((tmp_path / "config" / "settings.json").read_text())
    assert settings["vector_store"] == "faiss"
    target = faiss_store(tmp_path)
    assert target.count("c_b") == 12
    target.close()


def test_store_migrate_to_the_store_in_use_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLMA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ALLMA_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("VECTOR_STORE", "chroma")

    result = CliRunner().invoke(cli, ["store", "migrate", "--to", "chroma"])

    assert result.exit_code == 1
    assert "already uses" in result.output
    assert not (tmp_path / "config" / "settings.json").exists()
