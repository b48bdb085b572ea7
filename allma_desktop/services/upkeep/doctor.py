"""Find and repair what a crash (or a bug) can leave between SQLite and the vector store.

``quick_repair`` runs at every start and costs next to nothing when the last run
ended cleanly: it only looks at rows a crash leaves behind (documents still
``queued``/``indexing``, answers still ``streaming``). ``check`` compares the
two stores in full and, with ``repair=True``, brings them back in line.

The rules it restores are those of docs/ARCHITECTURE.md: a vector exists only for a
chunk text of a document (a ready one, or a failed one keeping its last good chunks),
and a ready document has every one of its chunks both as text and as a vector.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence

import peewee
from peewee import SqliteDatabase, fn

from allma_desktop.errors import AllmaError
from allma_desktop.pathnames import display_text
from allma_desktop.records import DoctorReport, DocumentRecord, Problem
from allma_desktop.services.library.catalog import LibraryService
from allma_desktop.services.library.conversations import ConversationService
from allma_desktop.services.library.storage import (
    ChunkText,
    Collection,
    Document,
    OcrChunk,
    database_damaged,
    database_path,
    execute_sql,
    keyword_index_in_step,
    rebuild_keyword_index,
    tuple_rows,
)
from allma_desktop.services.upkeep.auto_backup import backups_folder
from allma_desktop.services.vectorstore.base import WRITE_PROBE_KEY, VectorStore

log = logging.getLogger(__name__)

INTERRUPTED_REASON = "interrupted, re-index"
NEEDS_REINDEX_REASON = "needs re-index"
IN_PROGRESS_STATUSES = ("queued", "indexing")


class Doctor:
    """Checks and repairs one library: its SQLite database and its vector store."""

    def __init__(
        self,
        db: SqliteDatabase,
        library: LibraryService,
        store: VectorStore,
        conversations: ConversationService | None = None,
        *,
        reembed_missing_vectors: bool = False,
    ) -> None:
        self._db = db
        self._library = library
        self._store = store
        self._conversations = conversations or ConversationService(db)
        # With it, a ready document whose texts are all stored but some vectors are not is
        # left to the caller (``missing_vectors``), which embeds them again from the texts,
        # instead of being marked failed (which makes it unsearchable until re-indexed).
        self._reembed_missing_vectors = reembed_missing_vectors
        self.missing_vectors: list[DocumentRecord] = []

    # --- at every start --------------------------------------------------------

    def quick_repair(self) -> DoctorReport:
        """Undo what a crash left half-done. Touches the vector store only if there is any."""
        problems: list[Problem] = self._finish_cleanups()
        interrupted = [
            document
            for status in IN_PROGRESS_STATUSES
            for document in self._library.list_documents(status=status)
        ]
        if interrupted:
            intact: list[str] = []
            for document in interrupted:
                try:
                    if self._delete_uncommitted_vectors(document):
                        intact.append(document.id)
                except AllmaError as error:  # a damaged store: `doctor` reports and repairs it
                    log.warning("startup repair left the vectors of %s: %s", document.path, error)
                    break
            restored = self._library.restore_ready(intact)
            if restored:
                problems.append(
                    Problem(
                        "interrupted_reindex",
                        f"{_count(restored, 'document was', 'documents were')} being "
                        "re-indexed when the app stopped; the last complete index is kept "
                        "and searchable",
                        repaired=True,
                        count=restored,
                    )
                )
            marked = self._library.mark_interrupted_as_failed(INTERRUPTED_REASON)
            if marked:
                problems.append(
                    Problem(
                        "interrupted_indexing",
                        f"{_count(marked, 'document was', 'documents were')} left half-indexed "
                        "by a crash; marked failed so they can be re-indexed",
                        repaired=True,
                        count=marked,
                    )
                )
        answers = self._conversations.mark_streaming_interrupted()
        if answers:
            problems.append(
                Problem(
                    "interrupted_answer",
                    f"{_count(answers, 'answer was', 'answers were')} cut off by a crash; "
                    "kept and marked interrupted",
                    repaired=True,
                    count=answers,
                )
            )
        for problem in problems:
            log.warning("startup repair: %s", problem.description)
        return DoctorReport(tuple(problems), ("interrupted work",))

    def _delete_uncommitted_vectors(self, document: DocumentRecord) -> bool:
        """Delete vectors stored for a document whose SQLite commit never happened; whether
        its last committed index (a re-index's previous version) is complete and usable."""
        committed = self._library.document_chunk_ids(document.id)
        stored = self._store.chunk_ids(document.collection_key, document.id)
        partial = sorted(stored - committed)
        if partial:
            self._store.delete_chunks(document.collection_key, partial)
            log.info("deleted %d uncommitted vectors of %s", len(partial), document.path)
        return bool(committed) and len(committed) == document.chunk_count and committed <= stored

    def _finish_cleanups(self) -> list[Problem]:
        """Delete the vectors that an operation cut short left to delete (``StoreCleanup``).

        A key or document SQLite uses again is never touched: only the record goes.
        """
        pending = self._library.pending_cleanups()
        done = 0
        for key, document_id in pending:
            if not self._library.is_live(key, document_id):
                try:
                    if document_id is None:
                        self._store.delete_collection(key)
                    else:
                        self._store.delete_document(key, document_id)
                except AllmaError as error:  # a damaged store: left for `doctor --repair`
                    log.warning("startup repair left vectors of %s to delete: %s", key, error)
                    break
                done += 1
            self._library.settle_cleanup(key, document_id)
        if not done:
            return []
        return [
            Problem(
                "unfinished_deletion",
                f"{_count(done, 'deletion', 'deletions')} of vectors (a removed document, "
                "a deleted or re-embedded collection) cut short by a crash; finished",
                repaired=True,
                count=done,
            )
        ]

    # --- on demand -------------------------------------------------------------

    def check(self, repair: bool = False) -> DoctorReport:
        """Compare SQLite with the vector store; with ``repair``, fix what can be fixed.

        Documents still being indexed (``queued``/``indexing``) are left alone, with
        their vectors: after ``quick_repair`` at start, such a row means an ingestion
        is running right now, and its vectors are stored before its chunk texts.
        """
        problems: list[Problem] = []
        problems += self._check_sqlite()
        if problems:
            # Nothing is compared with (or repaired against) a damaged database: what it
            # seems to lack may only be unreadable, and "repairing" would delete it.
            return DoctorReport(tuple(problems), ("database integrity",))
        problems += self._check_keyword_index(repair)
        problems += self._check_store_collections(repair)
        for collection_id, key in tuple_rows(Collection.select(Collection.id, Collection.key)):
            problems += self._check_collection(int(collection_id), str(key), repair)
        checked = ("database integrity", "keyword index", "vector store")
        return DoctorReport(tuple(problems), checked)

    def _check_sqlite(self) -> list[Problem]:
        path = database_path(self._db)
        try:
            rows = execute_sql(self._db, "PRAGMA integrity_check", ())
            messages = [str(row[0]) for row in rows]
        except (sqlite3.DatabaseError, peewee.DatabaseError) as error:
            messages = [str(error)]  # too damaged to say more
        if messages == ["ok"]:
            return []
        detail = "; ".join(messages[:3]) + (" …" if len(messages) > 3 else "")
        damaged = database_damaged(path, detail)
        return [
            Problem("database_damaged", f"{damaged.message} {damaged.hint}", count=len(messages))
        ]

    def _check_keyword_index(self, repair: bool) -> list[Problem]:
        return self._check_orphan_chunk_texts(repair) + self._check_keyword_index_in_step(repair)

    def _check_orphan_chunk_texts(self, repair: bool) -> list[Problem]:
        """Chunk texts whose document row is gone: found by keyword search, never shown."""
        known = Document.select(Document.id)
        stray = ChunkText.select(fn.COUNT(ChunkText.id)).where(ChunkText.document_id.not_in(known))
        count = int(stray.scalar() or 0)
        if not count:
            return []
        if repair:
            ChunkText.delete().where(ChunkText.document_id.not_in(known)).execute()
            OcrChunk.delete().where(OcrChunk.document_id.not_in(known)).execute()
        return [
            Problem(
                "orphan_chunk_texts",
                f"{_count(count, 'chunk text', 'chunk texts')} of documents that no longer "
                "exist in the keyword index" + ("; deleted" if repair else ""),
                repaired=repair,
                count=count,
            )
        ]

    def _check_keyword_index_in_step(self, repair: bool) -> list[Problem]:
        """The full-text index against the chunk texts it indexes.

        Triggers keep the two equal; only a write from outside the app with the
        triggers dropped can part them, and a rebuild re-derives the index.
        """
        if keyword_index_in_step(self._db):
            return []
        if repair:
            rebuild_keyword_index(self._db)
        return [
            Problem(
                "keyword_index_out_of_step",
                "the keyword index does not match the chunk texts"
                + ("; rebuilt" if repair else ""),
                repaired=repair,
            )
        ]

    def _check_store_collections(self, repair: bool) -> list[Problem]:
        known = {str(key) for (key,) in tuple_rows(Collection.select(Collection.key))}
        # A library without a single document next to a store holding vectors is far more
        # likely a lost or replaced database than leftovers: its vectors are kept.
        keep = not Document.select().exists()
        problems: list[Problem] = []
        for collection in self._store.list_collections():
            if collection.key in known or collection.key == WRITE_PROBE_KEY:
                continue
            if keep and collection.count:
                problems.append(
                    Problem(
                        "unknown_collection",
                        f"the vector store holds a collection ({collection.key}, "
                        f"{_count(collection.count, 'vector', 'vectors')}) but the library "
                        "has no documents: if the database was replaced or lost, restore it "
                        "(`allma restore`, automatic backups are in "
                        f"{backups_folder(database_path(self._db).parent)}); kept",
                        count=collection.count,
                    )
                )
                continue
            if repair:
                self._store.delete_collection(collection.key)
            problems.append(
                Problem(
                    "orphan_collection",
                    f"the vector store holds a collection ({collection.key}, "
                    f"{_count(collection.count, 'vector', 'vectors')}) that the library "
                    "no longer has" + ("; dropped" if repair else ""),
                    repaired=repair,
                    count=collection.count,
                )
            )
        return problems

    def _check_collection(self, collection_id: int, key: str, repair: bool) -> list[Problem]:
        documents = self._library.list_documents(collection_id=collection_id)
        ready = [document for document in documents if document.status == "ready"]
        in_progress = [d for d in documents if d.status in IN_PROGRESS_STATUSES]
        settled = [d.id for d in documents if d.status not in IN_PROGRESS_STATUSES]
        # A failed document keeps the chunks of its last good index (LibraryService.mark_failed);
        # their vectors belong to it and are not orphans. Unsearchable either way: not ready.
        texts_by_document = self._chunk_text_ids(settled)
        vectors = self._store.chunk_ids(key)
        busy: set[str] = set()
        for document in in_progress:
            busy |= self._store.chunk_ids(key, document.id)

        problems: list[Problem] = []
        incomplete: list[DocumentRecord] = []
        missing_vectors: list[DocumentRecord] = []
        for document in ready:
            texts = texts_by_document.get(document.id, set())
            if len(texts) != document.chunk_count:
                incomplete.append(document)
            elif not texts <= vectors:
                missing_vectors.append(document)
        if self._reembed_missing_vectors:
            self.missing_vectors += missing_vectors
            if missing_vectors:
                problems.append(
                    Problem(
                        "missing_vectors",
                        f"{_count(len(missing_vectors), 'document is', 'documents are')} "
                        "missing vectors that can be rebuilt from its stored texts "
                        f"({_names(missing_vectors)})",
                        count=len(missing_vectors),
                    )
                )
        else:
            incomplete += missing_vectors
        if incomplete:
            if repair:
                for document in incomplete:
                    self._library.mark_failed(document.id, NEEDS_REINDEX_REASON)
            problems.append(
                Problem(
                    "incomplete_documents",
                    f"{_count(len(incomplete), 'document is', 'documents are')} marked ready "
                    f"but missing chunks ({_names(incomplete)})"
                    + ("; marked failed, re-index them" if repair else ""),
                    repaired=repair,
                    count=len(incomplete),
                )
            )

        wanted: set[str] = set().union(*texts_by_document.values()) if texts_by_document else set()
        orphans = sorted(vectors - wanted - busy)
        if orphans:
            if repair:
                self._store.delete_chunks(key, orphans)
            problems.append(
                Problem(
                    "orphan_vectors",
                    f"{_count(len(orphans), 'vector has', 'vectors have')} no chunk text of a "
                    "document in the library" + ("; deleted" if repair else ""),
                    repaired=repair,
                    count=len(orphans),
                )
            )
        return problems

    def _chunk_text_ids(self, document_ids: Sequence[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for batch in peewee.chunked(list(document_ids), 500):  # SQLite's parameter limit
            query = ChunkText.select(ChunkText.document_id, ChunkText.chunk_id).where(
                ChunkText.document_id.in_(batch)
            )
            for document_id, chunk_id in tuple_rows(query):
                found.setdefault(str(document_id), set()).add(str(chunk_id))
        return found


def _count(number: int, singular: str, plural: str) -> str:
    return f"{number} {singular if number == 1 else plural}"


def _name(document: DocumentRecord) -> str:
    return display_text(document.title or document.path)


def _names(documents: Sequence[DocumentRecord]) -> str:
    more = f" and {len(documents) - 5} more" if len(documents) > 5 else ""
    return ", ".join(_name(document) for document in documents[:5]) + more
