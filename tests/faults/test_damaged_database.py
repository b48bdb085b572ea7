"""A damaged ``allma.sqlite3``: truncated, zeroed, garbled in its middle, or emptied.

Every command answers with a message naming the file and offering `allma restore`
with the newest automatic backup; the doctor reports the damage instead of dying
on it; nothing is deleted meanwhile (not even the vectors of an emptied database);
and restoring the automatic backup brings every document back.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from allma_desktop.config import AppConfig
from allma_desktop.services.library.storage import open_database
from allma_desktop.services.upkeep.auto_backup import automatic_backups, make_automatic_backup
from allma_desktop.services.upkeep.backup import create_backup
from tests.faults.conftest import allma, assert_no_traceback
from tests.support.damage import DAMAGES, garble
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import TEXT_FACT, make_sample_library

COMMANDS = (("docs",), ("search", "sourdough"), ("ingest", "{docs}"), ("health",), ("doctor",))


@pytest.fixture(scope="module")
def server() -> Iterator[OllamaTestServer]:
    with OllamaTestServer() as running:
        yield running


@pytest.fixture(scope="module")
def built(server: OllamaTestServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library with the sample documents and an automatic backup (made by the second start)."""
    root = tmp_path_factory.mktemp("library")
    make_sample_library(root / "docs")
    env = _env(root, server)
    assert allma(env, "ingest", str(root / "docs")).returncode == 2  # the broken PDF fails
    assert allma(env, "docs").returncode == 0
    assert len(automatic_backups(root / "data")) == 1
    return root


def _env(root: Path, server: OllamaTestServer) -> dict[str, str]:
    return {
        "OLLAMA_HOST": server.url,
        "ALLMA_DATA_DIR": str(root / "data"),
        "ALLMA_CONFIG_DIR": str(root / "config"),
        "ALLMA_LOG_DIR": str(root / "logs"),
        "OLLAMA_MODEL": "deepseek-r1:latest",
        "OLLAMA_EMBEDDING_MODEL": "nomic-embed-text:latest",
        "ALLMA_STORE_IN_PROCESS": "1",
    }


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_every_command_names_the_damaged_file_and_the_backup_and_restoring_it_loses_nothing(
    damage: str, built: Path, server: OllamaTestServer, tmp_path: Path
) -> None:
    root = tmp_path / "copy"
    shutil.copytree(built, root)
    env = _env(root, server)
    database = root / "data" / "allma.sqlite3"
    before = json.loads(allma(env, "docs", "--json").stdout)
    vectors = _files(root / "data" / "vectors")
    (backup,) = automatic_backups(root / "data")
    DAMAGES[damage](database)

    for command in COMMANDS:
        args = [part.format(docs=root / "docs") for part in command]
        result = allma(env, *args)
        assert_no_traceback(result)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        said = result.stdout + result.stderr
        assert str(database) in said, (command, said)
        assert f"allma restore {backup}" in said, (command, said)
    repaired = allma(env, "doctor", "--repair", "--json")
    assert_no_traceback(repaired)
    assert json.loads(repaired.stdout)["problems"][0]["kind"] == "database_damaged"
    assert _files(root / "data" / "vectors") == vectors  # nothing deleted meanwhile

    restored = allma(env, "restore", "--yes", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert "doctor --repair" in restored.stdout
    assert json.loads(allma(env, "docs", "--json").stdout) == before
    found = allma(env, "search", "sourdough", "starter", "--json")
    assert TEXT_FACT.split(" is ")[0].lower() in json.loads(found.stdout)[0]["snippet"].lower()
    assert json.loads(allma(env, "doctor", "--json").stdout)["ok"] is True
    kept = list((root / "data").glob("allma.sqlite3.before-restore-*"))
    assert len(kept) == 1  # the damaged file is kept, not deleted


def test_without_an_automatic_backup_the_message_still_offers_restore(
    built: Path, server: OllamaTestServer, tmp_path: Path
) -> None:
    root = tmp_path / "copy"
    shutil.copytree(built, root)
    shutil.rmtree(root / "data" / "backups")
    garble(root / "data" / "allma.sqlite3")
    result = allma(_env(root, server), "search", "sourdough")
    assert_no_traceback(result)
    assert "allma restore FILE" in result.stderr
    assert str(root / "data" / "allma.sqlite3") in result.stderr


def test_a_database_moved_aside_leaves_the_vectors_kept_by_doctor_repair(
    built: Path, server: OllamaTestServer, tmp_path: Path
) -> None:
    # The user followed "move the file aside": a new, empty library opens. The vectors
    # it does not know are probably the lost database's, so --repair keeps them.
    root = tmp_path / "copy"
    shutil.copytree(built, root)
    env = _env(root, server)
    (root / "data" / "allma.sqlite3").rename(root / "aside.sqlite3")
    for side in ("-wal", "-shm"):
        (root / "data" / f"allma.sqlite3{side}").unlink(missing_ok=True)
    vectors = _files(root / "data" / "vectors")

    repaired = allma(env, "doctor", "--repair", "--json")
    assert_no_traceback(repaired)
    report = json.loads(repaired.stdout)
    assert report["ok"] is False
    kinds = {problem["kind"] for problem in report["problems"]}
    assert "unknown_collection" in kinds and "orphan_collection" not in kinds
    assert "allma restore" in report["problems"][0]["description"]
    assert _files(root / "data" / "vectors").keys() >= vectors.keys()


# --- the automatic backups ---------------------------------------------------------


def _library_with_rows(folder: Path) -> Path:
    db = open_database(folder / "allma.sqlite3")
    from allma_desktop.services.library.catalog import LibraryService

    library = LibraryService(db)
    library.start_document(library.default_collection().id, str(folder / "a.txt"))
    db.close()
    return folder / "allma.sqlite3"


def test_automatic_backups_keep_the_newest_few_readable_by_the_user_only(tmp_path: Path) -> None:
    from datetime import datetime, timedelta

    database = _library_with_rows(tmp_path)
    start = datetime(2026, 1, 1, 9, 0, 0)
    for day in range(5):
        made = make_automatic_backup(database, tmp_path, now=start + timedelta(days=day))
        assert made is not None
    backups = automatic_backups(tmp_path)
    assert [b.name for b in backups] == [
        f"allma-auto-2026010{day}-090000.sqlite3" for day in (5, 4, 3)
    ]
    for backup in backups:
        assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "backups").stat().st_mode) == 0o700


