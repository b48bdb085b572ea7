"""The SQLite database: collections, documents, chunk texts, conversations.

One file (``AppConfig.database_path``) holds everything except the vectors.
``open_database`` opens it, binds the models below to it through
``database_proxy`` and brings its schema up to date, backing the file up first.

Connections are per thread (peewee's default), so services may be called from
worker threads; WAL lets readers go on while one writer commits.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, closing, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, cast

import peewee
from peewee import (
    SQL,
    AutoField,
    BooleanField,
    CharField,
    DatabaseProxy,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    SqliteDatabase,
    TextField,
)

from allma_desktop.errors import AllmaError, DatabaseDamaged, DiskFull, StoreNotWritable
from allma_desktop.pathnames import path_from_stored, stored_path

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2
"""The schema this code writes. Raise it with each entry added to ``MIGRATIONS``."""

Migration = Callable[[SqliteDatabase], None]


def _sources_keep_their_place(db: SqliteDatabase) -> None:
    """v1 -> v2: an answer's sources keep their heading path and span, not only their page.

    Sources stored before get them from their chunk when the library still holds it
    (the chunk id names its content, so its place is the one the answer cited); the
    others keep no headings and an empty span, as before.
    """
    for column in (
        "heading_path TEXT NOT NULL DEFAULT '[]'",
        "char_start INTEGER NOT NULL DEFAULT 0",
        "char_end INTEGER NOT NULL DEFAULT 0",
    ):
        execute_sql(db, f"ALTER TABLE message_source ADD COLUMN {column}", ())
    if "chunk_text" in db.get_tables():
        execute_sql(
            db,
            "UPDATE message_source SET"
            " heading_path = (SELECT heading_path FROM chunk_text AS c"
            "  WHERE c.chunk_id = message_source.chunk_id),"
            " char_start = (SELECT char_start FROM chunk_text AS c"
            "  WHERE c.chunk_id = message_source.chunk_id),"
            " char_end = (SELECT char_end FROM chunk_text AS c"
            "  WHERE c.chunk_id = message_source.chunk_id)"
            " WHERE chunk_id IN (SELECT chunk_id FROM chunk_text)",
            (),
        )


MIGRATIONS: dict[int, Migration] = {1: _sources_keep_their_place}
"""``MIGRATIONS[n]`` brings a database from version ``n`` to ``n + 1``."""

PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "synchronous": "normal",  # safe with WAL; a crash loses at most the last commit
    "busy_timeout": 5000,
}

DOCUMENT_STATUSES = ("queued", "indexing", "ready", "failed")
MESSAGE_ROLES = ("user", "assistant", "system")
MESSAGE_STATUSES = ("complete", "streaming", "interrupted", "failed")

database_proxy = DatabaseProxy()


def utc_now() -> datetime:
    """Now in UTC, naive: stored as sortable text; records re-attach UTC on the way out."""
    return datetime.now(UTC).replace(tzinfo=None)


def as_utc(stored: datetime) -> datetime:
    return stored.replace(tzinfo=UTC)


def new_collection_key() -> str:
    # Chroma collection names must be 3-63 chars of [a-zA-Z0-9._-]; user names are anything.
    return "c_" + uuid.uuid4().hex[:12]


def new_document_id() -> str:
    return uuid.uuid4().hex


class PathField(TextField):
    """A file's path: stored as ``pathnames.stored_path`` (a name that is not valid
    UTF-8 survives), read back as the path the file system knows."""

    def db_value(self, value: object) -> object:
        return stored_path(value) if isinstance(value, str) else value

    def python_value(self, value: object) -> object:
        return path_from_stored(value) if isinstance(value, str) else value


class BaseModel(Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class SchemaVersion(BaseModel):
    version = IntegerField()

    class Meta:
        table_name = "schema_version"


class Collection(BaseModel):
    id = AutoField()
    key = CharField(unique=True, default=new_collection_key)
    name = CharField(unique=True)
    created_at = DateTimeField(default=utc_now)
    embedding_model = CharField(null=True)
    embedding_dim = IntegerField(null=True)


class Document(BaseModel):
    id = CharField(primary_key=True, default=new_document_id)
    collection = ForeignKeyField(Collection, backref="documents", on_delete="CASCADE")
    path = PathField()  # absolute
    title = TextField()
    author = TextField(null=True)
    file_type = CharField(default="")
    content_hash = CharField(default="")
    size_bytes = IntegerField(default=0)
    mtime = FloatField(default=0.0)
    page_count = IntegerField(null=True)
    chunk_count = IntegerField(default=0)
    status = CharField(default="queued", index=True)  # one of DOCUMENT_STATUSES
    error = TextField(null=True)
    created_at = DateTimeField(default=utc_now)
    updated_at = DateTimeField(default=utc_now)

    class Meta:
        indexes = (
            (("collection", "path"), True),
            # Covers a rescan's query of a folder's rows (IndexerState.known_files): read
            # from the index alone, not a table row per file (100,000 rows inserted out of
            # path order: 2.4 s -> 0.65 s). Made on the next open of an older library.
            (("collection", "path", "size_bytes", "mtime", "status"), False),
            # A new file's moved self is looked for among the ready documents of its size.
            (("size_bytes", "status"), False),
        )


class ChunkText(BaseModel):
    """The parsed text of every chunk and where it came from (to cite, show and re-embed it).

    A plain table, so look-ups by ``chunk_id`` and ``document_id`` go through indexes;
    ``KEYWORD_INDEX`` is the full-text index over its ``text``. No foreign key to
    ``document``: ``Doctor`` finds and removes texts whose document is gone.
    """

    id = AutoField()  # the keyword index's rowid
    chunk_id = CharField(unique=True)
    document_id = CharField()
    collection_key = CharField(index=True)
    chunk_index = IntegerField()
    page = IntegerField(null=True)
    heading_path = TextField(default="[]")  # JSON list of strings
    char_start = IntegerField()
    char_end = IntegerField()
    text = TextField()

    class Meta:
        table_name = "chunk_text"
        # Serves "this document's chunks" and returns them already in order.
        indexes = ((("document_id", "chunk_index"), False),)


class OcrChunk(BaseModel):
    """A chunk whose page was read by OCR (its text may hold misread words): the source
    chip says "OCR", and a reader can show the page's picture rather than its text.

    A table of its own rather than a column of ``chunk_text``: written and deleted with
    the document's chunk texts (``LibraryService.commit_document``), by document.
    """

    chunk_id = CharField(primary_key=True)
    document_id = CharField(index=True)

    class Meta:
        table_name = "ocr_chunk"


class DocumentLanguage(BaseModel):
    """The language each document is written in (ISO 639-1), detected when it is indexed:
    its chunks are keyword-indexed with that language's stemmer (``languages.py``)."""

    document_id = CharField(primary_key=True)
    language = CharField(default="en")

    class Meta:
        table_name = "document_language"


