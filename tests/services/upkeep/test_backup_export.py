"""Backup and restore of the whole library, and a conversation exported as Markdown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from allma_desktop.config import AppConfig
from allma_desktop.errors import BackupInvalid
from allma_desktop.events import AnswerDone
from allma_desktop.orchestrator import Orchestrator
from allma_desktop.records import ContextMode
from allma_desktop.services.library.storage import SCHEMA_VERSION
from allma_desktop.services.upkeep.backup import (
    MANIFEST_NAME,
    STAGING_PREFIX,
    create_backup,
    read_manifest,
    restore_backup,
)
from allma_desktop.services.upkeep.export import export_conversation
from tests.support.invariants import assert_library_consistent
from tests.support.sample_docs import PDF_ANSWER_PAGE, PDF_QUESTION, SampleLibrary


async def fill_library(engine: Orchestrator, sample_library: SampleLibrary) -> AnswerDone:
    async for _ in engine.ingest([sample_library.folder]):
        pass
    done: AnswerDone | None = None
    async for event in engine.chat(None, PDF_QUESTION):
        if isinstance(event, AnswerDone):
            done = event
    assert done is not None
    return done


def library_snapshot(engine: Orchestrator) -> dict[str, object]:
    return {
        "documents": [(d.id, d.path, d.status, d.chunk_count) for d in engine.list_documents()],
        "conversations": [
            (
                c.id,
                c.title,
                [
                    (m.role, m.content, m.status, len(m.sources))
                    for m in engine.conversations.messages(c.id)
                ],
            )
            for c in engine.conversations.list()
        ],
    }


async def backed_up_library(
    orchestrator: Orchestrator, sample_library: SampleLibrary, tmp_path: Path
) -> Path:
    await fill_library(orchestrator, sample_library)
    result = create_backup(orchestrator.config, tmp_path / "library", orchestrator.store)
    assert result.path.name.endswith(".allma-backup.zip")
    return result.path


async def test_restoring_a_backup_into_a_fresh_data_folder_gives_the_same_library(
    orchestrator: Orchestrator, sample_library: SampleLibrary, config: AppConfig, tmp_path: Path
) -> None:
    archive = await backed_up_library(orchestrator, sample_library, tmp_path)
    before = library_snapshot(orchestrator)
    found_before = await orchestrator.search(PDF_QUESTION)
    manifest = read_manifest(archive)
    assert (manifest.schema_version, manifest.conversations) == (SCHEMA_VERSION, 1)
    assert manifest.documents == len(orchestrator.list_documents())

    fresh = config.with_changes(data_dir=tmp_path / "fresh-data")
    result = restore_backup(fresh, archive)
    assert result.previous_data is None

    restored = Orchestrator(fresh)
    await restored.open()
    try:
        assert library_snapshot(restored) == before
        found_after = await restored.search(PDF_QUESTION)
        assert [(s.chunk_id, s.page) for s in found_after] == [
            (s.chunk_id, s.page) for s in found_before
        ]
        assert found_after[0].page == PDF_ANSWER_PAGE
        assert_library_consistent(restored)
    finally:
        await restored.close()


async def test_restore_keeps_the_replaced_library_next_to_it(
    orchestrator: Orchestrator, sample_library: SampleLibrary, config: AppConfig, tmp_path: Path
) -> None:
    archive = await backed_up_library(orchestrator, sample_library, tmp_path)
    await orchestrator.close()

    result = restore_backup(config, archive)

    assert result.previous_data is not None
    assert result.previous_data.name.startswith(f"{config.data_dir.name}.before-restore-")
    assert (result.previous_data / "allma.sqlite3").is_file()
    assert config.database_path.is_file()


async def test_a_damaged_backup_is_refused_and_nothing_is_lost(
    orchestrator: Orchestrator, sample_library: SampleLibrary, config: AppConfig, tmp_path: Path
) -> None:
    archive = await backed_up_library(orchestrator, sample_library, tmp_path)
    before = library_snapshot(orchestrator)
    await orchestrator.close()
    data = bytearray(archive.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # a torn download or a bad sector
    archive.write_bytes(bytes(data))

    with pytest.raises(BackupInvalid) as refused:
        restore_backup(config, archive)

    assert "cannot be restored" in refused.value.message
    assert "Nothing was changed" in refused.value.hint
    siblings = [p.name for p in config.data_dir.parent.iterdir()]
    assert not [n for n in siblings if "before-restore" in n or "restoring" in n]
    reopened = Orchestrator(config)
    await reopened.open()
    try:
        assert library_snapshot(reopened) == before
    finally:
        await reopened.close()


async def test_a_backup_from_a_newer_schema_is_refused(
    orchestrator: Orchestrator, sample_library: SampleLibrary, config: AppConfig, tmp_path: Path
) -> None:
    archive = await backed_up_library(orchestrator, sample_library, tmp_path)
    newer = tmp_path / "newer.allma-backup.zip"
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(newer, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == MANIFEST_NAME:
                manifest = json.loads(content)
                manifest["schema_version"] = SCHEMA_VERSION + 1
                content = json.dumps(manifest).encode()
            target.writestr(item, content)

    with pytest.raises(BackupInvalid, match="newer version"):
        restore_backup(config.with_changes(data_dir=tmp_path / "fresh"), newer)
    assert not (tmp_path / "fresh").exists()


def test_a_file_that_is_not_a_backup_is_refused(config: AppConfig, tmp_path: Path) -> None:
    not_a_backup = tmp_path / "notes.allma-backup.zip"
    not_a_backup.write_text("just some notes", encoding="utf-8")

    with pytest.raises(BackupInvalid, match="not a readable backup"):
        read_manifest(not_a_backup)
    with pytest.raises(BackupInvalid):
        restore_backup(config, not_a_backup)


async def test_exported_chat_has_roles_times_numbered_sources_and_folded_thinking(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    done = await fill_library(orchestrator, sample_library)

    markdown = export_conversation(orchestrator.conversations, done.conversation_id)

    title = orchestrator.conversation(done.conversation_id).title
    assert markdown.startswith(f"# {title}\n")
    assert "## You · " in markdown and " UTC\n" in markdown
    assert "## Allma (deepseek-r1:latest) · " in markdown
    assert "<details>\n<summary>Thinking</summary>\n\n" + done.thinking.strip() in markdown
    assert done.answer.strip() in markdown
    first = done.sources[0]
    assert f"{first.number}. **lighthouse-manual.pdf**, page {PDF_ANSWER_PAGE}" in markdown
    assert f"   > {' '.join(first.snippet.split())}" in markdown
    # The thinking is folded before the answer, so the answer reads on its own.
    assert markdown.index("</details>") < markdown.index(done.answer.strip())


async def test_an_exported_source_without_pages_names_its_section(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    async for _ in orchestrator.ingest([sample_library.markdown]):
        pass
    done: AnswerDone | None = None
    async for event in orchestrator.chat(None, "When should the bicycle chain be oiled?"):
        if isinstance(event, AnswerDone):
            done = event
    assert done is not None

    markdown = export_conversation(orchestrator.conversations, done.conversation_id)

    assert "1. **bicycle.md**, section “Bicycle care › Chain”\n" in markdown


async def test_an_answer_from_whole_documents_is_exported_with_the_line_that_says_so(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    async for _ in orchestrator.ingest([sample_library.pdf]):
        pass
    answers: list[AnswerDone] = []
    for mode in (ContextMode.WHOLE, ContextMode.PASSAGES):
        conversation = answers[0].conversation_id if answers else None
        async for event in orchestrator.chat(conversation, PDF_QUESTION, context_mode=mode):
            if isinstance(event, AnswerDone):
                answers.append(event)

    markdown = export_conversation(orchestrator.conversations, answers[0].conversation_id)

    line = "*Read whole, page by page: Lighthouse Manual*\n"
    assert markdown.count(line) == 1  # the whole-document answer's, not the passages one's
    first, second = (i for i in range(len(markdown)) if markdown.startswith("## Allma", i))
    assert first < markdown.index(line) < second


def test_backup_restore_and_export_commands_as_a_user_would(
    app_env: dict[str, str], sample_library: SampleLibrary, tmp_path: Path
) -> None:
    def allma(
        *args: str, data: Path | None = None, stdin: str = ""
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **app_env}
        if data is not None:
            env["ALLMA_DATA_DIR"] = str(data)
        return subprocess.run(
            [sys.executable, "-m", "allma_desktop.cli", *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert allma("ingest", str(sample_library.pdf)).returncode == 0
    assert allma("ask", PDF_QUESTION).returncode == 0
    archive = tmp_path / "mine.allma-backup.zip"
    backed_up = allma("backup", str(archive))
    assert backed_up.returncode == 0, backed_up.stderr
    assert "Backed up 1 documents, 1 chats" in backed_up.stdout

    fresh = tmp_path / "elsewhere"
    declined = allma("restore", str(archive), data=fresh, stdin="n\n")
    assert declined.returncode != 0 and not fresh.exists()
    restored = allma("restore", "--yes", str(archive), data=fresh)
    assert restored.returncode == 0, restored.stderr

    exported = tmp_path / "chat.md"
    result = allma("chats", "export", "1", "-o", str(exported), data=fresh)
    assert result.returncode == 0, result.stderr
    assert PDF_QUESTION in exported.read_text(encoding="utf-8")
    missing = allma("chats", "export", "99", data=fresh)
    assert missing.returncode == 1 and "Conversation 99 does not exist" in missing.stderr


async def test_a_backup_sweeps_stagings_abandoned_at_any_moment(
    orchestrator: Orchestrator, sample_library: SampleLibrary, tmp_path: Path
) -> None:
    """What a kill -9 leaves beside the target: a staging folder with its lock (killed
    mid-copy), or an empty one (killed just after making it, before its lock). The next
    backup into the folder removes both; a folder of ours with files and no lock stays."""
    archive = await backed_up_library(orchestrator, sample_library, tmp_path)
    folder = archive.parent
    locked = folder / f"{STAGING_PREFIX}killed-mid-copy"
    locked.mkdir()
    (locked / ".lock").write_bytes(b"")  # no process holds it: the backup died
    (locked / "allma.sqlite3").write_bytes(b"half a copy")
    empty = folder / f"{STAGING_PREFIX}killed-at-once"
    empty.mkdir()
    foreign = folder / f"{STAGING_PREFIX}someone-elses"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not a staging of ours", "utf-8")

    await orchestrator.back_up(archive)

    stagings = [p.name for p in folder.iterdir() if p.name.startswith(STAGING_PREFIX)]
    assert stagings == [foreign.name]
    assert read_manifest(archive).documents == len(orchestrator.list_documents())
