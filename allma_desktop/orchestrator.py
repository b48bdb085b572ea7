"""The one coordinator that the CLI, the GUI and the local API call.

It owns the services and turns each user operation into an async stream of
typed events (``allma_desktop.events``). Blocking work (parsing, SQLite, the
vector store) runs in worker threads so the event loop, and with it the GUI,
never waits on it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, replace
from pathlib import Path

from allma_desktop.cancel import CancelToken
from allma_desktop.config import AppConfig
from allma_desktop.errors import (
    AllmaError,
    DiskFull,
    ModelMissing,
    NotFound,
    OllamaTimeout,
    OllamaUnreachable,
    StoreNotWritable,
    VectorStoreDamaged,
)
from allma_desktop.events import (
    AnswerChecked,
    AnswerDone,
    ChatEvent,
    ChatStarted,
    EmbedProgress,
    FileFinished,
    FileStarted,
    IngestEvent,
    IngestFinished,
    IngestProgress,
    IngestStarted,
    SourcesFound,
    ThinkingChunk,
    TokenChunk,
)
from allma_desktop.indexer import Indexer, QueueItem
from allma_desktop.indexer.state import IndexerState
from allma_desktop.ingest import IngestPipeline
from allma_desktop.ingest.reembed import embed_and_store
from allma_desktop.ingest.store import discard_vectors
from allma_desktop.records import (
    BackupResult,
    CollectionRecord,
    ContextFit,
    ContextMode,
    ConversationRecord,
    DoctorReport,
    DocumentRecord,
    GroundingReport,
    HealthReport,
    MessageRecord,
    ModelDetails,
    ModelInfo,
    OcrLanguage,
    OllamaHealth,
    Problem,
    PullProgress,
)
from allma_desktop.services.documents.languages import embedding_advice
from allma_desktop.services.documents.model import Chunk
from allma_desktop.services.documents.parse_worker import ParseWorker
from allma_desktop.services.documents.service import DocumentService
from allma_desktop.services.library.catalog import LibraryService, text_of_chunks
from allma_desktop.services.library.conversations import ConversationService
from allma_desktop.services.library.open_lock import LibraryOpenLock
from allma_desktop.services.library.storage import (
    LibraryDatabase,
    database_damaged,
    open_database,
    probe_database_write,
    translate_store_error,
)
from allma_desktop.services.model_server.choice import OfflineEmbeddings, create_llm_service
from allma_desktop.services.model_server.ollama import ChatOptions, LLMService
from allma_desktop.services.retrieval.grounding import check_answer, closeness
from allma_desktop.services.retrieval.keyword_index import KeywordIndex
from allma_desktop.services.retrieval.prompting import (
    GENERAL_KNOWLEDGE_NOTE,
    NO_DOCUMENTS_NOTICE,
    NOTHING_FOUND_NOTICE,
    WHOLE_DOCUMENT_TOO_LONG,
    build_messages,
    chat_options,
    cited_sources,
    fallback_quote,
    is_small_model,
    source_label,
    whole_document_room,
)
from allma_desktop.services.retrieval.rag import (
    RAGService,
    RetrievalSettings,
    embedding_document_text,
)
from allma_desktop.services.retrieval.summaries import (
    MAX_SUMMARY_REQUESTS,
    SUMMARY_TOKENS,
    TOO_LONG_TO_SUMMARISE,
    Block,
    answer_messages,
    answer_room,
    fits,
    is_summary_question,
    page_blocks,
    part_messages,
    part_room,
    parts,
    regrouped,
    requests_needed,
)
from allma_desktop.services.retrieval.whole_documents import (
    WholeDocuments,
    narrowed,
    whole_documents,
)
from allma_desktop.services.upkeep.auto_backup import backup_due, make_automatic_backup
from allma_desktop.services.upkeep.backup import create_backup
from allma_desktop.services.upkeep.doctor import Doctor
from allma_desktop.services.upkeep.export import export_conversation
from allma_desktop.services.upkeep.restore_journal import finish_interrupted_restore
from allma_desktop.services.vectorstore.backends import local_store_folder
from allma_desktop.services.vectorstore.base import VectorStore, probe_store_write
from allma_desktop.services.vectorstore.factory import create_vector_store
from allma_desktop.services.vectorstore.store_process import store_process_wanted
from allma_desktop.sources import Source

log = logging.getLogger(__name__)
# How long ``close_database_now`` waits for a statement under way in another thread.
ABRUPT_CLOSE_WAIT_SECONDS = 2.0
_WORDS = re.compile(r"[^\W_]+")  # runs of letters and digits: text compared word by word

DEFAULT_CONTEXT_TOKENS = 8192  # used when the model does not say; also the cap we set by default
RepairProgress = Callable[[int, int, str], None]  # (documents done, total, path)
PARTIAL_SAVE_INTERVAL = 1.0  # seconds between saves of a streaming answer (crash safety)
# A stored passage is rarely shorter than this, in tokens: in AUTO, a collection of more
# passages than the room holds at this size is not read to find out whether it fits (a
# library of many one-line notes then gets passages; WHOLE reads it).
MIN_CHUNK_TOKENS = 8
# The answer check's one embedder request (closeness in meaning) waits this long at most;
# without it the check by words stands.
CLOSENESS_TIMEOUT = 15.0


@dataclass(frozen=True)
class SearchResults:
    sources: list[Source]
    # Set when the embedding model could not be reached (or the vector store is damaged),
    # so only the keyword index was searched: the reason, to tell the user the results
    # may miss passages.
    keyword_only_because: AllmaError | None = None

    @property
    def notice(self) -> str | None:
        error = self.keyword_only_because
        if error is None:
            return None
        return (
            f"Keyword matches only: {error.message} Passages that match in meaning but "
            "not in words are missed until it is back."
            + (f" {error.hint}" if isinstance(error, VectorStoreDamaged) else "")
        )


class Orchestrator:
    """Create it, ``await open()``, use it, ``await close()``.

    ``open`` does the heavy imports and opens the database and the vector store
    in a worker thread, so a window can be on screen before it finishes.
    """

    def __init__(
        self,
        config: AppConfig,
        store: VectorStore | None = None,
        *,
        offline_embedding: Callable[[str], list[float]] | None = None,
    ) -> None:
        """``offline_embedding`` makes the embeddings in this process instead of the model
        server (the self-test, which runs without one)."""
        self.config = config
        self.llm: LLMService = (
            create_llm_service(config)
            if offline_embedding is None
            else OfflineEmbeddings(config.ollama_host, offline_embedding)
        )
        self.documents = DocumentService(
            chunk_size=config.chunk_size, chunk_overlap=config.chunk_overlap
        )
        # Parsing runs in a separate process (started on the first file) that can be
        # stopped when a file hangs or crashes its reader.
        self.parse_worker = ParseWorker(
            ocr=config.ocr,
            ocr_languages=config.ocr_languages,
            ocr_folder=ocr_languages_folder(config),
        )
        self.ingest_pipeline = IngestPipeline(self)
        self._store = store
        self._library: LibraryService | None = None
        self._conversations: ConversationService | None = None
        self._keywords: KeywordIndex | None = None
        self._rag: RAGService | None = None
        self._db: object | None = None
        self._context_tokens: dict[str, int] = {}
        self._lock: LibraryOpenLock | None = None
        self._indexer: Indexer | None = None
        self._startup_repair = DoctorReport()

    # --- lifecycle ---------------------------------------------------------------

    async def open(self) -> None:
        await asyncio.to_thread(self._open_sync)

    def _open_sync(self) -> None:
        data_dir = self.config.data_dir
        try:
            # A restore that a crash stopped midway is finished before anything opens.
            finish_interrupted_restore(data_dir, self.config.database_path)
            created = not data_dir.exists()
            data_dir.mkdir(parents=True, exist_ok=True)
            if created:
                # Readable by the user only. Explicit: mkdir's mode passes through the
                # umask and is ignored on some platforms. A folder the user made is theirs.
                os.chmod(data_dir, 0o700)
        except OSError as exc:
            raise _storage_error(data_dir, exc) from None
        db = open_database(self.config.database_path, vectors=local_store_folder(self.config))
        self._db = db
        self._library = LibraryService(db)
        self._conversations = ConversationService(db)
        self._keywords = KeywordIndex(db)
        if self._store is None:
            self._store = create_vector_store(self.config, own_process=store_process_wanted())
        self._library.default_collection()
        self._rag = RAGService(
            self.llm, self._store, self._keywords, self.config.ollama_embedding_model
        )
        self._lock = LibraryOpenLock(data_dir)
        if self._lock.acquire():
            self._startup_repair = Doctor(db, self.library, self.store).quick_repair()
            self._automatic_backup()
        else:
            # Another engine (the app, another command) is open: what looks half-done
            # may be its work in progress, so the start-up repair waits for a lone start.
            log.info("Another Allma engine has this library open; skipping start-up repair")
            self._startup_repair = DoctorReport()

    def _automatic_backup(self) -> None:
        """Today's copy of the database, if it has none and holds anything to lose.

        Never stops the library from opening: a copy that fails is logged and retried
        at the next start.
        """
        data_dir = self.config.data_dir
        if not backup_due(data_dir):
            return
        counts = self.library.counts()
        if not counts.rows and not self.conversations.list(limit=1):
            return
        try:
            make_automatic_backup(self.config.database_path, data_dir)
        except (OSError, sqlite3.Error) as error:
            log.warning("automatic backup of %s failed: %s", self.config.database_path, error)

    def close_database_now(self) -> None:
        """Close every thread's database connection at once, from whatever thread, with no
        event loop: for a process that is ending under Python's feet (the display went
        away and Qt calls C's ``exit``), so SQLite folds its log into the database and
        removes ``-wal`` and ``-shm``. The rest of ``close`` is left to the ending process."""
        db = self._db
        if isinstance(db, LibraryDatabase):
            db.close_all(wait=ABRUPT_CLOSE_WAIT_SECONDS, for_good=True)

    async def close(self) -> None:
        if self._indexer is not None:
            await self._indexer.close()
            self._indexer = None
        await self.parse_worker.close()
        await self.llm.close()
        if self._store is not None:
            # A store process stuck mid-call (a full disk) must not keep the app from
            # closing: ``abort`` stops waiting for it, where it has one.
            abort = getattr(self._store, "abort", None)
            await asyncio.to_thread(abort if callable(abort) else self._store.close)
        db = self._db
        if isinstance(db, LibraryDatabase):
            # Every worker thread's connection, once its statement is done (it may wait for
            # one a cancelled task left running): no -wal/-shm left behind.
            await asyncio.to_thread(db.close_all)
        elif db is not None and hasattr(db, "close"):
            db.close()
        self._db = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @property
    def library(self) -> LibraryService:
        if self._library is None:
            raise RuntimeError("Orchestrator.open() has not been awaited")
        return self._library

    @property
    def conversations(self) -> ConversationService:
        if self._conversations is None:
            raise RuntimeError("Orchestrator.open() has not been awaited")
        return self._conversations

    @property
    def store(self) -> VectorStore:
        if self._store is None:
            raise RuntimeError("Orchestrator.open() has not been awaited")
        return self._store

    @property
    def indexer(self) -> Indexer:
        """The queue of files to index and the watched folders (``await indexer.start()``
        in a front end that stays open: the app, ``allma watch run``, ``allma serve``)."""
        if self._indexer is None:
            self.library  # noqa: B018 - raises when the library is not open
            self._indexer = Indexer(self)
        return self._indexer

    @property
    def rag(self) -> RAGService:
        if self._rag is None:
            raise RuntimeError("Orchestrator.open() has not been awaited")
        return self._rag

    # --- collections and documents ---------------------------------------------------

    def collections(self) -> list[CollectionRecord]:
        return self.library.list_collections()

    def collection(self, collection_id: int | None) -> CollectionRecord:
        if collection_id is None:
            return self.library.default_collection()
        return self.library.get_collection(collection_id)

    def create_collection(self, name: str) -> CollectionRecord:
        record = self.library.create_collection(name)
        self.store.ensure_collection(record.key)
        return record

    def rename_collection(self, collection_id: int, name: str) -> CollectionRecord:
        self.library.rename_collection(collection_id, name)
        return self.library.get_collection(collection_id)

    async def delete_collection(self, collection_id: int) -> None:
        # Records the vectors to drop. In a worker thread, as every SQLite call a front
        # end's event loop awaits: the app's window must never wait on the database.
        key = await asyncio.to_thread(self.library.delete_collection, collection_id)
        await asyncio.to_thread(self.store.delete_collection, key)
        await asyncio.to_thread(self.library.settle_cleanup, key)

    def list_documents(self, collection_id: int | None = None) -> list[DocumentRecord]:
        return self.library.list_documents(collection_id=collection_id)

    def collection_by_name(self, name: str) -> CollectionRecord:
        """The collection called ``name``; ``NotFound`` names it when there is none."""
        return self.library.collection_by_name(name)

    def document_by_path(self, collection_id: int, path: str) -> DocumentRecord | None:
        """The document of ``path`` in a collection, or None when it is not in the library."""
        return self.library.document_by_path(collection_id, path)

    def documents_by_paths(
        self, collection_id: int, paths: Sequence[str]
    ) -> dict[str, DocumentRecord]:
        """The documents of ``paths`` in a collection, by the path as given (absent: left out)."""
        return self.library.documents_by_paths(collection_id, paths)

    def chunk(self, chunk_id: str) -> Chunk | None:
        """A committed chunk (its text, page, span and file), or None when it is gone."""
        return self.library.chunks_by_ids([chunk_id] if chunk_id else []).get(chunk_id)

    def queued_files(self) -> list[QueueItem]:
        """The files the indexing queue holds, as stored (the indexer need not run)."""
        return IndexerState(self.library.db).queued()

    def embedding_advice(self, model: str) -> str | None:
        """Advice on the embedding ``model`` for this library's languages, or None."""
        return embedding_advice(self.library_languages(), model)

    def library_languages(self) -> list[str]:
        """The languages of the library's documents (detected when each was indexed)."""
        if self._keywords is None:
            raise RuntimeError("Orchestrator.open() has not been awaited")
        return self._keywords.languages()

    def document(self, document_id: str) -> DocumentRecord:
        return self.library.get_document(document_id)

    async def document_text(self, document_id: str, page: int | None = None) -> str:
        """The stored text of a document, or of one of its pages, from its chunk texts.

        Read from SQLite, so the file need not be on disk. ``page`` is 1-based; a
        document without pages (Markdown, text) is one page.
        """
        chunks = await asyncio.to_thread(self.library.chunk_texts, document_id)
        if page is not None:
            chunks = [c for c in chunks if (c.page or 1) == page]
        return text_of_chunks(chunks)

    async def ocr_pages_with(self, document_id: str, text: str) -> list[int]:
        """The pages of a document whose text, as OCR read it, holds ``text`` (case,
        punctuation and line breaks aside), in order: where the reader's find looks on a
        scan, whose pages have no text layer to search."""
        wanted = " ".join(_WORDS.findall(text.lower()))
        if not wanted:
            return []
        chunks = await asyncio.to_thread(self.library.chunk_texts, document_id)
        pages = {
            chunk.page or 1
            for chunk in chunks
            if chunk.ocr and wanted in " ".join(_WORDS.findall(chunk.text.lower()))
        }
        return sorted(pages)

    async def remove_document(self, document_id: str) -> DocumentRecord:
        # Records the vectors to delete.
        record = await asyncio.to_thread(self.library.delete_document, document_id)
        key = record.collection_key
        await asyncio.to_thread(self.store.delete_document, key, document_id)
        await asyncio.to_thread(self.library.settle_cleanup, key, document_id)
        return record

    # --- ingestion (the stages are in the ingest package) -----------------------------

    async def ingest(
        self,
        paths: Sequence[str | Path],
        collection_id: int | None = None,
        cancel: CancelToken | None = None,
        force: bool = False,
    ) -> AsyncIterator[IngestEvent]:
        """Index files and folders; one ``FileFinished`` per file, whatever happens to it.

        A file that fails never stops the batch. Only a failure that would fail every
        file alike (Ollama unreachable, disk full) ends the batch early, with that
        error on ``IngestFinished``.
        """
        events = self.ingest_pipeline.ingest(paths, collection_id, cancel, force)
        async with aclosing(events):  # a consumer that stops early still cleans up at once
            async for event in events:
                yield event

    async def move_document(self, document_id: str, collection_id: int) -> DocumentRecord:
        """Move a document to another collection, re-embedding its stored chunk texts.

        The texts come from SQLite, so the file need not be on disk any more. The new
        vectors are stored before the row moves, and the old ones removed after.
        """
        library = self.library
        document = await asyncio.to_thread(library.get_document, document_id)
        target = await asyncio.to_thread(self.collection, collection_id)
        if target.id == document.collection_id:
            return document
        await asyncio.to_thread(self.store.ensure_collection, target.key)
        chunks = await asyncio.to_thread(library.chunk_texts, document_id)
        stored: list[str] = []
        # Should the move not finish, the copies in the target are to be deleted; once it
        # has, the originals (library.move_document records those in its transaction).
        await asyncio.to_thread(library.add_cleanup, target.key, document_id)
        try:
            async for _ in embed_and_store(self, chunks, target, CancelToken(), stored):
                pass
            moved = await asyncio.to_thread(library.move_document, document_id, target.id)
        except BaseException:
            await discard_vectors(self, target.key, stored)
            await asyncio.to_thread(library.settle_cleanup, target.key, document_id)
            raise
        await discard_vectors(self, document.collection_key, [c.chunk_id for c in chunks])
        await asyncio.to_thread(library.settle_cleanup, document.collection_key, document_id)
        return moved

    async def reembed(
        self, collection_id: int | None = None, cancel: CancelToken | None = None
    ) -> AsyncIterator[IngestEvent]:
        """Re-embed a collection with the configured embedding model, from stored chunk texts.

        The new vectors are built in a store collection of their own; search keeps using
        the old ones until every document is done, then one transaction swaps them in.
        A cancel or a failure leaves the old vectors in place.
        """
        cancel = cancel or CancelToken()
        library = self.library
        collection = self.collection(collection_id)
        documents = library.list_documents(collection_id=collection.id, status="ready")
        new_key = f"{collection.key.split('_r', 1)[0]}_r{int(time.time())}"
        # Dropped at the next start should this end before the swap (a crash, kill -9).
        await asyncio.to_thread(library.add_cleanup, new_key)
        await asyncio.to_thread(self.store.ensure_collection, new_key)
        building = replace(collection, key=new_key)
        dimensions: list[int] = []
        yield IngestStarted(total_files=len(documents), skipped=0)
        results: list[FileFinished] = []
        fatal: AllmaError | None = None
        started = time.monotonic()
        chunks_done = 0
        try:
            for index, document in enumerate(documents, start=1):
                if cancel.cancelled:
                    break
                yield FileStarted(document.path, index, len(documents))
                chunks = await asyncio.to_thread(library.chunk_texts, document.id)
                stored: list[str] = []
                embedding = embed_and_store(self, chunks, building, cancel, stored, dimensions)
                async for done in embedding:
                    yield EmbedProgress(document.path, done, len(chunks))
                if cancel.cancelled:
                    break
                result = FileFinished(
                    document.path, "indexed", "", document.id, len(chunks), document.page_count
                )
                results.append(result)
                chunks_done += len(chunks)
                yield result
                elapsed = time.monotonic() - started
                yield IngestProgress(
                    index, len(documents), chunks_done, elapsed / index * (len(documents) - index)
                )
        except AllmaError as exc:
            fatal = exc
        if fatal is not None or cancel.cancelled:
            await asyncio.to_thread(self.store.delete_collection, new_key)
            await asyncio.to_thread(library.settle_cleanup, new_key)
        else:
            model = self.config.ollama_embedding_model
            dimension = dimensions[0] if dimensions else None
            old_key = await asyncio.to_thread(
                library.swap_collection_key, collection.id, new_key, model, dimension
            )
            await asyncio.to_thread(self.store.delete_collection, old_key)
            await asyncio.to_thread(library.settle_cleanup, old_key)
        yield IngestFinished(tuple(results), cancelled=cancel.cancelled, error=fatal)

    # --- search ----------------------------------------------------------------------

    async def search(
        self,
        query: str,
        collection_id: int | None = None,
        k: int | None = None,
        document_ids: Sequence[str] | None = None,
    ) -> list[Source]:
        """The passages that best match ``query``, best first, with file and page.

        When the embedding model cannot be reached, keyword matches only
        (``search_results`` says so).
        """
        return (await self.search_results(query, collection_id, k, document_ids)).sources

    async def search_results(
        self,
        query: str,
        collection_id: int | None = None,
        k: int | None = None,
        document_ids: Sequence[str] | None = None,
    ) -> SearchResults:
        """``search``, and why it fell back to keyword search if it did."""
        collection = await asyncio.to_thread(self.collection, collection_id)
        if collection.chunk_count == 0:
            return SearchResults([])
        settings = RetrievalSettings(
            k=k or self.config.top_k,
            hybrid=self.config.hybrid_search,
            related_words=self.config.related_words,
        )
        fallback: AllmaError | None = None
        try:
            # The model of the collection's current vectors, not the configured one: after
            # the embedding model changes, they stay in use until a re-embed swaps them.
            sources = await self.rag.retrieve(
                query, collection.key, settings, document_ids, collection.embedding_model
            )
        except (OllamaUnreachable, OllamaTimeout, ModelMissing, VectorStoreDamaged) as error:
            # The keyword index lives in SQLite: it answers without Ollama or the vectors.
            log.warning("search falls back to keywords: %s", error)
            fallback = error
            sources = await asyncio.to_thread(
                self.rag.retrieve_keywords_only, query, collection.key, settings, document_ids
            )
        kept = await asyncio.to_thread(self._committed_sources, sources)
        numbered = [replace(s, number=n) for n, s in enumerate(kept, start=1)]
        return SearchResults(numbered, fallback)

    def _committed_sources(self, sources: Sequence[Source]) -> list[Source]:
        """Only passages of ready documents whose chunk rows are committed.

        A document being (re-)indexed, or vectors a crash left behind, are not sources.
        """
        ready = self.library.ready_document_ids({s.document_id for s in sources})
        committed = self.library.chunks_by_ids([s.chunk_id for s in sources])
        return [s for s in sources if s.document_id in ready and s.chunk_id in committed]

    # --- chat ------------------------------------------------------------------------

    async def chat(
        self,
        conversation_id: int | None,
        text: str,
        *,
        model: str | None = None,
        collection_id: int | None = None,
        use_documents: bool | None = None,
        cancel: CancelToken | None = None,
        replace_from_message_id: int | None = None,
        context_mode: ContextMode | None = None,
    ) -> AsyncIterator[ChatEvent]:
        """Answer ``text`` in a conversation (a new one when ``conversation_id`` is None).

        The question and a placeholder answer are stored before anything is sent, and
        the answer is saved as it streams, so a crash or a Stop loses neither.
        ``replace_from_message_id`` drops that message and everything after it first
        (regenerate, edit-and-resend). ``use_documents`` and ``context_mode`` are the
        conversation's own when None; given, they are stored with a new conversation
        and hold for this answer alone in an existing one.
        """
        cancel = cancel or CancelToken()
        conversations = self.conversations
        # SQLite in worker threads: the app's window runs this loop.
        if conversation_id is None:
            conversation = await asyncio.to_thread(
                conversations.create,
                model=model,
                collection_id=collection_id,
                use_documents=True if use_documents is None else use_documents,
                context_mode=context_mode or ContextMode.AUTO,
            )
        else:
            conversation = await asyncio.to_thread(conversations.get, conversation_id)
            if replace_from_message_id is not None:
                await asyncio.to_thread(conversations.delete_messages_from, replace_from_message_id)
        chat_model = model or conversation.model or self.config.ollama_model
        wants_documents = conversation.use_documents if use_documents is None else use_documents
        mode = context_mode or conversation.context_mode
        collection_ref = collection_id if collection_id is not None else conversation.collection_id

        history_source = conversation.id
        user_message = await asyncio.to_thread(
            conversations.add_message, conversation.id, "user", text
        )
        answer_message = await asyncio.to_thread(
            conversations.add_message,
            conversation.id,
            "assistant",
            "",
            model=chat_model,
            status="streaming",
        )
        yield ChatStarted(conversation.id, user_message.id, answer_message.id)

        answer_parts: list[str] = []
        thinking_parts: list[str] = []
        sources: list[Source] = []
        source_texts: dict[str, str] = {}
        started = time.monotonic()
        done_delta_tokens: tuple[int | None, int | None] = (None, None)
        error: AllmaError | None = None
        interrupted = False
        embedding_model = self.config.ollama_embedding_model
        whole: WholeDocuments | None = None
        too_long: str | None = None  # why whole documents were asked for and not given
        summarise = False  # the documents do not fit: summarised in parts (map, reduce)
        summary_parts = 0
        quote_at: int | None = None  # where the app's quote of its source begins, if added
        try:
            library_empty = False
            if wants_documents:
                collection = await asyncio.to_thread(self.collection, collection_ref)
                embedding_model = collection.embedding_model or embedding_model
                library_empty = collection.chunk_count == 0
                if not library_empty and mode is not ContextMode.WHOLE:
                    # Also in AUTO: when nothing is relevant, the documents have nothing
                    # to say, whole or not (and the app says so, below).
                    sources = await self.search(text, collection.id)
                wanted = mode is ContextMode.WHOLE or (mode is ContextMode.AUTO and sources)
                if wanted and not library_empty:
                    whole, too_long, summarise = await self._whole_documents(
                        collection,
                        mode,
                        chat_model,
                        text,
                        history_source,
                        {user_message.id, answer_message.id},
                    )
                    if whole is not None:
                        sources, source_texts = list(whole.sources), dict(whole.texts)
                    elif mode is ContextMode.WHOLE:
                        sources = await self.search(text, collection.id)
            if wants_documents and not sources and self.config.documents_only:
                # "Answer only from my documents": the model is not asked at all.
                yield SourcesFound(())
                notice = NO_DOCUMENTS_NOTICE if library_empty else NOTHING_FOUND_NOTICE
                answer_parts.append(notice)
                yield TokenChunk(notice)
            else:
                context_tokens, supports_thinking, small_model = await self._model_context(
                    chat_model
                )
                if whole is None:
                    source_texts = await asyncio.to_thread(self._source_texts, sources)
                history = await asyncio.to_thread(
                    conversations.history_for_prompt,
                    history_source,
                    budget_tokens=context_tokens // 3,
                    exclude_message_ids={user_message.id, answer_message.id},
                )
                if summarise and whole is not None:
                    yield SourcesFound(tuple(sources), whole.titles)
                    blocks: list[Block] = []
                    async for event in self._summaries(
                        whole, text, history, chat_model, context_tokens, cancel, blocks
                    ):
                        summary_parts += 1
                        thinking_parts.append(event.text)
                        yield event
                    interrupted = cancel.cancelled
                    # The answer is asked from the summaries; it cites, and is checked
                    # against, the pages themselves (``source_texts``).
                    messages = answer_messages(blocks, text, history, self.config.system_prompt)
                else:
                    messages, sources = build_messages(
                        text,
                        sources,
                        source_texts,
                        history,
                        context_tokens=context_tokens,
                        system_prompt=self.config.system_prompt,
                        retrieval_used=wants_documents,
                        small_model=small_model,
                        whole_documents=whole is not None,
                    )
                    yield SourcesFound(tuple(sources), whole.titles if whole is not None else ())
                if too_long is not None and sources:
                    # Said by the app, before the model's text: not what was asked for.
                    answer_parts.append(f"{too_long}\n\n")
                    yield TokenChunk(f"{too_long}\n\n")
                if wants_documents and not sources:
                    # Said by the app, plainly, before the model's own text.
                    notice = NO_DOCUMENTS_NOTICE if library_empty else NOTHING_FOUND_NOTICE
                    notice = f"{notice} {GENERAL_KNOWLEDGE_NOTE}\n\n"
                    answer_parts.append(notice)
                    yield TokenChunk(notice)
                if not interrupted:  # not stopped while the documents were summarised
                    think = True if (self.config.think and supports_thinking) else None
                    options = chat_options(
                        context_tokens, self.config.temperature, small_model=small_model
                    )
                    last_save = time.monotonic()
                    stream = self.llm.chat_stream(
                        chat_model, messages, think=think, options=options
                    )
                    try:
                        async for delta in stream:
                            if delta.thinking:
                                thinking_parts.append(delta.thinking)
                                yield ThinkingChunk(delta.thinking)
                            if delta.content:
                                answer_parts.append(delta.content)
                                yield TokenChunk(delta.content)
                            if delta.done:
                                done_delta_tokens = (delta.prompt_tokens, delta.completion_tokens)
                            if cancel.cancelled:
                                interrupted = True
                                break
                            if time.monotonic() - last_save > PARTIAL_SAVE_INTERVAL:
                                last_save = time.monotonic()
                                await asyncio.to_thread(
                                    conversations.update_message,
                                    answer_message.id,
                                    content="".join(answer_parts),
                                    thinking="".join(thinking_parts),
                                )
                    finally:
                        await stream.aclose()
                if not interrupted and wants_documents and whole is None:
                    quote = fallback_quote("".join(answer_parts), text, sources, source_texts)
                    if quote is not None:
                        quote_at = len("".join(answer_parts))
                        answer_parts.append(quote)
                        yield TokenChunk(quote)
        except AllmaError as exc:
            error = exc
            interrupted = True
        except asyncio.CancelledError:
            # The app is closing (a Stop comes as ``cancel``): saved here and now, the
            # one place the loop's thread writes to SQLite.
            self._save_answer(answer_message.id, answer_parts, thinking_parts, "interrupted", None)
            raise

        answer = "".join(answer_parts)
        cited = cited_sources(answer, sources)
        if not cited and answer and whole is None:
            cited = sources  # an answer from passages that cites none draws on them all
        if whole is not None:
            cited = narrowed(whole, cited, answer)  # the page's passage, for the reader
        status = "complete"
        if interrupted:
            status = "interrupted" if answer else "failed"
        duration_ms = (time.monotonic() - started) * 1000
        await asyncio.to_thread(
            self._save_answer,
            answer_message.id,
            answer_parts,
            thinking_parts,
            status,
            error,
            prompt_tokens=done_delta_tokens[0],
            completion_tokens=done_delta_tokens[1],
            duration_ms=duration_ms,
        )
        await asyncio.to_thread(conversations.add_sources, answer_message.id, cited)
        if whole is not None:
            # Kept with the answer: reopened, exported or listed, it still says so.
            await asyncio.to_thread(
                conversations.set_whole_documents, answer_message.id, whole.titles, summary_parts
            )
        yield AnswerDone(
            conversation.id,
            answer_message.id,
            answer,
            "".join(thinking_parts),
            tuple(cited),
            interrupted=interrupted,
            error=error,
            prompt_tokens=done_delta_tokens[0],
            completion_tokens=done_delta_tokens[1],
            duration_ms=duration_ms,
            model=chat_model,
            whole_documents=whole.titles if whole is not None else (),
            summary_parts=summary_parts,
        )
        if answer.strip() and sources:
            # After the answer is out, so the check never holds up its last words.
            passages = {s.number: source_texts.get(s.chunk_id, s.snippet) for s in sources}
            try:
                report = await asyncio.to_thread(
                    check_answer, answer, passages, quoted_from=quote_at
                )
                report = await self._with_closeness(report, passages, embedding_model)
            except Exception:  # the answer stands without its check; never fail it after the fact
                log.exception("checking answer %d against its sources failed", answer_message.id)
                return
            if report.checked or report.unsupported_numbers:
                try:
                    await asyncio.to_thread(conversations.set_grounding, answer_message.id, report)
                except AllmaError:
                    log.warning("could not store the check of answer %d", answer_message.id)
                yield AnswerChecked(conversation.id, answer_message.id, report)

    async def _whole_documents(
        self,
        collection: CollectionRecord,
        mode: ContextMode,
        chat_model: str,
        question: str,
        conversation_id: int,
        this_exchange: set[int],
    ) -> tuple[WholeDocuments | None, str | None, bool]:
        """The collection's documents whole, page by page, when the chat's mode and the
        model's context allow it; else None, and in ``WHOLE`` mode the notice that says why.
        The flag: they do not fit, and ``question`` asks for a summary, which is then made
        in parts (``_summaries``) when they need no more than ``MAX_SUMMARY_REQUESTS``.

        ``AUTO`` gives a model under a billion parameters passages all the same (its
        short prompt, ``prompting.py``); ``WHOLE`` gives it what was asked for.
        """
        context_tokens, _, small_model = await self._model_context(chat_model)
        if mode is ContextMode.AUTO and small_model:
            return None, None, False
        history = await asyncio.to_thread(
            self.conversations.history_for_prompt,
            conversation_id,
            budget_tokens=context_tokens // 3,
            exclude_message_ids=this_exchange,
        )
        room = whole_document_room(question, history, context_tokens, self.config.system_prompt)
        summary = is_summary_question(question)
        if (
            mode is ContextMode.AUTO
            and not summary
            and collection.chunk_count * MIN_CHUNK_TOKENS > room
        ):
            return None, None, False  # too many passages to fit whatever their length: not read
        each_part = part_room(question, context_tokens)
        limit = max(room, each_part * MAX_SUMMARY_REQUESTS) if summary else room
        needed, _, whole = await asyncio.to_thread(self._collection_pages, collection, limit)
        if whole is not None and whole.tokens <= room:
            return whole, None, False
        final_room = answer_room(question, history, context_tokens, self.config.system_prompt)
        requests = requests_needed(needed, each_part, final_room)
        if summary and whole is not None and requests <= MAX_SUMMARY_REQUESTS:
            return whole, None, True
        if mode is ContextMode.WHOLE and summary:
            notice = TOO_LONG_TO_SUMMARISE.format(
                needed=needed, parts=requests, room=max(0, each_part), limit=MAX_SUMMARY_REQUESTS
            )
            return None, notice, False
        if mode is ContextMode.WHOLE:
            return None, WHOLE_DOCUMENT_TOO_LONG.format(needed=needed, room=max(0, room)), False
        return None, None, False

    async def _summaries(
        self,
        whole: WholeDocuments,
        question: str,
        history: Sequence[tuple[str, str]],
        chat_model: str,
        context_tokens: int,
        cancel: CancelToken,
        blocks: list[Block],
    ) -> AsyncIterator[ThinkingChunk]:
        """Summarise ``whole`` in parts until the summaries fit the answer's request;
        ``blocks`` ends up holding them (``summaries.py``). Yields one progress line a
        summary asked for, before it is asked; a Stop ends it after the summary in hand."""
        final_room = answer_room(question, history, context_tokens, self.config.system_prompt)
        each_part = part_room(question, context_tokens)
        options = ChatOptions(
            temperature=self.config.temperature, num_ctx=context_tokens, num_predict=SUMMARY_TOKENS
        )
        current = page_blocks(whole)
        asked = 0
        rounds = 0
        while not fits(current, final_room):
            cut = parts(current, each_part)
            if asked + len(cut) > MAX_SUMMARY_REQUESTS:
                break
            rounds += 1
            summaries: list[tuple[Sequence[Block], str]] = []
            for index, part in enumerate(cut, start=1):
                first, last = source_label(part[0].source), source_label(part[-1].source)
                what = "Summarising" if rounds == 1 else "Summarising the summaries"
                yield ThinkingChunk(f"{what}, part {index} of {len(cut)}: {first} to {last}…\n")
                asked += 1
                summaries.append((part, await self._summary(chat_model, part, question, options)))
                if cancel.cancelled:
                    return
            shorter = regrouped(summaries)
            if sum(b.tokens for b in shorter) >= sum(b.tokens for b in current):
                break  # the summaries are no shorter than what they summarise
            current = shorter
        # What fits, if a limit was reached first.
        blocks.extend(current if fits(current, final_room) else parts(current, final_room)[0])

    async def _summary(
        self, chat_model: str, part: Sequence[Block], question: str, options: ChatOptions
    ) -> str:
        pieces: list[str] = []
        stream = self.llm.chat_stream(
            chat_model, part_messages(part, question), think=None, options=options
        )
        try:
            async for delta in stream:
                if delta.content:
                    pieces.append(delta.content)
        finally:
            await stream.aclose()
        return "".join(pieces)

    async def context_fit(
        self,
        collection_id: int | None = None,
        model: str | None = None,
        conversation_id: int | None = None,
    ) -> ContextFit:
        """How much of ``model``'s context the collection's documents take read whole,
        estimated as ``chat`` estimates it to decide (for the chat options' meter)."""
        chat_model = model or self.config.ollama_model
        collection = await asyncio.to_thread(self.collection, collection_id)
        context_tokens, _, small_model = await self._model_context(chat_model)
        history: list[tuple[str, str]] = []
        if conversation_id is not None:
            history = await asyncio.to_thread(
                self.conversations.history_for_prompt,
                conversation_id,
                budget_tokens=context_tokens // 3,
            )
        room = whole_document_room("", history, context_tokens, self.config.system_prompt)
        needed, exact, whole = await asyncio.to_thread(self._collection_pages, collection, room)
        documents = await asyncio.to_thread(self.library.ready_document_count, collection.id)
        fit = whole is not None
        return ContextFit(
            tokens=needed,
            room=max(0, room),
            context_tokens=context_tokens,
            fits=fit,
            exact=exact,
            summary_requests=0
            if fit
            else requests_needed(
                needed,
                part_room("", context_tokens),
                answer_room("", history, context_tokens, self.config.system_prompt),
            ),
            summary_limit=MAX_SUMMARY_REQUESTS,
            small_model=small_model,
            documents=documents,
        )

    def _collection_pages(
        self, collection: CollectionRecord, limit: int
    ) -> tuple[int, bool, WholeDocuments | None]:
        """(about how many tokens the collection's text takes, whether that was counted
        page by page, its pages if they take at most ``limit``).

        The stored texts' length decides first (it counts chunk overlaps twice: an upper
        bound), so a large collection is not read for nothing.
        """
        stored_tokens = self.library.ready_text_characters(collection.id) // 4
        if stored_tokens > 2 * max(limit, 0):
            return stored_tokens, False, None
        documents = self.library.list_documents(collection.id, status="ready")
        whole = whole_documents([(d, self.library.chunk_texts(d.id)) for d in documents])
        if not whole.sources or whole.tokens > limit:
            return whole.tokens, True, None
        return whole.tokens, True, whole

    async def _with_closeness(
        self, report: GroundingReport, passages: dict[int, str], embedding_model: str
    ) -> GroundingReport:
        """``report`` with the sentences flagged only for their rarer words settled by
        closeness in meaning: one embedder request, bounded in size and time."""
        plan = closeness(report, passages)
        if plan is None:
            return report
        texts = [embedding_document_text(embedding_model, text) for text in plan.texts]
        try:
            vectors = await asyncio.wait_for(
                self.llm.embed(embedding_model, texts), CLOSENESS_TIMEOUT
            )
        except (AllmaError, TimeoutError) as error:
            log.warning("answer check: no closeness in meaning (%s); words only", error)
            return report
        return await asyncio.to_thread(plan.apply, report, vectors)

    def _save_answer(
        self,
        message_id: int,
        answer_parts: list[str],
        thinking_parts: list[str],
        status: str,
        error: AllmaError | None,
        *,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        duration_ms: float | None = None,
    ) -> None:
        self.conversations.update_message(
            message_id,
            content="".join(answer_parts),
            thinking="".join(thinking_parts),
            status=status,
            error=str(error) if error else None,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            duration_ms=duration_ms,
        )

    async def source_texts(self, sources: Sequence[Source]) -> dict[str, str]:
        """Each source's whole passage, by chunk id (a ``Source.snippet`` is cut for display)."""
        return await asyncio.to_thread(self._source_texts, sources)

    def _source_texts(self, sources: Sequence[Source]) -> dict[str, str]:
        """Full chunk texts for the prompt (snippets are cut for display)."""
        chunks = self.library.chunks_by_ids([s.chunk_id for s in sources])
        return {chunk_id: chunk.text for chunk_id, chunk in chunks.items()}

    async def _model_context(self, model: str) -> tuple[int, bool, bool]:
        """The ``num_ctx`` to send (kept stable per model: changing it reloads the model),
        whether the model can think, and whether it is small enough for the short prompt."""
        details: ModelDetails = await self.llm.show(model)
        if model not in self._context_tokens:
            limit = self.config.context_length or DEFAULT_CONTEXT_TOKENS
            native = details.context_length or limit
            self._context_tokens[model] = min(native, limit)
        small = is_small_model(details.parameter_size)
        return self._context_tokens[model], details.supports_thinking, small

    # --- conversations -------------------------------------------------------------

    def conversation(self, conversation_id: int) -> ConversationRecord:
        return self.conversations.get(conversation_id)

    def list_conversations(self, limit: int = 100, offset: int = 0) -> list[ConversationRecord]:
        """Conversations, most recently updated first."""
        return self.conversations.list(limit, offset)

    def search_conversations(self, text: str, limit: int = 100) -> list[ConversationRecord]:
        """Conversations whose title or any message mentions ``text``."""
        return self.conversations.search(text, limit=limit)

    def conversation_messages(self, conversation_id: int) -> list[MessageRecord]:
        """A conversation's messages with their sources and checks, oldest first."""
        return self.conversations.messages(conversation_id)

    def create_conversation(
        self,
        *,
        model: str | None = None,
        collection_id: int | None = None,
        use_documents: bool = True,
        earlier: Sequence[tuple[str, str]] = (),
        context_mode: ContextMode = ContextMode.AUTO,
    ) -> ConversationRecord:
        """A new conversation; ``earlier`` (role, text) messages are stored in it first,
        as a client that keeps its own history sends them (the OpenAI-compatible API)."""
        conversations = self.conversations
        record = conversations.create(
            model=model,
            collection_id=collection_id,
            use_documents=use_documents,
            context_mode=context_mode,
        )
        for role, text in earlier:
            conversations.add_message(record.id, role, text)
        return conversations.get(record.id) if earlier else record

    def rename_conversation(self, conversation_id: int, title: str) -> ConversationRecord:
        return self.conversations.rename(conversation_id, title)

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete a conversation with its messages; ``NotFound`` names an unknown id."""
        self.conversations.delete(conversation_id)

    def set_conversation_model(self, conversation_id: int, model: str | None) -> ConversationRecord:
        return self.conversations.set_model(conversation_id, model)

    def set_conversation_collection(
        self, conversation_id: int, collection_id: int | None, use_documents: bool | None = None
    ) -> ConversationRecord:
        """Point a conversation at a collection (None: all); optionally toggle document use."""
        return self.conversations.set_collection(
            conversation_id, collection_id, use_documents=use_documents
        )

    def set_conversation_context_mode(
        self, conversation_id: int, mode: ContextMode
    ) -> ConversationRecord:
        """What a conversation gives the model from its documents: whole documents when
        they fit (``AUTO``), the best passages, or whole documents whenever they fit."""
        return self.conversations.set_context_mode(conversation_id, mode)

    def conversation_markdown(self, conversation_id: int) -> str:
        """The conversation as Markdown, with its sources and thinking (``NotFound`` if none)."""
        return export_conversation(self.conversations, conversation_id)

    # --- models and health -------------------------------------------------------

    async def models(self) -> list[ModelInfo]:
        return await self.llm.list_models()

    def pull(self, name: str) -> AsyncIterator[PullProgress]:
        return self.llm.pull(name)

    async def model_details(self, name: str) -> ModelDetails:
        """What the model server says of ``name``: capabilities, context length, family."""
        return await self.llm.show(name)

    async def embed(self, model: str, texts: Sequence[str]) -> list[list[float]]:
        """Embeddings of ``texts`` by ``model``, one vector a text."""
        return await self.llm.embed(model, texts)

    async def health(self) -> HealthReport:
        ollama = await self.llm.health(self.config.ollama_model, self.config.ollama_embedding_model)
        store_error = await asyncio.to_thread(_check_writable, self.config.data_dir)
        # A probe file is not enough: each store must take a real write (a read-only
        # vector store in a writable folder failed every command behind "Data folder ok").
        database_error = await asyncio.to_thread(
            _write_error, probe_database_write, self.library.db
        )
        vectors_error = await asyncio.to_thread(_write_error, self._probe_vectors)
        report = HealthReport(
            ollama=ollama,
            store_path=str(self.config.data_dir),
            store_writable=store_error is None and database_error is None and vectors_error is None,
            store_error=store_error,
            documents=0,
            chunks=0,
            collections=0,
            database_error=database_error,
            vectors_error=vectors_error,
        )
        return await self.recounted(report)

    async def recounted(self, report: HealthReport) -> HealthReport:
        """``report`` with the library's counts read again, and nothing else checked: what
        a change of documents moves. Ollama and the stores' writes are probed by ``health``
        on its own schedule, not once a second while a folder is indexed."""
        counts = await asyncio.to_thread(self.library.counts)
        return replace(
            report,
            documents=counts.documents,
            chunks=counts.chunks,
            collections=counts.collections,
            failed=counts.failed,
            cancelled=counts.cancelled,
        )

    def _probe_vectors(self) -> None:
        try:
            probe_store_write(self.store)
            # The probe's own collection is new: a collection's damaged index files (cut
            # short by a full disk) show only when that collection is read.
            for collection in self.library.list_collections():
                self.store.count(collection.key)
        except AllmaError:
            raise
        except Exception as error:  # a backend's own exception: still a store that refuses
            folder = local_store_folder(self.config) or self.config.data_dir
            raise StoreNotWritable(folder, f"the vector store refused a write: {error}") from error

    # --- maintenance -------------------------------------------------------------

    async def back_up(self, target: Path) -> BackupResult:
        """Archive the library to ``target`` (a file, or a folder for a dated name).

        The database is copied live (SQLite's online backup); the vector store is closed
        first, so its files are whole, and opens again on its next use.
        """
        return await asyncio.to_thread(create_backup, self.config, target, self.store)

    async def doctor(
        self, repair: bool = False, on_progress: RepairProgress | None = None
    ) -> DoctorReport:
        """Check that SQLite and the vector store agree; with ``repair``, make them agree.

        A damaged vector store is set aside and rebuilt, and vectors missing from a ready
        document are embedded again, from the chunk texts in SQLite (``on_progress(done,
        total, path)`` after each document): nothing is re-read from the files. The report
        includes what the quick repair at start fixed after a crash.
        """
        found: list[Problem] = []
        doctor = self._doctor()
        try:
            report = await asyncio.to_thread(doctor.check, repair)
        except VectorStoreDamaged as damage:
            if not repair:
                problem = Problem("vector_store_damaged", f"{damage.message} {damage.hint}")
                return self._startup_repair.merged(DoctorReport((problem,), ("vector store",)))
            aside = await asyncio.to_thread(self._set_store_aside)
            found.append(
                Problem(
                    "vector_store_damaged",
                    f"{damage.message.rstrip('.')}; set aside as {aside}, "
                    "its vectors rebuilt from the stored texts",
                    repaired=True,
                )
            )
            doctor = self._doctor()
            report = await asyncio.to_thread(doctor.check, repair)
        if repair and doctor.missing_vectors:
            report = await self._rebuild_missing_vectors(report, doctor, on_progress)
        return self._startup_repair.merged(DoctorReport(tuple(found)).merged(report))

    def _doctor(self) -> Doctor:
        library = self.library
        return Doctor(
            library.db, library, self.store, self.conversations, reembed_missing_vectors=True
        )

    def _set_store_aside(self) -> Path:
        """Move the damaged store's folder aside (kept, never deleted) for a new one."""
        folder = local_store_folder(self.config)
        if folder is None:
            raise AllmaError(
                "The vector store on the server is damaged; Allma cannot set it aside.",
                "Delete its collections on the server, then run `allma doctor --repair` "
                "again to rebuild them from the stored texts.",
            )
        self.store.close()  # lets go of the files; the next call opens a new store
        aside = folder.with_name(f"{folder.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            folder.rename(aside)
        except OSError as error:
            raise _storage_error(folder, error) from error
        log.warning("set the damaged vector store %s aside as %s", folder, aside)
        return aside

    async def _rebuild_missing_vectors(
        self, report: DoctorReport, doctor: Doctor, on_progress: RepairProgress | None
    ) -> DoctorReport:
        """Embed the stored texts of documents missing vectors; the report says how it went."""
        documents = doctor.missing_vectors
        collections = {c.id: c for c in self.library.list_collections()}
        done = 0
        failure: AllmaError | None = None
        for document in documents:
            collection = collections[document.collection_id]
            # With the model the collection's other vectors come from (item: a new model
            # is only used after a re-embed swaps it in).
            model = collection.embedding_model or self.config.ollama_embedding_model
            chunks = await asyncio.to_thread(self.library.chunk_texts, document.id)
            try:
                await asyncio.to_thread(self.store.ensure_collection, collection.key)
                stored: list[str] = []
                embedding = embed_and_store(
                    self, chunks, collection, CancelToken(), stored, [], model=model
                )
                async for _ in embedding:
                    pass
            except AllmaError as error:
                failure = error
                break
            done += 1
            if on_progress is not None:
                on_progress(done, len(documents), document.path)
        kept = tuple(p for p in report.problems if p.kind != "missing_vectors")
        if failure is None:
            rebuilt = Problem(
                "missing_vectors",
                f"{done} {'document' if done == 1 else 'documents'} missing vectors; "
                "rebuilt from the stored texts",
                repaired=True,
                count=done,
            )
        else:
            rebuilt = Problem(
                "missing_vectors",
                f"{len(documents) - done} of {len(documents)} documents still miss vectors: "
                f"{failure.message} {failure.hint} Then run `allma doctor --repair` again "
                "(their texts are kept; keyword search finds them meanwhile).",
                count=len(documents) - done,
            )
        return DoctorReport((*kept, rebuilt), report.checked)


def _storage_error(path: Path, exc: OSError) -> AllmaError:
    if exc.errno == 28:  # ENOSPC
        return DiskFull(path)
    return StoreNotWritable(path, exc.strerror or str(exc))


def _write_error(probe: Callable[..., None], *args: object) -> AllmaError | None:
    try:
        probe(*args)
    except AllmaError as error:
        return error
    return None


def _check_writable(folder: Path) -> AllmaError | None:
    """Write and remove a probe file; also warn when less than 100 MB is free."""
    probe = folder / ".write-probe"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        return _storage_error(folder, exc)
    if shutil.disk_usage(folder).free < 100 * 1024 * 1024:
        return DiskFull(folder)
    return None


# --- before a library is open: a candidate server, an error to explain ----------------------


async def probe_model_server(config: AppConfig, timeout: float) -> OllamaHealth:
    """Whether the model server ``config`` names answers, and which models it has.

    A client of its own, closed after: the address being tried is not the engine's yet.
    """
    service = create_llm_service(config, timeout=timeout)
    try:
        return await service.health(config.ollama_model, config.ollama_embedding_model)
    finally:
        await service.close()


async def check_models(
    config: AppConfig,
    *,
    chat_model: str | None = None,
    embedding_model: str | None = None,
    timeout: float,
) -> None:
    """Raise ``WrongModelKind`` or ``ModelMissing`` unless ``chat_model`` can chat and
    ``embedding_model`` makes an embedding (a real one) on the server ``config`` names."""
    service = create_llm_service(config, timeout=timeout)
    try:
        if chat_model is not None:
            await service.check_chat_model(chat_model)
        if embedding_model is not None:
            await service.check_embedding_model(embedding_model)
    finally:
        await service.close()


def file_text(path: Path) -> str:
    """The whole text of a file, read as the library reads it (the reader shows text
    documents this way)."""
    return DocumentService().parse(path).full_text


def ocr_languages_folder(config: AppConfig) -> Path:
    """The app's own folder of OCR languages added in Settings."""
    from allma_desktop.services.documents.ocr_languages import own_folder

    return own_folder(config.data_dir)


def ocr_languages(config: AppConfig | None = None) -> list[OcrLanguage]:
    """The languages OCR can read here (none when its language data is missing), with
    ``config``'s own folder of added languages. Looks for the data's files only: PyMuPDF
    is not imported."""
    from allma_desktop.services.documents.ocr_languages import available_languages

    return available_languages(ocr_languages_folder(config) if config is not None else None)


def add_ocr_language_from_folder(config: AppConfig, code: str, folder: Path) -> OcrLanguage:
    """Add the language ``code`` from ``<folder>/<code>.traineddata`` (blocks: a copy)."""
    from allma_desktop.services.documents.ocr_languages import add_from_folder

    return add_from_folder(code, folder, ocr_languages_folder(config))


def download_ocr_language(
    config: AppConfig,
    code: str,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: CancelToken | None = None,
) -> OcrLanguage:
    """Add the language ``code`` from its ``tessdata-fast-<code>`` package on the package
    index (PyPI), without pip (blocks until done; ``cancel`` stops it at once)."""
    from allma_desktop.services.documents.ocr_languages import download_language

    return download_language(
        code, ocr_languages_folder(config), on_progress=on_progress, cancel=cancel
    )


def database_error(error: BaseException, database: Path) -> AllmaError | None:
    """An SQLite failure no service translated (full disk, read-only, locked, damaged) as a
    message and a next step; None when it is none of those."""
    return translate_store_error(error, database)


def damaged_database(database: Path, detail: str) -> AllmaError:
    """``DatabaseDamaged`` for ``database``, offering a restore of its newest backup."""
    return database_damaged(database, detail)


__all__ = [
    "HealthReport",
    "NotFound",
    "Orchestrator",
    "add_ocr_language_from_folder",
    "check_models",
    "damaged_database",
    "database_error",
    "download_ocr_language",
    "file_text",
    "ocr_languages",
    "ocr_languages_folder",
    "probe_model_server",
]
