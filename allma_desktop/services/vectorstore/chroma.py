"""The VectorStore contract on a local, on-disk ChromaDB.

chromadb is imported only when the store is first used: the import takes most of a
second and the GUI imports service modules before its window is up.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from allma_desktop.errors import (
    AllmaError,
    EmbeddingDimensionMismatch,
    StoreNotWritable,
)
from allma_desktop.pathnames import path_from_stored, stored_path
from allma_desktop.services.documents.model import Chunk
from allma_desktop.services.vectorstore.base import (
    StoreCollection,
    VectorHit,
    VectorStore,
    cosine_similarities,
    hit_from_chunk,
    matches_nothing,
)
from allma_desktop.services.vectorstore.failures import reporting_failures, translate_failure

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.collection_configuration import CreateCollectionConfiguration
    from chromadb.api.models.Collection import Collection
    from chromadb.api.types import Where
    from chromadb.base_types import InclusionExclusionOperator, LiteralValue
    from chromadb.config import Settings

log = logging.getLogger(__name__)

# Scores are cosine similarities, so the index must measure cosine distance (Chroma's
# default is L2). Chroma 1.x reads this from the configuration, not from metadata.
_COSINE_CONFIGURATION: CreateCollectionConfiguration = {"hnsw": {"space": "cosine"}}

PACKED_FIELD = "allma_chunk"  # metadata field holding the rest of the chunk, as JSON

_DIMENSION_MISMATCH = re.compile(r"dimension of (\d+), got (\d+)")


class ChromaVectorStore:
    """Collections of chunk embeddings in a Chroma database under ``path``.

    Reads on a collection that does not exist see an empty collection; ``add`` creates
    it. Every failure leaves as an ``AllmaError`` (the chromadb traceback goes to the log).
    """

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._client: ClientAPI | None = None
        self._batch_size = 1_000  # replaced by Chroma's own limit once the client is open
        self._open_lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self._path

    # --- collections --------------------------------------------------------

    def ensure_collection(self, key: str) -> None:
        self._get_or_create(key)

    def delete_collection(self, key: str) -> None:
        from chromadb.errors import NotFoundError

        client = self._connect()
        with self._reporting_failures(f"delete collection {key}"):
            try:
                client.delete_collection(name=key)
            except NotFoundError:
                return

    def list_collections(self) -> list[StoreCollection]:
        client = self._connect()
        with self._reporting_failures("list collections"):
            found = [
                StoreCollection(key=collection.name, count=collection.count())
                for collection in client.list_collections()
            ]
        return sorted(found, key=lambda collection: collection.key)

    # --- writing ------------------------------------------------------------

    def add(self, key: str, chunks: Sequence[Chunk], embeddings: Sequence[Sequence[float]]) -> None:
        """Store chunks with their embeddings; a chunk already stored under the same
        ``chunk_id`` is replaced, so re-running an interrupted ingest is harmless."""
        if len(chunks) != len(embeddings):
            raise ValueError(f"{len(chunks)} chunks but {len(embeddings)} embeddings")
        collection = self._get_or_create(key)
        if not chunks:
            return
        import numpy as np

        with self._reporting_failures(f"store {len(chunks)} chunks in collection {key}"):
            for start in range(0, len(chunks), self._batch_size):
                batch = chunks[start : start + self._batch_size]
                collection.upsert(
                    ids=[chunk.chunk_id for chunk in batch],
                    embeddings=np.asarray(
                        embeddings[start : start + self._batch_size], dtype=np.float32
                    ),
                    metadatas=[_metadata_of(chunk) for chunk in batch],
                )

    def delete_document(self, key: str, document_id: str) -> None:
        collection = self._existing(key)
        if collection is None:
            return
        with self._reporting_failures(f"delete a document from collection {key}"):
            collection.delete(where={"document_id": document_id})

    def delete_chunks(self, key: str, chunk_ids: Sequence[str]) -> None:
        collection = self._existing(key)
        if collection is None or not chunk_ids:
            return  # an empty id list must never reach Chroma's delete
        with self._reporting_failures(f"delete chunks from collection {key}"):
            for start in range(0, len(chunk_ids), self._batch_size):
                collection.delete(ids=list(chunk_ids[start : start + self._batch_size]))

    # --- reading ------------------------------------------------------------

    def query(
        self,
        key: str,
        embedding: Sequence[float],
        k: int,
        document_ids: Sequence[str] | None = None,
        file_types: Sequence[str] | None = None,
    ) -> list[VectorHit]:
        """The ``k`` chunks most similar to ``embedding``, most similar first; filters
        keep only chunks of the given documents and/or file types."""
        if matches_nothing(k, document_ids, file_types):
            return []
        collection = self._existing(key)
        if collection is None:
            return []
        import numpy as np

        with self._reporting_failures(f"search collection {key}"):
            result = collection.query(
                query_embeddings=np.asarray([embedding], dtype=np.float32),
                n_results=k,
                where=_filter_for(document_ids, file_types),
                include=["documents", "metadatas", "distances"],
            )
        ids = result["ids"][0]
        documents = (result["documents"] or [[]])[0]
        metadatas = (result["metadatas"] or [[]])[0]
        distances = (result["distances"] or [[]])[0]
        hits = [
            _hit_from(chunk_id, text, metadata, distance)
            for chunk_id, text, metadata, distance in zip(
                ids, documents, metadatas, distances, strict=True
            )
        ]
        return sorted(hits, key=lambda hit: hit.score, reverse=True)

    def similarities(
        self, key: str, embedding: Sequence[float], chunk_ids: Sequence[str]
    ) -> dict[str, float]:
        """The cosine similarity of ``embedding`` to each of ``chunk_ids``' stored vectors,
        computed exactly (no index); chunks not in the collection are left out."""
        collection = self._existing(key) if chunk_ids else None
        if collection is None:
            return {}
        with self._reporting_failures(f"read vectors of collection {key}"):
            found = collection.get(ids=list(chunk_ids), include=["embeddings"])
        vectors = found["embeddings"] if found["embeddings"] is not None else []
        return cosine_similarities(embedding, dict(zip(found["ids"], vectors, strict=True)))

    def count(self, key: str, document_id: str | None = None) -> int:
        collection = self._existing(key)
        if collection is None:
            return 0
        if document_id is None:
            with self._reporting_failures(f"count chunks in collection {key}"):
                return collection.count()
        return len(self.chunk_ids(key, document_id))

    def chunk_ids(self, key: str, document_id: str | None = None) -> set[str]:
        collection = self._existing(key)
        if collection is None:
            return set()
        where: Where | None = None if document_id is None else {"document_id": document_id}
        with self._reporting_failures(f"list chunks in collection {key}"):
            return set(collection.get(where=where, include=[])["ids"])

    def export(
        self, key: str, batch_size: int = 1_000
    ) -> Iterator[tuple[list[Chunk], list[list[float]]]]:
        """Every chunk of ``key`` with its stored vector, in batches, in a stable order
        (so ``allma store migrate`` can copy a library without the embedding model)."""
        collection = self._existing(key)
        if collection is None:
            return
        offset = 0
        while True:
            with self._reporting_failures(f"read collection {key}"):
                page = collection.get(
                    limit=batch_size,
                    offset=offset,
                    include=["embeddings", "documents", "metadatas"],
                )
            ids = page["ids"]
            if not ids:
                return
            offset += len(ids)
            texts = page["documents"] or [""] * len(ids)
            metadatas = page["metadatas"] or [{}] * len(ids)
            embeddings = page["embeddings"]
            vectors = [] if embeddings is None else [[float(x) for x in row] for row in embeddings]
            chunks = [
                _chunk_from(chunk_id, text, metadata)
                for chunk_id, text, metadata in zip(ids, texts, metadatas, strict=True)
            ]
            yield chunks, vectors

    # --- lifetime -----------------------------------------------------------

    def close(self) -> None:
        """Release the database so the folder can be reopened (or moved) in this process.

        Using the store again after ``close`` reopens it."""
        with self._open_lock:
            client, self._client = self._client, None
        if client is None:
            return
        with self._reporting_failures("close the vector store"):
            close_client = getattr(client, "close", None)
            if callable(close_client):
                close_client()
            else:  # chromadb before 1.1 had no close(); dropping its cache is the only way
                from chromadb.api.shared_system_client import SharedSystemClient

                SharedSystemClient.clear_system_cache()

    # --- internals ----------------------------------------------------------

    def _connect(self) -> ClientAPI:
        with self._open_lock:
            if self._client is None:
                self._client = self._open_client()
            return self._client

    def _open_client(self) -> ClientAPI:
        try:
            self._path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise self._translate(error, "create the vector store folder") from error
        if not os.access(self._path, os.W_OK | os.X_OK):
            raise StoreNotWritable(self._path)
        import chromadb

        with self._reporting_failures("open the vector store"):
            try:
                client = chromadb.PersistentClient(path=str(self._path), settings=_settings())
            except Exception:
                _forget_failed_system(str(self._path))
                raise
            self._batch_size = client.get_max_batch_size()
        return client

    def _get_or_create(self, key: str) -> Collection:
        client = self._connect()
        with self._reporting_failures(f"open collection {key}"):
            return client.get_or_create_collection(
                name=key, configuration=_COSINE_CONFIGURATION, embedding_function=None
            )

    def _existing(self, key: str) -> Collection | None:
        from chromadb.errors import NotFoundError

        client = self._connect()
        with self._reporting_failures(f"open collection {key}"):
            try:
                return client.get_collection(name=key, embedding_function=None)
            except NotFoundError:
                return None

    def _reporting_failures(self, action: str) -> AbstractContextManager[None]:
        return reporting_failures(self._path, action, self._translate)

    def _translate(self, error: Exception, action: str) -> AllmaError:
        """Turn a chromadb or OS failure into the error the user can act on."""
        mismatch = _DIMENSION_MISMATCH.search(str(error))
        if mismatch:
            return EmbeddingDimensionMismatch(int(mismatch.group(1)), int(mismatch.group(2)))
        return translate_failure(error, self._path, action)


def _settings() -> Settings:
    """Chroma settings that keep everything on this machine.

    Passed explicitly because Chroma's settings also read environment variables, and
    explicit values win over them: no variable can switch telemetry, tracing or a
    remote server back on. (Since chromadb 1.5 its product telemetry is a no-op anyway.)
    """
    from chromadb.config import Settings

    return Settings(
        anonymized_telemetry=False,
        allow_reset=False,
        chroma_product_telemetry_impl="chromadb.telemetry.product.posthog.Posthog",
        chroma_otel_granularity="none",
        chroma_api_impl="chromadb.api.rust.RustBindingsAPI",
    )


def _forget_failed_system(identifier: str) -> None:
    """chromadb caches the System of a path even when starting it failed; drop it so a
    retry (after the user fixes permissions, say) really opens the folder again."""
    from chromadb.api.shared_system_client import SharedSystemClient

    systems = getattr(SharedSystemClient, "_identifier_to_system", None)
    refcounts = getattr(SharedSystemClient, "_identifier_to_refcount", {})
    if isinstance(systems, dict) and not refcounts.get(identifier):
        systems.pop(identifier, None)


def _metadata_of(chunk: Chunk) -> dict[str, str | int]:
    """Chroma metadata for a chunk: the two fields searches filter on, and where the
    chunk comes from packed into one string. Not its text: that lives in the library's
    ``chunk_text`` rows, and ``RAGService`` takes every hit's text from there.

    Not Chroma's ``documents``: Chroma keeps a full-text index over those, which the app
    never queries (its keyword search is SQLite FTS5), and building it was about 0.4 ms
    of a write's 1.1 ms a chunk. Nor a field per attribute: each is a row and index entry
    of its own (about 0.2 ms a chunk more). Nor the text in the packed field: a second
    copy of every text that cost a quarter of the write (0.12 of 0.48 ms a chunk,
    ``python -m bench.store_write_cost``). Libraries written before keep their texts,
    documents and separate fields; ``_chunk_from`` reads them all.
    """
    packed = {
        "path": stored_path(chunk.path),
        "title": chunk.title,
        "heading_path": list(chunk.heading_path),
        "char_start": chunk.char_start,
        "char_end": chunk.char_end,
        "chunk_index": chunk.index,
        "page": chunk.page,
    }
    return {
        "document_id": chunk.document_id,
        "file_type": chunk.file_type,
        PACKED_FIELD: json.dumps(packed, ensure_ascii=False, separators=(",", ":")),
    }


def _filter_for(
    document_ids: Sequence[str] | None, file_types: Sequence[str] | None
) -> Where | None:
    conditions: list[Where] = []
    if document_ids is not None:
        conditions.append(_is_one_of("document_id", document_ids))
    if file_types is not None:
        conditions.append(_is_one_of("file_type", file_types))
    if not conditions:
        return None
    if len(conditions) == 1:
        return conditions[0]  # Chroma rejects an "$and" of a single condition
    return {"$and": conditions}


def _is_one_of(field: str, values: Sequence[str]) -> Where:
    allowed: list[LiteralValue] = list(values)
    condition: dict[InclusionExclusionOperator, list[LiteralValue]] = {"$in": allowed}
    return {field: condition}


def _chunk_from(chunk_id: str, text: str | None, metadata: Mapping[str, Any] | None) -> Chunk:
    metadata = metadata or {}
    packed = metadata.get(PACKED_FIELD)
    # Written by this version: the chunk packed in one field; before: one field each.
    fields: Mapping[str, Any] = json.loads(packed) if isinstance(packed, str) else metadata
    page = fields.get("page")
    heading_path = fields.get("heading_path", "[]")
    if isinstance(heading_path, str):
        heading_path = json.loads(heading_path)
    return Chunk(
        chunk_id=chunk_id,
        document_id=str(metadata.get("document_id", "")),
        index=int(fields.get("chunk_index", 0)),
        text=str(fields.get("text") or text or ""),
        path=path_from_stored(str(fields.get("path", ""))),
        title=str(fields.get("title", "")),
        page=int(page) if page is not None else None,
        heading_path=tuple(str(part) for part in heading_path),
        char_start=int(fields.get("char_start", 0)),
        char_end=int(fields.get("char_end", 0)),
        file_type=str(metadata.get("file_type", "")),
    )


def _hit_from(
    chunk_id: str, text: str | None, metadata: Mapping[str, Any] | None, distance: float
) -> VectorHit:
    # cosine distance -> cosine similarity
    return hit_from_chunk(_chunk_from(chunk_id, text, metadata), 1.0 - float(distance))


if TYPE_CHECKING:
    # mypy checks here that ChromaVectorStore fulfils the contract exactly.
    _contract_check: type[VectorStore] = ChromaVectorStore