KEYWORD_INDEX = "chunk_terms_fts"
"""The FTS5 table of the keyword-index terms of each ``chunk_text`` row (rowid = its id).

It holds ``languages.index_terms`` of the chunk's text: words stemmed for the document's
language and CJK bigrams. The SQL function ``allma_index_terms(text, language)`` computes
them; ``open_database`` registers it on every connection, so triggers can call it."""
INDEX_TERMS_FUNCTION = "allma_index_terms"
_OLD_KEYWORD_INDEX = "chunk_text_fts"  # FTS5's English porter tokenizer over chunk_text.text

_LANGUAGE_OF_NEW = "(SELECT language FROM document_language WHERE document_id = new.document_id)"
# The index stores its terms (not an external-content table): removing a chunk's terms
# never depends on computing them again, so a later stemmer cannot leave stale entries.
# The triggers keep it in step with chunk_text inside the writer's own transaction; only
# a change of ``id`` or ``text`` touches it, so moving a document to another collection
# does not re-index its words.
_KEYWORD_INDEX_TABLE_SQL = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS {KEYWORD_INDEX} USING fts5(
    terms, tokenize='unicode61 remove_diacritics 2'
)"""
_KEYWORD_INDEX_TRIGGERS_SQL = (
    f"""CREATE TRIGGER IF NOT EXISTS chunk_terms_after_insert AFTER INSERT ON chunk_text BEGIN
    INSERT INTO {KEYWORD_INDEX}(rowid, terms)
    VALUES (new.id, {INDEX_TERMS_FUNCTION}(new.text, {_LANGUAGE_OF_NEW}));
