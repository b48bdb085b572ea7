"""Collections and the documents in them, as rows in SQLite.

The vector store holds embeddings; this holds what a person sees (titles,
paths, status) and the chunk texts. ``commit_document`` writes a document's
chunks and marks it ready in one transaction, so on the SQLite side a document
is either fully indexed or not at all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection as CollectionOf
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import peewee
from peewee import SqliteDatabase, fn

from allma_desktop.errors import AllmaError, InvalidName, NotFound
from allma_desktop.library_counts import CANCELLED_REASON, DocumentCounts, count_documents
from allma_desktop.pathnames import display_text, path_from_stored, stored_path
from allma_desktop.records import CollectionRecord, DocumentRecord
from allma_desktop.services.documents.model import Chunk, DocumentMetadata
from allma_desktop.services.library.storage import (
    DOCUMENT_STATUSES,
    ChunkText,
    Collection,
    Document,
    DocumentLanguage,
    OcrChunk,
    StoreCleanup,
    as_utc,
    dict_rows,
    execute_many,
    execute_sql,
    new_document_id,
    stored_datetime,
    translating_store_errors,
    tuple_rows,
    utc_now,
)

DEFAULT_COLLECTION_NAME = "Library"

# The statements an ingest runs for every file, written out once: peewee builds each
# statement's SQL in Python on every call, which was 85% of these calls' CPU (about
# 4 ms a file, on the cores the parser and the vector store need).
_DOCUMENT_FIELDS = (
    "id", "collection_id", "path", "title", "author", "file_type", "content_hash",
    "size_bytes", "mtime", "page_count", "chunk_count", "status", "error",
    "created_at", "updated_at",
)  # fmt: skip
_SELECT_DOCUMENTS = (
    "SELECT c.key, " + ", ".join(f"d.{name}" for name in _DOCUMENT_FIELDS)
    + " FROM document AS d JOIN collection AS c ON c.id = d.collection_id"
)  # fmt: skip
_INSERT_DOCUMENT = (
    "INSERT INTO document (id, collection_id, path, title, file_type, content_hash,"
    " size_bytes, mtime, chunk_count, status, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_MARK_READY = (
    "UPDATE document SET title = ?, author = ?, file_type = ?, content_hash = ?,"
    " size_bytes = ?, page_count = ?, mtime = ?, chunk_count = ?, status = 'ready',"
    " error = NULL, updated_at = ? WHERE id = ?"
)
_CHUNK_TEXT_FIELDS = (
    "text", "chunk_id", "document_id", "collection_key", "page", "heading_path",
    "char_start", "char_end", "chunk_index",
)  # fmt: skip
_INSERT_CHUNK_TEXT = (
    f"INSERT INTO chunk_text ({', '.join(_CHUNK_TEXT_FIELDS)}) "
    f"VALUES ({', '.join('?' for _ in _CHUNK_TEXT_FIELDS)})"
)
_INSERT_OCR_CHUNK = "INSERT OR REPLACE INTO ocr_chunk (chunk_id, document_id) VALUES (?, ?)"


# The one definition of "N documents", shown the same everywhere (the status bar, the
# chat's collection picker, the Library header, `allma collections`, /health) is
# library_counts.count_documents: the rows are grouped by status and error here, and
# counted there.
_COUNT_SQL = (
    "SELECT {key} status, error = ?, COUNT(*), COALESCE(SUM(chunk_count), 0)"
    " FROM document GROUP BY {key} status, error = ?"
)


@dataclass(frozen=True)
class LibraryCounts:
    collections: int
    documents: int  # searchable documents, as every "N documents" shows
    chunks: int  # the documents' passages
    queued: int
    indexing: int
    ready: int
    failed: int  # could not be read
    cancelled: int = 0  # stopped by Cancel

    @property
    def rows(self) -> int:
        """Every file the library has a row for."""
        return self.ready + self.failed + self.cancelled + self.queued + self.indexing


def normalize_path(path: str | os.PathLike[str]) -> str:
    """The absolute form documents are looked up by (``stored_path`` of it is stored)."""
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


def text_of_chunks(chunks: Iterable[Chunk]) -> str:
    """The text that ``chunks`` cover, each character once.

    Neighbouring chunks overlap (``chunk_overlap``); their spans index the parsed
    document's text, so the overlap is dropped by span. A gap between spans (a page
    break, text no chunk kept) becomes a blank line.
    """
    parts: list[str] = []
    end = -1
    for chunk in sorted(chunks, key=lambda c: (c.char_start, c.char_end)):
        if chunk.char_end <= end:
            continue  # wholly inside what is already there
        if end < 0 or chunk.char_start > end:
            if parts:
                parts.append("\n\n")
            parts.append(chunk.text)
        else:
            parts.append(chunk.text[end - chunk.char_start :])
        end = chunk.char_end
    return "".join(parts).strip()


def _collection_record(row: Collection, counts: DocumentCounts, chunks: int) -> CollectionRecord:
    return CollectionRecord(
        id=row.id,
        key=row.key,
        name=row.name,
        created_at=as_utc(row.created_at),
        embedding_model=row.embedding_model,
        embedding_dim=row.embedding_dim,
        document_count=counts.documents,
        chunk_count=chunks,
        failed_count=counts.failed,
        cancelled_count=counts.cancelled,
        passage_count=counts.passages,
    )


_SET_LANGUAGE = "INSERT OR REPLACE INTO document_language (document_id, language) VALUES (?, ?)"
LANGUAGE_SAMPLE_CHUNKS = 40  # the first chunks' text is enough to tell a document's language


def document_language(chunks: Sequence[Chunk]) -> str:
    """The language of a document, detected from the text of its first chunks."""
    from allma_desktop.services.documents.languages import detect_language

    return detect_language(" ".join(chunk.text for chunk in chunks[:LANGUAGE_SAMPLE_CHUNKS]))


def _chunk_row(chunk: Chunk, collection_key: str) -> tuple[object, ...]:
    """The ``chunk_text`` row of a chunk, in ``_CHUNK_TEXT_FIELDS`` order."""
    return (
        chunk.text,
        chunk.chunk_id,
        chunk.document_id,
        collection_key,
        chunk.page,
        json.dumps(list(chunk.heading_path), ensure_ascii=False),
        chunk.char_start,
        chunk.char_end,
        chunk.index,
    )


def _document_from_row(row: Sequence[Any]) -> DocumentRecord:
    """A ``DocumentRecord`` from a ``_SELECT_DOCUMENTS`` row."""
    values = dict(zip(_DOCUMENT_FIELDS, row[1:], strict=True))
    return DocumentRecord(
        id=values["id"],
        collection_id=values["collection_id"],
        collection_key=row[0],
        path=path_from_stored(values["path"]),
        title=values["title"],
        author=values["author"],
        file_type=values["file_type"],
        content_hash=values["content_hash"],
        size_bytes=values["size_bytes"],
        mtime=values["mtime"],
        page_count=values["page_count"],
        chunk_count=values["chunk_count"],
        status=values["status"],
        error=values["error"],
        created_at=as_utc(stored_datetime(values["created_at"])),
        updated_at=as_utc(stored_datetime(values["updated_at"])),
    )


def _chunk(row: Mapping[str, Any], *, path: str, title: str, file_type: str) -> Chunk:
    """A ``Chunk`` from a ``chunk_text`` row (as a dict) and its document's fields."""
    return Chunk(
        chunk_id=row["chunk_id"],
        document_id=row["document_id"],
        index=row["chunk_index"],
        text=row["text"],
        path=path,
        title=title,
        page=row["page"],
        heading_path=tuple(json.loads(row["heading_path"] or "[]")),
        char_start=row["char_start"],
        char_end=row["char_end"],
        file_type=file_type,
    )


