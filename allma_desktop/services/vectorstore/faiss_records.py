"""The FAISS store's SQLite file: every chunk with its text, metadata and vector (the
truth the search indexes are rebuilt from), and each collection's write generation.

Why a SQLite file of its own and not the app's database: the app's SQLite belongs to
the library service (its schema, migrations and connection); a file next to the index
keeps this backend self-contained like Chroma's folder, so it can be backed up, moved
or deleted as one, and ``allma store migrate`` can build it beside the old store.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from allma_desktop.pathnames import path_from_stored, stored_path
from allma_desktop.services.documents.model import Chunk
from allma_desktop.services.vectorstore.base import VectorHit, hit_from_chunk

DATABASE_NAME = "faiss-store.sqlite3"
READ_BATCH = 10_000
_SQL_VARIABLES = 900  # below SQLite's oldest limit on "?" per statement

_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    key TEXT PRIMARY KEY,
    dimension INTEGER,
    generation INTEGER NOT NULL DEFAULT 0,
    saved_generation INTEGER NOT NULL DEFAULT -1
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: ids live on in search indexes
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


def open_database(folder: Path) -> sqlite3.Connection:
    db = sqlite3.connect(folder / DATABASE_NAME, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.executescript(_SCHEMA)
    except Exception:
        db.close()
        raise
    return db


def insert_chunks(
    db: sqlite3.Connection, key: str, chunks: Sequence[Chunk], vectors: np.ndarray
) -> np.ndarray:
    """Insert ``chunks`` with their vectors under fresh ids, and return those ids."""
    first_id = next_id(db)
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
    return ids


def next_id(db: sqlite3.Connection) -> int:
    return newest_id(db) + 1


def newest_id(db: sqlite3.Connection) -> int:
    """The highest id ever given to a chunk (ids are never reused)."""
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'chunks'").fetchone()
    return int(row[0]) if row else 0


def bump_generation(db: sqlite3.Connection, key: str) -> None:
    db.execute("UPDATE collections SET generation = generation + 1 WHERE key = ?", (key,))


def delete_ids(db: sqlite3.Connection, ids: list[int]) -> None:
    for start in range(0, len(ids), _SQL_VARIABLES):
        batch = ids[start : start + _SQL_VARIABLES]
        db.execute(f"DELETE FROM chunks WHERE id IN ({','.join('?' * len(batch))})", batch)


def ids_of_chunks(db: sqlite3.Connection, key: str, chunk_ids: list[str]) -> list[int]:
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


def stored_ids(db: sqlite3.Connection, key: str) -> np.ndarray:
    rows = db.execute("SELECT id FROM chunks WHERE collection = ?", (key,))
    return np.fromiter((row[0] for row in rows), dtype=np.int64)


def vectors_after(
    db: sqlite3.Connection, key: str, after_id: int, up_to_id: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Ids and vectors of ``key``'s chunks with ids in ``(after_id, up_to_id]``, by id,
    at most ``READ_BATCH`` of them (call again after the last id for more)."""
    rows = db.execute(
        "SELECT id, vector FROM chunks WHERE collection = ? AND id > ? AND id <= ? "
        "ORDER BY id LIMIT ?",
        (key, after_id, up_to_id if up_to_id is not None else 2**62, READ_BATCH),
    ).fetchall()
    return _ids_and_vectors(rows)


def sample_vectors(db: sqlite3.Connection, key: str, count: int, size: int) -> np.ndarray:
    """About ``size`` vectors spread evenly over the collection's ``count`` chunks (not
    its first ones: those are the oldest documents, maybe all on one subject)."""
    step = max(1, count // max(size, 1))
    rows = db.execute(
        "SELECT id, vector FROM chunks WHERE collection = ? AND id % ? = 0 LIMIT ?",
        (key, step, size),
    ).fetchall()
    return _ids_and_vectors(rows)[1]


def hits_for(db: sqlite3.Connection, ids: np.ndarray, scores: np.ndarray) -> list[VectorHit]:
    score_of = {
        int(row_id): float(score) for row_id, score in zip(ids, scores, strict=True) if row_id >= 0
    }
    if not score_of:
        return []
    marks = ",".join("?" * len(score_of))
    rows = db.execute(
        f"SELECT id, chunk_id, document_id, file_type, text, metadata FROM chunks "
        f"WHERE id IN ({marks})",
        list(score_of),
    ).fetchall()
    # Ids missing from SQLite are chunks deleted since the search index was built.
    return [_hit_from(*row[1:], score=score_of[row[0]]) for row in rows]


def chunk_from(
    chunk_id: str, document_id: str, file_type: str, text: str, metadata_json: str
) -> Chunk:
    metadata = json.loads(metadata_json)
    return Chunk(
        chunk_id=chunk_id,
        document_id=document_id,
        index=int(metadata["index"]),
        text=text,
        path=path_from_stored(metadata["path"]),
        title=metadata["title"],
        page=metadata["page"],
        heading_path=tuple(metadata["heading_path"]),
        char_start=int(metadata["char_start"]),
        char_end=int(metadata["char_end"]),
        file_type=file_type,
    )


def _ids_and_vectors(rows: list[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray]:
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    flat = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float32)
    dimension = len(rows[0][1]) // 4 if rows else 0
    return ids, flat.reshape(len(rows), dimension)


def _metadata_of(chunk: Chunk) -> str:
    return json.dumps(
        {
            "index": chunk.index,
            "path": stored_path(chunk.path),
            "title": chunk.title,
            "page": chunk.page,
            "heading_path": list(chunk.heading_path),
            "char_start": chunk.char_start,
            "char_end": chunk.char_end,
        },
        ensure_ascii=False,
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
    return hit_from_chunk(chunk_from(chunk_id, document_id, file_type, text, metadata_json), score)