END""",
    f"""CREATE TRIGGER IF NOT EXISTS chunk_terms_after_delete AFTER DELETE ON chunk_text BEGIN
    DELETE FROM {KEYWORD_INDEX} WHERE rowid = old.id;
END""",
    f"""CREATE TRIGGER IF NOT EXISTS chunk_terms_after_update
AFTER UPDATE OF id, text ON chunk_text BEGIN
    DELETE FROM {KEYWORD_INDEX} WHERE rowid = old.id;
    INSERT INTO {KEYWORD_INDEX}(rowid, terms)
    VALUES (new.id, {INDEX_TERMS_FUNCTION}(new.text, {_LANGUAGE_OF_NEW}));
END""",
)
_OLD_KEYWORD_INDEX_SQL = (
    "DROP TRIGGER IF EXISTS chunk_text_after_insert",
    "DROP TRIGGER IF EXISTS chunk_text_after_delete",
    "DROP TRIGGER IF EXISTS chunk_text_after_update",
    f"DROP TABLE IF EXISTS {_OLD_KEYWORD_INDEX}",
)


def index_terms_sql(text: str | None, language: str | None) -> str:
    """``allma_index_terms``: the keyword-index terms of a chunk text (SQL NULLs allowed)."""
    from allma_desktop.services.documents.languages import DEFAULT_LANGUAGE, index_terms

    return index_terms(text or "", language or DEFAULT_LANGUAGE)


def register_index_terms(db: SqliteDatabase) -> None:
    """Make ``allma_index_terms`` callable on every connection ``db`` opens (triggers use it)."""
    db.register_function(index_terms_sql, INDEX_TERMS_FUNCTION, 2, deterministic=True)


def detect_missing_languages(db: SqliteDatabase) -> int:
    """Detect and record the language of every document that has chunk texts but no
    language yet (libraries indexed before languages were detected); returns how many."""
    from allma_desktop.services.documents.languages import detect_language

    missing = execute_sql(
        db,
        "SELECT DISTINCT document_id FROM chunk_text WHERE document_id NOT IN "
        "(SELECT document_id FROM document_language)",
        (),
    )
    for (document_id,) in missing:
        texts = execute_sql(
            db,
            "SELECT text FROM chunk_text WHERE document_id = ? ORDER BY chunk_index LIMIT 40",
            (document_id,),
        )
        language = detect_language(" ".join(text for (text,) in texts))
        execute_sql(
            db,
            "INSERT OR REPLACE INTO document_language (document_id, language) VALUES (?, ?)",
            (document_id, language),
        )
    return len(missing)


def rebuild_keyword_index(db: SqliteDatabase) -> None:
    """Re-derive the whole keyword index from ``chunk_text`` and each document's language."""
    with db.atomic():
        detect_missing_languages(db)
        execute_sql(db, f"DELETE FROM {KEYWORD_INDEX}", ())
        execute_sql(
            db,
            f"INSERT INTO {KEYWORD_INDEX}(rowid, terms) "
            f"SELECT chunk.id, {INDEX_TERMS_FUNCTION}(chunk.text, language.language) "
            "FROM chunk_text AS chunk LEFT JOIN document_language AS language "
            "ON language.document_id = chunk.document_id",
            (),
        )


def keyword_index_in_step(db: SqliteDatabase) -> bool:
    """Whether the keyword index is sound and has one entry for each chunk text."""
    try:
        execute_sql(
            db,
            f"INSERT INTO {KEYWORD_INDEX}({KEYWORD_INDEX}, rank) VALUES ('integrity-check', 1)",
            (),
        )
    except peewee.DatabaseError as error:
        if "malformed" in str(error).lower():  # FTS5 says SQLITE_CORRUPT_VTAB
            return False
        raise
    ((chunks, indexed, missing),) = execute_sql(
        db,
        f"SELECT (SELECT count(*) FROM chunk_text), (SELECT count(*) FROM {KEYWORD_INDEX}), "
        f"(SELECT count(*) FROM chunk_text WHERE id NOT IN (SELECT rowid FROM {KEYWORD_INDEX}))",
        (),
    )
    return bool(chunks == indexed and missing == 0)


