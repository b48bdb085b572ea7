"""FAISS's third kind of index: IVF cells for the largest collections (where an HNSW
graph would take an hour to build), and the choice between the kinds."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from allma_desktop.services.vectorstore.faiss_index import Thresholds
from tests.services.vectorstore.test_vectorstore_backends import KEY, chunks_and_vectors

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("faiss") is None, reason="faiss-cpu is not installed"
)


def test_each_size_gets_its_kind_of_index_and_shrinking_waits_for_half_the_boundary() -> None:
    thresholds = Thresholds(hnsw=100, ivf=400)

    assert [thresholds.kind_for(n) for n in (100, 101, 400, 401)] == [
        "exact",
        "hnsw",
        "hnsw",
        "ivf",
    ]
    assert thresholds.kind_for(300, current="ivf") == "ivf"
    assert thresholds.kind_for(200, current="ivf") == "hnsw"
    assert thresholds.kind_for(60, current="hnsw") == "hnsw"
    assert thresholds.kind_for(50, current="hnsw") == "exact"


def test_faiss_switches_to_ivf_cells_beyond_the_ivf_threshold_and_still_finds(
    tmp_path: Path,
) -> None:
    from allma_desktop.services.vectorstore.faiss_store import FaissVectorStore

    store = FaissVectorStore(tmp_path / "faiss", hnsw_threshold=50, ivf_threshold=150)
    chunks, vectors = chunks_and_vectors("big", 400, seed=1)
    store.add(KEY, chunks, vectors.tolist())
    store.wait_for_background_work()

    assert store.index_kind(KEY) == "ivf"
    assert store.query(KEY, vectors[321].tolist(), k=1)[0].chunk_id == "big-321"
    store.close()


def test_faiss_ivf_index_is_saved_and_filters_stay_exact_after_reopening(tmp_path: Path) -> None:
    from allma_desktop.services.vectorstore.faiss_store import FaissVectorStore

    many, many_vectors = chunks_and_vectors("many", 300, seed=2)
    few, few_vectors = chunks_and_vectors("few", 3, seed=3, file_type="text")
    first = FaissVectorStore(tmp_path / "faiss", hnsw_threshold=50, ivf_threshold=150)
    first.add(KEY, many + few, np.vstack([many_vectors, few_vectors]).tolist())
    first.close()

    reopened = FaissVectorStore(tmp_path / "faiss", hnsw_threshold=50, ivf_threshold=150)
    hits = reopened.query(KEY, many_vectors[0].tolist(), k=10, file_types=["text"])

    assert reopened.index_kind(KEY) == "ivf"
    assert sorted(hit.chunk_id for hit in hits) == ["few-0", "few-1", "few-2"]
    reopened.close()


def test_faiss_ivf_never_returns_deleted_chunks(tmp_path: Path) -> None:
    from allma_desktop.services.vectorstore.faiss_store import FaissVectorStore

    store = FaissVectorStore(tmp_path / "faiss", hnsw_threshold=50, ivf_threshold=150)
    chunks, vectors = chunks_and_vectors("doc", 300, seed=4)
    store.add(KEY, chunks, vectors.tolist())
    store.wait_for_background_work()

    store.delete_chunks(KEY, ["doc-7"])
    hits = store.query(KEY, vectors[7].tolist(), k=5)

    assert store.index_kind(KEY) == "ivf"
    assert "doc-7" not in {hit.chunk_id for hit in hits} and len(hits) == 5
    store.close()
