"""The Library page's watched folders, paused queue and document filter, over the real engine."""

from __future__ import annotations

import gc
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from allma_desktop.gui.controllers import library_controller
from allma_desktop.gui.controllers.library_controller import LibraryController, LibraryRow
from allma_desktop.gui.orchestrator_host import OrchestratorHost
from allma_desktop.gui.widgets import library_filter, library_pane
from allma_desktop.gui.widgets.library_filter import DocumentFilterProxy
from allma_desktop.gui.widgets.library_model import (
    FILE,
    NAME,
    ROW_ROLE,
    SIZE,
    DocumentTableModel,
)
from allma_desktop.gui.widgets.library_pane import LibraryPane
from allma_desktop.gui.widgets.watched_folders import FolderLine, IgnoreRulesDialog
from tests.gui.test_library import (
    INDEX_TIMEOUT_MS,
    all_ready,
    answer_dialog,
    drop,
    keep_in_sync,
    notes,
    statuses,
)
from tests.support.ollama_server import OllamaTestServer

EMBED_MODEL = "nomic-embed-text:latest"


@pytest.fixture
def pane(qtbot: QtBot, host: OrchestratorHost) -> Iterator[LibraryPane]:
    pane = LibraryPane(LibraryController(host))
    qtbot.addWidget(pane)
    pane.resize(1000, 700)
    pane.show()
    yield pane
    pane.controller.cancel()
    qtbot.waitUntil(lambda: not pane.controller.busy, timeout=INDEX_TIMEOUT_MS)


def watch(qtbot: QtBot, pane: LibraryPane, folder: Path) -> FolderLine:
    """Add ``folder`` kept in sync (the dialog's default) and wait for its files."""
    keep_in_sync(True)
    pane.add_folders([str(folder)])
    path = str(folder.resolve())
    qtbot.waitUntil(lambda: pane.folders_card.line_for(path) is not None, timeout=INDEX_TIMEOUT_MS)
    names = [p.name for p in folder.iterdir() if p.suffix == ".txt" and not p.is_symlink()]
    qtbot.waitUntil(lambda: all_ready(pane, names), timeout=INDEX_TIMEOUT_MS)
    return line(pane, folder)


def line(pane: LibraryPane, folder: Path) -> FolderLine:
    found = pane.folders_card.line_for(str(folder.resolve()))
    assert found is not None
    return found


def test_a_folder_kept_in_sync_is_listed_as_watching_and_follows_new_files(
    qtbot: QtBot, pane: LibraryPane, tmp_path: Path
) -> None:
    folder = tmp_path / "notes"
    notes(folder, 2)

    watch(qtbot, pane, folder)

    assert pane.folders_card.isVisible()
    assert line(pane, folder).name_label.text() == "notes"
    qtbot.waitUntil(
        lambda: line(pane, folder).details_label.text().startswith("Watching · synced"),
        timeout=5_000,
    )  # no "N pending" once its files are in
    (folder / "later.txt").write_text("The heron returns in autumn.\n", "utf-8")
    qtbot.waitUntil(lambda: all_ready(pane, ["later.txt"]), timeout=INDEX_TIMEOUT_MS)


def test_a_dropped_folder_asks_and_is_watched_by_default(
    qtbot: QtBot, pane: LibraryPane, tmp_path: Path
) -> None:
    folder = tmp_path / "dropped"
    notes(folder, 1)

    keep_in_sync(True)
    drop(pane, [folder])

    qtbot.waitUntil(lambda: len(pane.controller.folders) == 1, timeout=INDEX_TIMEOUT_MS)
    assert pane.controller.folders[0].folder.path == str(folder.resolve())
    qtbot.waitUntil(lambda: all_ready(pane, ["note-0.txt"]), timeout=INDEX_TIMEOUT_MS)


