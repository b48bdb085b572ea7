"""The VectorStore contract on FAISS, for libraries too large for Chroma to search quickly.

Layout of the store folder::

    faiss-store.sqlite3   every chunk: its id, text, metadata and vector (the truth)
    <key>.faiss           one search index per collection (a cache of the vectors above)

Why a SQLite file of its own and not the app's database: the app's SQLite belongs to
the library service (its schema, migrations and connection); a file next to the index
keeps this backend self-contained like Chroma's folder, so it can be backed up, moved
or deleted as one, and ``allma store migrate`` can build it beside the old store.

Crash consistency: a write commits to SQLite first and bumps the collection's
``generation``. Index files are written atomically (temporary file, fsync, rename,
fsync of the folder) and SQLite records which generation each one holds. An index
file whose generation is not current (a crash before ``close``) is brought up to date
from SQLite before use: ids are never reused, so the file is an earlier state of the
collection and only newer rows need adding (and deleted ones removing). A file that
cannot be read is rebuilt from SQLite. Either way the searchable vectors equal the
stored ones.

Search is exact (``IndexFlatIP`` over normalised vectors: cosine similarity) up to
``hnsw_threshold`` chunks; beyond it an HNSW graph is built in a background thread
while the exact index keeps answering. HNSW cannot remove vectors, so deleted chunks
stay in the graph until the next rebuild and are dropped from results (their rows are
gone from SQLite); a rebuild starts once they are more than a tenth of the collection.

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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from allma_desktop.errors import AllmaError, EmbeddingDimensionMismatch, StoreNotWritable
from allma_desktop.services.documents.model import Chunk
from allma_desktop.services.vectorstore.base import (
    StoreCollection,
    VectorHit,
    VectorStore,
    matches_nothing,
)
from allma_desktop.services.vectorstore.failures import reporting_failures, translate_failure

if TYPE_CHECKING:
    import faiss

log = logging.getLogger(__name__)

DATABASE_NAME = "faiss-store.sqlite3"
DEFAULT_HNSW_THRESHOLD = 50_000
_HNSW_NEIGHBOURS = 32  # M: 32 keeps recall@10 above 0.95 on 768-dim text embeddings
_HNSW_BUILD_DEPTH = 80  # efConstruction
_HNSW_MIN_SEARCH_DEPTH = 64  # efSearch floor
_EXACT_FILTER_LIMIT = 10_000  # filters matching fewer chunks are searched exactly
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_READ_BATCH = 10_000
_SQL_VARIABLES = 900  # below SQLite's oldest limit on "?" per statement

_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    key TEXT PRIMARY KEY,
    dimension INTEGER,
    generation INTEGER NOT NULL DEFAULT 0,
    saved_generation INTEGER NOT NULL DEFAULT -1
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: ids live on in HNSW graphs
    collection TEXT NOT NULL,
    chunk_id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    file_type TEXT NOT NULL,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL,
    vector BLOB NOT NULL,
    UNIQUE (collection, chunk_id)
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks (collection, document_id);
CREATE INDEX IF NOT EXISTS chunks_by_file_type ON chunks (collection, file_type);
"""


@dataclass
class _LiveIndex:
    index: faiss.IndexIDMap2
    approximate: bool
    dirty: bool  # differs from the index file on disk
    stale: int = 0  # deleted chunks still in the index (an HNSW graph cannot drop them)


