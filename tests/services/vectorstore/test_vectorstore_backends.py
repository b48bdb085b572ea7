"""What is particular to each backend: picking one, FAISS's indexes and crash safety,
and the clear errors of a Chroma server that is not there."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from allma_desktop.config import AppConfig
from allma_desktop.errors import AllmaError, StoreNotWritable
from allma_desktop.services.documents.model import Chunk
from allma_desktop.services.vectorstore import backends
from allma_desktop.services.vectorstore.backends import store_folder
from allma_desktop.services.vectorstore.chroma import ChromaVectorStore
from allma_desktop.services.vectorstore.chroma_http import ChromaHttpVectorStore
from allma_desktop.services.vectorstore.factory import create_vector_store

needs_faiss = pytest.mark.skipif(
    importlib.util.find_spec("faiss") is None, reason="faiss-cpu is not installed"
)
needs_qdrant = pytest.mark.skipif(
    importlib.util.find_spec("qdrant_client") is None, reason="qdrant-client is not installed"
)

KEY = "c_test"
DIMENSION = 8


def chunks_and_vectors(
    document_id: str, count: int, seed: int, file_type: str = "pdf"
) -> tuple[list[Chunk], np.ndarray]:
    chunks = [
        Chunk(
            chunk_id=f"{document_id}-{index}",
            document_id=document_id,
            index=index,
            text=f"{document_id} {index}",
            path=f"/docs/{document_id}",
            title=document_id,
            page=None,
            heading_path=(),
            char_start=0,
            char_end=5,
            file_type=file_type,
        )
        for index in range(count)
    ]
    vectors = np.random.default_rng(seed).normal(size=(count, DIMENSION)).astype(np.float32)
    return chunks, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def config_for(tmp_path: Path, **changes: object) -> AppConfig:
    return AppConfig(data_dir=tmp_path).with_changes(**changes)


# --- the factory ----------------------------------------------------------------


def test_factory_gives_embedded_chroma_in_the_vectors_folder_by_default(tmp_path: Path) -> None:
    store = create_vector_store(config_for(tmp_path))

    assert isinstance(store, ChromaVectorStore)
    assert store.path == tmp_path / "vectors"


def test_factory_gives_a_chroma_server_client_for_chroma_http(tmp_path: Path) -> None:
    config = config_for(tmp_path, vector_store="chroma-http", chroma_host="db", chroma_port=9000)

    store = create_vector_store(config)

    assert isinstance(store, ChromaHttpVectorStore)
    assert store.url == "http://db:9000"


@needs_faiss
def test_factory_puts_faiss_beside_the_chroma_folder(tmp_path: Path) -> None:
    from allma_desktop.services.vectorstore.faiss_store import FaissVectorStore

    store = create_vector_store(config_for(tmp_path, vector_store="faiss"))

    assert isinstance(store, FaissVectorStore)
    assert store.path == tmp_path / "vectors-faiss" == store_folder(config_for(tmp_path), "faiss")


@needs_qdrant
def test_factory_gives_local_qdrant_without_a_url_and_a_server_client_with_one(
    tmp_path: Path,
) -> None:
    from allma_desktop.services.vectorstore.qdrant_store import QdrantVectorStore

    local = create_vector_store(config_for(tmp_path, vector_store="qdrant"))
    remote = create_vector_store(
        config_for(tmp_path, vector_store="qdrant", qdrant_url="http://q.lan:6333")
    )

    assert isinstance(local, QdrantVectorStore) and isinstance(remote, QdrantVectorStore)
    assert (local.location, remote.location) == (
        str(tmp_path / "vectors-qdrant"),
        "http://q.lan:6333",
    )


def test_factory_explains_how_to_install_a_missing_backend_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(backends._PACKAGE_FOR_BACKEND, "faiss", ("no_such_module_x", "faiss-cpu"))

    with pytest.raises(AllmaError, match="faiss-cpu") as raised:
        create_vector_store(config_for(tmp_path, vector_store="faiss"))
    assert "allma-desktop[faiss]" in raised.value.hint


# --- Chroma server ----------------------------------------------------------------


def _unused_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_a_chroma_server_that_is_down_gets_a_message_saying_what_to_check() -> None:
    store = ChromaHttpVectorStore("127.0.0.1", _unused_port())

    with pytest.raises(AllmaError, match="not reachable") as raised:
        store.count(KEY)
    assert "CHROMA_HOST" in raised.value.hint and "CHROMA_PORT" in raised.value.hint


def test_a_refused_chroma_token_gets_a_message_about_the_token() -> None:
    store = ChromaHttpVectorStore("127.0.0.1", 1, token="t")

    error = store._translate(RuntimeError("HTTP 401 Unauthorized"), "list collections")

    assert "refused" in error.message and "CHROMA_TOKEN" in error.hint


# --- FAISS ------------------------------------------------------------------------


@needs_faiss
def test_faiss_switches_to_an_hnsw_index_beyond_the_threshold_and_still_finds(
    tmp_path: Path,
) -> None:
    from allma_desktop.services.vectorstore.faiss_store import FaissVectorStore

    store = FaissVectorStore(tmp_path / "faiss", hnsw_threshold=100)
    chunks, vectors = chunks_and_vectors("big", 150, seed=1)
    store.add(KEY, chunks[:60], vectors[:60].tolist())
    assert not store.is_approximate(KEY)

    store.add(KEY, chunks[60:], vectors[60:].tolist())
    store.wait_for_background_work()

    assert store.is_approximate(KEY)
    assert store.query(KEY, vectors[120].tolist(), k=1)[0].chunk_id == "big-120"
    store.close()


@needs_faiss
def test_faiss_hnsw_never_returns_deleted_chunks(tmp_path: Path) -> None:
    from allma_desktop.services.vectorstore.faiss_store import FaissVectorStore

    store = FaissVectorStore(tmp_path / "faiss", hnsw_threshold=50)
    chunks, vectors = chunks_and_vectors("doc", 80, seed=2)
    store.add(KEY, chunks, vectors.tolist())
    store.wait_for_background_work()

    store.delete_chunks(KEY, ["doc-7"])
    hits = store.query(KEY, vectors[7].tolist(), k=5)

    assert store.is_approximate(KEY)
    assert "doc-7" not in {hit.chunk_id for hit in hits} and len(hits) == 5
    store.close()


@needs_faiss
def test_faiss_index_older_than_the_stored_chunks_is_rebuilt_on_open(tmp_path: Path) -> None:
    """A crash after a write but before ``close`` leaves an index file that lacks the
    write; the store notices (generation) and rebuilds from SQLite."""
    from allma_desktop.services.vectorstore.faiss_store import FaissVectorStore

    first = FaissVectorStore(tmp_path / "faiss")
    chunks, vectors = chunks_and_vectors("doc", 10, seed=3)
    first.add(KEY, chunks[:5], vectors[:5].tolist())
    first.close()  # the index file now holds chunks 0-4
    crashed = FaissVectorStore(tmp_path / "faiss")
    crashed.add(KEY, chunks[5:], vectors[5:].tolist())
    crashed.delete_chunks(KEY, ["doc-0"])  # and the process dies: no close()

    reopened = FaissVectorStore(tmp_path / "faiss")

    assert reopened.query(KEY, vectors[8].tolist(), k=1)[0].chunk_id == "doc-8"
    assert "doc-0" not in {hit.chunk_id for hit in reopened.query(KEY, vectors[0].tolist(), k=10)}
    reopened.close()


@needs_faiss
def test_faiss_half_written_index_file_is_never_read(tmp_path: Path) -> None:
    from allma_desktop.services.vectorstore.faiss_store import FaissVectorStore

    store = FaissVectorStore(tmp_path / "faiss")
    chunks, vectors = chunks_and_vectors("doc", 4, seed=4)
    store.add(KEY, chunks, vectors.tolist())
    store.close()
    index_file = tmp_path / "faiss" / f"{KEY}.faiss"
    (tmp_path / "faiss" / f"{KEY}.faiss.tmp").write_bytes(b"half an index")  # a crash mid-write

    assert index_file.exists()
    assert store.query(KEY, vectors[3].tolist(), k=1)[0].chunk_id == "doc-3"
    store.close()


@needs_faiss
def test_faiss_corrupt_index_file_is_rebuilt_from_sqlite(tmp_path: Path) -> None:
    from allma_desktop.services.vectorstore.faiss_store import FaissVectorStore

    store = FaissVectorStore(tmp_path / "faiss")
    chunks, vectors = chunks_and_vectors("doc", 4, seed=5)
    store.add(KEY, chunks, vectors.tolist())
    store.close()
    (tmp_path / "faiss" / f"{KEY}.faiss").write_bytes(b"garbage")

    assert store.query(KEY, vectors[2].tolist(), k=1)[0].chunk_id == "doc-2"
    store.close()


@needs_faiss
def test_faiss_filters_stay_exact_on_an_hnsw_index(tmp_path: Path) -> None:
    from allma_desktop.services.vectorstore.faiss_store import FaissVectorStore

    store = FaissVectorStore(tmp_path / "faiss", hnsw_threshold=50)
    many, many_vectors = chunks_and_vectors("many", 100, seed=6)
    few, few_vectors = chunks_and_vectors("few", 3, seed=7, file_type="text")
    store.add(KEY, many + few, np.vstack([many_vectors, few_vectors]).tolist())
    store.wait_for_background_work()

    hits = store.query(KEY, many_vectors[0].tolist(), k=10, file_types=["text"])

    assert sorted(hit.chunk_id for hit in hits) == ["few-0", "few-1", "few-2"]
    store.close()


# --- folders that cannot be written -------------------------------------------------


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param("faiss", marks=needs_faiss),
        pytest.param("qdrant", marks=needs_qdrant),
    ],
)
def test_a_store_folder_that_cannot_be_created_gives_store_not_writable(
    tmp_path: Path, backend: str
) -> None:
    (tmp_path / "blocker").write_text("a file where the folder's parent should be")
    config = config_for(tmp_path, vector_store_path=tmp_path / "blocker" / "vectors")
    store = create_vector_store(config, backend)

    with pytest.raises(StoreNotWritable):
        store.add(KEY, *_one_chunk())


def _one_chunk() -> tuple[list[Chunk], list[list[float]]]:
    chunks, vectors = chunks_and_vectors("doc", 1, seed=0)
    return chunks, vectors.tolist()


# --- FAISS: killed in the middle of writing -------------------------------------------

_WRITER = """
import sys
from pathlib import Path
from allma_desktop.services.vectorstore.faiss_store import FaissVectorStore
from tests.services.vectorstore.test_vectorstore_backends import KEY, chunks_and_vectors

