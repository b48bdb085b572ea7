"""The door for a closed library: restoring a backup and moving the vector store refuse
while an engine has the library open, and change nothing then."""

from __future__ import annotations

from pathlib import Path

import pytest

from allma_desktop import closed_library
from allma_desktop.config import AppConfig
from allma_desktop.errors import LibraryInUse
from allma_desktop.orchestrator import Orchestrator
from allma_desktop.services.upkeep.auto_backup import make_automatic_backup


def neighbours(config: AppConfig) -> list[str]:
    """What sits next to the data folder (a restore keeps the replaced library there)."""
    return sorted(p.name for p in config.data_dir.parent.iterdir())


async def test_restoring_a_backup_is_refused_while_the_library_is_open(
    orchestrator: Orchestrator, config: AppConfig, tmp_path: Path
) -> None:
    orchestrator.create_conversation(earlier=[("user", "What do I keep?")])
    archive = (await orchestrator.back_up(tmp_path / "backups")).path
    before = neighbours(config)

    with pytest.raises(LibraryInUse) as refused:
        closed_library.restore_backup(config, archive)

    assert "Cannot restore a backup while Allma has the library" in refused.value.message
    assert str(config.data_dir) in refused.value.message
    assert "Close it first" in refused.value.hint
    assert neighbours(config) == before  # nothing set aside, nothing staged
    assert [c.title for c in orchestrator.list_conversations()] == ["What do I keep?"]


async def test_a_backup_restores_once_the_library_is_closed(
    orchestrator: Orchestrator, config: AppConfig, tmp_path: Path
) -> None:
    orchestrator.create_conversation(earlier=[("user", "Kept in the backup")])
    archive = (await orchestrator.back_up(tmp_path / "backups")).path
    orchestrator.create_conversation(earlier=[("user", "Made after the backup")])
    await orchestrator.close()

    result = closed_library.restore_backup(config, archive)

    assert result.previous_data is not None and result.previous_data.is_dir()
    reopened = Orchestrator(config)
    await reopened.open()
    try:
        assert [c.title for c in reopened.list_conversations()] == ["Kept in the backup"]
    finally:
        await reopened.close()


async def test_restoring_an_automatic_backup_is_refused_while_the_library_is_open(
    orchestrator: Orchestrator, config: AppConfig
) -> None:
    orchestrator.create_conversation(earlier=[("user", "Before the copy")])
    copy = make_automatic_backup(config.database_path, config.data_dir)
    assert copy is not None
    assert closed_library.is_automatic_backup(copy)
    assert closed_library.read_automatic_backup(copy) == (0, 1)
    database_before = config.database_path.read_bytes()

    with pytest.raises(LibraryInUse):
        closed_library.restore_automatic_backup(config, copy)

    assert config.database_path.read_bytes() == database_before
    assert not list(config.data_dir.glob("*.before-restore-*"))


async def test_moving_the_vector_store_is_refused_while_the_library_is_open(
    orchestrator: Orchestrator, config: AppConfig
) -> None:
    faiss = config.with_changes(vector_store="faiss")
    with pytest.raises(LibraryInUse) as refused:
        closed_library.move_library(config, faiss)

    assert "move the library to another vector store" in refused.value.message
    target = closed_library.store_folder(faiss)
    assert target is not None and target.parent == config.data_dir
    assert not target.exists()  # not a vector copied
