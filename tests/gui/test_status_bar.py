"""The status bar's dot takes its colours from the theme's palette."""

from __future__ import annotations

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