store = FaissVectorStore(Path(sys.argv[1]), hnsw_threshold=40)
for round_number in range(10_000):
    chunks, vectors = chunks_and_vectors(f"doc-{round_number}", 5, seed=round_number)
    store.add(KEY, chunks, vectors.tolist())
    if round_number % 3 == 0:
        store.delete_document(KEY, f"doc-{round_number - 1}")
    if round_number % 4 == 0:
        store.close()  # writes the index files; the next write reopens
    print(round_number, flush=True)
"""


@needs_faiss
def test_faiss_killed_while_writing_reopens_with_every_stored_chunk_searchable(
    tmp_path: Path,
) -> None:
    import signal
    import subprocess
    import sys

    from allma_desktop.services.vectorstore.faiss_store import FaissVectorStore

    folder = tmp_path / "faiss"
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(folder)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert writer.stdout is not None
    for line in writer.stdout:
        if int(line) >= 14:
            break
    writer.send_signal(signal.SIGKILL)
    writer.wait()

    store = FaissVectorStore(folder, hnsw_threshold=40)
    stored = store.chunk_ids(KEY)
    documents = sorted({chunk_id.rsplit("-", 1)[0] for chunk_id in stored})
    for document_id in documents:
        number = int(document_id.split("-")[1])
        _, vectors = chunks_and_vectors(document_id, 5, seed=number)
        assert store.query(KEY, vectors[2].tolist(), k=1)[0].chunk_id == f"{document_id}-2"
    everything = store.query(KEY, [1.0] * DIMENSION, k=len(stored) + 10)
    assert {hit.chunk_id for hit in everything} == stored
    assert store.count(KEY) == len(stored) >= 5 * 10
    store.close()
