"""The VectorStore contract, proven on every backend with one set of tests.

Backends: embedded Chroma; a real Chroma server (``chroma run`` from the chromadb
package, started on a free loopback port in a temp folder by a fixture and stopped
after the module); FAISS; Qdrant in its local on-disk mode. No Qdrant server can be
installed here, so Qdrant's server mode (``QDRANT_URL``) is not exercised by these
tests; it shares every line but the client's constructor with the local mode.
``chroma-process`` is embedded Chroma in a process of its own, as the app runs it.
A backend whose package is missing (faiss-cpu, qdrant-client) is skipped.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from allma_desktop.config import AppConfig
from allma_desktop.errors import AllmaError, EmbeddingDimensionMismatch
from allma_desktop.services.documents.model import Chunk
from allma_desktop.services.vectorstore.base import StoreCollection, VectorStore
from allma_desktop.services.vectorstore.store_process import IN_PROCESS_ENV
from tests.orchestrator.test_crash_consistency import (
    DriverRun,
    crash_config,
    open_engine,
    write_notes,
)
from tests.support.chroma_server import chroma_executable, running_chroma_server
from tests.support.invariants import assert_library_consistent, assert_store_searchable
from tests.support.ollama_server import OllamaTestServer

DIMENSION = 16
KEY = "c_contract"
OTHER_KEY = "c_other"

StoreOpener = Callable[[], VectorStore]


def _needs(module: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        importlib.util.find_spec(module) is None, reason=f"{module} is not installed"
    )


BACKENDS = [
    pytest.param("chroma", id="chroma"),
    pytest.param("chroma-process", id="chroma-process"),
    pytest.param("chroma-http", id="chroma-http"),
    pytest.param("faiss", id="faiss", marks=_needs("faiss")),
    pytest.param("qdrant", id="qdrant", marks=_needs("qdrant_client")),
]


# --- the Chroma server ----------------------------------------------------------


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    executable = chroma_executable()
    if executable is None:
        pytest.skip("the chroma command (from the chromadb package) is not installed")
    with running_chroma_server(executable, tmp_path_factory.mktemp("chroma-server")) as address:
        yield address


# --- stores ---------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreOpener]:
    """Opens the backend's store on the same data each time it is called."""
    backend: str = request.param
    opened: list[VectorStore] = []

    def opener() -> VectorStore:
        store: VectorStore
        if backend == "chroma":
            from allma_desktop.services.vectorstore.chroma import ChromaVectorStore

            store = ChromaVectorStore(tmp_path / "chroma")
        elif backend == "chroma-process":
            from allma_desktop.services.vectorstore.store_process import ProcessVectorStore

            store = ProcessVectorStore(AppConfig(data_dir=tmp_path), "chroma")
        elif backend == "chroma-http":
            from allma_desktop.services.vectorstore.chroma_http import ChromaHttpVectorStore

            host, port = request.getfixturevalue("chroma_server")
            store = ChromaHttpVectorStore(host, port)
        elif backend == "faiss":
            from allma_desktop.services.vectorstore.faiss_store import FaissVectorStore

            store = FaissVectorStore(tmp_path / "faiss")
        else:
            from allma_desktop.services.vectorstore.qdrant_store import QdrantVectorStore

            store = QdrantVectorStore(path=tmp_path / "qdrant")
        opened.append(store)
        return store

    yield opener
    if backend == "chroma-http":  # the server outlives the test: leave it empty
        cleaner = opener()
        for collection in cleaner.list_collections():
            cleaner.delete_collection(collection.key)
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: StoreOpener) -> VectorStore:
    return open_store()


def make_chunk(document_id: str, index: int, file_type: str = "pdf") -> Chunk:
    text = f"{document_id} chunk {index}"
    return Chunk(
        chunk_id=f"{document_id}-{index}",
        document_id=document_id,
        index=index,
        text=text,
        path=f"/docs/{document_id}.{file_type}",
        title=f"Title of {document_id}",
        page=index + 1 if file_type == "pdf" else None,
        heading_path=("Part", f"Section {index}"),
        char_start=index * 100,
        char_end=index * 100 + len(text),
        file_type=file_type,
    )


def kept(request: pytest.FixtureRequest, chunk: Chunk) -> Chunk:
    """``chunk`` as the backend under test gives it back: the Chroma backends keep no
    text (the library's ``chunk_text`` rows hold it; see ``VectorHit``)."""
    backend: str = request.node.callspec.params["open_store"]
    return replace(chunk, text="") if backend.startswith("chroma") else chunk


