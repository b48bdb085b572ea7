"""File names that are not valid UTF-8 (old Windows shares, zips): stored, shown, returned.

Linux names a file with bytes; ``caf\\xe9.txt`` (Latin-1) has no UTF-8 reading, and
Python names it ``'caf\\udce9.txt'``, which SQLite, Chroma, JSON and terminals refuse.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from allma_desktop.events import FileFinished, IngestFinished
from allma_desktop.logging_setup import configure_logging
from allma_desktop.orchestrator import Orchestrator
from allma_desktop.pathnames import (
    display_path,
    path_from_stored,
    stored_path,
)
from allma_desktop.services.library.catalog import LibraryService
from allma_desktop.services.library.storage import open_database
from tests.faults.conftest import allma, assert_no_traceback
from tests.support.ollama_server import OllamaTestServer

LATIN1_NAME = os.fsdecode(b"caf\xe9 notes.txt")  # 'caf\udce9 notes.txt'
SHOWN_NAME = "caf\\xe9 notes.txt"
PEAR_FACT = "Pears ripen from the inside out, so pick them while still firm."


def _folder_with_a_latin1_name(root: Path) -> tuple[Path, Path]:
    folder = root / "old-share"
    folder.mkdir(parents=True)
    bad = folder / LATIN1_NAME
    bad.write_text(PEAR_FACT, encoding="utf-8")
    (folder / "plain.txt").write_text("Apples keep for months in a cool cellar.", "utf-8")
    return folder, bad


def test_a_stored_path_comes_back_byte_for_byte_and_plain_paths_are_stored_as_they_were() -> None:
    raw = os.fsdecode(b"/data/\xff\xfe/caf\xe9.txt")
    assert stored_path(raw).encode("utf-8")  # storable text
    assert path_from_stored(stored_path(raw)) == raw
    assert os.fsencode(path_from_stored(stored_path(raw))) == b"/data/\xff\xfe/caf\xe9.txt"
    assert stored_path("/data/café %E9.txt") == "/data/café %E9.txt"
    assert path_from_stored("/data/café %E9.txt") == "/data/café %E9.txt"
    assert display_path(raw) == "/data/\\xff\\xfe/caf\\xe9.txt"


def test_the_library_stores_and_finds_a_document_whose_name_is_not_utf8(tmp_path: Path) -> None:
    db = open_database(tmp_path / "allma.sqlite3")
    try:
        library = LibraryService(db)
        collection = library.default_collection()
        path = str(tmp_path / LATIN1_NAME)
        record = library.start_document(collection.id, path)
        assert record.path == path  # the real name: the file can still be opened
        assert library.document_by_path(collection.id, path) == record
        assert record.title == "caf\\xe9 notes.txt"  # a title is for showing
        library.mark_failed(record.id, f"could not read {path}")
        assert library.get_document(record.id).error == f"could not read {display_path(path)}"
    finally:
        db.close()


async def test_ingest_indexes_every_file_of_a_folder_with_a_latin1_name_and_search_finds_it(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    folder, bad = _folder_with_a_latin1_name(tmp_path)
    events = [event async for event in orchestrator.ingest([folder])]

    finished = events[-1]
    assert isinstance(finished, IngestFinished) and finished.error is None
    assert {(Path(r.path).name, r.status) for r in finished.results} == {
        (LATIN1_NAME, "indexed"),
        ("plain.txt", "indexed"),
    }
    (document,) = [d for d in orchestrator.list_documents() if d.path == str(bad)]
    assert Path(document.path).read_text("utf-8") == PEAR_FACT  # opens from the stored path

    sources = await orchestrator.search("when do pears ripen")
    assert sources[0].path == str(bad)
    assert (await orchestrator.doctor()).ok

    # Re-ingesting finds the stored row by the same name: nothing new, nothing lost.
    again = [e async for e in orchestrator.ingest([folder])]
    assert {r.status for r in again if isinstance(r, FileFinished)} == {"unchanged"}


def test_the_cli_ingests_lists_and_searches_such_a_file_and_shows_its_name_as_bytes(
    app_env: dict[str, str], tmp_path: Path
) -> None:
    folder, _ = _folder_with_a_latin1_name(tmp_path)
    ingested = allma(app_env, "ingest", str(folder))
    assert_no_traceback(ingested)
    assert ingested.returncode == 0, ingested.stderr
    assert "2 indexed" in ingested.stdout
    assert SHOWN_NAME in ingested.stdout

    listed = allma(app_env, "docs", "--json")
    assert_no_traceback(listed)
    paths = [d["path"] for d in json.loads(listed.stdout)]
    assert str(folder / SHOWN_NAME) in paths

    found = allma(app_env, "search", "pears", "ripen")
    assert_no_traceback(found)
    assert SHOWN_NAME in found.stdout

    asked = allma(app_env, "ask", "When", "do", "pears", "ripen?")
    assert_no_traceback(asked)
    assert asked.returncode == 0, asked.stderr
    assert SHOWN_NAME in asked.stdout


def test_the_api_follows_and_searches_an_ingest_of_such_a_file_without_a_500(
    ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    from tests.api.conftest import running_api

    with running_api(ollama_server, tmp_path) as api, api.client() as client:
        folder, bad = _folder_with_a_latin1_name(tmp_path / "docs")
        started = client.post("/rag/ingest", json={"paths": [str(folder)]})
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        api.wait_for_job(job_id)

        job = client.get(f"/rag/ingest/{job_id}")
        assert job.status_code == 200, job.text
        results = {r["path"]: r["status"] for r in job.json()["results"]}
        assert results[display_path(bad)] == "indexed"

        found = client.post("/rag/search", json={"query": "when do pears ripen"})
        assert found.status_code == 200, found.text
        assert found.json()["results"][0]["path"] == display_path(bad)

        documents = client.get("/documents")
        assert documents.status_code == 200, documents.text
        assert display_path(bad) in {d["path"] for d in documents.json()}


def test_logging_such_a_name_writes_it_as_bytes_not_a_logging_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ALLMA_LOG_DIR", str(tmp_path / "logs"))
    configure_logging("INFO")
    try:
        logging.getLogger("allma_desktop.test").warning("cannot read %s", LATIN1_NAME)
        for handler in logging.getLogger().handlers:
            handler.flush()
    finally:
        configure_logging("WARNING")
    assert "Logging error" not in capfd.readouterr().err
    assert SHOWN_NAME in (tmp_path / "logs" / "allma.log").read_text("utf-8")