class LibraryService:
    """Collections and document rows; the SQLite half of "what is indexed"."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    @property
    def db(self) -> SqliteDatabase:
        return self._db

    # --- collections -----------------------------------------------------------

    @translating_store_errors
    def default_collection(self) -> CollectionRecord:
        """The collection named "Library", or the oldest one; created if there is none."""
        with self._db.atomic("IMMEDIATE"):  # reads then writes: see start_document
            row = Collection.get_or_none(Collection.name == DEFAULT_COLLECTION_NAME)
            if row is None:
                row = Collection.select().order_by(Collection.id).first()
            if row is None:
                row = Collection.create(name=DEFAULT_COLLECTION_NAME)
        return self.get_collection(row.id)

    @translating_store_errors
    def create_collection(self, name: str) -> CollectionRecord:
        clean = self._valid_new_name(name)
        try:
            row = Collection.create(name=clean)
        except peewee.IntegrityError as error:  # created by another thread meanwhile
            raise _duplicate_name(clean) from error
        return self.get_collection(row.id)

    @translating_store_errors
    def rename_collection(self, collection_id: int, name: str) -> CollectionRecord:
        current = self.get_collection(collection_id)
        clean = name.strip()
        if clean != current.name:
            self._valid_new_name(clean)
            Collection.update(name=clean).where(Collection.id == collection_id).execute()
        return self.get_collection(collection_id)

    @translating_store_errors
    def delete_collection(self, collection_id: int) -> str:
        """Delete the collection, its documents and their chunk texts; returns its key.

        The caller drops the vector store collection of that key. Conversations
        that used it fall back to searching everything.
        """
        with self._db.atomic("IMMEDIATE"):  # reads then writes: see start_document
            key = self.get_collection(collection_id).key
            ChunkText.delete().where(ChunkText.collection_key == key).execute()
            OcrChunk.delete().where(
                OcrChunk.document_id.in_(
                    Document.select(Document.id).where(Document.collection == collection_id)
                )
            ).execute()
            Collection.delete().where(Collection.id == collection_id).execute()
            StoreCleanup.create(collection_key=key)  # until the caller drops its vectors
        return key

    @translating_store_errors
    def get_collection(self, collection_id: int) -> CollectionRecord:
        rows = self._collections(Collection.id == collection_id)
        if not rows:
            raise NotFound(
                f"Collection {collection_id} does not exist.",
                "It may have been deleted; pick one from the library.",
            )
        return rows[0]

    @translating_store_errors
    def collection_by_name(self, name: str) -> CollectionRecord:
        rows = self._collections(Collection.name == name.strip())
        if not rows:
            raise NotFound(
                f"There is no collection named '{name.strip()}'.",
                "List them with `allma collections`, or create it first.",
            )
        return rows[0]

    @translating_store_errors
    def list_collections(self) -> list[CollectionRecord]:
        """Every collection by name, with its document and chunk counts."""
        return self._collections(None)

    @translating_store_errors
    def set_embedding(self, collection_id: int, model: str, dim: int) -> CollectionRecord:
        """Record which embedding model (and vector size) the collection's vectors come from."""
        updated = (
            Collection.update(embedding_model=model, embedding_dim=dim)
            .where(Collection.id == collection_id)
            .execute()
        )
        if updated == 0:
            self.get_collection(collection_id)  # raises NotFound
        return self.get_collection(collection_id)

    @translating_store_errors
    def swap_collection_key(
        self, collection_id: int, new_key: str, model: str, dim: int | None
    ) -> str:
        """Point the collection at a freshly built set of vectors, in one transaction.

        Returns the old key so the caller can drop the old vectors afterwards.
        """
        with self._db.atomic("IMMEDIATE"):  # reads then writes: see start_document
            current = self.get_collection(collection_id)
            Collection.update(key=new_key, embedding_model=model, embedding_dim=dim).where(
                Collection.id == collection_id
            ).execute()
            ChunkText.update(collection_key=new_key).where(
                ChunkText.collection_key == current.key
            ).execute()
            # The new vectors are now the collection's; the old ones are to be dropped.
            StoreCleanup.delete().where(StoreCleanup.collection_key == new_key).execute()
            StoreCleanup.create(collection_key=current.key)
        return current.key

    # --- documents -------------------------------------------------------------

    @translating_store_errors
    def document_by_path(
        self, collection_id: int, path: str | os.PathLike[str]
    ) -> DocumentRecord | None:
        rows = self._select_documents(
            "d.collection_id = ? AND d.path = ?",
            (collection_id, stored_path(normalize_path(path))),
        )
        return rows[0] if rows else None

    @translating_store_errors
    def documents_by_paths(
        self, collection_id: int, paths: Sequence[str]
    ) -> dict[str, DocumentRecord]:
        """The documents of ``paths`` in a collection, by the path as given (those not in
        the library are left out): one query per 500 paths, not one per file."""
        wanted = {stored_path(normalize_path(path)): path for path in paths}
        found: dict[str, DocumentRecord] = {}
        for batch in peewee.chunked(list(wanted), 500):  # stay under SQLite's parameter limit
            marks = ", ".join("?" * len(batch))
            for record in self._select_documents(
                f"d.collection_id = ? AND d.path IN ({marks})", (collection_id, *batch)
            ):
                given = wanted.get(stored_path(normalize_path(record.path)))
                if given is not None:
                    found[given] = record
        return found

    @translating_store_errors
    def get_document(self, document_id: str) -> DocumentRecord:
        rows = self._select_documents("d.id = ?", (document_id,))
        if not rows:
            raise NotFound(
                f"Document {document_id} is not in the library.",
                "It may have been removed; refresh the library.",
            )
        return rows[0]

    @translating_store_errors
    def list_documents(
        self, collection_id: int | None = None, status: str | None = None
    ) -> list[DocumentRecord]:
        """Documents ordered by title, optionally of one collection and/or one status."""
        conditions: list[str] = []
        params: list[object] = []
        if collection_id is not None:
            conditions.append("d.collection_id = ?")
            params.append(collection_id)
        if status is not None:
            _check_status(status)
            conditions.append("d.status = ?")
            params.append(status)
        return self._select_documents(" AND ".join(conditions) or "1", params)

    @translating_store_errors
    def start_document(
        self,
        collection_id: int,
        path: str | os.PathLike[str],
        *,
        title: str | None = None,
        file_type: str = "",
        size_bytes: int = 0,
        mtime: float = 0.0,
        status: Literal["queued", "indexing"] = "indexing",
    ) -> DocumentRecord:
        """Add the file's row (or find it) and mark it queued/indexing.

        A document already indexed keeps its chunks and metadata until
        ``commit_document`` replaces them, so it stays searchable meanwhile.
        """
        _check_status(status)
        absolute = normalize_path(path)
        # IMMEDIATE: this reads then writes; a deferred transaction whose snapshot another
        # connection (ingest commits from a worker thread) has moved past fails at once
        # with "database is locked" instead of waiting its turn.
        with self._db.atomic("IMMEDIATE"):
            self._require_collection(collection_id)
            existing = execute_sql(
                self._db,
                "SELECT id FROM document WHERE collection_id = ? AND path = ?",
                (collection_id, stored_path(absolute)),
            )
            now = str(utc_now())  # the text peewee stores for a DateTimeField
            if existing:
                document_id = existing[0][0]
                execute_sql(
                    self._db,
                    "UPDATE document SET status = ?, error = NULL, updated_at = ? WHERE id = ?",
                    (status, now, document_id),
                )
            else:
                document_id = new_document_id()
                execute_sql(self._db, _INSERT_DOCUMENT, (
                    document_id, collection_id, stored_path(absolute),
                    display_text(title or Path(absolute).name),
                    file_type or Path(absolute).suffix.lstrip(".").lower(), "", size_bytes,
                    mtime, 0, status, now, now,
                ))  # fmt: skip
        return self.get_document(document_id)

    @translating_store_errors
    def mark_failed(self, document_id: str, error: str) -> DocumentRecord:
        """Record why the document could not be indexed (chunks from a past success are kept)."""
        self._set_fields(document_id, status="failed", error=display_text(error))
        return self.get_document(document_id)

    @translating_store_errors
    def mark_interrupted_as_failed(self, error: str = "Indexing was interrupted.") -> int:
        """After a crash: documents left queued/indexing become failed; returns how many."""
        return int(
            Document.update(status="failed", error=error, updated_at=utc_now())
            .where(Document.status.in_(("queued", "indexing")))
            .execute()
        )

    @translating_store_errors
    def commit_document(
        self,
        document_id: str,
        *,
        chunks: Sequence[Chunk],
        collection_key: str,
        metadata: DocumentMetadata,
        mtime: float | None = None,
    ) -> DocumentRecord:
        """Replace the document's chunk texts with ``chunks`` and mark it ready, atomically.

        Call after its vectors are stored. If anything fails, the previous
        chunks, status and metadata are left exactly as they were.
        """
        foreign = {chunk.document_id for chunk in chunks} - {document_id}
        if foreign:
            raise ValueError(f"chunks of other documents {sorted(foreign)} given for {document_id}")
        with self._db.atomic("IMMEDIATE"):  # reads then writes: see start_document
            current = self.get_document(document_id)
            if current.collection_key != collection_key:
                raise ValueError(
                    f"document {document_id} is in collection {current.collection_key}, "
                    f"not {collection_key}"
                )
            execute_sql(self._db, "DELETE FROM chunk_text WHERE document_id = ?", (document_id,))
            # Before the chunk rows: the keyword index stems them in this language.
            execute_sql(self._db, _SET_LANGUAGE, (document_id, document_language(chunks)))
            rows = [_chunk_row(chunk, collection_key) for chunk in chunks]
            execute_many(self._db, _INSERT_CHUNK_TEXT, rows)
            execute_sql(self._db, "DELETE FROM ocr_chunk WHERE document_id = ?", (document_id,))
            marks = [(chunk.chunk_id, document_id) for chunk in chunks if chunk.ocr]
            execute_many(self._db, _INSERT_OCR_CHUNK, marks)
            execute_sql(self._db, _MARK_READY, (
                display_text(metadata.title or current.title),
                display_text(metadata.author) if metadata.author else None,
                metadata.file_type or current.file_type, metadata.content_hash,
                metadata.size_bytes, metadata.page_count,
                current.mtime if mtime is None else mtime, len(chunks), str(utc_now()),
                document_id,
            ))  # fmt: skip
        return self.get_document(document_id)

    @translating_store_errors
    def delete_document(self, document_id: str) -> DocumentRecord:
        """Delete the row and its chunk texts; returns what was deleted (to drop its vectors)."""
        with self._db.atomic("IMMEDIATE"):  # reads then writes: see start_document
            record = self.get_document(document_id)
            ChunkText.delete().where(ChunkText.document_id == document_id).execute()
            DocumentLanguage.delete().where(DocumentLanguage.document_id == document_id).execute()
            OcrChunk.delete().where(OcrChunk.document_id == document_id).execute()
            Document.delete().where(Document.id == document_id).execute()
            StoreCleanup.create(collection_key=record.collection_key, document_id=document_id)
        return record

    @translating_store_errors
    def move_document(self, document_id: str, collection_id: int) -> DocumentRecord:
        """Move the document (and its chunk texts) to another collection.

        The caller moves its vectors: read the old ``collection_key`` first
        (``get_document``); ``chunk_texts`` gives the texts to re-embed.
        """
        with self._db.atomic("IMMEDIATE"):  # reads then writes: see start_document
            current = self.get_document(document_id)
            target = self.get_collection(collection_id)
            if target.id == current.collection_id:
                return current
            clash = Document.get_or_none(
                (Document.collection == collection_id) & (Document.path == current.path)
            )
            if clash is not None:
                raise AllmaError(
                    f"'{target.name}' already has {current.path}.",
                    "Remove that copy first, or keep the document where it is.",
                )
            Document.update(collection=collection_id, updated_at=utc_now()).where(
                Document.id == document_id
            ).execute()
            ChunkText.update(collection_key=target.key).where(
                ChunkText.document_id == document_id
            ).execute()
            self._settle_cleanup(target.key, document_id)  # its new vectors are wanted now
            StoreCleanup.create(collection_key=current.collection_key, document_id=document_id)
        return self.get_document(document_id)

    @translating_store_errors
    def relocate_document(
        self, document_id: str, path: str | os.PathLike[str], mtime: float
    ) -> DocumentRecord:
        """Point the document at the file's new place (a move or rename, bytes unchanged).

        Its chunks and vectors stay as they are: sources read the path from this row.
        A failed or stale row already at the new place gives way (its chunks with it).
        """
        new_path = normalize_path(path)
        with self._db.atomic("IMMEDIATE"):  # reads then writes: see start_document
            current = self.get_document(document_id)
            clash = Document.get_or_none(
                (Document.collection == current.collection_id)
                & (Document.path == new_path)
                & (Document.id != document_id)
            )
            if clash is not None:
                ChunkText.delete().where(ChunkText.document_id == clash.id).execute()
                OcrChunk.delete().where(OcrChunk.document_id == clash.id).execute()
                clash.delete_instance()
            self._set_fields(document_id, path=new_path, mtime=mtime)
        return self.get_document(document_id)

    @translating_store_errors
    def chunk_texts(self, document_id: str) -> list[Chunk]:
        """The document's chunks as stored, in order (to re-embed without re-parsing)."""
        document = self.get_document(document_id)
        query = (
            ChunkText.select()
            .where(ChunkText.document_id == document_id)
            .order_by(ChunkText.chunk_index)
        )
        chunks = [
            _chunk(row, path=document.path, title=document.title, file_type=document.file_type)
            for row in dict_rows(query)
        ]
        read_by_ocr = self.ocr_chunk_ids(document_id)
        return [replace(c, ocr=True) if c.chunk_id in read_by_ocr else c for c in chunks]

    @translating_store_errors
    def ready_document_count(self, collection_id: int) -> int:
        """The collection's ready documents, counted in SQL."""
        return int(self._ready_ids(collection_id).count())

    @translating_store_errors
    def ready_text_characters(self, collection_id: int) -> int:
        """The characters of the collection's ready documents' stored chunk texts (overlaps
        counted twice): one aggregate query, no row read into Python. The chat's context
        meter asks every few seconds while a large library is indexed."""
        characters = (
            ChunkText.select(fn.SUM(fn.LENGTH(ChunkText.text)))
            .where(ChunkText.document_id.in_(self._ready_ids(collection_id)))
            .scalar()
        )
        return int(characters or 0)

    @staticmethod
    def _ready_ids(collection_id: int) -> peewee.ModelSelect[Document]:
        return Document.select(Document.id).where(
            (Document.collection == collection_id) & (Document.status == "ready")
        )

    @translating_store_errors
    def ocr_chunk_ids(self, document_id: str) -> set[str]:
        """The document's chunks whose page was read by OCR."""
        query = OcrChunk.select(OcrChunk.chunk_id).where(OcrChunk.document_id == document_id)
        return {chunk_id for (chunk_id,) in tuple_rows(query)}

    @translating_store_errors
    def chunks_by_ids(self, chunk_ids: CollectionOf[str]) -> dict[str, Chunk]:
        """The committed chunks among ``chunk_ids``, by chunk id; unknown ids are left out.

        A chunk whose document row is gone is left out too. Documents of any status
        count (a failed one keeps its last good chunks): filter with ``ready_document_ids``.
        """
        found: dict[str, Chunk] = {}
        for batch in peewee.chunked(list(set(chunk_ids)), 500):  # SQLite's parameter limit
            query = (
                ChunkText.select(ChunkText, Document.path, Document.title, Document.file_type)
                .join(Document, on=(ChunkText.document_id == Document.id))
                .where(ChunkText.chunk_id.in_(batch))
            )
            for row in dict_rows(query):
                chunk = _chunk(
                    row, path=row["path"], title=row["title"], file_type=row["file_type"]
                )
                found[chunk.chunk_id] = chunk
        return found

    @translating_store_errors
    def ready_document_ids(self, document_ids: Iterable[str]) -> set[str]:
        """Those of ``document_ids`` that are fully indexed (status ``ready``)."""
        wanted = list(set(document_ids))
        ready: set[str] = set()
        for batch in peewee.chunked(wanted, 500):  # stay under SQLite's parameter limit
            query = Document.select(Document.id).where(
                Document.id.in_(batch) & (Document.status == "ready")
            )
            ready.update(document_id for (document_id,) in tuple_rows(query))
        return ready

    @translating_store_errors
    def document_chunk_ids(self, document_id: str) -> set[str]:
        query = ChunkText.select(ChunkText.chunk_id).where(ChunkText.document_id == document_id)
        return {chunk_id for (chunk_id,) in tuple_rows(query)}

    @translating_store_errors
    def counts(self) -> LibraryCounts:
        groups = [
            (str(status), CANCELLED_REASON if cancelled else None, int(number), int(chunks))
            for status, cancelled, number, chunks in execute_sql(
                self._db, _COUNT_SQL.format(key=""), (CANCELLED_REASON, CANCELLED_REASON)
            )
        ]
        counted = count_documents(groups)
        by_status: dict[str, int] = {}
        for status, _error, number, _chunks in groups:
            by_status[status] = by_status.get(status, 0) + number
        return LibraryCounts(
            collections=Collection.select().count(),
            documents=counted.documents,
            chunks=counted.passages,
            queued=by_status.get("queued", 0),
            indexing=by_status.get("indexing", 0),
            ready=by_status.get("ready", 0),
            failed=counted.failed,
            cancelled=counted.cancelled,
        )

    def _counts_by_collection(self) -> dict[int, tuple[DocumentCounts, int]]:
        """Each collection's counts, with all its stored chunks."""
        grouped: dict[int, list[tuple[str, str | None, int, int]]] = {}
        sql = _COUNT_SQL.format(key="collection_id,")
        for collection_id, status, cancelled, number, chunks in execute_sql(
            self._db, sql, (CANCELLED_REASON, CANCELLED_REASON)
        ):
            error = CANCELLED_REASON if cancelled else None
            grouped.setdefault(int(collection_id), []).append(
                (str(status), error, int(number), int(chunks))
            )
        return {
            collection_id: (count_documents(groups), sum(g[3] for g in groups))
            for collection_id, groups in grouped.items()
        }

    # --- vectors to delete (see StoreCleanup) -----------------------------------------

    @translating_store_errors
    def add_cleanup(self, collection_key: str, document_id: str | None = None) -> None:
        """Record vectors to delete should the operation writing them not finish."""
        StoreCleanup.create(collection_key=collection_key, document_id=document_id)

    @translating_store_errors
    def settle_cleanup(self, collection_key: str, document_id: str | None = None) -> None:
        """The vectors recorded by ``add_cleanup`` (or a delete) are dealt with: forget them."""
        self._settle_cleanup(collection_key, document_id)

    @translating_store_errors
    def pending_cleanups(self) -> list[tuple[str, str | None]]:
        """(collection key, document id or None) of every deletion not yet done."""
        query = StoreCleanup.select(StoreCleanup.collection_key, StoreCleanup.document_id)
        return [(str(key), document) for key, document in tuple_rows(query.distinct())]

    @translating_store_errors
    def is_live(self, collection_key: str, document_id: str | None = None) -> bool:
        """Whether SQLite still uses the collection key (with that document in it)."""
        if document_id is None:
            return bool(
                execute_sql(self._db, "SELECT 1 FROM collection WHERE key = ?", (collection_key,))
            )
        sql = (
            "SELECT 1 FROM document AS d JOIN collection AS c ON c.id = d.collection_id"
            " WHERE d.id = ? AND c.key = ?"
        )
        return bool(execute_sql(self._db, sql, (document_id, collection_key)))

    def _settle_cleanup(self, collection_key: str, document_id: str | None) -> None:
        StoreCleanup.delete().where(
            (StoreCleanup.collection_key == collection_key)
            & (
                StoreCleanup.document_id.is_null()
                if document_id is None
                else StoreCleanup.document_id == document_id
            )
        ).execute()

    @translating_store_errors
    def restore_ready(self, document_ids: Sequence[str]) -> int:
        """Interrupted documents whose last complete index is intact become ready again."""
        if not document_ids:
            return 0
        return int(
            Document.update(status="ready", error=None)
            .where(
                Document.id.in_(list(document_ids)) & Document.status.in_(("queued", "indexing"))
            )
            .execute()
        )

    # --- helpers ---------------------------------------------------------------

    def _valid_new_name(self, name: str) -> str:
        clean = name.strip()
        if not clean:
            raise InvalidName("A collection needs a name.", "Type a name, e.g. 'Research'.")
        if Collection.select().where(Collection.name == clean).exists():
            raise _duplicate_name(clean)
        return clean

    def _collections(self, where: peewee.Expression | None) -> list[CollectionRecord]:
        query = Collection.select().order_by(fn.LOWER(Collection.name), Collection.id)
        if where is not None:
            query = query.where(where)
        rows = list(query)
        counts = self._counts_by_collection() if rows else {}
        return [_collection_record(row, *counts.get(row.id, (DocumentCounts(), 0))) for row in rows]

    def _select_documents(self, where: str, params: Sequence[object]) -> list[DocumentRecord]:
        sql = f"{_SELECT_DOCUMENTS} WHERE {where} ORDER BY lower(d.title), d.path"
        rows = execute_sql(self._db, sql, params)
        return [_document_from_row(row) for row in rows]

    def _require_collection(self, collection_id: int) -> None:
        """NotFound unless the collection exists (``get_collection`` also counts its
        documents and chunks, a pass over all of them)."""
        if not execute_sql(self._db, "SELECT 1 FROM collection WHERE id = ?", (collection_id,)):
            self.get_collection(collection_id)  # raises NotFound

    def _set_fields(self, document_id: str, **fields: object) -> None:
        fields.setdefault("updated_at", utc_now())
        updated = Document.update(**fields).where(Document.id == document_id).execute()
        if updated == 0:
            self.get_document(document_id)  # raises NotFound


def _duplicate_name(name: str) -> AllmaError:
    return AllmaError(
        f"There is already a collection named '{name}'.",
        "Pick another name, or add the documents to that collection.",
    )


def _check_status(status: str) -> None:
    if status not in DOCUMENT_STATUSES:
        raise ValueError(f"status must be one of {', '.join(DOCUMENT_STATUSES)}, not {status!r}")