def random_vectors(count: int, seed: int, dimension: int = DIMENSION) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, dimension))
    unit: np.ndarray = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    return unit


def add_document(
    store: VectorStore, document_id: str, count: int, seed: int, file_type: str = "pdf"
) -> np.ndarray:
    vectors = random_vectors(count, seed)
    chunks = [make_chunk(document_id, index, file_type) for index in range(count)]
    store.add(KEY, chunks, vectors.tolist())
    return vectors


# --- the contract ---------------------------------------------------------------


def test_query_finds_the_nearest_chunk_first_with_its_cosine_score(store: VectorStore) -> None:
    vectors = add_document(store, "doc-a", 8, seed=1)

    hits = store.query(KEY, vectors[5].tolist(), k=3)

    assert hits[0].chunk_id == "doc-a-5"
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    expected_second = max((float(vectors[5] @ vectors[i]), i) for i in range(8) if i != 5)
    assert hits[1].chunk_id == f"doc-a-{expected_second[1]}"
    assert hits[1].score == pytest.approx(expected_second[0], abs=1e-4)


def test_hits_carry_the_chunks_origin_and_any_text_the_backend_keeps(
    store: VectorStore, request: pytest.FixtureRequest
) -> None:
    vectors = add_document(store, "doc-a", 3, seed=1)

    hit = store.query(KEY, vectors[2].tolist(), k=1)[0]

    chunk = kept(request, make_chunk("doc-a", 2))
    assert (hit.document_id, hit.text, hit.path, hit.title, hit.page) == (
        chunk.document_id,
        chunk.text,
        chunk.path,
        chunk.title,
        chunk.page,
    )
    assert (hit.heading_path, hit.char_start, hit.char_end) == (
        chunk.heading_path,
        chunk.char_start,
        chunk.char_end,
    )


def test_query_filters_by_document_and_by_file_type(store: VectorStore) -> None:
    pdf = add_document(store, "report", 5, seed=1)
    add_document(store, "notes", 5, seed=2, file_type="markdown")
    add_document(store, "letter", 5, seed=3, file_type="docx")

    by_document = store.query(KEY, pdf[0].tolist(), k=10, document_ids=["notes", "letter"])
    by_type = store.query(KEY, pdf[0].tolist(), k=10, file_types=["markdown"])
    both = store.query(KEY, pdf[0].tolist(), k=10, document_ids=["report"], file_types=["docx"])

    assert {hit.document_id for hit in by_document} == {"notes", "letter"}
    assert len(by_document) == 10
    assert {hit.document_id for hit in by_type} == {"notes"}
    assert both == []


def test_similarities_are_the_exact_cosines_of_the_chunks_asked_for(store: VectorStore) -> None:
    vectors = add_document(store, "doc-a", 6, seed=1)
    query = random_vectors(1, seed=9)[0]

    found = store.similarities(KEY, query.tolist(), ["doc-a-4", "doc-a-1", "doc-a-99"])

    assert set(found) == {"doc-a-4", "doc-a-1"}  # a chunk not in the collection is left out
    for index in (4, 1):
        assert found[f"doc-a-{index}"] == pytest.approx(float(vectors[index] @ query), abs=1e-4)
    assert store.similarities("c_missing", query.tolist(), ["doc-a-1"]) == {}
    assert store.similarities(KEY, query.tolist(), []) == {}


def test_query_of_a_missing_or_empty_collection_finds_nothing(store: VectorStore) -> None:
    store.ensure_collection(KEY)

    assert store.query(KEY, [1.0] * DIMENSION, k=5) == []
    assert store.query("c_missing", [1.0] * DIMENSION, k=5) == []


def test_delete_document_removes_only_its_chunks(store: VectorStore) -> None:
    kept = add_document(store, "kept", 4, seed=1)
    add_document(store, "gone", 4, seed=2)

    store.delete_document(KEY, "gone")

    assert store.chunk_ids(KEY) == {f"kept-{i}" for i in range(4)}
    assert {hit.document_id for hit in store.query(KEY, kept[0].tolist(), k=8)} == {"kept"}


