"""Opening, migrating and guarding the SQLite database."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import peewee
import pytest
from peewee import SqliteDatabase

from allma_desktop.errors import AllmaError, DatabaseDamaged, DiskFull, StoreNotWritable
from allma_desktop.services.documents.model import Chunk, DocumentMetadata
from allma_desktop.services.library import storage
from allma_desktop.services.library.catalog import LibraryService
from allma_desktop.services.library.conversations import ConversationService
from allma_desktop.services.library.storage import LibraryDatabase, open_database
from allma_desktop.services.retrieval.keyword_index import fts5_query
from allma_desktop.sources import Source


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "allma.sqlite3"


@pytest.fixture
def db(db_path: Path) -> Iterator[SqliteDatabase]:
    database = open_database(db_path)
    yield database
    database.close()


def _pragma(db: SqliteDatabase, name: str) -> object:
    return storage.execute_sql(db, f"PRAGMA {name}", [])[0][0]


def _stored_version(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute("SELECT version FROM schema_version").fetchone()[0])


def test_new_database_uses_write_ahead_log(db: SqliteDatabase) -> None:
    assert _pragma(db, "journal_mode") == "wal"


def test_new_database_enforces_foreign_keys(db: SqliteDatabase) -> None:
    assert _pragma(db, "foreign_keys") == 1


def test_new_database_waits_for_a_busy_writer(db: SqliteDatabase) -> None:
    assert _pragma(db, "busy_timeout") == 5000


def test_new_database_records_the_current_schema_version(db: SqliteDatabase, db_path: Path) -> None:
    assert _stored_version(db_path) == storage.SCHEMA_VERSION


def test_data_folder_is_created_private(db: SqliteDatabase, db_path: Path) -> None:
    assert stat.S_IMODE(db_path.parent.stat().st_mode) == 0o700


def test_reopening_an_up_to_date_database_makes_no_backup(db_path: Path) -> None:
    open_database(db_path).close()
    open_database(db_path).close()
    assert sorted(path.name for path in db_path.parent.glob("*.bak-*")) == []


def _add_a_notes_table(db: SqliteDatabase) -> None:
    storage.execute_sql(db, "CREATE TABLE note (text TEXT)", [])
    storage.execute_sql(db, "INSERT INTO note VALUES ('migrated')", [])


def test_migrating_an_older_database_backs_it_up_first(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = open_database(db_path)
    ConversationService(old).create("kept through the upgrade")
    old.close()
    monkeypatch.setattr(storage, "SCHEMA_VERSION", storage.SCHEMA_VERSION + 1)
    monkeypatch.setattr(storage, "MIGRATIONS", {storage.SCHEMA_VERSION - 1: _add_a_notes_table})

    upgraded = open_database(db_path)

    backup = db_path.with_name(f"{db_path.name}.bak-v{storage.SCHEMA_VERSION - 1}")
    assert _stored_version(backup) == storage.SCHEMA_VERSION - 1
    with sqlite3.connect(backup) as connection:
        titles = [row[0] for row in connection.execute("SELECT title FROM conversation")]
    assert titles == ["kept through the upgrade"]
    assert storage.execute_sql(upgraded, "SELECT text FROM note", []) == [("migrated",)]
    assert _stored_version(db_path) == storage.SCHEMA_VERSION
    upgraded.close()


def test_failed_migration_leaves_the_database_at_its_old_version(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_database(db_path).close()

    def broken_migration(db: SqliteDatabase) -> None:
        _add_a_notes_table(db)
        raise RuntimeError("migration bug")

    monkeypatch.setattr(storage, "SCHEMA_VERSION", storage.SCHEMA_VERSION + 1)
    monkeypatch.setattr(storage, "MIGRATIONS", {storage.SCHEMA_VERSION - 1: broken_migration})

    with pytest.raises(RuntimeError):
        open_database(db_path)
    assert _stored_version(db_path) == storage.SCHEMA_VERSION - 1
    with sqlite3.connect(db_path) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert "note" not in tables


def _as_written_by_schema_v1(path: Path) -> None:
    """Turn a current database into one as schema v1 wrote it: its message sources kept
    the page only, without the heading path and span of the passage."""
    with closing(sqlite3.connect(path)) as connection, connection:
        for column in ("heading_path", "char_start", "char_end"):
            connection.execute(f"ALTER TABLE message_source DROP COLUMN {column}")
        connection.execute("UPDATE schema_version SET version = 1")


def test_a_schema_v1_database_gives_its_answer_sources_their_heading_path_and_span(
    db_path: Path,
) -> None:
    old = open_database(db_path)
    library, conversations = LibraryService(old), ConversationService(old)
    collection = library.default_collection()
    document = library.start_document(collection.id, "/papers/lease.pdf")
    kept = Chunk(
        chunk_id=f"{document.id}:h1:0",
        document_id=document.id,
        index=0,
        text="Pets are allowed with the landlord's written consent.",
        path=document.path,
        title="Lease",
        page=2,
        heading_path=("Lease", "Pets"),
        char_start=1200,
        char_end=1253,
        file_type="pdf",
    )
    library.commit_document(
        document.id,
        chunks=[kept],
        collection_key=collection.key,
        metadata=DocumentMetadata(
            "Lease", page_count=3, file_type="pdf", content_hash="h1", size_bytes=1234
        ),
        mtime=1700000000.5,
    )
    chat = conversations.create()
    answer = conversations.add_message(chat.id, "assistant", "Pets need consent [1] [2].")
    cited = Source(1, document.id, kept.chunk_id, document.path, "Lease", 2, 0.9, kept.text)
    gone = Source(2, document.id, f"{document.id}:h0:4", document.path, "Lease", 3, 0.5, "old")
    conversations.add_sources(answer.id, [cited, gone])
    old.close()
    _as_written_by_schema_v1(db_path)

    upgraded = open_database(db_path)
    sources = ConversationService(upgraded).get_message(answer.id).sources
    upgraded.close()

    assert _stored_version(db_path) == storage.SCHEMA_VERSION
    assert _stored_version(db_path.with_name(f"{db_path.name}.bak-v1")) == 1
    assert sources == (
        replace(cited, heading_path=("Lease", "Pets"), char_start=1200, char_end=1253),
        gone,  # its chunk is no longer in the library: its page, no headings, no span
    )


def test_database_from_a_newer_version_is_refused_with_a_clear_error(db_path: Path) -> None:
    open_database(db_path).close()
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE schema_version SET version = 999")

    with pytest.raises(AllmaError, match="newer version"):
        open_database(db_path)


def test_file_that_is_not_a_database_is_refused_with_a_clear_error(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is a text file, not SQLite " * 100)

    with pytest.raises(DatabaseDamaged, match=r"is damaged \(file is not a database\)") as raised:
        open_database(db_path)
    assert "allma restore" in raised.value.hint


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes to read-only folders"
)
def test_read_only_folder_gives_store_not_writable(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(StoreNotWritable):
            open_database(folder / "allma.sqlite3")
    finally:
        folder.chmod(0o700)


def test_data_folder_that_cannot_be_created_gives_store_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")

    with pytest.raises(StoreNotWritable):
        open_database(blocker / "data" / "allma.sqlite3")


def test_database_path_that_is_a_folder_gives_store_not_writable(tmp_path: Path) -> None:
    (tmp_path / "allma.sqlite3").mkdir()

    with pytest.raises(StoreNotWritable):
        open_database(tmp_path / "allma.sqlite3")


def test_writing_to_a_read_only_database_gives_store_not_writable(db: SqliteDatabase) -> None:
    storage.execute_sql(db, "PRAGMA query_only = 1", [])

    with pytest.raises(StoreNotWritable):
        ConversationService(db).create("cannot be saved")


def test_full_disk_gives_disk_full(db: SqliteDatabase) -> None:
    conversations = ConversationService(db)
    chat = conversations.create()
    pages = int(str(_pragma(db, "page_count")))
    storage.execute_sql(db, f"PRAGMA max_page_count = {pages + 2}", [])

    with pytest.raises(DiskFull):
        conversations.add_message(chat.id, "user", "x" * 200_000)


def _insert_chunk_text(db: SqliteDatabase, chunk_id: str, text: str) -> None:
    storage.ChunkText.insert(
        chunk_id=chunk_id,
        document_id="d",
        collection_key="c_test",
        chunk_index=0,
        char_start=0,
        char_end=len(text),
        text=text,
    ).execute()


def _keyword_matches(db: SqliteDatabase, word: str) -> list[str]:
    sql = (
        "SELECT chunk_text.chunk_id FROM chunk_terms_fts "
        "JOIN chunk_text ON chunk_text.id = chunk_terms_fts.rowid WHERE chunk_terms_fts MATCH ?"
    )
    return [str(row[0]) for row in storage.execute_sql(db, sql, [fts5_query(word)])]


def test_the_keyword_index_follows_inserted_updated_and_deleted_chunk_texts(
    db: SqliteDatabase,
) -> None:
    _insert_chunk_text(db, "a", "zeppelin hangar")
    assert _keyword_matches(db, "zeppelin") == ["a"]
    storage.ChunkText.update(text="submarine dock").where(
        storage.ChunkText.chunk_id == "a"
    ).execute()
    assert (_keyword_matches(db, "zeppelin"), _keyword_matches(db, "submarine")) == ([], ["a"])
    storage.ChunkText.delete().execute()
    assert _keyword_matches(db, "submarine") == []
    assert storage.keyword_index_in_step(db)


def test_a_keyword_index_dropped_by_hand_comes_back_with_the_texts(db_path: Path) -> None:
    db = open_database(db_path)
    _insert_chunk_text(db, "a", "zeppelin hangar")
    storage.execute_sql(db, "DROP TABLE chunk_terms_fts", [])
    db.close()

    reopened = open_database(db_path)
    assert _keyword_matches(reopened, "zeppelin") == ["a"]
    reopened.close()


def test_a_keyword_index_out_of_step_is_detected_and_rebuilt(db: SqliteDatabase) -> None:
    _insert_chunk_text(db, "a", "zeppelin hangar")
    storage.execute_sql(db, "DELETE FROM chunk_terms_fts WHERE rowid = 1", [])
    assert not storage.keyword_index_in_step(db)
    storage.rebuild_keyword_index(db)
    assert storage.keyword_index_in_step(db)
    assert _keyword_matches(db, "zeppelin") == ["a"]


SLOW_QUERY = (  # about a second of work inside one SQLite statement
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000)"
    " SELECT count(*) FROM n"
)


def test_closing_every_connection_waits_for_a_query_running_in_another_thread(
    tmp_path: Path,
) -> None:
    database = open_database(tmp_path / "allma.sqlite3")
    assert isinstance(database, LibraryDatabase)
    started = threading.Event()
    answers: list[object] = []

    def worker() -> None:
        with database.statement_running():
            started.set()
            answers.append(database.execute_sql(SLOW_QUERY).fetchone()[0])

    thread = threading.Thread(target=worker)
    thread.start()
    started.wait(5)

    database.close_all()  # as the app quits while a cancelled task's query still runs
    thread.join(10)

    assert answers == [3_000_000]  # the query finished on an open connection
    assert not (tmp_path / "allma.sqlite3-wal").exists()  # and then every one was closed


def test_a_connection_still_busy_after_the_wait_is_left_open_not_pulled_away(
    tmp_path: Path,
) -> None:
    database = open_database(tmp_path / "allma.sqlite3")
    assert isinstance(database, LibraryDatabase)
    started, release = threading.Event(), threading.Event()
    errors: list[Exception] = []

    def worker() -> None:
        with database.statement_running():
            database.execute_sql("SELECT 1").fetchone()
            started.set()
            release.wait(10)
            try:
                database.execute_sql("SELECT 2").fetchone()  # fails on a closed connection
            except sqlite3.Error as error:
                errors.append(error)

    thread = threading.Thread(target=worker)
    thread.start()
    started.wait(5)
    database.close_all(wait=0.1)
    release.set()
    thread.join(10)

    assert not thread.is_alive()
    assert errors == []
    database.close_all()  # now idle: closed
    assert not (tmp_path / "allma.sqlite3-wal").exists()


def test_closed_for_good_no_thread_opens_a_connection_again(tmp_path: Path) -> None:
    """The process is ending under its threads (the display went away): a worker that
    comes for the database after the close gets an error, and leaves no -wal behind."""
    database = open_database(tmp_path / "allma.sqlite3")
    assert isinstance(database, LibraryDatabase)
    database.execute_sql("CREATE TABLE notes (text TEXT)")
    database.execute_sql("INSERT INTO notes VALUES ('kept')")
    errors: list[Exception] = []

    database.close_all(for_good=True)

    def late_worker() -> None:
        try:
            database.execute_sql("INSERT INTO notes VALUES ('late')")
        except peewee.PeeweeException as error:
            errors.append(error)

    thread = threading.Thread(target=late_worker)
    thread.start()
    thread.join(10)

    assert [str(error) for error in errors] == [
        f"{tmp_path / 'allma.sqlite3'} is closed: the app is ending"
    ]
    assert not (tmp_path / "allma.sqlite3-wal").exists()
    assert not (tmp_path / "allma.sqlite3-shm").exists()
    with closing(sqlite3.connect(tmp_path / "allma.sqlite3")) as reader:
        assert reader.execute("SELECT text FROM notes").fetchall() == [("kept",)]


def test_closing_for_good_under_a_half_read_query_leaves_no_wal(tmp_path: Path) -> None:
    """peewee reads a query's rows after ``execute_sql`` returns. At the end of a desktop
    session a worker was still reading a query's rows when the library was closed for
    good: its connection, closed under a half-read statement, stayed open inside SQLite
    and kept -wal and -shm. Every statement's rows are read while it is counted busy."""
    database = open_database(tmp_path / "allma.sqlite3")
    assert isinstance(database, LibraryDatabase)
    database.execute_sql("CREATE TABLE notes (n INTEGER)")
    database.execute_sql(
        "WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < 1000) "
        "INSERT INTO notes SELECT v FROM n"
    )
    started, release = threading.Event(), threading.Event()
    read: list[int] = []

    def worker() -> None:
        cursor = database.execute_sql("SELECT n FROM notes ORDER BY n")
        read.append(cursor.fetchone()[0])  # the statement is half read from here
        started.set()
        release.wait(10)
        read.extend(row[0] for row in cursor)

    thread = threading.Thread(target=worker)
    thread.start()
    assert started.wait(5)

    database.close_all(wait=1, for_good=True)

    assert not (tmp_path / "allma.sqlite3-wal").exists()
    assert not (tmp_path / "allma.sqlite3-shm").exists()
    release.set()
    thread.join(10)
    assert read == list(range(1, 1001))  # the worker still gets every row it asked for
