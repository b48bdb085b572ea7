"""Watched folders: kept in sync by the real watcher, the start-up rescan and `sync`."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from allma_desktop.config import AppConfig
from allma_desktop.errors import AllmaError
from allma_desktop.events import FileFinished
from allma_desktop.indexer import FileEvent, FoldersChanged, IndexerEvent
from allma_desktop.orchestrator import Orchestrator
from tests.indexer.test_indexer_queue import write_notes
from tests.support.ollama_server import OllamaTestServer

WAIT = 60.0


async def until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for the library to catch up")
        await asyncio.sleep(0.05)


def documents(orchestrator: Orchestrator) -> dict[str, str]:
    """path -> status of every document in the library."""
    return {d.path: d.status for d in orchestrator.list_documents()}


def ready_names(orchestrator: Orchestrator) -> set[str]:
    return {Path(p).name for p, s in documents(orchestrator).items() if s == "ready"}


@pytest.fixture
async def watching(orchestrator: Orchestrator) -> AsyncIterator[Orchestrator]:
    await orchestrator.indexer.start(watch=True)
    yield orchestrator


async def test_a_watched_folder_is_indexed_and_new_changed_and_deleted_files_follow(
    watching: Orchestrator, tmp_path: Path
) -> None:
    folder = tmp_path / "papers"
    write_notes(folder, 3)
    await watching.indexer.add_folder(folder)
    await until(lambda: len(ready_names(watching)) == 3)

    (folder / "fresh.md").write_text("# Fresh\n\nThe lighthouse keeper counts gulls at dawn.\n")
    await until(lambda: "fresh.md" in ready_names(watching))
    hits = await watching.search("lighthouse keeper gulls")
    assert hits and Path(hits[0].path).name == "fresh.md"

    before = watching.library.document_by_path(1, folder / "fresh.md")
    assert before is not None
    (folder / "fresh.md").write_text("# Fresh\n\nThe ferry captain feeds the harbour seals.\n")
    await until(lambda: _hash_of(watching, folder / "fresh.md") not in ("", before.content_hash))
    await until(lambda: documents(watching)[str(folder / "fresh.md")] == "ready")
    assert await _first_hit(watching, "ferry captain harbour seals") == "fresh.md"

    (folder / "note-000.txt").unlink()
    await until(lambda: "note-000.txt" not in ready_names(watching))
    assert len(watching.list_documents()) == 3


async def test_a_renamed_file_keeps_its_vectors_and_is_cited_at_its_new_path(
    watching: Orchestrator, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    folder = tmp_path / "papers"
    write_notes(folder, 2)
    await watching.indexer.add_folder(folder)
    await until(lambda: len(ready_names(watching)) == 2)
    before = {d.id for d in watching.list_documents()}
    ollama_server.clear_requests()

    (folder / "note-001.txt").rename(folder / "renamed.txt")
    sub = folder / "archive"
    sub.mkdir()
    (folder / "note-000.txt").rename(sub / "moved.txt")
    await until(lambda: ready_names(watching) == {"renamed.txt", "moved.txt"})
    await asyncio.sleep(1.5)  # the old paths' "gone" reports arrive after the new ones

    assert {d.id for d in watching.list_documents()} == before
    assert ollama_server.requests_to("/api/embed") == []  # nothing embedded again
    hits = await watching.search("Note 1 is about the subject number 1")
    assert Path(hits[0].path).name == "renamed.txt"


async def test_a_file_moved_between_two_watched_folders_moves_collection_without_parsing(
    watching: Orchestrator, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write_notes(first, 1)
    second.mkdir()
    other = watching.create_collection("Second")
    await watching.indexer.add_folder(first)
    await watching.indexer.add_folder(second, other.id)
    await until(lambda: len(ready_names(watching)) == 1)
    document = watching.list_documents()[0]

    shutil.move(str(first / "note-000.txt"), str(second / "note-000.txt"))
    moved_to = [str(second / "note-000.txt")]
    await until(lambda: [d.path for d in watching.list_documents(other.id)] == moved_to)
    moved = watching.library.get_document(document.id)
    assert moved.collection_id == other.id and moved.path == str(second / "note-000.txt")
    assert len(watching.list_documents()) == 1


async def test_a_file_written_in_pieces_is_indexed_once_it_stops_changing(
    watching: Orchestrator, tmp_path: Path
) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()
    await watching.indexer.add_folder(folder)
    finished: list[str] = []

    def record(event: IndexerEvent) -> None:
        if isinstance(event, FileEvent) and isinstance(event.event, FileFinished):
            finished.append(event.event.path)

    watching.indexer.subscribe(record)
    path = folder / "growing.txt"

    def download() -> None:
        # In a thread of its own, as a browser writes: the pauses are the writer's, not
        # the event loop's (a busy loop would stretch them past the settling time).
        with path.open("w") as stream:
            for n in range(8):
                stream.write(f"Part {n} of the slowly written report about tidal mills. " * 20)
                stream.flush()
                time.sleep(0.05)

    await asyncio.to_thread(download)
    await until(lambda: "growing.txt" in ready_names(watching))
    await asyncio.sleep(1.0)
    assert finished.count(str(path)) == 1  # indexed once, whole, not once per piece
    chunks = watching.library.chunk_texts(watching.list_documents()[0].id)
    assert "Part 7" in chunks[-1].text


async def test_a_file_still_being_written_when_the_folder_is_rescanned_waits_until_done(
    watching: Orchestrator, tmp_path: Path
) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()
    await watching.indexer.add_folder(folder)
    await until(lambda: watching.indexer.folders()[0].status == "watching")
    finished: list[str] = []

    def record(event: IndexerEvent) -> None:
        if isinstance(event, FileEvent) and isinstance(event.event, FileFinished):
            finished.append(event.event.path)

    watching.indexer.subscribe(record)
    path = folder / "copying.txt"
    path.write_text("Part 0 of the copied survey of the estuary. " * 20)

    def keep_copying() -> None:
        with path.open("a") as stream:
            for n in range(1, 8):
                time.sleep(0.25)  # a slow copy: well past the time the rescan takes
                stream.write(f"Part {n} of the copied survey of the estuary. " * 20)
                stream.flush()

    copying = asyncio.ensure_future(asyncio.to_thread(keep_copying))
    await watching.indexer.sync(wait=False)  # a rescan (the start-up one) finds it mid-copy
    await copying
    await until(lambda: "copying.txt" in ready_names(watching))
    await asyncio.sleep(1.0)
    assert finished.count(str(path)) == 1
    chunks = watching.library.chunk_texts(watching.list_documents()[0].id)
    assert "Part 7" in chunks[-1].text


async def test_sync_with_wait_returns_once_a_file_it_found_mid_write_is_indexed(
    watching: Orchestrator, tmp_path: Path
) -> None:
    """A rescan leaves a file written moments ago to the watcher until it holds still; a
    sync that waits must wait for it too, not return with it still unindexed (what
    `allma sync` and a copied-in folder would otherwise report as added but not find)."""
    folder = tmp_path / "just-copied"
    folder.mkdir()
    (folder / "fresh.txt").write_text("The glassblower anneals each vase overnight.\n")
    indexer = watching.indexer
    await indexer.add_folder(folder)

    (report,) = await indexer.sync(wait=True)

    assert [Path(p).name for p in report.added + report.changed] in ([], ["fresh.txt"])
    assert ready_names(watching) == {"fresh.txt"}
    assert await _first_hit(watching, "glassblower anneals vase") == "fresh.txt"


async def test_a_folder_that_disappears_keeps_its_documents_offline_until_it_returns(
    watching: Orchestrator, tmp_path: Path
) -> None:
    drive = tmp_path / "drive"
    folder = drive / "papers"
    write_notes(folder, 2)
    await watching.indexer.add_folder(folder)
    await until(lambda: len(ready_names(watching)) == 2)

    unplugged = tmp_path / "unplugged"
    drive.rename(unplugged)  # as an unmounted drive or a renamed parent looks
    await until(lambda: watching.indexer.folders()[0].status == "offline", timeout=15)
    await asyncio.sleep(1.5)
    assert len(ready_names(watching)) == 2  # never deleted
    assert await watching.search("Note 1 is about the subject number 1")  # still searchable

    unplugged.rename(drive)
    await until(lambda: watching.indexer.folders()[0].status == "watching", timeout=15)
    await asyncio.sleep(0.5)  # the watcher starts again on the folder
    (folder / "note-002.txt").write_text("Note 2 arrived after the drive came back.\n")
    await until(lambda: len(ready_names(watching)) == 3)


async def test_a_deleted_file_inside_a_present_folder_is_removed_at_the_startup_rescan(
    config: AppConfig, tmp_path: Path
) -> None:
    folder = tmp_path / "papers"
    files = write_notes(folder, 3)
    engine = Orchestrator(config)
    await engine.open()
    await engine.indexer.start(watch=False)
    await engine.indexer.add_folder(folder)
    await engine.indexer.sync()
    await engine.close()

    files[0].unlink()  # while the app was closed
    files[1].write_text("Changed while closed: the mill wheel turns twice an hour.\n")
    (folder / "added.txt").write_text("Added while closed: otters nest by the weir.\n")
    engine = Orchestrator(config)
    await engine.open()
    try:
        await engine.indexer.start(watch=True)  # its start-up rescan finds the changes
        expected = {"note-001.txt", "note-002.txt", "added.txt"}
        await until(lambda: ready_names(engine) == expected and not engine.indexer.queued())
        report = (await engine.indexer.sync())[0]
        assert (report.added, report.changed, report.removed) == ([], [], [])
        assert report.unchanged == 3
        hits = await engine.search("mill wheel turns twice")
        assert Path(hits[0].path).name == "note-001.txt"
    finally:
        await engine.close()


async def synced_notes(orchestrator: Orchestrator, folder: Path, count: int) -> list[Path]:
    """``count`` notes in a watched ``folder``, indexed by one sync (no watcher)."""
    files = write_notes(folder, count)
    await orchestrator.indexer.start(watch=False)
    await orchestrator.indexer.add_folder(folder)
    await orchestrator.indexer.sync()
    assert len(ready_names(orchestrator)) == count
    return files


async def test_sync_reports_added_changed_moved_removed_and_unchanged(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    folder = tmp_path / "papers"
    files = await synced_notes(orchestrator, folder, 4)
    indexer = orchestrator.indexer

    files[0].unlink()
    files[1].write_text("A changed note about canal locks.\n")
    files[2].rename(folder / "renamed.txt")
    (folder / "new.txt").write_text("A new note about windmills.\n")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    report = (await indexer.sync())[0]
    assert report.removed == [str(files[0])]
    assert report.changed == [str(files[1])]
    assert report.moved == [(str(files[2]), str(folder / "renamed.txt"))]
    assert sorted(Path(p).name for p in report.added) == ["broken.pdf", "new.txt"]
    assert report.unchanged == 1
    assert [Path(p).name for p, _ in report.failed] == ["broken.pdf"]
    assert "pdf" in report.failed[0][1].lower() or report.failed[0][1]


async def test_two_copies_of_a_moved_file_one_takes_its_document_the_other_is_new(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    folder = tmp_path / "papers"
    files = await synced_notes(orchestrator, folder, 2)
    indexer = orchestrator.indexer
    kept = orchestrator.library.document_by_path(1, files[0])
    assert kept is not None

    shutil.copy(files[0], folder / "copy-a.txt")
    files[0].rename(folder / "copy-b.txt")
    report = (await indexer.sync())[0]
    await indexer.wait_idle()

    assert [old for old, _ in report.moved] == [str(files[0])]
    (moved_to,) = [new for _, new in report.moved]
    assert report.added == [p for p in (str(folder / "copy-a.txt"), str(folder / "copy-b.txt"))
                            if p != moved_to]  # fmt: skip
    assert report.removed == []
    moved = orchestrator.library.document_by_path(1, moved_to)
    assert moved is not None and moved.id == kept.id
    assert ready_names(orchestrator) == {"copy-a.txt", "copy-b.txt", "note-001.txt"}


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
async def test_a_permission_denied_subfolder_is_reported_and_its_documents_kept(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    folder = tmp_path / "papers"
    write_notes(folder / "secret", 1)
    write_notes(folder, 1)
    indexer = orchestrator.indexer
    await indexer.start(watch=False)
    await indexer.add_folder(folder)
    await indexer.sync()
    assert len(ready_names(orchestrator)) == 2
    (folder / "secret").chmod(0)
    try:
        report = (await indexer.sync())[0]
    finally:
        (folder / "secret").chmod(0o755)
    assert report.removed == []
    assert [p for p, _ in report.problems] == [str(folder / "secret")]
    assert "permission denied" in report.problems[0][1]


async def test_a_symlink_loop_is_reported_and_the_rest_indexed(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    folder = tmp_path / "papers"
    write_notes(folder, 1)
    (folder / "loop").symlink_to(folder)  # a folder link back up: never followed
    (folder / "self.txt").symlink_to(folder / "self.txt")  # a file link to itself
    indexer = orchestrator.indexer
    await indexer.start(watch=False)
    await indexer.add_folder(folder)
    report = (await indexer.sync())[0]
    assert ready_names(orchestrator) == {"note-000.txt"}
    assert [Path(p).name for p, _ in report.problems] == ["self.txt"]
    assert "loops back on itself" in report.problems[0][1]


async def test_overlapping_watched_folders_are_refused_with_the_folder_named(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    outer = tmp_path / "outer"
    (outer / "inner").mkdir(parents=True)
    await orchestrator.indexer.add_folder(outer / "inner")
    with pytest.raises(AllmaError, match=r"contains .*inner, which is already watched"):
        await orchestrator.indexer.add_folder(outer)
    await orchestrator.indexer.remove_folder(outer / "inner")
    await orchestrator.indexer.add_folder(outer)
    with pytest.raises(AllmaError, match=r"inside .*outer, which is already watched"):
        await orchestrator.indexer.add_folder(outer / "inner")


async def test_ignore_rules_leave_out_hidden_files_globs_and_large_files(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    folder = tmp_path / "papers"
    write_notes(folder, 1)
    write_notes(folder / "node_modules", 1)
    write_notes(folder / ".git", 1)
    (folder / "draft.tmp.txt").write_text("a draft")
    (folder / ".hidden.txt").write_text("a hidden note")
    (folder / "drafts").mkdir()
    (folder / "drafts" / "outline.txt").write_text("an outline")
    (folder / "big.txt").write_text("big " * 300_000)
    indexer = orchestrator.indexer
    await indexer.start(watch=False)
    ignore = ["node_modules/", "*.tmp.txt", "drafts/*.txt"]
    await indexer.add_folder(folder, ignore=ignore, max_file_mb=1)
    report = (await indexer.sync())[0]
    assert ready_names(orchestrator) == {"note-000.txt"}
    assert report.too_large == [str(folder / "big.txt")]


async def test_a_file_named_in_bytes_that_are_not_utf8_is_kept_in_sync_like_any_other(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    folder = tmp_path / "papers"
    write_notes(folder, 1)
    odd = Path(os.fsdecode(os.fsencode(folder) + b"/caf\xe9 notes.txt"))  # Latin-1
    odd.write_text("Notes from the cafe about tide tables and harbour pilots.\n")
    indexer = orchestrator.indexer
    await indexer.start(watch=False)
    await indexer.add_folder(folder)
    await indexer.sync()
    assert documents(orchestrator)[str(odd)] == "ready"

    again = (await indexer.sync())[0]  # stored as a file:// URI, compared as the path
    assert (again.unchanged, again.added, again.changed) == (2, [], [])

    odd.unlink()
    gone = (await indexer.sync())[0]
    assert gone.removed == [str(odd)]
    assert str(odd) not in documents(orchestrator)


def _hash_of(orchestrator: Orchestrator, path: Path) -> str:
    record = orchestrator.library.document_by_path(1, path)
    return "" if record is None else record.content_hash


async def _first_hit(orchestrator: Orchestrator, query: str) -> str:
    hits = await orchestrator.search(query)
    return Path(hits[0].path).name if hits else ""


async def test_a_folders_pending_count_counts_down_while_its_files_are_indexed(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    folder = tmp_path / "papers"
    write_notes(folder, 6)
    indexer = orchestrator.indexer
    counts: list[int] = []

    def listen(event: IndexerEvent) -> None:
        if isinstance(event, FoldersChanged):
            counts.extend(state.pending for state in event.folders)

    indexer.subscribe(listen)
    await indexer.start(watch=False)
    indexer.pause()
    await indexer.add_folder(folder)
    await until(lambda: bool(counts) and counts[-1] == 6)

    indexer.resume()  # no folder changes from here on: only the queue drains

    await until(lambda: len(ready_names(orchestrator)) == 6)
    await until(lambda: counts[-1] == 0, timeout=5.0)