def _create_keyword_index(db: SqliteDatabase) -> None:
    existed = KEYWORD_INDEX in db.get_tables()
    for statement in _OLD_KEYWORD_INDEX_SQL:  # a library indexed before languages were
        execute_sql(db, statement, ())
    execute_sql(db, _KEYWORD_INDEX_TABLE_SQL, ())
    for trigger in _KEYWORD_INDEX_TRIGGERS_SQL:
        execute_sql(db, trigger, ())
    if not existed:  # new here (or dropped by hand): index the texts already there
        rebuild_keyword_index(db)


class Conversation(BaseModel):
    id = AutoField()
    title = TextField(default="New chat")
    created_at = DateTimeField(default=utc_now)
    updated_at = DateTimeField(default=utc_now, index=True)
    model = CharField(null=True)
    collection = ForeignKeyField(
        Collection, null=True, backref="conversations", on_delete="SET NULL"
    )
    use_documents = BooleanField(default=True)


class Message(BaseModel):
    id = AutoField()
    conversation = ForeignKeyField(Conversation, backref="messages", on_delete="CASCADE")
    role = CharField()  # one of MESSAGE_ROLES
    content = TextField(default="")
    thinking = TextField(default="")
    model = CharField(null=True)
    status = CharField(default="complete")  # one of MESSAGE_STATUSES
    error = TextField(null=True)
    created_at = DateTimeField(default=utc_now)
    prompt_tokens = IntegerField(null=True)
    completion_tokens = IntegerField(null=True)
    duration_ms = FloatField(null=True)


class MessageSource(BaseModel):
    id = AutoField()
    message = ForeignKeyField(Message, backref="sources", on_delete="CASCADE")
    number = IntegerField()  # the [n] the answer cites
    document_id = CharField()  # no foreign key: a source outlives its document
    chunk_id = CharField()
    path = PathField()
    title = TextField()
    page = IntegerField(null=True)
    score = FloatField()
    snippet = TextField()
    # Where the passage is (``sources.Source``): the reader opens a reopened answer's
    # citation at the same section and span as it did live. Added in schema v2.
    heading_path = TextField(default="[]", constraints=[SQL("DEFAULT '[]'")])  # JSON list
    char_start = IntegerField(default=0, constraints=[SQL("DEFAULT 0")])
    char_end = IntegerField(default=0, constraints=[SQL("DEFAULT 0")])


class StoreCleanup(BaseModel):
    """Vectors that are no longer wanted, recorded in the SQLite transaction that made them
    so (a document removed, a collection deleted or replaced by a re-embed).

    The caller deletes them from the vector store, then the row; a crash in between
    leaves the row, and the start-up repair finishes the deletion. ``document_id`` None:
    the whole store collection ``collection_key``.
    """

    id = AutoField()
    collection_key = CharField()
    document_id = CharField(null=True)
    created_at = DateTimeField(default=utc_now)

    class Meta:
        table_name = "store_cleanup"


class WriteProbe(BaseModel):
    """One row that ``probe_database_write`` rewrites: proof the database takes a commit."""

    id = IntegerField(primary_key=True)
    written_at = DateTimeField(default=utc_now)

    class Meta:
        table_name = "write_probe"


def probe_database_write(db: SqliteDatabase) -> None:
    """Commit one small write; raises ``StoreNotWritable``/``DiskFull``/``DatabaseDamaged``."""
    with store_errors(database_path(db)), db.atomic("IMMEDIATE"):
        execute_sql(
            db,
            "INSERT OR REPLACE INTO write_probe (id, written_at) VALUES (1, ?)",
            (str(utc_now()),),
        )


class AnswerCheck(BaseModel):
    """An answer checked against its sources (``retrieval/grounding.py``), one row an answer.

    The report is JSON (``GroundingReport.as_dict``): it is read and written whole.
    """

    message = ForeignKeyField(Message, primary_key=True, on_delete="CASCADE")
    report = TextField()
    checked_at = DateTimeField(default=utc_now)

    class Meta:
        table_name = "answer_check"


