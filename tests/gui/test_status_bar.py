"""The status bar's dot takes its colours from the theme's palette."""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from allma_desktop.errors import AllmaError
from allma_desktop.gui import theme
from allma_desktop.gui.main_window import MainWindow
from allma_desktop.gui.theme import DARK, LIGHT, apply_theme
from allma_desktop.gui.widgets.status_bar import AppStatusBar
from tests.gui.conftest import ingest
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import write_text


@pytest.fixture
def light_app(qapp: QApplication) -> Iterator[QApplication]:
    apply_theme(qapp, "light")
    yield qapp
    apply_theme(qapp, "light")


def test_the_dot_is_drawn_in_the_palettes_colour_for_its_state(
    qtbot: QtBot, light_app: QApplication
) -> None:
    bar = AppStatusBar()
    qtbot.addWidget(bar)

    assert LIGHT.status_idle in bar.dot.styleSheet()
    bar.show_engine_failed(AllmaError("The library could not be opened."))
    assert LIGHT.status_error in bar.dot.styleSheet()


def test_the_dot_takes_the_new_palettes_colour_when_the_theme_changes(
    qtbot: QtBot, light_app: QApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    bar = AppStatusBar()
    qtbot.addWidget(bar)
    bar.show_engine_failed(AllmaError("The library could not be opened."))
    # A dark palette with its own error red, to tell it apart from the light one.
    dark = dataclasses.replace(DARK, status_error="#ff0000")
    monkeypatch.setattr(theme, "DARK", dark)

    apply_theme(light_app, "dark")

    assert "#ff0000" in bar.dot.styleSheet()


def test_the_status_bar_and_the_chat_picker_count_documents_the_same_way(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    """One definition (ready documents); a file that could not be read is counted apart."""
    good = write_text(tmp_path / "garden.txt")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7 this is not really a PDF")
    ingest(qtbot, window.host, [good, broken])

    window.health.check_now()
    window.chat_view.refresh_choices()
    qtbot.waitUntil(lambda: "could not be read" in window.status.library.text(), timeout=20_000)

    assert window.status.library.text().startswith("1 document · ")
    assert window.status.library.text().endswith(" · 1 could not be read")
    assert "(1 document)" in window.chat_view.collection_box.itemText(0)


def test_a_change_of_documents_recounts_the_library_without_a_whole_health_check(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, ollama_server: OllamaTestServer
) -> None:
    """While a folder is indexed documents change about once a second: each change reads
    the counts again, and does not ask Ollama again nor write probes into the stores."""
    qtbot.waitUntil(lambda: window.health.report is not None, timeout=20_000)
    checked = window.health.report
    assert checked is not None
    ingest(qtbot, window.host, [write_text(tmp_path / "garden.txt")])
    ollama_server.clear_requests()

    for _ in range(5):  # a burst, as the library announces them
        window.events.documents_changed.emit()
    qtbot.waitUntil(lambda: window.status.library.text().startswith("1 document"), timeout=20_000)
    qtbot.waitUntil(lambda: not window.health._recount_again, timeout=20_000)

    report = window.health.report
    assert report is not None and report.documents == 1
    assert report.ollama == checked.ollama  # the last check's word on Ollama, kept
    assert ollama_server.requests_to("/api/version") == []
    assert ollama_server.requests_to("/api/tags") == []


def test_a_recount_begun_before_a_whole_check_does_not_undo_that_check(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    """The check's word on Ollama and the stores stays; its counts are read again."""
    qtbot.waitUntil(lambda: window.health.report is not None, timeout=20_000)
    ingest(qtbot, window.host, [write_text(tmp_path / "garden.txt")])
    counted_from = window.health.report
    assert counted_from is not None
    newer = dataclasses.replace(counted_from, store_path="checked meanwhile")
    window.health.report = newer  # a whole check landed while the recount ran

    window.health._on_recounted(counted_from, dataclasses.replace(counted_from, documents=7))

    qtbot.waitUntil(
        lambda: window.health.report is not newer and window.health._recount_task is None,
        timeout=20_000,
    )
    report = window.health.report
    assert report.store_path == "checked meanwhile"
    assert report.documents == 1


def test_documents_changed_during_a_whole_check_are_counted_once_it_lands(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    """A check under way may have counted before the change; its report is followed by a
    recount, so the counts shown are not left stale until the next change or check."""
    qtbot.waitUntil(lambda: window.health.report is not None, timeout=20_000)
    qtbot.waitUntil(lambda: window.health._check_task is None or window.health._check_task.done())
    before_the_change = window.health.report
    assert before_the_change is not None and before_the_change.documents == 0
    under_way: concurrent.futures.Future[None] = concurrent.futures.Future()
    window.health._check_task = under_way  # type: ignore[assignment]  # a check in flight
    ingest(qtbot, window.host, [write_text(tmp_path / "garden.txt")])

    window.events.documents_changed.emit()  # while the check runs
    window.health._on_report(before_the_change)  # it had counted before the change

    qtbot.waitUntil(lambda: window.status.library.text().startswith("1 document"), timeout=20_000)
    report = window.health.report
    assert report is not None and report.documents == 1
