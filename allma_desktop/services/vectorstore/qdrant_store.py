"""The VectorStore contract on Qdrant: its local on-disk mode, or a Qdrant server.

One Qdrant collection per store collection, cosine distance, the chunk's fields in the
payload. Qdrant needs a vector size to create a collection, which ``ensure_collection``
does not know yet: such collections are remembered in a small registry collection
(``_allma_registry``) and created for real on their first ``add``.

Point ids are UUIDs derived from the chunk ids (Qdrant accepts only UUIDs and
integers), so adding a chunk again replaces it.

qdrant-client is imported only when the store is first used, so the app runs without it.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from allma_desktop.errors import AllmaError, EmbeddingDimensionMismatch
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
    from qdrant_client import QdrantClient
    from qdrant_client.http.models import Filter

log = logging.getLogger(__name__)

REGISTRY = "_allma_registry"
_BATCH = 256
_ID_NAMESPACE = uuid.UUID("6f1c1a52-5d0e-4c8e-9a77-1f6b3c0d2e41")


class QdrantVectorStore:
    """Collections of chunk embeddings in Qdrant: on disk under ``path`` when ``url``
    is empty, else on the server at ``url`` (with ``api_key`` when it asks for one)."""

    def __init__(self, path: Path | None = None, url: str = "", api_key: str = "") -> None:
        if path is None and not url:
            raise ValueError("QdrantVectorStore needs a folder or a server URL")
        self._path = Path(path) if path is not None else None
        self._url = url
        self._api_key = api_key
        self._client: QdrantClient | None = None
        self._dimensions: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def location(self) -> str:
        return self._url or str(self._path)

    # --- collections --------------------------------------------------------

    def ensure_collection(self, key: str) -> None:
        from qdrant_client.http import models

        client = self._connect()
        with self._failures(f"open collection {key}"):
            if client.collection_exists(key):
                return
            client.upsert(
                REGISTRY,
                points=[models.PointStruct(id=_point_id(key), vector=[1.0], payload={"key": key})],
            )

    def delete_collection(self, key: str) -> None:
        from qdrant_client.http import models

        client = self._connect()
        with self._failures(f"delete collection {key}"):
            if client.collection_exists(key):
                client.delete_collection(key)
            client.delete(REGISTRY, points_selector=models.PointIdsList(points=[_point_id(key)]))
            self._dimensions.pop(key, None)

    def list_collections(self) -> list[StoreCollection]:
        client = self._connect()
        with self._failures("list collections"):
            registered, _ = client.scroll(REGISTRY, limit=100_000, with_payload=True)
            keys = {str((point.payload or {})["key"]) for point in registered}
            keys.update(c.name for c in client.get_collections().collections if c.name != REGISTRY)
            return [StoreCollection(key=key, count=self.count(key)) for key in sorted(keys)]

    # --- writing ------------------------------------------------------------

    def add(self, key: str, chunks: Sequence[Chunk], embeddings: Sequence[Sequence[float]]) -> None:
        """Store chunks with their embeddings; a chunk already stored under the same
        ``chunk_id`` is replaced, so re-running an interrupted ingest is harmless."""
        if len(chunks) != len(embeddings):
            raise ValueError(f"{len(chunks)} chunks but {len(embeddings)} embeddings")
        if not chunks:
            self.ensure_collection(key)
            return
        from qdrant_client.http import models

        dimension = len(embeddings[0])
        if any(len(vector) != dimension for vector in embeddings):
            raise ValueError("embeddings must all have the same length")
        client = self._connect()
        with self._failures(f"store {len(chunks)} chunks in collection {key}"):
            self._check_dimension(key, dimension, create=True)
            for start in range(0, len(chunks), _BATCH):
                client.upsert(
                    key,
                    points=[
                        models.PointStruct(
                            id=_point_id(chunk.chunk_id),
                            vector=[float(x) for x in vector],
                            payload=_payload_of(chunk),
                        )
                        for chunk, vector in zip(
                            chunks[start : start + _BATCH],
                            embeddings[start : start + _BATCH],
                            strict=True,
                        )
                    ],
                )

    def delete_document(self, key: str, document_id: str) -> None:
        from qdrant_client.http import models

        client = self._connect()
        with self._failures(f"delete a document from collection {key}"):
            if client.collection_exists(key):
                selector = models.FilterSelector(filter=_document_filter(document_id))
                client.delete(key, points_selector=selector)

    def delete_chunks(self, key: str, chunk_ids: Sequence[str]) -> None:
        from qdrant_client.http import models

        client = self._connect()
        with self._failures(f"delete chunks from collection {key}"):
            if not chunk_ids or not client.collection_exists(key):
                return
            for start in range(0, len(chunk_ids), _BATCH):
                points: list[models.ExtendedPointId] = [
                    _point_id(chunk_id) for chunk_id in chunk_ids[start : start + _BATCH]
                ]
                client.delete(key, points_selector=models.PointIdsList(points=points))

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
        client = self._connect()
        with self._failures(f"search collection {key}"):
            if not self._check_dimension(key, len(embedding), create=False):
                return []
            found = client.query_points(
                key,
                query=[float(x) for x in embedding],
                limit=k,
                query_filter=_filter_for(document_ids, file_types),
                with_payload=True,
            ).points
        hits = [_hit_from(point.payload or {}, point.score) for point in found]
        return sorted(hits, key=lambda hit: hit.score, reverse=True)

    def similarities(
        self, key: str, embedding: Sequence[float], chunk_ids: Sequence[str]
    ) -> dict[str, float]:
        """The cosine similarity of ``embedding`` to each of ``chunk_ids``' stored vectors,
        computed exactly (no index); chunks not in the collection are left out."""
        if not chunk_ids:
            return {}
        client = self._connect()
        with self._failures(f"read vectors of collection {key}"):
            if not client.collection_exists(key):
                return {}
            points = client.retrieve(
                key,
                ids=[_point_id(chunk_id) for chunk_id in chunk_ids],
                with_payload=True,
                with_vectors=True,
            )
        vectors = {
            str((point.payload or {})["chunk_id"]): point.vector
            for point in points
            if isinstance(point.vector, list)
        }
        return cosine_similarities(embedding, vectors)

    def count(self, key: str, document_id: str | None = None) -> int:
        client = self._connect()
        with self._failures(f"count chunks in collection {key}"):
            if not client.collection_exists(key):
                return 0
            where = None if document_id is None else _document_filter(document_id)
            return client.count(key, count_filter=where, exact=True).count

    def chunk_ids(self, key: str, document_id: str | None = None) -> set[str]:
        where = None if document_id is None else _document_filter(document_id)
        return {
            str(payload["chunk_id"])
            for payload, _ in self._scroll(key, where, with_vectors=False, batch_size=1_000)
        }

    def export(
        self, key: str, batch_size: int = 1_000
    ) -> Iterator[tuple[list[Chunk], list[list[float]]]]:
        """Every chunk of ``key`` with its stored vector, in batches, in a stable order."""
        batch: list[tuple[dict[str, Any], list[float]]] = []
        for payload, vector in self._scroll(key, None, with_vectors=True, batch_size=batch_size):
            batch.append((payload, vector))
            if len(batch) == batch_size:
                yield [_chunk_from(p) for p, _ in batch], [v for _, v in batch]
                batch = []
        if batch:
            yield [_chunk_from(p) for p, _ in batch], [v for _, v in batch]

    # --- lifetime -----------------------------------------------------------

    def close(self) -> None:
        """Release the folder (local mode allows one client per folder) or the
        connection. Using the store again after ``close`` reopens it."""
        with self._lock:
            client, self._client = self._client, None
        self._dimensions.clear()
        if client is not None:
            with self._failures("close the vector store"):
                client.close()

    # --- internals ----------------------------------------------------------

    def _connect(self) -> QdrantClient:
        with self._lock:
            if self._client is None:
                self._client = self._open_client()
            return self._client

    def _open_client(self) -> QdrantClient:
        from qdrant_client import QdrantClient
        from qdrant_client.http import models

        with self._failures("open the vector store"):
            if self._url:
                client = QdrantClient(url=self._url, api_key=self._api_key or None, timeout=30)
            else:
                assert self._path is not None
                self._path.mkdir(parents=True, exist_ok=True)
                client = QdrantClient(path=str(self._path))
            try:
                if not client.collection_exists(REGISTRY):
                    client.create_collection(
                        REGISTRY,
                        vectors_config=models.VectorParams(size=1, distance=models.Distance.DOT),
                    )
            except Exception:
                client.close()
                raise
        return client

    def _check_dimension(self, key: str, dimension: int, *, create: bool) -> bool:
        """False when ``key`` holds no vectors yet (and ``create`` is off); raises when
        its vectors have another size."""
        from qdrant_client.http import models

        stored = self._dimensions.get(key)
        client = self._connect()
        if stored is None and client.collection_exists(key):
            vectors = client.get_collection(key).config.params.vectors
            if isinstance(vectors, models.VectorParams):
                stored = self._dimensions[key] = vectors.size
        if stored is None:
            if not create:
                return False
            client.create_collection(
                key,
                vectors_config=models.VectorParams(size=dimension, distance=models.Distance.COSINE),
            )
            self._dimensions[key] = dimension
            return True
        if stored != dimension:
            raise EmbeddingDimensionMismatch(stored, dimension)
        return True

    def _scroll(
        self, key: str, where: Filter | None, *, with_vectors: bool, batch_size: int
    ) -> Iterator[tuple[dict[str, Any], list[float]]]:
        client = self._connect()
        offset: Any = None
        while True:
            with self._failures(f"read collection {key}"):
                if not client.collection_exists(key):
                    return
                points, offset = client.scroll(
                    key,
                    scroll_filter=where,
                    limit=batch_size,
                    offset=offset,
                    with_payload=True,
                    with_vectors=with_vectors,
                )
            for point in points:
                vector = point.vector if isinstance(point.vector, list) else []
                yield dict(point.payload or {}), [float(x) for x in vector]  # type: ignore[arg-type]
            if offset is None:
                return

    def _failures(self, action: str) -> AbstractContextManager[None]:
        return reporting_failures(self.location, action, self._translate)

    def _translate(self, error: Exception, action: str) -> AllmaError:
        detail = str(error) or type(error).__name__
        lowered = detail.lower()
        if "already accessed by another instance" in lowered:
            return AllmaError(
                f"The Qdrant folder {self._path} is in use by another program.",
                "Close the other Allma window (or program using it) and try again.",
            )
        if self._url:
            status = getattr(error, "status_code", None)
            if status in (401, 403) or "unauthorized" in lowered or "forbidden" in lowered:
                return AllmaError(
                    f"The Qdrant server at {self._url} refused the API key.",
                    "Check QDRANT_API_KEY / the API key in Settings.",
                )
            if status is None and ("connect" in lowered or "timed out" in lowered):
                return AllmaError(
                    f"The Qdrant server at {self._url} is not reachable ({detail}).",
                    "Check that it is running and that QDRANT_URL / the address in Settings "
                    "is right (including http or https and the port, usually 6333).",
                )
        return translate_failure(error, self.location, action)


def _point_id(name: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, name))


def _filter_for(
    document_ids: Sequence[str] | None, file_types: Sequence[str] | None
) -> Filter | None:
    from qdrant_client.http import models

    conditions: list[models.Condition] = []
    for field, values in (("document_id", document_ids), ("file_type", file_types)):
        if values is not None:
            conditions.append(
                models.FieldCondition(key=field, match=models.MatchAny(any=list(values)))
            )
    return models.Filter(must=conditions) if conditions else None


def _document_filter(document_id: str) -> Filter:
    from qdrant_client.http import models

    condition = models.FieldCondition(key="document_id", match=models.MatchValue(value=document_id))
    return models.Filter(must=[condition])


def _payload_of(chunk: Chunk) -> dict[str, Any]:
    return {
        "chunk_id": chunk.chunk_id,
        "document_id": chunk.document_id,
        "index": chunk.index,
        "text": chunk.text,
        "path": stored_path(chunk.path),
        "title": chunk.title,
        "page": chunk.page,
        "heading_path": list(chunk.heading_path),
        "char_start": chunk.char_start,
        "char_end": chunk.char_end,
        "file_type": chunk.file_type,
    }


def _chunk_from(payload: dict[str, Any]) -> Chunk:
    page = payload.get("page")
    return Chunk(
        chunk_id=str(payload["chunk_id"]),
        document_id=str(payload["document_id"]),
        index=int(payload.get("index", 0)),
        text=str(payload.get("text", "")),
        path=path_from_stored(str(payload.get("path", ""))),
        title=str(payload.get("title", "")),
        page=int(page) if page is not None else None,
        heading_path=tuple(payload.get("heading_path", ())),
        char_start=int(payload.get("char_start", 0)),
        char_end=int(payload.get("char_end", 0)),
        file_type=str(payload.get("file_type", "")),
    )


def _hit_from(payload: dict[str, Any], score: float) -> VectorHit:
    return hit_from_chunk(_chunk_from(payload), score)


if TYPE_CHECKING:
    _contract_check: type[VectorStore] = QdrantVectorStore