class AnswerContext(BaseModel):
    """How an answer's sources were given to the model, when not as passages, one row an
    answer (no row: passages): the titles of the documents read whole (a JSON list), or,
    summarised in parts, ``{"titles": [...], "summary_parts": n}``.

    A table of its own rather than columns of ``message``: created on every open, so
    libraries written before need no migration.
    """

    message = ForeignKeyField(Message, primary_key=True, on_delete="CASCADE")
    whole_documents = TextField()

    class Meta:
        table_name = "answer_context"


class ConversationContext(BaseModel):
    """What a conversation gives the model (``ContextMode``); no row: ``auto``.

    A table of its own rather than a column of ``conversation``: created on every open,
    so libraries written before need no migration.
    """

    conversation = ForeignKeyField(Conversation, primary_key=True, on_delete="CASCADE")
    mode = CharField(default="auto")

    class Meta:
        table_name = "conversation_context"


class QueuedFile(BaseModel):
    """A file waiting for the indexer (or being indexed); the row goes when it is done.

    Kept in the library's database so that a queue survives a crash of the app.
    """

    id = AutoField()  # the queue's order
    collection = ForeignKeyField(Collection, on_delete="CASCADE")
    path = PathField()  # absolute; "" for a whole-collection job
    kind = CharField(default="index")  # one of QUEUE_KINDS
    force = BooleanField(default=False)  # index even when unchanged
    added_at = DateTimeField(default=utc_now)

    class Meta:
        table_name = "index_queue"
        indexes = ((("collection", "path", "kind"), True),)


QUEUE_KINDS = ("index", "reembed")


class WatchedFolder(BaseModel):
    """A folder the indexer keeps in sync with a collection."""

    id = AutoField()
    collection = ForeignKeyField(Collection, on_delete="CASCADE")
    path = PathField(unique=True)  # absolute
    ignore = TextField(default="[]")  # JSON list of glob patterns
    max_file_mb = FloatField(null=True)  # larger files are left out; None: no cap
    paused = BooleanField(default=False)
    offline = BooleanField(default=False)  # the folder was missing at the last look
    last_sync = DateTimeField(null=True)
    created_at = DateTimeField(default=utc_now)

    class Meta:
        table_name = "watched_folder"


MODELS: tuple[type[Model], ...] = (
    SchemaVersion,
    Collection,
    Document,
    ChunkText,
    DocumentLanguage,
    OcrChunk,
    Conversation,
    Message,
    MessageSource,
    StoreCleanup,
    WriteProbe,
    AnswerCheck,
    AnswerContext,
    ConversationContext,
    QueuedFile,
    WatchedFolder,
)


# --- error translation --------------------------------------------------------

_NOT_WRITABLE_MARKERS = ("unable to open", "readonly", "read-only")
_DISK_FULL_MARKERS = ("database or disk is full",)
# SQLITE_CORRUPT, SQLITE_NOTADB and a damaged schema, as SQLite words them.
_DAMAGED_MARKERS = ("malformed", "not a database", "corrupt")


