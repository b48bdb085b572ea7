"""The contract every vector store backend fulfils (Chroma now; FAISS and Qdrant later)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from allma_desktop.services.documents.model import Chunk

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


@dataclass(frozen=True)
class VectorHit:
    """A chunk found by vector similarity; ``score`` is cosine similarity (higher is closer).

    ``text`` is the chunk's text where the backend keeps one. The library's ``chunk_text``
    rows are where texts live: the Chroma backends keep none (a second copy that cost a
    quarter of each write), so ``RAGService`` takes every hit's text from the library.
    """

    chunk_id: str
    document_id: str
    text: str
    score: float
    page: int | None
    path: str
    title: str
    heading_path: tuple[str, ...]
    char_start: int
    char_end: int


def hit_from_chunk(chunk: Chunk, score: float) -> VectorHit:
    """A stored chunk found with ``score``, as every backend returns it."""
    return VectorHit(
        chunk_id=chunk.chunk_id,
        document_id=chunk.document_id,
        text=chunk.text,
        score=float(score),
        page=chunk.page,
        path=chunk.path,
        title=chunk.title,
        heading_path=chunk.heading_path,
        char_start=chunk.char_start,
        char_end=chunk.char_end,
    )


@dataclass(frozen=True)
class StoreCollection:
    key: str
    count: int


def matches_nothing(
    k: int, document_ids: Sequence[str] | None, file_types: Sequence[str] | None
) -> bool:
    """True when a query cannot find anything: no results wanted, or an empty filter list
    (an empty list of documents or file types matches nothing, unlike no filter)."""
    return (
        k <= 0
        or (document_ids is not None and not document_ids)
        or (file_types is not None and not file_types)
    )


WRITE_PROBE_KEY = "allma_write_probe"
"""The store collection ``probe_store_write`` writes to (kept, empty): not the library's."""


def probe_store_write(store: VectorStore) -> None:
    """Write one vector to the store and delete it again: raises when the store cannot.

    What ``allma health`` runs, so that a read-only or full vector store is reported
    before an ingest fails on it.
    """
    from allma_desktop.services.documents.model import Chunk

    probe = Chunk("write-probe:0:0", "write-probe", 0, "", "", "", None, (), 0, 0, "probe")
    store.ensure_collection(WRITE_PROBE_KEY)
    store.add(WRITE_PROBE_KEY, [probe], [[1.0, 0.0, 0.0]])
    store.delete_chunks(WRITE_PROBE_KEY, [probe.chunk_id])


class VectorStore(Protocol):
    """Collections are addressed by a stable ``key`` (a safe slug such as ``c_1f3a...``);
    the user-facing name lives in SQLite so renaming never touches the store.
    All methods are synchronous and may block: callers run them in a worker thread."""

    def ensure_collection(self, key: str) -> None: ...

    def delete_collection(self, key: str) -> None: ...

    def list_collections(self) -> list[StoreCollection]: ...

    def add(
        self, key: str, chunks: Sequence[Chunk], embeddings: Sequence[Sequence[float]]
    ) -> None: ...

    def delete_document(self, key: str, document_id: str) -> None: ...

    def delete_chunks(self, key: str, chunk_ids: Sequence[str]) -> None: ...

    def query(
        self,
        key: str,
        embedding: Sequence[float],
        k: int,
        document_ids: Sequence[str] | None = None,
        file_types: Sequence[str] | None = None,
    ) -> list[VectorHit]: ...

    def similarities(
        self, key: str, embedding: Sequence[float], chunk_ids: Sequence[str]
    ) -> dict[str, float]:
        """The cosine similarity of ``embedding`` to each of ``chunk_ids``' stored vectors,
        computed exactly (no index); chunks not in the collection are left out."""
        ...

    def count(self, key: str, document_id: str | None = None) -> int: ...

    def chunk_ids(self, key: str, document_id: str | None = None) -> set[str]: ...

    def close(self) -> None: ...


def cosine_similarities(
    embedding: Sequence[float], vectors: Mapping[str, ArrayLike]
) -> dict[str, float]:
    """The cosine similarity of ``embedding`` to each of ``vectors`` (by its key)."""
    import numpy as np

    if not vectors:
        return {}
    query = np.asarray(embedding, dtype=np.float32)
    query /= max(float(np.linalg.norm(query)), 1e-12)
    keys = list(vectors)
    matrix = np.asarray([vectors[key] for key in keys], dtype=np.float32)
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return {key: float(score) for key, score in zip(keys, matrix @ query, strict=True)}
