"""ChromaVectorStore on a real on-disk Chroma database in tmp_path."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from allma_desktop.errors import (
    AllmaError,
    DiskFull,
    EmbeddingDimensionMismatch,
    StoreNotWritable,
)
from allma_desktop.services.documents.model import Chunk
from allma_desktop.services.vectorstore.base import StoreCollection
from allma_desktop.services.vectorstore.chroma import ChromaVectorStore

DIMENSION = 16
KEY = "c_test"

running_as_root = pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root can write to folders without write permission",
)


def make_chunk(
    document_id: str,
    index: int,
    *,
    file_type: str = "pdf",
    page: int | None = 1,
    heading_path: tuple[str, ...] = (),
) -> Chunk:
    text = f"{document_id} chunk {index}"
    return Chunk(
        chunk_id=f"{document_id}-{index}",
        document_id=document_id,
        index=index,
        text=text,
        path=f"/docs/{document_id}.{file_type}",
        title=f"Title of {document_id}",
        page=page,
        heading_path=heading_path,
        char_start=index * 100,
        char_end=index * 100 + len(text),
        file_type=file_type,
    )


def random_vectors(count: int, seed: int = 0, dimension: int = DIMENSION) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, dimension))
    unit_vectors: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit_vectors.astype(np.float32)


def nudged(vector: np.ndarray, amount: float, seed: int) -> list[float]:
    """``vector`` moved ``amount`` towards a random direction: smaller amount, closer."""
    direction = np.random.default_rng(seed).normal(size=vector.shape)
    return [float(x) for x in vector + amount * direction / np.linalg.norm(direction)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChromaVectorStore]:
    opened = ChromaVectorStore(tmp_path / "vectors")
    yield opened
    opened.close()


def add_document(
    store: ChromaVectorStore, document_id: str, count: int, seed: int, **chunk_fields: Any
) -> np.ndarray:
    vectors = random_vectors(count, seed)
    chunks = [make_chunk(document_id, index, **chunk_fields) for index in range(count)]
    store.add(KEY, chunks, vectors.tolist())
    return vectors


def test_query_returns_hits_most_similar_first_with_cosine_scores(
    store: ChromaVectorStore,
) -> None:
    vectors = add_document(store, "doc-a", 10, seed=1)
    target = vectors[3]

    hits = store.query(KEY, target.tolist(), k=3)

    assert hits[0].chunk_id == "doc-a-3"
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    expected_second = max(
        (float(np.dot(target, vectors[i])), f"doc-a-{i}") for i in range(10) if i != 3
    )
    assert hits[1].chunk_id == expected_second[1]
    assert hits[1].score == pytest.approx(expected_second[0], abs=1e-4)


def test_hits_carry_where_the_chunk_came_from_but_not_its_text(store: ChromaVectorStore) -> None:
    # The text lives in the library's chunk_text rows; RAGService reads it from there.
    vectors = add_document(store, "doc-a", 3, seed=1, page=7, heading_path=("Intro", "Aims"))

    hit = store.query(KEY, vectors[2].tolist(), k=1)[0]

    chunk = make_chunk("doc-a", 2, page=7, heading_path=("Intro", "Aims"))
    assert (hit.document_id, hit.text, hit.path, hit.title) == (
        chunk.document_id,
        "",
        chunk.path,
        chunk.title,
    )
    assert (hit.page, hit.heading_path) == (7, ("Intro", "Aims"))
    assert (hit.char_start, hit.char_end) == (chunk.char_start, chunk.char_end)


def test_chunk_without_page_comes_back_with_page_none(store: ChromaVectorStore) -> None:
    vectors = add_document(store, "notes", 2, seed=2, file_type="markdown", page=None)

    hit = store.query(KEY, vectors[0].tolist(), k=1)[0]

    assert hit.chunk_id == "notes-0"
    assert hit.page is None


def test_query_ranks_nearer_vectors_higher(store: ChromaVectorStore) -> None:
    anchor = random_vectors(1, seed=9)[0]
    distances = [0.9, 0.1, 0.5, 0.3]
    chunks = [make_chunk("doc-a", index) for index in range(len(distances))]
    store.add(KEY, chunks, [nudged(anchor, d, seed=i) for i, d in enumerate(distances)])

    hits = store.query(KEY, anchor.tolist(), k=4)

    assert [hit.chunk_id for hit in hits] == ["doc-a-1", "doc-a-3", "doc-a-2", "doc-a-0"]


def test_query_filtered_by_document_returns_only_that_documents_chunks(
    store: ChromaVectorStore,
) -> None:
    vectors = add_document(store, "doc-a", 5, seed=1)
    add_document(store, "doc-b", 5, seed=2)
    add_document(store, "doc-c", 5, seed=3)

    hits = store.query(KEY, vectors[0].tolist(), k=10, document_ids=["doc-b", "doc-c"])

    assert len(hits) == 10
    assert {hit.document_id for hit in hits} == {"doc-b", "doc-c"}


def test_query_filtered_by_file_type_returns_only_that_type(store: ChromaVectorStore) -> None:
    vectors = add_document(store, "doc-a", 5, seed=1, file_type="pdf")
    add_document(store, "doc-b", 5, seed=2, file_type="markdown")

    hits = store.query(KEY, vectors[0].tolist(), k=10, file_types=["markdown"])

    assert [hit.document_id for hit in hits] == ["doc-b"] * 5


def test_query_with_document_and_file_type_filters_needs_both(store: ChromaVectorStore) -> None:
    vectors = add_document(store, "doc-a", 3, seed=1, file_type="pdf")
    add_document(store, "doc-b", 3, seed=2, file_type="markdown")
    add_document(store, "doc-c", 3, seed=3, file_type="pdf")

    hits = store.query(
        KEY, vectors[0].tolist(), k=10, document_ids=["doc-a", "doc-b"], file_types=["pdf"]
    )

    assert {hit.document_id for hit in hits} == {"doc-a"}


def test_query_with_k_larger_than_the_collection_returns_everything(
    store: ChromaVectorStore,
) -> None:
    vectors = add_document(store, "doc-a", 4, seed=1)

    hits = store.query(KEY, vectors[0].tolist(), k=50)

    assert sorted(hit.chunk_id for hit in hits) == [f"doc-a-{i}" for i in range(4)]


def test_query_on_an_empty_collection_returns_no_hits(store: ChromaVectorStore) -> None:
    store.ensure_collection(KEY)

    assert store.query(KEY, random_vectors(1)[0].tolist(), k=5) == []


def test_query_on_a_missing_collection_returns_no_hits(store: ChromaVectorStore) -> None:
    assert store.query("c_never_made", random_vectors(1)[0].tolist(), k=5) == []


def test_delete_document_removes_only_its_chunks(store: ChromaVectorStore) -> None:
    add_document(store, "doc-a", 4, seed=1)
    add_document(store, "doc-b", 3, seed=2)

    store.delete_document(KEY, "doc-a")

    assert store.chunk_ids(KEY) == {"doc-b-0", "doc-b-1", "doc-b-2"}


def test_delete_chunks_removes_exactly_those_chunks(store: ChromaVectorStore) -> None:
    add_document(store, "doc-a", 4, seed=1)

    store.delete_chunks(KEY, ["doc-a-0", "doc-a-2"])
    store.delete_chunks(KEY, [])

    assert store.chunk_ids(KEY) == {"doc-a-1", "doc-a-3"}


def test_counts_are_per_collection_and_per_document(store: ChromaVectorStore) -> None:
    add_document(store, "doc-a", 4, seed=1)
    add_document(store, "doc-b", 3, seed=2)

    assert store.count(KEY) == 7
    assert store.count(KEY, "doc-b") == 3
    assert store.count(KEY, "doc-unknown") == 0
    assert store.count("c_never_made") == 0


def test_chunk_ids_of_a_document(store: ChromaVectorStore) -> None:
    add_document(store, "doc-a", 2, seed=1)
    add_document(store, "doc-b", 2, seed=2)

    assert store.chunk_ids(KEY, "doc-a") == {"doc-a-0", "doc-a-1"}


def test_adding_the_same_chunks_again_replaces_them(store: ChromaVectorStore) -> None:
    add_document(store, "doc-a", 3, seed=1)
    add_document(store, "doc-a", 3, seed=1)

    assert store.count(KEY) == 3


def test_add_rejects_chunks_and_embeddings_of_different_lengths(
    store: ChromaVectorStore,
) -> None:
    with pytest.raises(ValueError, match="2 chunks but 1 embeddings"):
        store.add(KEY, [make_chunk("d", 0), make_chunk("d", 1)], random_vectors(1).tolist())


def test_add_larger_than_chromas_batch_limit_stores_everything(
    store: ChromaVectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.ensure_collection(KEY)
    monkeypatch.setattr(store, "_batch_size", 7)  # a real limit is ~5000: too slow to reach

    add_document(store, "doc-a", 30, seed=1)

    assert store.count(KEY) == 30


def test_list_collections_gives_keys_and_counts(store: ChromaVectorStore) -> None:
    store.ensure_collection("c_empty")
    add_document(store, "doc-a", 3, seed=1)

    assert store.list_collections() == [
        StoreCollection(key="c_empty", count=0),
        StoreCollection(key=KEY, count=3),
    ]


def test_ensure_collection_twice_keeps_its_chunks(store: ChromaVectorStore) -> None:
    add_document(store, "doc-a", 3, seed=1)

    store.ensure_collection(KEY)

    assert store.count(KEY) == 3


def test_delete_collection_removes_it_and_missing_one_is_fine(store: ChromaVectorStore) -> None:
    add_document(store, "doc-a", 3, seed=1)

    store.delete_collection(KEY)
    store.delete_collection(KEY)

    assert store.list_collections() == []


def test_reopening_after_close_keeps_the_data(tmp_path: Path) -> None:
    first = ChromaVectorStore(tmp_path / "vectors")
    vectors = random_vectors(3, seed=4)
    first.add(KEY, [make_chunk("doc-a", i, page=None) for i in range(3)], vectors.tolist())
    first.close()

    reopened = ChromaVectorStore(tmp_path / "vectors")
    try:
        hits = reopened.query(KEY, vectors[1].tolist(), k=1)
        assert reopened.count(KEY) == 3
        assert (hits[0].chunk_id, hits[0].page) == ("doc-a-1", None)
    finally:
        reopened.close()


def test_embeddings_of_another_dimension_give_a_clear_error(store: ChromaVectorStore) -> None:
    add_document(store, "doc-a", 2, seed=1)
    other_model_vector = random_vectors(1, dimension=DIMENSION * 2).tolist()

    with pytest.raises(EmbeddingDimensionMismatch, match="Re-embed") as raised:
        store.add(KEY, [make_chunk("doc-b", 0)], other_model_vector)

    assert (raised.value.stored_dimension, raised.value.given_dimension) == (16, 32)
    assert "16-dimensional embeddings from another model" in str(raised.value)


def test_query_with_another_dimension_gives_the_same_clear_error(
    store: ChromaVectorStore,
) -> None:
    add_document(store, "doc-a", 2, seed=1)

    with pytest.raises(EmbeddingDimensionMismatch):
        store.query(KEY, random_vectors(1, dimension=8)[0].tolist(), k=2)


def test_folder_that_cannot_be_created_gives_store_not_writable(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    store = ChromaVectorStore(a_file / "vectors")

    with pytest.raises(StoreNotWritable) as raised:
        store.ensure_collection(KEY)

    assert raised.value.path == str(a_file / "vectors")


@running_as_root
def test_folder_without_write_permission_gives_store_not_writable(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    store = ChromaVectorStore(locked)
    try:
        with pytest.raises(StoreNotWritable):
            store.ensure_collection(KEY)
    finally:
        locked.chmod(0o755)


@running_as_root
def test_existing_store_made_read_only_gives_store_not_writable(tmp_path: Path) -> None:
    folder = tmp_path / "vectors"
    writable = ChromaVectorStore(folder)
    writable.add(KEY, [make_chunk("doc-a", 0)], random_vectors(1).tolist())
    writable.close()
    every_path = [folder, *folder.rglob("*")]
    for path in every_path:
        path.chmod(0o555 if path.is_dir() else 0o444)

    read_only = ChromaVectorStore(folder)
    try:
        with pytest.raises(StoreNotWritable):
            read_only.add(KEY, [make_chunk("doc-b", 0)], random_vectors(1).tolist())
    finally:
        for path in every_path:
            path.chmod(0o755 if path.is_dir() else 0o644)
        read_only.close()


class _FailingCollection:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def upsert(self, **_: Any) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("chroma_failure", "expected"),
    [
        (Exception("error returned from database: (code: 13) database or disk is full"), DiskFull),
        (OSError(28, "No space left on device"), DiskFull),
        (Exception("attempt to write a readonly database"), StoreNotWritable),
        (Exception("something unforeseen"), AllmaError),
    ],
)
def test_chroma_failures_while_adding_become_errors_the_user_can_act_on(
    store: ChromaVectorStore,
    monkeypatch: pytest.MonkeyPatch,
    chroma_failure: Exception,
    expected: type[AllmaError],
) -> None:
    # A full disk cannot be made on demand: the failing call is stood in for.
    monkeypatch.setattr(store, "_get_or_create", lambda key: _FailingCollection(chroma_failure))

    with pytest.raises(expected) as raised:
        store.add(KEY, [make_chunk("doc-a", 0)], random_vectors(1).tolist())

    assert raised.value.hint
    assert raised.value.__cause__ is chroma_failure


def test_creating_adding_and_querying_opens_no_network_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connections: list[object] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def recording_connect(self: socket.socket, address: Any) -> None:
        connections.append(address)
        real_connect(self, address)

    def recording_connect_ex(self: socket.socket, address: Any) -> int:
        connections.append(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", recording_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", recording_connect_ex)
    store = ChromaVectorStore(tmp_path / "fresh")

    vectors = add_document(store, "doc-a", 5, seed=1)
    store.query(KEY, vectors[0].tolist(), k=2)
    store.list_collections()
    store.close()

    assert connections == []


@running_as_root
def test_store_opens_once_its_folder_is_writable_again(tmp_path: Path) -> None:
    folder = tmp_path / "vectors"
    writable = ChromaVectorStore(folder)
    writable.add(KEY, [make_chunk("doc-a", 0)], random_vectors(1).tolist())
    writable.close()
    (folder / "chroma.sqlite3").chmod(0o444)
    store = ChromaVectorStore(folder)
    with pytest.raises(StoreNotWritable):
        store.add(KEY, [make_chunk("doc-b", 0)], random_vectors(1).tolist())

    (folder / "chroma.sqlite3").chmod(0o644)
    store.add(KEY, [make_chunk("doc-b", 0)], random_vectors(1).tolist())

    assert store.count(KEY) == 2
    store.close()


# --- the stored format ------------------------------------------------------------


def write_in_the_earlier_format(path: Path, chunk: Chunk, vector: np.ndarray) -> None:
    """A chunk as versions before the packed format stored it: the text as a Chroma
    document and one metadata field per attribute."""
    import json

    import chromadb

    client = chromadb.PersistentClient(path=str(path))
    collection = client.get_or_create_collection(
        name=KEY, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
    )
    collection.upsert(
        ids=[chunk.chunk_id],
        embeddings=np.asarray([vector], dtype=np.float32),
        documents=[chunk.text],
        metadatas=[
            {
                "document_id": chunk.document_id,
                "path": chunk.path,
                "title": chunk.title,
                "heading_path": json.dumps(list(chunk.heading_path)),
                "char_start": chunk.char_start,
                "char_end": chunk.char_end,
                "file_type": chunk.file_type,
                "chunk_index": chunk.index,
                "page": chunk.page or 0,
            }
        ],
    )
    client.close()


def test_a_library_written_in_the_earlier_format_is_still_searched_and_exported_whole(
    tmp_path: Path,
) -> None:
    old = make_chunk("old", 0, page=4, heading_path=("Part", "Section"))
    vectors = random_vectors(2, seed=3)
    write_in_the_earlier_format(tmp_path / "vectors", old, vectors[0])
    store = ChromaVectorStore(tmp_path / "vectors")
    new = make_chunk("new", 0, page=None, heading_path=("Intro",), file_type="md")
    store.add(KEY, [new], [vectors[1]])

    hits = {hit.chunk_id: hit for hit in store.query(KEY, list(vectors[0]), k=2)}
    exported = {chunk.chunk_id: chunk for chunks, _ in store.export(KEY) for chunk in chunks}
    store.close()

    assert hits["old-0"].text == old.text
    assert (hits["old-0"].page, hits["old-0"].heading_path) == (4, ("Part", "Section"))
    assert hits["new-0"].text == "" and hits["new-0"].page is None
    assert exported == {"old-0": old, "new-0": replace(new, text="")}


def test_chunk_texts_stay_out_of_chroma(store: ChromaVectorStore) -> None:
    # The app searches words with SQLite FTS5 and keeps the texts beside it; in Chroma's
    # documents (with their full-text index) or metadata they were a second copy that
    # cost 0.4 ms, then 0.12 ms, of each chunk's write.
    add_document(store, "doc", 3, seed=1)

    collection = store._existing(KEY)
    assert collection is not None
    stored = collection.get(include=["documents", "metadatas"])

    assert stored["documents"] == [None, None, None]
    assert not any("doc chunk" in str(metadata) for metadata in stored["metadatas"] or [])
    assert store.query(KEY, list(random_vectors(3, seed=1)[0]), k=1)[0].page == 1