def translate_store_error(error: BaseException, path: Path | str) -> AllmaError | None:
    """The user-facing error for an SQLite failure on the database file ``path``, or None.

    Follows the exception chain: when a full disk makes SQLite roll a transaction
    back by itself, peewee's own ROLLBACK then fails, hiding the real cause.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlite3.DatabaseError | peewee.DatabaseError):
            text = str(current).lower()
            if any(marker in text for marker in _DISK_FULL_MARKERS):
                return DiskFull(path)
            if any(marker in text for marker in _NOT_WRITABLE_MARKERS):
                return StoreNotWritable(Path(path).parent, str(current))
            if any(marker in text for marker in _DAMAGED_MARKERS):
                return database_damaged(path, str(current))
        current = current.__cause__ or current.__context__
    return None


def database_damaged(path: Path | str, detail: str) -> DatabaseDamaged:
    """The error for a damaged database, offering its automatic backups."""
    from allma_desktop.services.upkeep.auto_backup import automatic_backups

    return DatabaseDamaged(path, detail, automatic_backups(Path(path).parent))


@contextmanager
def store_errors(path: Path | str) -> Iterator[None]:
    """Re-raise "cannot write", "disk full" and "damaged" SQLite failures as errors a user
    can act on."""
    try:
        yield
    except (sqlite3.DatabaseError, peewee.DatabaseError) as error:
        translated = translate_store_error(error, path)
        if translated is None:
            raise
        raise translated from error


def database_path(db: SqliteDatabase) -> Path:
    return Path(str(db.database))


class HasDatabase(Protocol):
    @property
    def db(self) -> SqliteDatabase: ...


ServiceT = TypeVar("ServiceT", bound=HasDatabase)
P = ParamSpec("P")
R = TypeVar("R")


def translating_store_errors(
    method: Callable[Concatenate[ServiceT, P], R],
) -> Callable[Concatenate[ServiceT, P], R]:
    """Decorate a service method so SQLite write failures reach the user as AllmaErrors."""

    @functools.wraps(method)
    def wrapper(self: ServiceT, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with store_errors(database_path(self.db)):
            return method(self, *args, **kwargs)

    return wrapper


# --- opening and migrating ----------------------------------------------------


CLOSE_WAIT_SECONDS = 5.0
"""How long ``close_all`` waits for a query under way in another thread before it leaves
that connection open."""


class _ReadCursor:
    """A statement's rows, read while its connection was counted busy.

    peewee reads a query's rows one at a time after ``execute_sql`` has returned. A
    connection that ``close_all`` closed under a half-read statement is not closed at all
    (SQLite keeps it until the statement ends) and keeps ``-wal`` and ``-shm``: at the end
    of a desktop session that left them behind. So every statement's rows are read before
    the count ends, and peewee reads them from here.
    """

    __slots__ = ("_rows", "description", "lastrowid", "rowcount")

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.description = cursor.description
        self._rows: Iterator[Any] = iter(cursor.fetchall())
        self.lastrowid = cursor.lastrowid
        self.rowcount = cursor.rowcount
        cursor.close()

    def __iter__(self) -> Iterator[Any]:
        return self._rows

    def fetchone(self) -> Any:
        return next(self._rows, None)

    def fetchmany(self, size: int = 1) -> list[Any]:
        return list(itertools.islice(self._rows, size))

    def fetchall(self) -> list[Any]:
        return list(self._rows)

    def close(self) -> None:
        self._rows = iter(())


class LibraryDatabase(SqliteDatabase):
    """The library's database: one connection per thread (peewee's way), all closable at once.

    ``close()`` closes only the calling thread's connection, and the engine's worker
    threads each open their own; SQLite removes ``-wal`` and ``-shm`` (after folding the
    log into the database) only when the last connection closes. ``close_all()`` closes
    every thread's connection, so an app that quits leaves one file behind, not three.
    Connections may therefore be closed from another thread (``check_same_thread=False``);
    each is still used by its own thread only.

    A connection is never closed while its thread runs a statement on it: that freed the
    statement under the running query and crashed the process (a worker thread's query
    outlives the task that started it when the task is cancelled at close). So each
    statement is counted while it runs, and ``close_all`` waits for those under way.
    """

    def __init__(self, database: str, **kwargs: Any) -> None:
        super().__init__(database, check_same_thread=False, **kwargs)
        self._connections_lock = threading.Lock()
        self._open_connections: dict[int, sqlite3.Connection] = {}
        self._running: dict[int, int] = {}  # id(connection) -> statements under way on it
        self._closed_for_good = False

    def _connect(self) -> sqlite3.Connection:
        if self._closed_for_good:
            raise sqlite3.OperationalError(f"{self.database} is closed: the app is ending")
        connection: sqlite3.Connection = super()._connect()  # type: ignore[misc]
        with self._connections_lock:
            if self._closed_for_good:  # closed while this one opened
                connection.close()
                raise sqlite3.OperationalError(f"{self.database} is closed: the app is ending")
            self._open_connections[id(connection)] = connection
        return connection

    def _close(self, conn: sqlite3.Connection) -> None:  # peewee's name
        with self._connections_lock:
            self._open_connections.pop(id(conn), None)
        conn.close()

    def execute_sql(self, sql: str, params: Any = None) -> Any:  # peewee's name
        """Runs ``sql`` and reads its rows while the connection is counted busy."""
        with self.statement_running():
            return _ReadCursor(super().execute_sql(sql, params))  # type: ignore[no-untyped-call]

    @contextmanager
    def statement_running(self) -> Iterator[None]:
        """Counts this thread's connection busy (``close_all`` waits) while the block runs."""
        key = id(self.connection())  # type: ignore[no-untyped-call]
        with self._connections_lock:
            self._running[key] = self._running.get(key, 0) + 1
        try:
            yield
        finally:
            with self._connections_lock:
                left = self._running.pop(key, 1) - 1
                if left:
                    self._running[key] = left

    def close_all(self, wait: float = CLOSE_WAIT_SECONDS, *, for_good: bool = False) -> None:
        """Close this thread's connection, then every other thread's (the last one cleans
        up) once no statement runs on it; one still busy after ``wait`` seconds is left open.

        ``for_good``: no thread may open a connection again, for a process that ends
        while its threads still run (one opening a connection after the others closed
        would keep ``-wal`` and ``-shm``)."""
        if for_good:
            with self._connections_lock:
                self._closed_for_good = True
        self.close()
        deadline = time.monotonic() + wait
        while True:
            with self._connections_lock:
                idle = [
                    (key, connection)
                    for key, connection in self._open_connections.items()
                    if not self._running.get(key)
                ]
                for key, connection in idle:  # under the lock: none starts a statement now
                    del self._open_connections[key]
                    try:
                        connection.close()
                    except sqlite3.Error as error:
                        logger.warning("a database connection did not close: %s", error)
                busy = len(self._open_connections)
            if not busy:
                return
            if time.monotonic() >= deadline:
                logger.warning("%d database connection(s) still busy were left open", busy)
                return
            time.sleep(0.01)