def test_delete_chunks_removes_exactly_those(store: VectorStore) -> None:
    add_document(store, "doc", 5, seed=1)

    store.delete_chunks(KEY, ["doc-1", "doc-3"])
    store.delete_chunks(KEY, [])

    assert store.chunk_ids(KEY) == {"doc-0", "doc-2", "doc-4"}


def test_counts_and_chunk_ids_are_per_collection_and_per_document(store: VectorStore) -> None:
    add_document(store, "a", 3, seed=1)
    add_document(store, "b", 2, seed=2)
    store.add(OTHER_KEY, [make_chunk("c", 0)], random_vectors(1, seed=3).tolist())

    assert (store.count(KEY), store.count(KEY, "a"), store.count(OTHER_KEY)) == (5, 3, 1)
    assert store.chunk_ids(KEY, "b") == {"b-0", "b-1"}
    assert store.count("c_missing") == 0


def test_adding_the_same_chunks_again_replaces_them(store: VectorStore) -> None:
    add_document(store, "doc", 4, seed=1)
    again = add_document(store, "doc", 4, seed=9)

    assert store.count(KEY) == 4
    assert store.query(KEY, again[2].tolist(), k=1)[0].score == pytest.approx(1.0, abs=1e-4)


def test_collections_are_listed_with_counts_and_deleted(store: VectorStore) -> None:
    add_document(store, "a", 3, seed=1)
    store.ensure_collection(OTHER_KEY)

    assert store.list_collections() == [
        StoreCollection(key=KEY, count=3),
        StoreCollection(key=OTHER_KEY, count=0),
    ]
    store.delete_collection(KEY)
    store.delete_collection("c_missing")

    assert store.list_collections() == [StoreCollection(key=OTHER_KEY, count=0)]
    assert store.count(KEY) == 0


def test_a_deleted_collection_can_be_made_again(store: VectorStore) -> None:
    add_document(store, "a", 3, seed=1)
    store.delete_collection(KEY)

    vectors = add_document(store, "b", 2, seed=2)

    assert store.chunk_ids(KEY) == {"b-0", "b-1"}
    assert store.query(KEY, vectors[1].tolist(), k=1)[0].chunk_id == "b-1"


def test_reopening_after_close_keeps_the_data(open_store: StoreOpener) -> None:
    first = open_store()
    vectors = add_document(first, "doc", 6, seed=1)
    first.delete_chunks(KEY, ["doc-0"])
    first.close()

    second = open_store()

    assert second.chunk_ids(KEY) == {f"doc-{i}" for i in range(1, 6)}
    assert second.query(KEY, vectors[4].tolist(), k=1)[0].chunk_id == "doc-4"


def test_a_closed_store_reopens_on_next_use(store: VectorStore) -> None:
    add_document(store, "doc", 2, seed=1)
    store.close()

    assert store.count(KEY) == 2


def test_vectors_of_another_dimension_give_a_clear_error(store: VectorStore) -> None:
    add_document(store, "doc", 2, seed=1)

    with pytest.raises(EmbeddingDimensionMismatch) as adding:
        store.add(KEY, [make_chunk("other", 0)], random_vectors(1, 2, DIMENSION + 4).tolist())
    with pytest.raises(EmbeddingDimensionMismatch):
        store.query(KEY, [0.5] * (DIMENSION + 4), k=3)

    assert (adding.value.stored_dimension, adding.value.given_dimension) == (
        DIMENSION,
        DIMENSION + 4,
    )
    assert store.count(KEY) == 2


def test_adding_mismatched_chunks_and_embeddings_is_refused(store: VectorStore) -> None:
    with pytest.raises(ValueError):
        store.add(KEY, [make_chunk("doc", 0)], [])


def test_every_failure_is_an_allma_error(store: VectorStore) -> None:
    add_document(store, "doc", 2, seed=1)

    with pytest.raises(AllmaError):
        store.add(KEY, [make_chunk("x", 0)], [[0.1] * (DIMENSION * 2)])


def test_export_gives_back_every_chunk_with_its_vector(
    store: VectorStore, request: pytest.FixtureRequest
) -> None:
    vectors = add_document(store, "doc", 7, seed=4)

    exported = list(store.export(KEY, batch_size=3))  # type: ignore[attr-defined]

    assert [len(chunks) for chunks, _ in exported] == [3, 3, 1]
    by_id = {
        chunk.chunk_id: (chunk, vector)
        for chunks, batch in exported
        for chunk, vector in zip(chunks, batch, strict=True)
    }
    chunk, vector = by_id["doc-5"]
    assert chunk == kept(request, make_chunk("doc", 5))
    assert np.allclose(vector, vectors[5], atol=1e-5)


