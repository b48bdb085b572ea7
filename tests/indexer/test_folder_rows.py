"""A rescan's look at a folder's rows reads the library's index alone, old libraries too."""

from __future__ import annotations

from pathlib import Path

from allma_desktop.indexer.state import FOLDER_ROWS_SQL
from allma_desktop.services.library.storage import open_database

COVERING = "document_collection_id_path_size_bytes_mtime_status"


def _plan(db_path: Path) -> str:
    database = open_database(db_path)
    try:
        rows = database.execute_sql(f"EXPLAIN QUERY PLAN {FOLDER_ROWS_SQL}", (1, "/a/", "/a0"))
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
