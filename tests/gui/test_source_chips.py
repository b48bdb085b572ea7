"""Source chips under an answer wrap onto new lines instead of widening the column."""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from allma_desktop.gui.widgets.chat_message import CHIP_MAX_WIDTH, SourcesStrip
from allma_desktop.sources import Source

COLUMN_WIDTH = 420


def five_sources() -> list[Source]:
    return [
        Source(
            number=n,
            document_id=f"doc{n}",
            chunk_id=f"doc{n}:0",
            path=f"/papers/keeper-handbook-volume-{n}.pdf",
            title=f"The Lighthouse Keeper's Handbook, volume {n}: lamps and lenses",
            page=n * 3,
            score=1.0,
            snippet="The xenon bulb is rated at 3500 watts.",
        )
        for n in range(1, 6)
    ]


def test_five_sources_wrap_within_the_column(qtbot: QtBot) -> None:
    column = QWidget()
    qtbot.addWidget(column)
    layout = QVBoxLayout(column)
    strip = SourcesStrip(column)
    layout.addWidget(strip)
    strip.set_sources(five_sources())
    column.resize(COLUMN_WIDTH, 400)
    column.show()
    qtbot.waitExposed(column)
    qtbot.waitUntil(lambda: strip.chips[-1].isVisible())

    assert strip.minimumSizeHint().width() <= COLUMN_WIDTH
    assert column.width() == COLUMN_WIDTH
    for chip in strip.chips:
        assert chip.geometry().right() < strip.width(), chip.text()
        assert chip.width() <= CHIP_MAX_WIDTH
    rows = {chip.geometry().top() for chip in strip.chips}
    assert len(rows) > 1


def test_a_long_source_title_is_elided_and_whole_on_hover(qtbot: QtBot) -> None:
    strip = SourcesStrip()
    qtbot.addWidget(strip)
    strip.set_sources(five_sources())

    chip = strip.chips[0]
    assert chip.text().endswith("…")
    assert "The Lighthouse Keeper's Handbook, volume 1: lamps and lenses" in chip.toolTip()


def test_a_source_without_pages_is_named_by_its_heading_and_shows_its_section(
    qtbot: QtBot,
) -> None:
    strip = SourcesStrip()
    qtbot.addWidget(strip)
    notes = Source(
        number=1,
        document_id="doc1",
        chunk_id="doc1:0",
        path="/notes/bicycle.md",
        title="",
        page=None,
        score=1.0,
        snippet="Oil the chain every month.",
        heading_path=("Bicycle care", "Chain"),
    )
    strip.set_sources([notes])

    assert strip.chips[0].text() == "[1]  bicycle.md · Chain"
    strip.chips[0].click()
    assert strip.snippet_title.text() == "[1] bicycle.md — Bicycle care › Chain"