# --- crash consistency ----------------------------------------------------------
# The reliability rules of tests/support/invariants.py, on each backend: a real engine process
# (tests/support/crash_driver.py) is killed with SIGKILL inside a document's vector writes, a
# fresh engine opens the library (running the start-up repair) and the rules must hold.
# One deterministic kill point per backend keeps this quick; the randomised kills of
# tests/orchestrator/test_crash_consistency.py cover the default backend in depth.

KILL_INSIDE_DOCUMENT_AFTER = "embedded"  # the driver's line once a batch went to the store


def backend_environment(
    backend: str, tmp_path: Path, ollama_server: OllamaTestServer, request: pytest.FixtureRequest
) -> dict[str, str]:
    env = {
        "OLLAMA_HOST": ollama_server.url,
        "ALLMA_DATA_DIR": str(tmp_path / "data"),
        "ALLMA_CONFIG_DIR": str(tmp_path / "config"),
        "ALLMA_LOG_DIR": str(tmp_path / "logs"),
        "OLLAMA_MODEL": "deepseek-r1:latest",
        "OLLAMA_EMBEDDING_MODEL": "nomic-embed-text:latest",
        "VECTOR_STORE": backend.removesuffix("-process"),
    }
    if backend == "chroma-http":
        host, port = request.getfixturevalue("chroma_server")
        env.update(CHROMA_HOST=host, CHROMA_PORT=str(port))
    return env


def kill_inside_a_later_document(folder: Path) -> DriverRun:
    """Ingest ``folder`` and SIGKILL the driver once a document is ready and the next
    one has sent its first vectors to the store (so the kill lands between a
    document's vector writes and its commit, with a ready document beside it)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.crash_driver", "ingest", str(folder)],
        cwd=Path(__file__).resolve().parents[3],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    ready_seen = killed = False
    for line in process.stdout:
        lines.append(line.strip())
        ready_seen = ready_seen or line.startswith("file indexed")
        if ready_seen and line.startswith(KILL_INSIDE_DOCUMENT_AFTER):
            process.kill()
            killed = True
            break
    _, err = process.communicate(timeout=60)
    assert lines[:1] == ["started"], f"the driver did not start: {err}"
    return DriverRun(tuple(lines), killed)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_kill_during_ingest_leaves_the_library_consistent_on_the_backend(
    backend: str,
    tmp_path: Path,
    ollama_server: OllamaTestServer,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    env = backend_environment(backend, tmp_path, ollama_server, request)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("VECTOR_STORE_PATH", "CHROMA_PERSIST_DIRECTORY", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    if backend.endswith("-process"):
        monkeypatch.delenv(IN_PROCESS_ENV, raising=False)
    config = crash_config(env)
    folder = tmp_path / "notes"
    # A closed, saved store first, so the kill finds earlier state on disk (for FAISS:
    # an index file that the crash leaves behind SQLite).
    write_notes(folder / "before", range(2))
    await ingest_in_process(config, folder)
    ollama_server.faults.embed_delay = 0.1  # the kill lands long before the document ends
    write_notes(folder / "during", range(2, 5))

    run = kill_inside_a_later_document(folder)

    assert run.killed, f"the ingest finished before the kill: {run.lines}"
    engine = await open_engine(config)
    try:
        report = await engine.doctor()
        assert report.ok, report.remaining
        assert any(p.kind == "interrupted_indexing" for p in report.problems)
        assert_library_consistent(engine)
        assert_store_searchable(engine)
        assert any(d.status == "ready" for d in engine.list_documents())

        ollama_server.faults.embed_delay = 0.0
        async for _ in engine.ingest([str(folder)]):
            pass  # the interrupted document is indexed again

        assert_library_consistent(engine)
        assert_store_searchable(engine)
        assert [d.status for d in engine.list_documents()] == ["ready"] * 5
    finally:
        if backend == "chroma-http":  # the server outlives the test: leave it empty
            for collection in engine.store.list_collections():
                engine.store.delete_collection(collection.key)
        await engine.close()


async def ingest_in_process(config: AppConfig, folder: Path) -> None:
    engine = await open_engine(config)
    try:
        async for _ in engine.ingest([str(folder)]):
            pass
    finally:
        await engine.close()