def open_database(path: Path, *, vectors: Path | None = None) -> SqliteDatabase:
    """Open (creating if needed) the database at ``path`` and bring its schema up to date.

    Binds the models in this module to it. Raises ``StoreNotWritable``/``DiskFull``
    when the folder or disk refuses, ``DatabaseDamaged`` when the file is damaged (or
    is 0 bytes long while ``vectors``, the vector store's folder, holds a library:
    a real database was emptied or replaced), and ``AllmaError`` when the file is not
    Allma's or was written by a newer version of the app.
    """
    path = Path(path).expanduser()
    if vectors is not None and _emptied(path) and _holds_files(vectors):
        raise database_damaged(
            path, f"it is empty, but the vector store in {vectors} holds a library"
        )
    try:
        created = not path.parent.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        if created:
            os.chmod(path.parent, 0o700)  # explicit: mkdir's mode passes through the umask
        # Created empty (a valid empty database) before SQLite opens it, so it is never
        # readable by others, not even for a moment; SQLite gives -wal/-shm the same mode.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    except OSError as error:
        raise StoreNotWritable(path.parent, error.strerror or str(error)) from error
    _make_private(path)

    db = LibraryDatabase(str(path), pragmas=PRAGMAS)
    register_index_terms(db)
    try:
        with store_errors(path):
            db.connect()
            database_proxy.initialize(db)
            _migrate(db, path)
    except BaseException:
        db.close()
        raise
    return db


def _emptied(path: Path) -> bool:
    """A database file that exists with no bytes (and no write-ahead log holding its pages)."""
    try:
        if path.stat().st_size != 0:
            return False
        wal = path.with_name(path.name + "-wal")
        return not wal.exists() or wal.stat().st_size == 0
    except OSError:
        return False


def _holds_files(folder: Path) -> bool:
    """Whether ``folder`` holds any file with content (a vector store that was used)."""
    try:
        for root, _dirs, names in os.walk(folder):
            for name in names:
                if os.path.getsize(os.path.join(root, name)) > 0:
                    return True
    except OSError:
        return False
    return False


