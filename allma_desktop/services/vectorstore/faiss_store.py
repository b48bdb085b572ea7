"""The VectorStore contract on FAISS, for libraries too large for Chroma to search quickly.

Layout of the store folder::

    faiss-store.sqlite3   every chunk: its id, text, metadata and vector (the truth;
                          ``faiss_records``)
    <key>.faiss           one search index per collection (a cache of the vectors above;
                          ``faiss_index``, which also says which kind of index when)

Crash consistency: a write commits to SQLite first and bumps the collection's
``generation``. Index files are written atomically (temporary file, fsync, rename,
fsync of the folder) and SQLite records which generation each one holds. An index
file whose generation is not current (a crash before ``close``) is brought up to date
from SQLite before use: ids are never reused, so the file is an earlier state of the
collection and only newer rows need adding (and deleted ones removing). A file that
cannot be read is rebuilt from SQLite. Either way the searchable vectors equal the
stored ones.

Approximate indexes (HNSW, IVF) are built in a background thread from a snapshot of
SQLite while the index in use keeps answering; what is written meanwhile is added
outside the lock too, so searches and writes wait only for the last few rows.

faiss is imported only when the store is first used, so the app runs without it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from allma_desktop.errors import AllmaError, EmbeddingDimensionMismatch, StoreNotWritable
from allma_desktop.services.documents.model import Chunk
from allma_desktop.services.vectorstore import faiss_records as records
from allma_desktop.services.vectorstore.base import (
    StoreCollection,
    VectorHit,
    VectorStore,
    cosine_similarities,
    matches_nothing,
)
from allma_desktop.services.vectorstore.failures import reporting_failures, translate_failure
from allma_desktop.services.vectorstore.faiss_index import (
    DEFAULT_HNSW_THRESHOLD,
    DEFAULT_IVF_THRESHOLD,
    IndexKind,
    LiveIndex,
    Thresholds,
    indexed_ids,
    ivf_training_size,
    new_index,
    outgrown,
    read_index,
    search_parameters,
    train,
    write_atomically,
)

log = logging.getLogger(__name__)

DATABASE_NAME = records.DATABASE_NAME
_EXACT_FILTER_LIMIT = 10_000  # filters matching fewer chunks are searched exactly
_CATCH_UP_UNDER_LOCK = 2_000  # a rebuild adds at most this many rows holding the lock
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


class FaissVectorStore:
    """Collections of chunk embeddings in FAISS indexes under ``path``.

    Thread-safe: one lock guards SQLite and the in-memory indexes; only the HNSW
    build runs outside it.
    """

    def __init__(
        self,
        path: Path,
        hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD,
        ivf_threshold: int = DEFAULT_IVF_THRESHOLD,
    ) -> None:
        self._path = Path(path)
        self._thresholds = Thresholds(hnsw_threshold, max(ivf_threshold, hnsw_threshold))
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._indexes: dict[str, LiveIndex] = {}
        self._rebuilds: dict[str, threading.Thread] = {}

    @property
    def path(self) -> Path:
        return self._path

    # --- collections --------------------------------------------------------

    def ensure_collection(self, key: str) -> None:
        _check_key(key)
        with self._lock, self._failures(f"open collection {key}"):
            db = self._connect()
            with db:
                db.execute("INSERT OR IGNORE INTO collections (key) VALUES (?)", (key,))

    def delete_collection(self, key: str) -> None:
        _check_key(key)
        self._wait_for_rebuild(key)
        with self._lock, self._failures(f"delete collection {key}"):
            db = self._connect()
            with db:
                db.execute("DELETE FROM chunks WHERE collection = ?", (key,))
                db.execute("DELETE FROM collections WHERE key = ?", (key,))
            self._indexes.pop(key, None)
            self._index_file(key).unlink(missing_ok=True)

    def list_collections(self) -> list[StoreCollection]:
        with self._lock, self._failures("list collections"):
            rows = (
                self._connect()
                .execute(
                    "SELECT key, (SELECT COUNT(*) FROM chunks WHERE collection = key) "
                    "FROM collections ORDER BY key"
                )
                .fetchall()
            )
        return [StoreCollection(key=key, count=count) for key, count in rows]

    # --- writing ------------------------------------------------------------

    def add(self, key: str, chunks: Sequence[Chunk], embeddings: Sequence[Sequence[float]]) -> None:
        """Store chunks with their embeddings; a chunk already stored under the same
        ``chunk_id`` is replaced, so re-running an interrupted ingest is harmless."""
        if len(chunks) != len(embeddings):
            raise ValueError(f"{len(chunks)} chunks but {len(embeddings)} embeddings")
        self.ensure_collection(key)
        if not chunks:
            return
        vectors = _normalised(np.asarray(embeddings, dtype=np.float32))
        with self._lock, self._failures(f"store {len(chunks)} chunks in collection {key}"):
            db = self._connect()
            self._check_dimension(key, vectors.shape[1], claim=True)
            self._live_index(key)  # loaded before the write, which it then receives
            with db:
                replaced = records.ids_of_chunks(db, key, [chunk.chunk_id for chunk in chunks])
                records.delete_ids(db, replaced)
                ids = records.insert_chunks(db, key, chunks, vectors)
                records.bump_generation(db, key)
            self._update_index(key, removed=replaced, added_ids=ids, added_vectors=vectors)

    def delete_document(self, key: str, document_id: str) -> None:
        with self._lock, self._failures(f"delete a document from collection {key}"):
            db = self._connect()
            ids = [
                row[0]
                for row in db.execute(
                    "SELECT id FROM chunks WHERE collection = ? AND document_id = ?",
                    (key, document_id),
                )
            ]
            self._delete(key, ids)

    def delete_chunks(self, key: str, chunk_ids: Sequence[str]) -> None:
        if not chunk_ids:
            return
        with self._lock, self._failures(f"delete chunks from collection {key}"):
            db = self._connect()
            self._delete(key, records.ids_of_chunks(db, key, list(chunk_ids)))

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
        query = _normalised(np.asarray([embedding], dtype=np.float32))
        with self._lock, self._failures(f"search collection {key}"):
            db = self._connect()
            if not self._check_dimension(key, query.shape[1], claim=False):
                return []
            live = self._live_index(key)
            if live is None or live.index.ntotal == 0:
                return []
            if document_ids is None and file_types is None:
                scores, ids = self._search_everything(live, query, k)
            else:
                allowed = self._ids_matching(key, document_ids, file_types)
                if allowed.size == 0:
                    return []
                scores, ids = self._search_among(live, query, k, allowed)
            hits = records.hits_for(db, ids, scores)
        return sorted(hits, key=lambda hit: hit.score, reverse=True)[:k]

    def similarities(
        self, key: str, embedding: Sequence[float], chunk_ids: Sequence[str]
    ) -> dict[str, float]:
        """The cosine similarity of ``embedding`` to each of ``chunk_ids``' stored vectors,
        computed exactly (from SQLite, not the index); chunks not in the collection are
        left out."""
        if not chunk_ids:
            return {}
        wanted = list(dict.fromkeys(chunk_ids))
        with self._lock, self._failures(f"read vectors of collection {key}"):
            db = self._connect()
            rows = db.execute(
                f"SELECT chunk_id, vector FROM chunks WHERE collection = ? AND chunk_id IN"
                f" ({', '.join('?' * len(wanted))})",
                (key, *wanted),
            ).fetchall()
        vectors = {chunk_id: np.frombuffer(vector, dtype=np.float32) for chunk_id, vector in rows}
        return cosine_similarities(embedding, vectors)

    def count(self, key: str, document_id: str | None = None) -> int:
        with self._lock, self._failures(f"count chunks in collection {key}"):
            db = self._connect()
            if document_id is None:
                row = db.execute("SELECT COUNT(*) FROM chunks WHERE collection = ?", (key,))
            else:
                row = db.execute(
                    "SELECT COUNT(*) FROM chunks WHERE collection = ? AND document_id = ?",
                    (key, document_id),
                )
            return int(row.fetchone()[0])

    def chunk_ids(self, key: str, document_id: str | None = None) -> set[str]:
        with self._lock, self._failures(f"list chunks in collection {key}"):
            db = self._connect()
            if document_id is None:
                rows = db.execute("SELECT chunk_id FROM chunks WHERE collection = ?", (key,))
            else:
                rows = db.execute(
                    "SELECT chunk_id FROM chunks WHERE collection = ? AND document_id = ?",
                    (key, document_id),
                )
            return {row[0] for row in rows}

    def export(
        self, key: str, batch_size: int = 1_000
    ) -> Iterator[tuple[list[Chunk], list[list[float]]]]:
        """Every chunk of ``key`` with its stored (normalised) vector, in batches, in a
        stable order (so a copy can resume after the chunks it already has)."""
        last_id = 0
        while True:
            with self._lock, self._failures(f"read collection {key}"):
                rows = (
                    self._connect()
                    .execute(
                        "SELECT id, chunk_id, document_id, file_type, text, metadata, vector "
                        "FROM chunks WHERE collection = ? AND id > ? ORDER BY id LIMIT ?",
                        (key, last_id, batch_size),
                    )
                    .fetchall()
                )
            if not rows:
                return
            last_id = rows[-1][0]
            chunks = [records.chunk_from(*row[1:6]) for row in rows]
            vectors = [np.frombuffer(row[6], dtype=np.float32).tolist() for row in rows]
            yield chunks, vectors

    # --- lifetime -----------------------------------------------------------

    def wait_for_background_work(self) -> None:
        """Block until every background index rebuild has finished."""
        for key in list(self._rebuilds):
            self._wait_for_rebuild(key)

    def is_approximate(self, key: str) -> bool:
        """Whether ``key`` is searched through an HNSW graph or IVF cells (else exactly)."""
        return self.index_kind(key) not in (None, "exact")

    def index_kind(self, key: str) -> IndexKind | None:
        """How ``key`` is searched now (None: no vectors yet)."""
        with self._lock, self._failures(f"open collection {key}"):
            self._connect()
            live = self._live_index(key)
            return live.kind if live is not None else None

    def close(self) -> None:
        """Finish background rebuilds, write changed indexes to disk, release SQLite.

        Using the store again after ``close`` reopens it."""
        self.wait_for_background_work()
        with self._lock:
            if self._db is None:
                return
            try:
                with self._failures("save the search indexes"):
                    for key, live in self._indexes.items():
                        if live.dirty:
                            self._save_index(key, live)
            finally:
                self._indexes.clear()
                db, self._db = self._db, None
                db.close()

    # --- internals: storage -------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        try:
            self._path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise translate_failure(error, self._path, "create the vector store folder") from error
        if not os.access(self._path, os.W_OK | os.X_OK):
            raise StoreNotWritable(self._path)
        self._db = records.open_database(self._path)
        return self._db

    def _check_dimension(self, key: str, dimension: int, *, claim: bool) -> bool:
        """False when ``key`` does not exist; raises when its vectors have another size.
        With ``claim`` an empty collection takes ``dimension`` as its own."""
        db = self._connect()
        row = db.execute("SELECT dimension FROM collections WHERE key = ?", (key,)).fetchone()
        if row is None:
            return False
        stored = row[0]
        if stored is None or (claim and stored != dimension and not self._has_chunks(key)):
            if claim:
                with db:
                    db.execute(
                        "UPDATE collections SET dimension = ? WHERE key = ?", (dimension, key)
                    )
                self._indexes.pop(key, None)
            return True
        if stored != dimension:
            raise EmbeddingDimensionMismatch(int(stored), dimension)
        return True

    def _has_chunks(self, key: str) -> bool:
        db = self._connect()
        return (
            db.execute("SELECT 1 FROM chunks WHERE collection = ? LIMIT 1", (key,)).fetchone()
            is not None
        )

    def _ids_matching(
        self, key: str, document_ids: Sequence[str] | None, file_types: Sequence[str] | None
    ) -> np.ndarray:
        sql = "SELECT id FROM chunks WHERE collection = ?"
        parameters: list[str] = [key]
        for column, values in (("document_id", document_ids), ("file_type", file_types)):
            if values is not None:
                # A JSON array keeps the statement's variable count fixed however many values.
                sql += f" AND {column} IN (SELECT value FROM json_each(?))"
                parameters.append(json.dumps(list(values)))
        rows = self._connect().execute(sql, parameters).fetchall()
        return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))

    def _delete(self, key: str, ids: list[int]) -> None:
        if not ids:
            return
        db = self._connect()
        with db:
            records.delete_ids(db, ids)
            records.bump_generation(db, key)
        self._update_index(key, removed=ids, added_ids=None, added_vectors=None)

    # --- internals: indexes -------------------------------------------------

    def _index_file(self, key: str) -> Path:
        return self._path / f"{key}.faiss"

    def _live_index(self, key: str) -> LiveIndex | None:
        """The in-memory index of ``key``: loaded from its file (and brought up to date),
        else an exact one built from SQLite at once, with any approximate index that the
        collection's size calls for then built in the background."""
        live = self._indexes.get(key)
        if live is not None:
            return live
        db = self._connect()
        row = db.execute(
            "SELECT dimension, generation, saved_generation FROM collections WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None or row[0] is None:
            return None
        dimension, generation, saved_generation = row
        live = self._load_index(key)
        if live is not None and live.index.d != dimension:
            live = None
        if live is not None and saved_generation != generation:
            self._catch_up(db, key, live)
        if live is None:
            # Exact: the quickest to build (an HNSW graph of 1M chunks takes an hour).
            live = self._build_index(db, key, dimension, "exact", up_to_id=None)
        live.stale = max(0, live.index.ntotal - self.count(key))
        self._indexes[key] = live
        self._rebuild_if_due(key, live)
        return live

    def _catch_up(self, db: sqlite3.Connection, key: str, live: LiveIndex) -> None:
        """Bring an index file from before a crash up to SQLite's state.

        Ids are never reused, so any index file is an earlier state of the collection:
        what it lacks are the rows with higher ids; what it has too many of are rows
        deleted since (removed from an exact index; an approximate one keeps them as
        stale entries, which searches drop and which a rebuild clears)."""
        indexed = indexed_ids(live.index)
        newest = int(indexed.max()) if indexed.size else 0
        log.info("Index of %s is older than its chunks; catching up after id %d", key, newest)
        self._add_rows_after(db, key, live, newest, up_to_id=None)
        self._remove_deleted(db, key, live)
        live.dirty = True

    def _add_rows_after(
        self,
        db: sqlite3.Connection,
        key: str,
        live: LiveIndex,
        after_id: int,
        up_to_id: int | None,
    ) -> int:
        """Add ``key``'s rows with ids in ``(after_id, up_to_id]`` to ``live``; returns
        the last id added (``after_id`` when there was none)."""
        while True:
            ids, vectors = records.vectors_after(db, key, after_id, up_to_id)
            if ids.size == 0:
                return after_id
            live.index.add_with_ids(vectors, ids)
            after_id = int(ids[-1])

    def _remove_deleted(self, db: sqlite3.Connection, key: str, live: LiveIndex) -> None:
        """Drop from an exact index the rows deleted from SQLite (approximate indexes
        keep them as stale entries)."""
        import faiss

        if live.approximate:
            return
        deleted = np.setdiff1d(indexed_ids(live.index), records.stored_ids(db, key))
        if deleted.size:
            live.index.remove_ids(faiss.IDSelectorBatch(deleted))

    def _load_index(self, key: str) -> LiveIndex | None:
        file = self._index_file(key)
        try:
            return read_index(file)
        except RuntimeError:
            log.warning("Index file %s is unreadable; rebuilding it", file, exc_info=True)
            return None

    def _build_index(
        self,
        db: sqlite3.Connection,
        key: str,
        dimension: int,
        kind: IndexKind,
        up_to_id: int | None,
    ) -> LiveIndex:
        """A fresh index of ``key``'s vectors (with ids up to ``up_to_id``, when given)."""
        count = self.count_in(db, key)
        index = new_index(dimension, kind, count)
        if kind == "ivf":
            train(index, records.sample_vectors(db, key, count, ivf_training_size(count)))
        live = LiveIndex(index, kind, dirty=True)
        self._add_rows_after(db, key, live, 0, up_to_id)
        return live

    @staticmethod
    def count_in(db: sqlite3.Connection, key: str) -> int:
        row = db.execute("SELECT COUNT(*) FROM chunks WHERE collection = ?", (key,))
        return int(row.fetchone()[0])

    def _update_index(
        self,
        key: str,
        removed: list[int],
        added_ids: np.ndarray | None,
        added_vectors: np.ndarray | None,
    ) -> None:
        """Apply a write already committed to SQLite to the in-memory index."""
        import faiss

        live = self._indexes.get(key)
        if live is None:
            return  # built from SQLite, with this write, when next searched
        try:
            if removed and live.approximate:
                live.stale += len(removed)
            elif removed:
                live.index.remove_ids(faiss.IDSelectorBatch(np.asarray(removed, dtype=np.int64)))
            if added_ids is not None and added_vectors is not None:
                live.index.add_with_ids(added_vectors, added_ids)
            live.dirty = True
        except Exception:
            self._indexes.pop(key, None)  # rebuilt from SQLite on next use
            raise
        self._rebuild_if_due(key, live)

    def _rebuild_if_due(self, key: str, live: LiveIndex) -> None:
        if key in self._rebuilds:
            return
        stored = live.index.ntotal - live.stale
        due = (
            self._thresholds.kind_for(stored, live.kind) != live.kind
            or (live.approximate and live.stale > max(1_000, stored // 10))
            or outgrown(live)
        )
        if due:
            thread = threading.Thread(
                target=self._rebuild, args=(key,), name=f"faiss-rebuild-{key}", daemon=True
            )
            self._rebuilds[key] = thread
            thread.start()

    def _rebuild(self, key: str) -> None:
        """Build ``key``'s index anew from a snapshot of SQLite, outside the lock; add
        what was written meanwhile (also outside the lock, but for the last few rows)
        and swap it in. Starts over when the collection has grown into another kind
        of index meanwhile (a library being ingested quickly)."""
        try:
            reader = sqlite3.connect(self._path / DATABASE_NAME, check_same_thread=False)
            try:
                rebuilt = self._rebuild_outside_lock(reader, key)
            finally:
                reader.close()
            if rebuilt is None:
                return
            live, caught_up_to = rebuilt
            with self._lock:
                if key not in self._indexes:
                    return  # collection deleted, or its index dropped, meanwhile
                db = self._connect()
                self._add_rows_after(db, key, live, caught_up_to, up_to_id=None)
                self._remove_deleted(db, key, live)
                live.stale = max(0, live.index.ntotal - self.count(key))
                self._indexes[key] = live
                self._save_index(key, live)
        except Exception:
            log.warning("Rebuilding the search index of %s failed", key, exc_info=True)
        finally:
            self._rebuilds.pop(key, None)

    def _rebuild_outside_lock(
        self, reader: sqlite3.Connection, key: str
    ) -> tuple[LiveIndex, int] | None:
        while True:
            with reader:  # one read transaction: a consistent snapshot
                reader.execute("BEGIN")
                row = reader.execute(
                    "SELECT dimension FROM collections WHERE key = ?", (key,)
                ).fetchone()
                if row is None or row[0] is None:
                    return None
                count = self.count_in(reader, key)
                kind = self._thresholds.kind_for(count, self._current_kind(key))
                snapshot_id = records.newest_id(reader)
                live = self._build_index(reader, key, row[0], kind, snapshot_id)
            caught_up_to = snapshot_id
            while True:
                newest = records.newest_id(reader)
                if newest - caught_up_to <= _CATCH_UP_UNDER_LOCK:
                    return live, caught_up_to
                if self._thresholds.kind_for(self.count_in(reader, key), kind) != kind:
                    break  # grown past another threshold: build that kind instead
                caught_up_to = self._add_rows_after(reader, key, live, caught_up_to, newest)
                caught_up_to = max(caught_up_to, newest)

    def _current_kind(self, key: str) -> IndexKind | None:
        live = self._indexes.get(key)
        return live.kind if live is not None else None

    def _wait_for_rebuild(self, key: str) -> None:
        thread = self._rebuilds.get(key)
        if thread is not None:
            thread.join()

    def _save_index(self, key: str, live: LiveIndex) -> None:
        """Write the index atomically and record which generation it holds."""
        db = self._connect()
        generation = db.execute(
            "SELECT generation FROM collections WHERE key = ?", (key,)
        ).fetchone()
        if generation is None:
            return
        write_atomically(live.index, self._index_file(key))
        with db:
            db.execute(
                "UPDATE collections SET saved_generation = ? WHERE key = ?", (generation[0], key)
            )
        live.dirty = False

    def _search_everything(
        self, live: LiveIndex, query: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        # Deleted chunks still in the index (an approximate one cannot drop them) take
        # places in the results: fetch more.
        fetch = min(k + live.stale, live.index.ntotal)
        params = search_parameters(live.kind, None, fetch)
        scores, ids = live.index.search(query, fetch, params=params)
        return scores[0], ids[0]

    def _search_among(
        self, live: LiveIndex, query: np.ndarray, k: int, allowed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        fetch = min(k, allowed.size)
        if live.approximate and allowed.size <= _EXACT_FILTER_LIMIT:
            # An approximate search restricted to few chunks can miss some: score them all.
            vectors = live.index.reconstruct_batch(allowed)
            scores = vectors @ query[0]
            best = np.argsort(-scores)[:fetch]
            return scores[best], allowed[best]
        selector = faiss.IDSelectorBatch(allowed)
        params = search_parameters(live.kind, selector, 4 * k)
        scores, ids = live.index.search(query, fetch, params=params)
        return scores[0], ids[0]

    def _failures(self, action: str) -> AbstractContextManager[None]:
        return reporting_failures(self._path, action)


def _check_key(key: str) -> None:
    # Keys name index files: anything else could write outside the store folder.
    if not _SAFE_KEY.match(key):
        raise AllmaError(
            f"{key!r} is not a valid collection key for the FAISS store.",
            "Collection keys are letters, digits, '_', '.' and '-'; please report this bug.",
        )


def _normalised(vectors: np.ndarray) -> np.ndarray:
    if vectors.ndim != 2:
        raise ValueError("embeddings must all have the same length")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0  # a zero vector stays zero: similar to nothing
    normalised: np.ndarray = np.ascontiguousarray(vectors / norms, dtype=np.float32)
    return normalised


if TYPE_CHECKING:
    _contract_check: type[VectorStore] = FaissVectorStore
