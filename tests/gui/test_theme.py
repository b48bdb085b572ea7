"""The app-wide theme: colours the stylesheet actually paints."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator

import pytest
from PySide6.QtGui import QFont, QFontInfo
from PySide6.QtWidgets import QApplication, QComboBox, QLabel, QWidget
from pytestqt.qtbot import QtBot

from allma_desktop.gui import theme
from allma_desktop.gui.main_window import MainWindow
from allma_desktop.gui.theme import DARK, LIGHT, apply_theme, colors_for
from allma_desktop.gui.widgets.chat_message import MessageWidget


@pytest.fixture
def themed_app(qapp: QApplication) -> Iterator[QApplication]:
    yield qapp
    apply_theme(qapp, "light")  # what the other GUI tests expect


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_a_combo_popups_highlighted_entry_is_painted_in_the_selection_colours(
    qtbot: QtBot, themed_app: QApplication, theme: str
) -> None:
    apply_theme(themed_app, theme)
    colors = colors_for(theme)
    box = QComboBox()
    qtbot.addWidget(box)
    box.addItems(["llama3.2:latest", "qwen2.5:7b", "mistral:latest"])
    box.show()
    box.showPopup()
    view = box.view()
    qtbot.waitUntil(view.isVisible)
    highlighted = box.model().index(1, 0)
    view.setCurrentIndex(highlighted)

    # Read the pixels, not the palette: the view's palette already held the selection
    # colour while Fusion painted the entry in the accent.
    image = view.viewport().grab().toImage()
    row_y = view.visualRect(highlighted).center().y()
    row = Counter(image.pixelColor(x, row_y).name() for x in range(image.width()))
    box.hidePopup()

    background = row.most_common(1)[0][0]
    assert background == colors.selection
    assert colors.text in row  # the entry's text, in the text colour, not the accent's


def test_an_editable_combos_list_rows_are_as_roomy_as_a_plain_combos(
    qtbot: QtBot, themed_app: QApplication
) -> None:
    apply_theme(themed_app, "light")
    row_heights = []
    for editable in (False, True):  # editable: as the Settings page's model pickers
        box = QComboBox()
        qtbot.addWidget(box)
        box.setEditable(editable)
        box.addItems(["deepseek-r1:latest", "nomic-embed-text:latest"])
        box.show()
        box.showPopup()
        qtbot.waitUntil(box.view().isVisible)
        row_heights.append(box.view().visualRect(box.model().index(0, 0)).height())
        box.hidePopup()

    plain, editable_rows = row_heights
    assert editable_rows >= plain - 2


ANSWER = (
    "The keeper's log is [in the manual](https://example.com/manual) [1].\n\n"
    "```python\ndef answer():\n    return 42\n```\n"
)


def test_switching_the_theme_recolours_an_answer_from_the_one_palette(
    qtbot: QtBot, themed_app: QApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chat's Markdown colours (links, code) are read from theme.py's palettes, so a
    dark palette of its own colours shows in an answer on screen as soon as the theme
    turns dark (an answer already shown kept the light colours: a child widget hears of
    the new palette as PaletteChange, not ApplicationPaletteChange)."""
    dark = dataclasses.replace(DARK, link="#0a0b0c", code_keyword="#0d0e0f")
    monkeypatch.setattr(theme, "DARK", dark)
    apply_theme(themed_app, "light")
    transcript = QWidget()  # an answer is a child of the transcript, not a window
    qtbot.addWidget(transcript)
    message = MessageWidget("assistant", transcript)
    transcript.show()
    message.set_text(ANSWER)
    light_html = message.body.toHtml()
    assert LIGHT.link in light_html and LIGHT.code_keyword in light_html

    apply_theme(themed_app, "dark")

    qtbot.waitUntil(lambda: dark.code_keyword in message.body.toHtml())
    dark_html = message.body.toHtml()
    assert dark.link in dark_html
    assert LIGHT.link not in dark_html and LIGHT.code_keyword not in dark_html


@pytest.fixture
def large_text(qapp: QApplication) -> Iterator[QFont]:
    """The desktop asks for large text: a 15 pt font (20 px at 96 dpi, where 10 pt is 13)."""
    before = qapp.font()
    large = QFont(before)
    large.setPointSizeF(15)
    qapp.setFont(large)
    apply_theme(qapp, "light")
    yield large
    qapp.setFont(before)
    apply_theme(qapp, "light")


def test_text_grows_with_a_larger_desktop_font(
    qtbot: QtBot, large_text: QFont, window: MainWindow
) -> None:
    body = QLabel("Ask about your documents", window)
    body.ensurePolished()
    title = window.chat_view.title
    title.ensurePolished()

    wanted = QFontInfo(large_text).pixelSize()
    assert QFontInfo(body.font()).pixelSize() >= wanted - 1  # body text, app-wide sheet
    assert QFontInfo(title.font()).pixelSize() > QFontInfo(body.font()).pixelSize()  # the shell's


def test_text_keeps_the_design_size_at_the_usual_font(themed_app: QApplication) -> None:
    sheet = theme.stylesheet_for(LIGHT)
    assert theme.scaled_text(sheet, 1.0) == sheet
    assert "font-size: 26px" in theme.scaled_text("#x { font-size: 13px; }", 2.0)


@pytest.mark.parametrize("pixels", [13, 20])
def test_a_conversation_s_date_is_a_little_smaller_than_its_title(pixels: int) -> None:
    from allma_desktop.gui.widgets.sidebar import smaller_font

    title = QFont()
    title.setPixelSize(pixels)  # as the theme's sheet sizes it

    date = QFontInfo(smaller_font(title)).pixelSize()

    assert round(pixels * 0.8) <= date < pixels
