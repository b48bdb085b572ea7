"""A rescan's look at a folder's rows reads the library's index alone, old libraries too."""

from __future__ import annotations

from pathlib import Path

from allma_desktop.indexer.state import FAILED_ROWS_SQL, FOLDER_ROWS_SQL, ready_of_sizes_sql
from allma_desktop.services.library.storage import open_database

COVERING = "document_collection_id_path_size_bytes_mtime_status"
BY_SIZE = "document_size_bytes_status"


def _plan(db_path: Path, sql: str = FOLDER_ROWS_SQL) -> str:
    database = open_database(db_path)
    try:
        rows = database.execute_sql(f"EXPLAIN QUERY PLAN {sql}", (1, "/a/", "/a0"))
        return " ".join(str(row[-1]) for row in rows)
    finally:
        database.close()


def test_a_folders_rows_are_read_from_the_covering_index_without_the_table(
    tmp_path: Path,
) -> None:
    plan = _plan(tmp_path / "allma.sqlite3")

    assert "COVERING INDEX" in plan, plan


def test_a_library_made_before_the_index_gets_it_when_opened(tmp_path: Path) -> None:
    db_path = tmp_path / "allma.sqlite3"
    database = open_database(db_path)
    database.execute_sql(f"DROP INDEX {COVERING}")  # as a library of an earlier version
    database.close()

    plan = _plan(db_path)

    assert "COVERING INDEX" in plan, plan


def test_a_folders_failed_rows_are_found_by_status_not_by_reading_every_row(
    tmp_path: Path,
) -> None:
    plan = _plan(tmp_path / "allma.sqlite3", FAILED_ROWS_SQL)

    assert "document_status" in plan, plan


def test_new_files_moved_selves_are_looked_up_by_size_through_its_index(tmp_path: Path) -> None:
    """Not every ready row read once per new file: a first sync of 10,000 files into a
    library of 100,000 would read a billion rows."""
    plan = _plan_of_sizes(tmp_path / "allma.sqlite3")

    assert f"USING INDEX {BY_SIZE}" in plan or f"USING COVERING INDEX {BY_SIZE}" in plan, plan


def test_a_library_made_before_the_size_index_gets_it_when_opened(tmp_path: Path) -> None:
    db_path = tmp_path / "allma.sqlite3"
    database = open_database(db_path)
    database.execute_sql(f"DROP INDEX {BY_SIZE}")  # as a library of an earlier version
    database.close()

    assert BY_SIZE in _plan_of_sizes(db_path)


def _plan_of_sizes(db_path: Path) -> str:
    database = open_database(db_path)
    try:
        rows = database.execute_sql(f"EXPLAIN QUERY PLAN {ready_of_sizes_sql(3)}", (1, 2, 3))
        return " ".join(str(row[-1]) for row in rows)
    finally:
        database.close()
