"""The Library page over the real engine: drops, failures, queue, pause, cancel, collections."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QMimeData, QObject, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication, QProgressBar, QWidget
from pytestqt.qtbot import QtBot

from allma_desktop.events import EmbedProgress, FileFinished, FileParsed, FileStarted
from allma_desktop.gui.controllers.library_controller import LibraryController, OverallProgress
from allma_desktop.gui.orchestrator_host import OrchestratorHost
from allma_desktop.gui.widgets.library_model import STATUS, status_text
from allma_desktop.gui.widgets.library_pane import LibraryPane, progress_line, set_without_repaint
from allma_desktop.gui.widgets.watched_folders import KeepInSyncDialog
from allma_desktop.indexer import FileEvent, QueueChanged
from tests.gui.conftest import drag_enter_event, ingest
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import write_corrupt_pdf, write_markdown, write_text

INDEX_TIMEOUT_MS = 30_000


@pytest.fixture
def pane(qtbot: QtBot, host: OrchestratorHost) -> Iterator[LibraryPane]:
    pane = LibraryPane(LibraryController(host))
    qtbot.addWidget(pane)
    pane.resize(900, 600)
    pane.show()
    yield pane
    pane.controller.cancel()
    qtbot.waitUntil(lambda: not pane.controller.busy, timeout=INDEX_TIMEOUT_MS)


def notes(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        path = folder / f"note-{number}.txt"
        path.write_text(f"Note {number}: the heron nests by the pond in spring.\n", "utf-8")
        paths.append(path)
    return paths


def drop(pane: LibraryPane, paths: list[Path]) -> None:
    """Drag the files' URLs onto the pane and let go, as a file manager does."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    centre = QPoint(pane.width() // 2, pane.height() // 2)
    enter = drag_enter_event(centre.x(), centre.y(), mime)
    QApplication.sendEvent(pane, enter)
    assert enter.isAccepted()
    event = QDropEvent(
        QPointF(centre),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(pane, event)


def answer_dialog(kind: type[QWidget], act: Callable[[Any], None]) -> None:
    """Once a ``kind`` dialog is open (its ``exec()`` running), let ``act`` answer it."""

    def attempt() -> None:
        shown = [w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()]
        if not shown:
            QTimer.singleShot(20, attempt)
            return
        act(shown[-1])

    QTimer.singleShot(0, attempt)


def keep_in_sync(keep: bool) -> None:
    """Answer the next "Add folder" question: keep in sync (the default) or not."""

    def act(dialog: KeepInSyncDialog) -> None:
        assert dialog.keep_in_sync  # the default
        dialog.keep_in_sync_box.setChecked(keep)
        dialog.add_button.click()

    answer_dialog(KeepInSyncDialog, act)


def statuses(pane: LibraryPane) -> dict[str, str]:
    return {Path(row.path).name: row.status for row in pane.model.rows}


def all_ready(pane: LibraryPane, names: list[str]) -> bool:
    current = statuses(pane)
    return all(current.get(name) == "ready" for name in names)


def test_dropped_files_and_folders_are_indexed_to_ready(
    qtbot: QtBot, pane: LibraryPane, tmp_path: Path
) -> None:
    assert pane.stack.currentWidget() is pane.drop_zone
    markdown = write_markdown(tmp_path / "bicycle.md")
    folder = tmp_path / "notes"
    notes(folder, 2)

    keep_in_sync(False)
    drop(pane, [markdown, folder])

    names = ["bicycle.md", "note-0.txt", "note-1.txt"]
    qtbot.waitUntil(lambda: all_ready(pane, names), timeout=INDEX_TIMEOUT_MS)
    assert pane.stack.currentWidget() is pane.table
    assert pane.controller.folders == []  # imported once, as chosen: not watched
    assert not pane.folders_card.isVisible()
    row = pane.model.row_for(str(markdown.resolve()))
    assert row is not None and row.chunks and row.added is not None
    assert pane.table.isVisible()


def test_the_indexer_works_on_its_own_thread_and_the_page_hears_it_on_the_gui_thread(
    qtbot: QtBot, host: OrchestratorHost, tmp_path: Path
) -> None:
    heard_on: set[int] = set()

    class Listening(LibraryController):
        def _on_indexer_event(self, event: Any) -> None:
            heard_on.add(threading.get_ident())
            super()._on_indexer_event(event)

    controller = Listening(host)
    with qtbot.waitSignal(controller.batch_finished, timeout=INDEX_TIMEOUT_MS) as batch:
        controller.add_paths([str(p) for p in notes(tmp_path / "notes", 6)])

    assert batch.args is not None and batch.args[0].indexed == 6
    assert heard_on == {threading.get_ident()}  # the GUI thread's, never the indexer's
    assert host.orchestrator is not None
    home = host.orchestrator.indexer.home_loop
    assert home is not None and home is not asyncio.get_event_loop()  # a loop of its own


def test_a_file_finished_within_one_delivery_goes_straight_to_ready_without_its_progress(
    qtbot: QtBot, host: OrchestratorHost, tmp_path: Path
) -> None:
    """A run of small files: each delivery holds whole files, start to end. The rows show
    each one's end; a file still under way at the end of the delivery shows its progress."""
    done, under_way = notes(tmp_path / "notes", 2)
    ingest(qtbot, host, [done])
    handled: list[str] = []
    sent: list[object] = []

    class Counting(LibraryController):
        def _on_indexer_event(self, event: Any) -> None:
            if any(event is e for e in sent):  # not the real indexer's own news meanwhile
                handled.append(type(getattr(event, "event", event)).__name__)
            super()._on_indexer_event(event)

    controller = Counting(host)
    qtbot.waitUntil(lambda: controller.current_collection_id is not None, timeout=10_000)
    collection = controller.current_collection_id
    assert collection is not None
    shown: list[tuple[str, str]] = []
    controller.rows_changed.connect(lambda rows: shown.extend((r.path, r.status) for r in rows))
    handled.clear()

    def file_events(path: Path, *more: object) -> list[FileEvent]:
        return [FileEvent(collection, e) for e in (FileStarted(str(path), 1, 2), *more)]

    sent += [
        QueueChanged(pending=2, in_flight=0, paused=False, running=True),
        *file_events(done, FileParsed(str(done), None, 1), EmbedProgress(str(done), 1, 1)),
        QueueChanged(pending=1, in_flight=1, paused=False, running=True),
        FileEvent(collection, FileFinished(str(done), "indexed", "", None, 1, None)),
        QueueChanged(pending=1, in_flight=0, paused=False, running=True),
        *file_events(under_way, FileParsed(str(under_way), None, 1)),
        QueueChanged(pending=0, in_flight=1, paused=False, running=True),
    ]
    controller._on_indexer_events(sent)  # type: ignore[arg-type]
    qtbot.waitUntil(lambda: (str(done), "ready") in shown, timeout=10_000)
    qtbot.waitUntil(lambda: (str(under_way), "indexing") in shown, timeout=10_000)

    assert [status for path, status in shown if path == str(done)] == ["ready"]
    assert controller.pending == 0  # the delivery's last count
    # Not handled: the finished file's start, parse and embedding, and two counts of the
    # queue that the next one replaced.
    assert handled == ["QueueChanged", "FileFinished", "FileStarted", "FileParsed", "QueueChanged"]


def test_corrupt_pdf_row_shows_why_it_failed(
    qtbot: QtBot, pane: LibraryPane, tmp_path: Path
) -> None:
    corrupt = write_corrupt_pdf(tmp_path / "broken.pdf")

    drop(pane, [corrupt])

    qtbot.waitUntil(lambda: statuses(pane).get("broken.pdf") == "failed", timeout=INDEX_TIMEOUT_MS)
    row = pane.model.row_for(str(corrupt.resolve()))
    assert row is not None
    assert "damaged" in status_text(row)
    index = pane.model.index(pane.model.rows.index(row), STATUS)
    tooltip = str(pane.model.data(index, Qt.ItemDataRole.ToolTipRole))
    assert "damaged" in tooltip and "Re-download" in tooltip


def test_files_added_while_indexing_wait_in_the_queue_then_are_indexed(
    qtbot: QtBot, pane: LibraryPane, tmp_path: Path, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.embed_delay = 0.3
    first, second = notes(tmp_path / "a", 1)[0], write_text(tmp_path / "baking.txt")
    controller = pane.controller
    controller.add_paths([str(first)])
    qtbot.waitUntil(lambda: controller.busy, timeout=INDEX_TIMEOUT_MS)

    controller.add_paths([str(second)])

    qtbot.waitUntil(lambda: statuses(pane).get("baking.txt") == "queued", timeout=5_000)
    assert controller.busy
    qtbot.waitUntil(lambda: all_ready(pane, ["note-0.txt", "baking.txt"]), timeout=INDEX_TIMEOUT_MS)


def test_pause_finishes_the_files_under_way_and_keeps_the_rest_queued(
    qtbot: QtBot, pane: LibraryPane, tmp_path: Path, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.embed_delay = 0.3
    files = notes(tmp_path / "many", 8)
    controller = pane.controller
    controller.add_paths([str(p) for p in files])
    qtbot.waitUntil(lambda: controller.busy, timeout=INDEX_TIMEOUT_MS)

    pane.pause_button.click()

    qtbot.waitUntil(lambda: not controller.busy, timeout=INDEX_TIMEOUT_MS)
    # The rows of the last files indexed are read back from the library in one go.
    qtbot.waitUntil(lambda: "indexing" not in statuses(pane).values(), timeout=INDEX_TIMEOUT_MS)
    current = list(statuses(pane).values())
    # The files the pipeline had taken (being embedded, parsed ahead) finish; no more start.
    assert 1 <= current.count("ready") <= 4
    assert current.count("queued") == 8 - current.count("ready")
    assert len(controller.queued_paths) == current.count("queued")
    assert "Paused" in pane.progress_label.text()
    pane.pause_button.click()  # Resume
    names = [p.name for p in files]
    qtbot.waitUntil(lambda: all_ready(pane, names), timeout=INDEX_TIMEOUT_MS)


def test_cancel_stops_indexing_and_empties_the_queue(
    qtbot: QtBot, pane: LibraryPane, tmp_path: Path, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.embed_delay = 0.5
    files = notes(tmp_path / "many", 3)
    controller = pane.controller
    controller.add_paths([str(p) for p in files])
    qtbot.waitUntil(lambda: "indexing" in statuses(pane).values(), timeout=INDEX_TIMEOUT_MS)
    assert pane.progress_card.isVisible()

    pane.cancel_button.click()

    qtbot.waitUntil(lambda: not controller.busy, timeout=INDEX_TIMEOUT_MS)
    assert controller.queued_paths == []
    assert "queued" not in statuses(pane).values()
    assert "ready" not in statuses(pane).values()
    assert not pane.progress_card.isVisible()


def test_progress_reaches_the_views_at_most_ten_times_a_second(
    qtbot: QtBot, host: OrchestratorHost, tmp_path: Path
) -> None:
    assert host.orchestrator is not None
    host.orchestrator.config = host.config.with_changes(embed_batch_size=1)
    long_text = tmp_path / "long.txt"
    long_text.write_text(
        "\n\n".join(f"Paragraph {n}: the tide comes in twice a day." * 3 for n in range(120)),
        "utf-8",
    )
    controller = LibraryController(host)
    updates: list[object] = []
    controller.rows_changed.connect(updates.append)
    controller.progress.connect(updates.append)
    started: list[float] = []
    controller.busy_changed.connect(lambda _busy: started.append(time.monotonic()))

    controller.add_paths([str(long_text)])
    qtbot.waitUntil(lambda: len(started) == 2, timeout=INDEX_TIMEOUT_MS)

    seconds = started[1] - started[0]
    assert len(updates) <= 2 * (10 * seconds + 6)  # rows and overall, each ≤ 10/s, + transitions


def test_remove_takes_the_document_out_of_the_list_and_the_library(
    qtbot: QtBot, pane: LibraryPane, tmp_path: Path, host: OrchestratorHost
) -> None:
    text = write_text(tmp_path / "baking.txt")
    pane.controller.add_paths([str(text)])
    qtbot.waitUntil(lambda: all_ready(pane, ["baking.txt"]), timeout=INDEX_TIMEOUT_MS)

    pane.controller.remove([str(text.resolve())])

    qtbot.waitUntil(lambda: "baking.txt" not in statuses(pane), timeout=5_000)
    assert host.orchestrator is not None
    assert host.orchestrator.list_documents() == []
    assert pane.stack.currentWidget() is pane.drop_zone


def test_collections_can_be_created_renamed_and_deleted(
    qtbot: QtBot, pane: LibraryPane, tmp_path: Path
) -> None:
    controller = pane.controller
    qtbot.waitUntil(lambda: controller.current_collection_id is not None, timeout=5_000)
    default_id = controller.current_collection_id

    controller.create_collection("Recipes")

    qtbot.waitUntil(lambda: pane.collection_box.currentText() == "Recipes", timeout=5_000)
    created = next(c for c in controller.collections if c.name == "Recipes")
    assert controller.current_collection_id == created.id
    controller.rename_collection(created.id, "Baking")
    qtbot.waitUntil(lambda: pane.collection_box.findText("Baking") >= 0, timeout=5_000)
    assert pane.collection_box.findText("Recipes") < 0
    controller.delete_collection(created.id)
    qtbot.waitUntil(lambda: pane.collection_box.findText("Baking") < 0, timeout=5_000)
    assert controller.current_collection_id == default_id


def test_a_duplicate_collection_name_is_refused_with_a_message(
    qtbot: QtBot, pane: LibraryPane
) -> None:
    pane.controller.create_collection("Work")
    qtbot.waitUntil(lambda: "Work" in [c.name for c in pane.controller.collections], timeout=5_000)

    with qtbot.waitSignal(pane.controller.failed, timeout=5_000):
        pane.controller.create_collection("Work")

    assert [c.name for c in pane.controller.collections].count("Work") == 1
    assert pane.notice_label.isVisibleTo(pane)
    assert "Work" in pane.notice_label.text()


def test_moving_a_document_puts_it_in_the_other_collection(
    qtbot: QtBot, pane: LibraryPane, tmp_path: Path, host: OrchestratorHost
) -> None:
    controller = pane.controller
    text = write_text(tmp_path / "baking.txt")
    controller.add_paths([str(text)])
    qtbot.waitUntil(lambda: all_ready(pane, ["baking.txt"]), timeout=INDEX_TIMEOUT_MS)
    source_id = controller.current_collection_id
    target = host.orchestrator.create_collection("Kitchen") if host.orchestrator else None
    assert target is not None and source_id is not None

    controller.move([str(text.resolve())], target.id)

    orchestrator = host.orchestrator
    assert orchestrator is not None
    qtbot.waitUntil(
        lambda: (
            [d.status for d in orchestrator.list_documents(target.id)] == ["ready"]
            and not orchestrator.list_documents(source_id)
            and "baking.txt" not in statuses(pane)
        ),
        timeout=INDEX_TIMEOUT_MS,
    )


def test_queued_files_survive_a_restart_of_the_controller(
    qtbot: QtBot, host: OrchestratorHost, tmp_path: Path, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.embed_delay = 0.3
    files = notes(tmp_path / "many", 8)
    first = LibraryController(host)
    first.add_paths([str(p) for p in files])
    qtbot.waitUntil(lambda: first.busy, timeout=INDEX_TIMEOUT_MS)
    first.set_paused(True)
    qtbot.waitUntil(lambda: not first.busy, timeout=INDEX_TIMEOUT_MS)
    waiting = first.queued_paths
    assert len(waiting) >= 4  # the queue's, in the library: not the controller's

    second = LibraryController(host)

    assert second.queued_paths == waiting
    assert second.paused  # one queue, one state: the engine's
    second.set_paused(False)
    orchestrator = host.orchestrator
    assert orchestrator is not None

    # Not "nothing queued and not busy": the queue is read from the engine and "busy" from
    # its last event, so both hold for a moment once the files are taken, before the run's
    # first event arrives. The library's own count is the outcome.
    def all_ready() -> bool:
        documents = orchestrator.list_documents()
        return len(documents) == 8 and all(d.status == "ready" for d in documents)

    qtbot.waitUntil(all_ready, timeout=INDEX_TIMEOUT_MS)
    qtbot.waitUntil(lambda: not second.busy, timeout=INDEX_TIMEOUT_MS)
    assert second.queued_paths == []


def test_a_long_file_name_in_the_progress_line_is_cut_and_shown_whole_on_hover(
    qtbot: QtBot, pane: LibraryPane
) -> None:
    """The line changes several times a second while files come in: it is cut with "…"
    at the page's width after the count and the time left, whole in its tooltip, and
    the page's size hints stay put."""
    pane.progress_card.show()
    qtbot.waitUntil(pane.progress_card.isVisible)
    narrowest, preferred = pane.minimumSizeHint().width(), pane.sizeHint().width()
    name = "a-very-long-file-name-from-a-scanner-" * 6 + ".pdf"
    progress = OverallProgress(
        files_done=1203, files_total=10_000, fraction=0.12, eta_seconds=95.0, current=name,
        paused=False,
    )  # fmt: skip
    line = progress_line(progress, waiting=8796, busy=True)
    assert line == f"1,204 of 10,000 · about 2 min left · indexing {name}"

    pane.progress_label.setText(line)

    assert pane.minimumSizeHint().width() == narrowest
    assert pane.sizeHint().width() == preferred
    assert pane.progress_label.toolTip() == line
    qtbot.waitUntil(lambda: pane.progress_label.elided_text().endswith("…"))
    assert pane.progress_label.elided_text().startswith("1,204 of 10,000 · about 2 min left")


def test_the_progress_bar_shows_a_new_value_with_the_next_frame(qtbot: QtBot) -> None:
    """The Library sets its bar without QProgressBar's repaint at once (6 ms a time
    through the page's styled parents, several times a second during a sync, measured
    with cProfile); the new value must still be painted, with the next frame."""
    card = QWidget()
    qtbot.addWidget(card)
    bar = QProgressBar(card)
    bar.setRange(0, 1000)
    bar.setTextVisible(False)
    bar.resize(300, 20)
    card.resize(320, 40)
    card.show()
    qtbot.waitExposed(card)
    empty = bar.grab().toImage()
    painted: list[int] = []

    class Paints(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # Qt's name
            if event.type() == QEvent.Type.Paint:
                painted.append(bar.value())
            return False

    paints = Paints()
    bar.installEventFilter(paints)
    set_without_repaint(bar, 600)

    qtbot.waitUntil(lambda: painted[-1:] == [600])  # painted with the next frame
    assert bar.value() == 600
    assert bar.grab().toImage() != empty
