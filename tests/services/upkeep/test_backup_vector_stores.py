"""Backup and restore of a library kept in FAISS: its own folder goes into the archive
and comes back, and a restore tells the caller which store the vectors belong to."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import pytest

from allma_desktop.config import AppConfig
from allma_desktop.orchestrator import Orchestrator
from allma_desktop.records import BackupManifest
from allma_desktop.services.upkeep.backup import create_backup, read_manifest, restore_backup
from allma_desktop.services.vectorstore.backends import store_folder
from tests.support.sample_docs import PDF_ANSWER_PAGE, PDF_PAGES, PDF_QUESTION, write_pdf

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("faiss") is None, reason="faiss-cpu is not installed"
)


@pytest.fixture
def faiss_config(config: AppConfig) -> AppConfig:
    return config.with_changes(vector_store="faiss")


async def faiss_library_backup(config: AppConfig, tmp_path: Path) -> tuple[Path, int]:
    """A FAISS library holding the lighthouse manual, backed up; the archive and its chunks."""
    engine = Orchestrator(config)
    await engine.open()
    try:
        pdf = write_pdf(tmp_path / "lighthouse-manual.pdf", PDF_PAGES)
        async for _ in engine.ingest([str(pdf)]):
            pass
        key = engine.collections()[0].key
        chunks = engine.store.count(key)
        result = create_backup(engine.config, tmp_path / "library", engine.store)
    finally:
        await engine.close()
    return result.path, chunks


async def test_a_faiss_library_is_archived_from_its_own_folder(
    faiss_config: AppConfig, tmp_path: Path
) -> None:
    archive, chunks = await faiss_library_backup(faiss_config, tmp_path)

    manifest = read_manifest(archive)
    assert manifest.vector_store == "faiss"
    assert chunks > 0
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
    assert "vectors-faiss/faiss-store.sqlite3" in names
    assert not any(name.startswith("vectors/") for name in names)


async def test_restoring_a_faiss_backup_brings_its_vectors_back_and_search_finds_them(
    faiss_config: AppConfig, tmp_path: Path
) -> None:
    archive, chunks = await faiss_library_backup(faiss_config, tmp_path)
    fresh = faiss_config.with_changes(data_dir=tmp_path / "fresh-data")

    result = restore_backup(fresh, archive)

    assert result.vector_store == "faiss" and not result.switches_vector_store(fresh)
    assert (store_folder(fresh, "faiss") / "faiss-store.sqlite3").is_file()
    restored = Orchestrator(fresh)
    await restored.open()
    try:
        assert restored.store.count(restored.collections()[0].key) == chunks
        found = await restored.search(PDF_QUESTION)
        assert found[0].page == PDF_ANSWER_PAGE
    finally:
        await restored.close()


async def test_restoring_a_faiss_backup_under_chroma_says_the_store_must_switch(
    faiss_config: AppConfig, config: AppConfig, tmp_path: Path
) -> None:
    archive, _chunks = await faiss_library_backup(faiss_config, tmp_path)
    chroma_user = config.with_changes(data_dir=tmp_path / "other-data")

    result = restore_backup(chroma_user, archive)

    assert result.switches_vector_store(chroma_user)
    assert (store_folder(chroma_user, "faiss") / "faiss-store.sqlite3").is_file()


async def test_vectors_kept_outside_the_data_folder_are_restored_there(
    faiss_config: AppConfig, tmp_path: Path
) -> None:
    outside = faiss_config.with_changes(vector_store_path=tmp_path / "elsewhere" / "vectors")
    archive, _chunks = await faiss_library_backup(outside, tmp_path)
    (store_folder(outside, "faiss") / "faiss-store.sqlite3").unlink()

    result = restore_backup(outside, archive)

    assert (store_folder(outside, "faiss") / "faiss-store.sqlite3").is_file()
    assert result.previous_vectors is not None
    assert result.previous_vectors.name.startswith("vectors-faiss.before-restore-")


def test_an_archive_from_before_other_stores_holds_chroma() -> None:
    legacy = {
        "app_version": "0.1.0",
        "schema_version": 1,
        "created_at": "2025-01-01T00:00:00+00:00",
        "collections": 1,
        "documents": 1,
        "chunks": 3,
        "conversations": 0,
        "messages": 0,
        "files": {"allma.sqlite3": "0" * 64},
        "format": "allma-desktop-backup",
        "format_version": 1,
    }
    assert BackupManifest.from_dict(legacy).vector_store == "chroma"


def test_allma_restore_of_a_faiss_backup_switches_the_library_to_faiss(
    faiss_config: AppConfig, app_env: dict[str, str], tmp_path: Path
) -> None:
    import asyncio
    import json
    import os
    import subprocess
    import sys

    archive, _chunks = asyncio.run(faiss_library_backup(faiss_config, tmp_path))
    env = {**os.environ, **app_env, "ALLMA_DATA_DIR": str(tmp_path / "restored")}
    env.pop("VECTOR_STORE", None)  # the settings file decides, as for a user

    def allma(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "allma_desktop.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    restored = allma("restore", "--yes", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "now uses the faiss vector store" in restored.stdout

    settings = json.loads((Path(app_env["ALLMA_CONFIG_DIR"]) / "settings.json").read_text())
    assert settings["vector_store"] == "faiss"
    found = allma("search", "--json", PDF_QUESTION)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)[0]["page"] == PDF_ANSWER_PAGE
