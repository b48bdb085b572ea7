"""The quick-ask popup over the real engine: answer with sources, then continue in the app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from allma_desktop.gui.controllers.chat_controller import ChatController
from allma_desktop.gui.orchestrator_host import OrchestratorHost
from allma_desktop.gui.widgets.quick_ask import QuickAskWindow
from tests.gui.conftest import ingest
from tests.support.sample_docs import PDF_ANSWER, PDF_ANSWER_PAGE, PDF_QUESTION

ANSWER_TIMEOUT_MS = 20_000


@pytest.fixture
def popup(qtbot: QtBot, host: OrchestratorHost) -> Iterator[QuickAskWindow]:
    popup = QuickAskWindow(lambda: ChatController(host), host.events)
    qtbot.addWidget(popup)
    popup.open_popup()
    yield popup


def test_the_popup_opens_frameless_with_the_input_focused(
    qtbot: QtBot, popup: QuickAskWindow
) -> None:
    assert popup.isVisible()
    assert popup.windowFlags() & Qt.WindowType.FramelessWindowHint
    qtbot.waitUntil(popup.input.hasFocus, timeout=2_000)


def test_escape_closes_the_popup(qtbot: QtBot, popup: QuickAskWindow) -> None:
    qtbot.keyClick(popup.input, Qt.Key.Key_Escape)

    assert not popup.isVisible()


def test_a_question_is_answered_from_the_library_with_its_sources_and_continues_in_the_app(
    qtbot: QtBot, popup: QuickAskWindow, host: OrchestratorHost, lighthouse_pdf: Path
) -> None:
    ingest(qtbot, host, [lighthouse_pdf])

    popup.input.setText(PDF_QUESTION)
    qtbot.keyClick(popup.input, Qt.Key.Key_Return)

    qtbot.waitUntil(
        lambda: PDF_ANSWER in popup.answer_view.toPlainText() and popup.sources_label.isVisible(),
        timeout=ANSWER_TIMEOUT_MS,
    )
    assert f"p. {PDF_ANSWER_PAGE}" in popup.sources_label.text()
    assert popup.continue_button.isEnabled()
    conversation_id = popup.conversation_id
    with qtbot.waitSignal(host.events.open_conversation, timeout=2_000) as opened:
        popup.continue_button.click()
    assert opened.args == [conversation_id]
    assert not popup.isVisible()


def test_on_x11_the_popup_is_opaque_so_no_black_box_shows_without_a_compositor(
    qtbot: QtBot, host: OrchestratorHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtGui import QGuiApplication

    monkeypatch.setattr(QGuiApplication, "platformName", staticmethod(lambda: "xcb"))
    on_x11 = QuickAskWindow(lambda: ChatController(host), host.events)
    qtbot.addWidget(on_x11)

    assert not on_x11.testAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