def test_a_folder_can_be_paused_resumed_and_unwatched_keeping_its_documents(
    qtbot: QtBot, pane: LibraryPane, tmp_path: Path
) -> None:
    folder = tmp_path / "notes"
    notes(folder, 2)
    watch(qtbot, pane, folder)

    line(pane, folder).pause_button.click()
    qtbot.waitUntil(lambda: line(pane, folder).state.status == "paused", timeout=5_000)
    assert line(pane, folder).details_label.text().startswith("Paused")
    assert line(pane, folder).pause_button.text() == "Resume"
    line(pane, folder).pause_button.click()
    qtbot.waitUntil(lambda: line(pane, folder).state.status != "paused", timeout=5_000)

    def stop(dialog: QMessageBox) -> None:
        assert "stay in the library" in dialog.text()
        (button,) = [b for b in dialog.buttons() if b.text() == "Stop watching"]
        button.click()

    answer_dialog(QMessageBox, stop)
    line(pane, folder).stop_action.trigger()

    qtbot.waitUntil(lambda: pane.controller.folders == [], timeout=5_000)
    assert not pane.folders_card.isVisible()
    assert statuses(pane) == {"note-0.txt": "ready", "note-1.txt": "ready"}


def test_a_folders_line_shows_each_new_state_in_place(
    qtbot: QtBot, pane: LibraryPane, tmp_path: Path
) -> None:
    """Its counts change about once a second while the folder syncs: the line is updated,
    not built again with its buttons and menu each time."""
    folder = tmp_path / "notes"
    notes(folder, 2)
    first = watch(qtbot, pane, folder)
    changes: list[object] = []
    pane.controller.folders_changed.connect(changes.append)

    for n in range(3):
        (folder / f"later-{n}.txt").write_text(f"The heron returns in autumn {n}.\n", "utf-8")
    qtbot.waitUntil(
        lambda: all_ready(pane, [f"later-{n}.txt" for n in range(3)]), timeout=INDEX_TIMEOUT_MS
    )
    first.pause_button.click()
    qtbot.waitUntil(lambda: first.state.status == "paused", timeout=5_000)

    assert changes  # the folder's state was announced again...
    assert line(pane, folder) is first  # ...and shown by the same line
    assert first.details_label.text().startswith("Paused")
    assert first.dot.status == "paused"
    assert first.pause_button.text() == "Resume"
    first.pause_button.click()  # reads the state it shows now: resumes
    qtbot.waitUntil(lambda: first.state.status != "paused", timeout=5_000)
    assert line(pane, folder) is first and first.pause_button.text() == "Pause"