def test_a_damaged_database_never_replaces_a_good_backup(tmp_path: Path) -> None:
    database = _library_with_rows(tmp_path)
    good = make_automatic_backup(database, tmp_path)
    assert good is not None
    garble(database)
    try:
        made = make_automatic_backup(database, tmp_path, keep=1)
    except Exception as error:  # the copy itself may fail on the damage: as good
        assert "malformed" in str(error) or "not a database" in str(error)
        made = None
    assert made is None
    assert automatic_backups(tmp_path) == [good]
    assert not list((tmp_path / "backups").glob(".*partial"))


def test_opening_a_library_backs_it_up_once_a_day(tmp_path: Path, server: OllamaTestServer) -> None:
    import asyncio

    from allma_desktop.orchestrator import Orchestrator

    config = AppConfig(ollama_host=server.url, data_dir=tmp_path / "data")

    async def open_and_close() -> None:
        engine = Orchestrator(config)
        await engine.open()
        await engine.close()

    asyncio.run(open_and_close())
    assert automatic_backups(config.data_dir) == []  # nothing to lose yet
    _library_with_rows(config.data_dir)
    asyncio.run(open_and_close())
    asyncio.run(open_and_close())
    assert len(automatic_backups(config.data_dir)) == 1
    (first,) = automatic_backups(config.data_dir)
    older = first.with_name("allma-auto-20260101-090000.sqlite3")
    first.rename(older)
    os.utime(older, (0, 0))  # made long ago
    asyncio.run(open_and_close())
    assert len(automatic_backups(config.data_dir)) == 2


def test_a_backup_archive_is_readable_by_the_user_only(tmp_path: Path) -> None:
    _library_with_rows(tmp_path / "data")
    result = create_backup(AppConfig(data_dir=tmp_path / "data"), tmp_path / "out")
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