class FaissVectorStore:
    """Collections of chunk embeddings in FAISS indexes under ``path``.

    Thread-safe: one lock guards SQLite and the in-memory indexes; only the HNSW
    build runs outside it.
    """

    def __init__(self, path: Path, hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD) -> None:
        self._path = Path(path)
        self._hnsw_threshold = hnsw_threshold
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._indexes: dict[str, _LiveIndex] = {}
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
                replaced = self._ids_of_chunks(key, [chunk.chunk_id for chunk in chunks])
                _delete_ids(db, replaced)
                first_id = _next_id(db)
                ids = np.arange(first_id, first_id + len(chunks), dtype=np.int64)
                db.executemany(
                    "INSERT INTO chunks (id, collection, chunk_id, document_id, file_type, "
                    "text, metadata, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        (
                            int(row_id),
                            key,
                            chunk.chunk_id,
                            chunk.document_id,
                            chunk.file_type,
                            chunk.text,
                            _metadata_of(chunk),
                            vector.tobytes(),
                        )
                        for row_id, chunk, vector in zip(ids, chunks, vectors, strict=True)
                    ),
                )
                _bump_generation(db, key)
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
            self._connect()
            self._delete(key, self._ids_of_chunks(key, list(chunk_ids)))

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
            hits = self._hits_for(db, ids, scores)
        return sorted(hits, key=lambda hit: hit.score, reverse=True)[:k]

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
            chunks = [_chunk_from(*row[1:6]) for row in rows]
            vectors = [np.frombuffer(row[6], dtype=np.float32).tolist() for row in rows]
            yield chunks, vectors

    # --- lifetime -----------------------------------------------------------

    def wait_for_background_work(self) -> None:
        """Block until every background index rebuild has finished."""
        for key in list(self._rebuilds):
            self._wait_for_rebuild(key)

    def is_approximate(self, key: str) -> bool:
        """Whether ``key`` is searched through an HNSW graph (else exactly)."""
        with self._lock, self._failures(f"open collection {key}"):
            self._connect()
            live = self._live_index(key)
            return live is not None and live.approximate

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
        db = sqlite3.connect(self._path / DATABASE_NAME, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.executescript(_SCHEMA)
        except Exception:
            db.close()
            raise
        self._db = db
        return db

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

    def _ids_of_chunks(self, key: str, chunk_ids: list[str]) -> list[int]:
        db = self._connect()
        found: list[int] = []
        for start in range(0, len(chunk_ids), _SQL_VARIABLES):
            batch = chunk_ids[start : start + _SQL_VARIABLES]
            marks = ",".join("?" * len(batch))
            found.extend(
                row[0]
                for row in db.execute(
                    f"SELECT id FROM chunks WHERE collection = ? AND chunk_id IN ({marks})",
                    (key, *batch),
                )
            )
        return found

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
            _delete_ids(db, ids)
            _bump_generation(db, key)
        self._update_index(key, removed=ids, added_ids=None, added_vectors=None)

    def _hits_for(
        self, db: sqlite3.Connection, ids: np.ndarray, scores: np.ndarray
    ) -> list[VectorHit]:
        score_of = {
            int(row_id): float(score)
            for row_id, score in zip(ids, scores, strict=True)
            if row_id >= 0
        }
        if not score_of:
            return []
        marks = ",".join("?" * len(score_of))
        rows = db.execute(
            f"SELECT id, chunk_id, document_id, file_type, text, metadata FROM chunks "
            f"WHERE id IN ({marks})",
            list(score_of),
        ).fetchall()
        # Ids missing from SQLite are chunks deleted since the HNSW graph was built.
        return [_hit_from(*row[1:], score=score_of[row[0]]) for row in rows]

    # --- internals: indexes -------------------------------------------------

    def _index_file(self, key: str) -> Path:
        return self._path / f"{key}.faiss"

    def _live_index(self, key: str) -> _LiveIndex | None:
        """The in-memory index of ``key``: loaded from its file when that is current,
        else rebuilt from SQLite."""
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
            live = self._build_index(db, key, dimension, approximate=None, up_to_id=None)
        live.stale = max(0, live.index.ntotal - self.count(key))
        self._indexes[key] = live
        return live

    def _catch_up(self, db: sqlite3.Connection, key: str, live: _LiveIndex) -> None:
        """Bring an index file from before a crash up to SQLite's state.

        Ids are never reused, so any index file is an earlier state of the collection:
        what it lacks are the rows with higher ids; what it has too many of are rows
        deleted since (removed from an exact index; an HNSW graph keeps them as stale
        entries, which searches drop and which a rebuild clears)."""
        import faiss

        indexed = faiss.vector_to_array(live.index.id_map)
        newest = int(indexed.max()) if indexed.size else 0
        log.info("Index of %s is older than its chunks; catching up after id %d", key, newest)
        rows = db.execute(
            "SELECT id, vector FROM chunks WHERE collection = ? AND id > ? ORDER BY id",
            (key, newest),
        ).fetchall()
        if rows:
            ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
            vectors = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float32)
            live.index.add_with_ids(vectors.reshape(len(rows), live.index.d), ids)
        if not live.approximate:
            stored = np.fromiter(
                (r[0] for r in db.execute("SELECT id FROM chunks WHERE collection = ?", (key,))),
                dtype=np.int64,
            )
            deleted = np.setdiff1d(indexed, stored, assume_unique=True)
            if deleted.size:
                live.index.remove_ids(faiss.IDSelectorBatch(deleted))
        live.dirty = True

    def _load_index(self, key: str) -> _LiveIndex | None:
        import faiss

        file = self._index_file(key)
        if not file.exists():
            return None
        try:
            loaded = faiss.read_index(str(file))
        except RuntimeError:
            log.warning("Index file %s is unreadable; rebuilding it", file, exc_info=True)
            return None
        # read_index gives the most derived class already; a downcast copy would not own
        # the index, which would be freed with ``loaded``.
        if not isinstance(loaded, faiss.IndexIDMap2):
            return None
        inner = faiss.downcast_index(loaded.index)
        return _LiveIndex(loaded, isinstance(inner, faiss.IndexHNSW), dirty=False)

    def _build_index(
        self,
        db: sqlite3.Connection,
        key: str,
        dimension: int,
        approximate: bool | None,
        up_to_id: int | None,
    ) -> _LiveIndex:
        """A fresh index of ``key``'s vectors (with ids up to ``up_to_id``, when given)."""
        if approximate is None:
            count = db.execute("SELECT COUNT(*) FROM chunks WHERE collection = ?", (key,))
            approximate = int(count.fetchone()[0]) > self._hnsw_threshold
        index = _new_index(dimension, approximate)
        last_id = 0
        limit = up_to_id if up_to_id is not None else 2**62
        while True:
            rows = db.execute(
                "SELECT id, vector FROM chunks WHERE collection = ? AND id > ? AND id <= ? "
                "ORDER BY id LIMIT ?",
                (key, last_id, limit, _READ_BATCH),
            ).fetchall()
            if not rows:
                break
            last_id = rows[-1][0]
            ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
            vectors = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float32)
            index.add_with_ids(vectors.reshape(len(rows), dimension), ids)
        return _LiveIndex(index, approximate, dirty=True)

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

    def _rebuild_if_due(self, key: str, live: _LiveIndex) -> None:
        if key in self._rebuilds:
            return
        stored = live.index.ntotal - live.stale
        if live.approximate:
            due = live.stale > max(1_000, stored // 10) or stored <= self._hnsw_threshold // 2
        else:
            due = stored > self._hnsw_threshold
        if due:
            thread = threading.Thread(
                target=self._rebuild, args=(key,), name=f"faiss-rebuild-{key}", daemon=True
            )
            self._rebuilds[key] = thread
            thread.start()

    def _rebuild(self, key: str) -> None:
        """Build ``key``'s index anew from a snapshot of SQLite, outside the lock, then
        add what was written meanwhile and swap it in."""
        try:
            reader = sqlite3.connect(self._path / DATABASE_NAME, check_same_thread=False)
            try:
                reader.execute("BEGIN")  # one read transaction: a consistent snapshot
                try:
                    row = reader.execute(
                        "SELECT dimension, (SELECT COUNT(*) FROM chunks WHERE collection = ?), "
                        "(SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'chunks') "
                        "FROM collections WHERE key = ?",
                        (key, key),
                    ).fetchone()
                    if row is None or row[0] is None:
                        return
                    dimension, count, snapshot_id = row
                    rebuilt = self._build_index(
                        reader, key, dimension, count > self._hnsw_threshold, snapshot_id
                    )
                finally:
                    reader.rollback()
            finally:
                reader.close()
            with self._lock:
                if key not in self._indexes:
                    return  # collection deleted, or its index dropped, meanwhile
                db = self._connect()
                rows = db.execute(
                    "SELECT id, vector FROM chunks WHERE collection = ? AND id > ? ORDER BY id",
                    (key, snapshot_id),
                ).fetchall()
                if rows:
                    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
                    vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
                    rebuilt.index.add_with_ids(vectors.reshape(len(rows), dimension), ids)
                rebuilt.stale = max(0, rebuilt.index.ntotal - self.count(key))
                self._indexes[key] = rebuilt
                self._save_index(key, rebuilt)
        except Exception:
            log.warning("Rebuilding the search index of %s failed", key, exc_info=True)
        finally:
            self._rebuilds.pop(key, None)

    def _wait_for_rebuild(self, key: str) -> None:
        thread = self._rebuilds.get(key)
        if thread is not None:
            thread.join()

    def _save_index(self, key: str, live: _LiveIndex) -> None:
        """Write the index atomically and record which generation it holds."""
        import faiss

        db = self._connect()
        generation = db.execute(
            "SELECT generation FROM collections WHERE key = ?", (key,)
        ).fetchone()
        if generation is None:
            return
        target = self._index_file(key)
        temporary = target.with_suffix(".faiss.tmp")
        faiss.write_index(live.index, str(temporary))
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        _fsync_folder(self._path)
        with db:
            db.execute(
                "UPDATE collections SET saved_generation = ? WHERE key = ?", (generation[0], key)
            )
        live.dirty = False

    def _search_everything(
        self, live: _LiveIndex, query: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        # Deleted chunks still in the index (an HNSW graph cannot drop them) take places
        # in the results: fetch more.
        fetch = min(k + live.stale, live.index.ntotal)
        params = _search_parameters(live.approximate, None, fetch)
        scores, ids = live.index.search(query, fetch, params=params)
        return scores[0], ids[0]

    def _search_among(
        self, live: _LiveIndex, query: np.ndarray, k: int, allowed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        fetch = min(k, allowed.size)
        if live.approximate and allowed.size <= _EXACT_FILTER_LIMIT:
            # A graph search restricted to few chunks can miss some: score them all.
            vectors = live.index.reconstruct_batch(allowed)
            scores = vectors @ query[0]
            best = np.argsort(-scores)[:fetch]
            return scores[best], allowed[best]
        selector = faiss.IDSelectorBatch(allowed)
        params = _search_parameters(live.approximate, selector, 4 * k)
        scores, ids = live.index.search(query, fetch, params=params)
        return scores[0], ids[0]

    def _failures(self, action: str) -> AbstractContextManager[None]:
        return reporting_failures(self._path, action)


def _search_parameters(
    approximate: bool, selector: faiss.IDSelector | None, depth: int
) -> faiss.SearchParameters:
    import faiss

    # One query is too little work to share: OpenMP's threads cost ten times the search
    # itself on a busy 2-core machine. The setting is per thread (this search's only).
    faiss.omp_set_num_threads(1)

    params: faiss.SearchParameters
    if approximate:
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # missing in stubs
        params.efSearch = max(_HNSW_MIN_SEARCH_DEPTH, depth)  # type: ignore[attr-defined]
    else:
        params = faiss.SearchParameters()
    if selector is not None:
        params.sel = selector
    return params


def _new_index(dimension: int, approximate: bool) -> faiss.IndexIDMap2:
    import faiss

    inner: faiss.Index
    if approximate:
        hnsw = faiss.IndexHNSWFlat(dimension, _HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = _HNSW_BUILD_DEPTH
        inner = hnsw
    else:
        inner = faiss.IndexFlatIP(dimension)
    return faiss.IndexIDMap2(inner)


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


def _next_id(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'chunks'").fetchone()
    return (int(row[0]) if row else 0) + 1


def _bump_generation(db: sqlite3.Connection, key: str) -> None:
    db.execute("UPDATE collections SET generation = generation + 1 WHERE key = ?", (key,))


def _delete_ids(db: sqlite3.Connection, ids: list[int]) -> None:
    for start in range(0, len(ids), _SQL_VARIABLES):
        batch = ids[start : start + _SQL_VARIABLES]
        db.execute(f"DELETE FROM chunks WHERE id IN ({','.join('?' * len(batch))})", batch)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); Windows cannot open folders for this."""
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _metadata_of(chunk: Chunk) -> str:
    return json.dumps(
        {
            "index": chunk.index,
            "path": chunk.path,
            "title": chunk.title,
            "page": chunk.page,
            "heading_path": list(chunk.heading_path),
            "char_start": chunk.char_start,
            "char_end": chunk.char_end,
        },
        ensure_ascii=False,
    )


def _chunk_from(
    chunk_id: str, document_id: str, file_type: str, text: str, metadata_json: str
) -> Chunk:
    metadata = json.loads(metadata_json)
    return Chunk(
        chunk_id=chunk_id,
        document_id=document_id,
        index=int(metadata["index"]),
        text=text,
        path=metadata["path"],
        title=metadata["title"],
        page=metadata["page"],
        heading_path=tuple(metadata["heading_path"]),
        char_start=int(metadata["char_start"]),
        char_end=int(metadata["char_end"]),
        file_type=file_type,
    )


def _hit_from(
    chunk_id: str,
    document_id: str,
    file_type: str,
    text: str,
    metadata_json: str,
    *,
    score: float,
) -> VectorHit:
    chunk = _chunk_from(chunk_id, document_id, file_type, text, metadata_json)
    return VectorHit(
        chunk_id=chunk.chunk_id,
        document_id=chunk.document_id,
        text=chunk.text,
        score=score,
        page=chunk.page,
        path=chunk.path,
        title=chunk.title,
        heading_path=chunk.heading_path,
        char_start=chunk.char_start,
        char_end=chunk.char_end,
    )


if TYPE_CHECKING:
    _contract_check: type[VectorStore] = FaissVectorStore