def test_a_long_run_updates_the_table_four_times_a_second_with_rows_done_meanwhile(
    qtbot: QtBot, pane: LibraryPane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each update repaints the table's rows and the progress card, on the thread the
    indexer shares the interpreter lock with: once a run has gone on (at once here), rows
    and progress reach the table four times a second, the rows of files just stored with
    them rather than as an update of their own."""
    monkeypatch.setattr(library_controller, "BUSY_AFTER_SECONDS", 0.0)
    folder = tmp_path / "many"
    notes(folder, 400)
    updates: list[float] = []
    pane.controller.rows_changed.connect(lambda _rows: updates.append(time.monotonic()))
    runs: list[float] = []
    pane.controller.busy_changed.connect(lambda busy: runs.append(time.monotonic()))

    watch(qtbot, pane, folder)
    qtbot.waitUntil(lambda: len(runs) >= 2 and not pane.controller.busy, timeout=INDEX_TIMEOUT_MS)

    started, ended = runs[0], runs[-1]
    during = [t for t in updates if started < t < ended]
    interval = library_controller.BUSY_PROGRESS_INTERVAL_MS / 1000
    assert len(during) <= (ended - started) / interval + 3
    assert statuses(pane) == {f"note-{n}.txt": "ready" for n in range(400)}


def test_a_missing_folder_shows_offline_and_keeps_its_documents(
    qtbot: QtBot, pane: LibraryPane, tmp_path: Path
) -> None:
    folder = tmp_path / "drive" / "notes"
    notes(folder, 2)
    watch(qtbot, pane, folder)

    shutil.move(str(tmp_path / "drive"), str(tmp_path / "unplugged"))

    qtbot.waitUntil(lambda: line(pane, folder).state.status == "offline", timeout=INDEX_TIMEOUT_MS)
    assert "Offline — folder not found, documents kept" in line(pane, folder).details_label.text()
    qtbot.waitUntil(lambda: set(statuses(pane).values()) == {"offline"}, timeout=5_000)
    assert "2 offline" in pane.summary_label.text()


def test_ignore_rules_are_edited_one_glob_a_line_with_a_size_cap(
    qtbot: QtBot, pane: LibraryPane, tmp_path: Path
) -> None:
    folder = tmp_path / "notes"
    notes(folder, 1)
    watch(qtbot, pane, folder)

    def edit(dialog: IgnoreRulesDialog) -> None:
        assert "node_modules/" in dialog.patterns_edit.toPlainText()  # the defaults
        dialog.patterns_edit.setPlainText("*.log\n\n  build/  \n")
        dialog.cap_box.setValue(2.5)
        dialog.accept()

    answer_dialog(IgnoreRulesDialog, edit)
    line(pane, folder).rules_action.trigger()

    qtbot.waitUntil(
        lambda: line(pane, folder).state.folder.ignore == ("*.log", "build/"), timeout=5_000
    )
    assert line(pane, folder).state.folder.max_file_mb == 2.5


def test_a_folders_problems_are_counted_and_listed_in_a_tooltip(
    qtbot: QtBot, pane: LibraryPane, tmp_path: Path
) -> None:
    folder = tmp_path / "notes"
    notes(folder, 1)
    (folder / "loop.txt").symlink_to(folder / "loop.txt")  # a link to itself

    watch(qtbot, pane, folder)

    def problems_shown() -> bool:
        # The line may be built again as the folder's state moves on, and a new line's
        # label shows one event after it is laid out: wait for the one on screen.
        label = line(pane, folder).problems_label
        return label.isVisible() and label.text().startswith("⚠ 1 problem")

    qtbot.waitUntil(problems_shown, timeout=INDEX_TIMEOUT_MS)
    problems = line(pane, folder).problems_label
    assert "loop.txt" in problems.toolTip() and "loops back" in problems.toolTip()


def test_a_queue_that_paused_itself_shows_why_and_resumes(
    qtbot: QtBot, pane: LibraryPane, tmp_path: Path, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.missing_models.add(EMBED_MODEL)
    files = notes(tmp_path / "notes", 3)
    pane.controller.add_paths([str(p) for p in files])

    qtbot.waitUntil(
        lambda: pane.controller.paused and not pane.controller.busy, timeout=INDEX_TIMEOUT_MS
    )
    qtbot.waitUntil(lambda: pane.pause_reason_label.isVisible(), timeout=5_000)
    assert pane.progress_card.isVisible()
    assert pane.progress_label.text() == "Paused · 3 waiting"
    reason = pane.controller.pause_reason
    assert reason is not None
    assert reason.message in pane.pause_reason_label.text()
    assert reason.hint in pane.pause_reason_label.text()
    assert not pane.notice_label.isVisible()  # said once, beside Resume
    assert pane.pause_button.text() == "Resume"
    assert set(statuses(pane).values()) == {"queued"}  # waiting for Resume, not failed

    ollama_server.faults.missing_models.clear()
    pane.pause_button.click()

    qtbot.waitUntil(lambda: all_ready(pane, [p.name for p in files]), timeout=INDEX_TIMEOUT_MS)
    qtbot.waitUntil(lambda: not pane.progress_card.isVisible(), timeout=5_000)


def test_a_queue_paused_by_the_user_shows_resume_without_a_reason(
    qtbot: QtBot, pane: LibraryPane
) -> None:
    pane.controller.set_paused(True)

    qtbot.waitUntil(lambda: pane.progress_card.isVisible(), timeout=5_000)
    assert pane.progress_label.text() == "Paused · 0 waiting"
    assert not pane.pause_reason_label.isVisible()
    pane.pause_button.click()
    qtbot.waitUntil(lambda: not pane.progress_card.isVisible(), timeout=5_000)


def generated_rows(count: int) -> list[LibraryRow]:
    statuses_ = ("ready", "ready", "ready", "failed", "offline")
    return [
        LibraryRow(
            path=f"/library/box-{n % 97}/report-{n}.pdf",
            collection_id=1,
            title=f"Annual Report {n}",
            file_type="pdf",
            status=statuses_[n % len(statuses_)],  # type: ignore[arg-type]
            reason="damaged file" if n % len(statuses_) == 3 else "",
            pages=n % 300,
            chunks=n % 40 + 1,
            size_bytes=1000 + n,
            added=datetime(2026, 1, 1),
        )
        for n in range(count)
    ]


def shown(pane: LibraryPane, column: int = FILE) -> list[str]:
    proxy = pane.proxy
    return [str(proxy.index(r, column).data()) for r in range(proxy.rowCount())]


def test_the_file_name_column_shows_the_name_with_the_full_path_in_its_tooltip(
    pane: LibraryPane,
) -> None:
    pane.controller.rows_reset.emit(generated_rows(3))

    index = pane.proxy.index(0, FILE)

    assert pane.proxy.headerData(FILE, Qt.Orientation.Horizontal) == "File name"
    assert index.data() == "report-0.pdf"
    assert index.data(Qt.ItemDataRole.ToolTipRole) == "/library/box-0/report-0.pdf"
    assert pane.proxy.index(0, NAME).data() == "Annual Report 0"  # the title stays


def test_the_table_answers_what_it_paints_with_and_nothing_for_other_roles(
    pane: LibraryPane,
) -> None:
    pane.controller.rows_reset.emit(generated_rows(3))
    proxy = pane.proxy
    right = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    assert proxy.index(0, SIZE).data(Qt.ItemDataRole.TextAlignmentRole) == right
    assert (
        proxy.headerData(SIZE, Qt.Orientation.Horizontal, Qt.ItemDataRole.TextAlignmentRole)
        == right
    )
    assert proxy.index(0, SIZE).data(Qt.ItemDataRole.ForegroundRole) is not None  # muted
    assert proxy.index(0, NAME).data(Qt.ItemDataRole.ForegroundRole) is None
    assert isinstance(proxy.index(0, NAME).data(ROW_ROLE), LibraryRow)
    assert proxy.index(0, NAME).data(Qt.ItemDataRole.FontRole) is None
    assert proxy.headerData(0, Qt.Orientation.Vertical) is None


def test_the_filter_matches_title_file_name_and_status_without_rebuilding_the_model(
    pane: LibraryPane,
) -> None:
    pane.controller.rows_reset.emit(generated_rows(1000))
    resets: list[bool] = []
    pane.model.modelReset.connect(lambda: resets.append(True))

    pane.filter_box.setText("REPORT-12.")
    assert shown(pane) == ["report-12.pdf"]
    pane.filter_box.setText("annual 12")  # every word, anywhere in title or file name
    assert sorted(shown(pane)) == sorted(f"report-{n}.pdf" for n in range(1000) if "12" in str(n))
    pane.filter_box.setText("damaged")  # in the status
    assert len(shown(pane)) == 200
    assert "200 of 1,000" in pane.filter_count_label.text()
    pane.filter_box.clear()
    assert pane.proxy.rowCount() == 1000
    assert resets == []  # the model was never rebuilt


def filtered_table(rows: list[LibraryRow]) -> tuple[DocumentTableModel, DocumentFilterProxy]:
    """The Library page's model and filter, with no engine behind them to reload the rows."""
    model = DocumentTableModel()
    model.reset(rows)
    return model, DocumentFilterProxy(model)


def names_shown(proxy: DocumentFilterProxy) -> list[str]:
    return [str(proxy.index(r, FILE).data()) for r in range(proxy.rowCount())]


def test_a_long_list_is_filtered_a_slice_per_turn_and_rows_changed_meanwhile_count(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(library_filter, "FILTER_SLICE", 100)  # 1,000 rows: ten turns
    rows = generated_rows(1000)
    model, proxy = filtered_table(rows)
    proxy.set_filter_text("report-12")

    # Nothing changes in the middle of a keystroke: the view still shows every row.
    assert proxy.filtering
    assert proxy.rowCount() == 1000
    # Meanwhile a row starts to match and another is gone.
    model.upsert(replace(rows[5], title="Report-12 appendix"))
    model.remove(rows[120].path)
    with qtbot.waitSignal(proxy.filter_applied, timeout=5_000):
        pass

    matching = {f"report-{n}.pdf" for n in range(1000) if "report-12" in f"report-{n}."}
    assert set(names_shown(proxy)) == (matching - {"report-120.pdf"}) | {"report-5.pdf"}


def test_backspacing_shows_the_earlier_filter_at_once(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(library_filter, "FILTER_SLICE", 100)
    _model, proxy = filtered_table(generated_rows(1000))
    proxy.set_filter_text("report-1")
    qtbot.waitUntil(lambda: not proxy.filtering, timeout=5_000)
    after_one = names_shown(proxy)
    proxy.set_filter_text("report-12")  # narrows: looks only among the rows shown
    qtbot.waitUntil(lambda: not proxy.filtering, timeout=5_000)

    proxy.set_filter_text("report-1")  # a backspace

    assert not proxy.filtering
    assert names_shown(proxy) == after_one
    proxy.set_filter_text("")
    assert proxy.rowCount() == 1000


def test_rows_added_changed_and_removed_follow_the_filter_and_the_sort(
    pane: LibraryPane,
) -> None:
    rows = generated_rows(10)
    pane.controller.rows_reset.emit(rows)
    pane.table.sortByColumn(FILE, Qt.SortOrder.DescendingOrder)
    assert shown(pane) == sorted(shown(pane), reverse=True)
    pane.filter_box.setText("failed")
    before = shown(pane)

    failing = LibraryRow(
        path="/library/new/report-55.pdf", collection_id=1, title="New", file_type="pdf",
        status="failed", reason="damaged file",
    )  # fmt: skip
    pane.controller.rows_changed.emit([failing])
    assert shown(pane) == sorted([*before, "report-55.pdf"], reverse=True)
    pane.controller.rows_changed.emit([replace(failing, status="ready")])
    assert shown(pane) == before  # no longer matches: gone from the filtered view
    pane.controller.row_removed.emit(rows[3].path)
    assert "report-3.pdf" not in shown(pane)
    pane.filter_box.clear()
    assert pane.proxy.rowCount() == 10
    assert shown(pane) == sorted(shown(pane), reverse=True)


def test_a_big_reload_leaves_its_rows_out_of_the_collectors_later_passes(
    pane: LibraryPane, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(library_pane, "COLLECT_AFTER_ROWS", 1_000)
    rows = generated_rows(2_000)
    frozen_before = gc.get_freeze_count()

    pane.controller.rows_reset.emit(rows)

    # Frozen: a full pass on the GUI thread no longer walks 2,000 rows (at 100,000 rows it
    # took 85 ms, in the middle of a scroll).
    assert gc.get_freeze_count() >= frozen_before + len(rows)
    assert pane.model.rowCount() == len(rows)


def test_a_small_reload_leaves_the_collector_as_it_was(
    pane: LibraryPane, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen_before = gc.get_freeze_count()

    pane.controller.rows_reset.emit(generated_rows(50))

    assert gc.get_freeze_count() == frozen_before