def _make_private(path: Path) -> None:
    """Readable by the user only; best effort (some file systems have no permissions)."""
    try:
        os.chmod(path, 0o600)
    except OSError as error:
        logger.warning("cannot restrict the permissions of %s: %s", path, error)


def _stored_version(db: SqliteDatabase) -> int | None:
    """The schema version on disk; None for a brand-new (empty) database."""
    tables = set(db.get_tables())
    if SchemaVersion._meta.table_name in tables:
        row = SchemaVersion.select().first()
        if row is not None:
            return int(row.version)
    if not tables:
        return None
    raise AllmaError(
        f"{database_path(db)} has tables but no schema version: it was not made by Allma Desktop.",
        "Point the data folder somewhere else, or move that file aside.",
    )


def _set_version(version: int) -> None:
    SchemaVersion.delete().execute()
    SchemaVersion.create(version=version)


def _migrate(db: SqliteDatabase, path: Path) -> None:
    version = _stored_version(db)
    if version is None:
        with db.atomic():
            _create_schema(db)
            _set_version(SCHEMA_VERSION)
        logger.info("created database %s (schema v%d)", path, SCHEMA_VERSION)
        return
    if version > SCHEMA_VERSION:
        raise AllmaError(
            f"{path} was written by a newer version of Allma Desktop "
            f"(schema v{version}; this version knows up to v{SCHEMA_VERSION}).",
            "Update Allma Desktop, or point the data folder somewhere else.",
        )
    if version < SCHEMA_VERSION:
        backup = backup_database(path, path.with_name(f"{path.name}.bak-v{version}"))
        logger.info("backed up %s to %s before migrating", path, backup)
        with db.atomic():
            for step in range(version, SCHEMA_VERSION):
                MIGRATIONS[step](db)
            _set_version(SCHEMA_VERSION)
        logger.info("migrated %s from schema v%d to v%d", path, version, SCHEMA_VERSION)
    # Tables added since (none yet) and any dropped by hand come back empty.
    with db.atomic():
        _create_schema(db)


def _create_schema(db: SqliteDatabase) -> None:
    """Create whatever of the schema is missing (every statement is "if not exists")."""
    db.create_tables(MODELS)
    _create_keyword_index(db)


def backup_database(source: Path, target: Path) -> Path:
    """Copy the database to ``target`` through SQLite's backup API (consistent under WAL)."""
    with (
        closing(sqlite3.connect(str(source))) as reader,
        closing(sqlite3.connect(str(target))) as writer,
    ):
        reader.backup(writer)
    return target


def tuple_rows(query: peewee.BaseQuery) -> list[tuple[Any, ...]]:
    """The rows of ``query`` as plain tuples (the stubs cannot express ``.tuples()``)."""
    return cast(list[tuple[Any, ...]], list(query.tuples()))


def dict_rows(query: peewee.BaseQuery) -> list[dict[str, Any]]:
    """The rows of ``query`` as dicts by column name (the stubs cannot express ``.dicts()``)."""
    return cast(list[dict[str, Any]], list(query.dicts()))


def execute_many(db: SqliteDatabase, sql: str, rows: Sequence[Sequence[object]]) -> None:
    """Run one hand-written statement for each row (an ingest's chunk rows)."""
    # Counted as running on the library's own database, so ``close_all`` never closes
    # the connection under it.
    running: AbstractContextManager[None] = (
        db.statement_running() if isinstance(db, LibraryDatabase) else nullcontext()
    )
    with running:
        db.cursor().executemany(sql, rows)  # type: ignore[no-untyped-call]


_DATETIME_FIELD = DateTimeField()  # only its conversion is used; made once, not per row


def stored_datetime(value: object) -> datetime:
    """A ``DateTimeField`` column's value read by hand-written SQL, as peewee reads it."""
    return cast(datetime, _DATETIME_FIELD.python_value(value))  # type: ignore[no-untyped-call]


def execute_sql(db: SqliteDatabase, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
    """Run hand-written SQL (for what peewee cannot say, such as FTS5 ``bm25``)."""
    cursor = db.execute_sql(sql, list(params))  # type: ignore[no-untyped-call]
    return cast(list[tuple[Any, ...]], cursor.fetchall())
