"""The quick-ask popup over the real engine: answer with sources, then continue in the app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from allma_desktop.gui.controllers.chat_controller import ChatController
from allma_desktop.gui.orchestrator_host import OrchestratorHost
from allma_desktop.gui.widgets.quick_ask import QUESTION_HEIGHT, QuickAskWindow
from tests.gui.conftest import ingest
from tests.support.ollama_server import OllamaTestServer
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


def ask_and_wait(qtbot: QtBot, popup: QuickAskWindow, question: str) -> None:
    popup.input.setText(question)
    qtbot.keyClick(popup.input, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: PDF_ANSWER in popup.answer_view.toPlainText() and popup.sources_label.isVisible(),
        timeout=ANSWER_TIMEOUT_MS,
    )


def test_reopened_after_an_answer_it_is_empty_and_focused_with_the_last_answer_on_request(
    qtbot: QtBot, popup: QuickAskWindow, host: OrchestratorHost, lighthouse_pdf: Path
) -> None:
    ingest(qtbot, host, [lighthouse_pdf])
    ask_and_wait(qtbot, popup, PDF_QUESTION)
    first_conversation = popup.conversation_id
    qtbot.keyClick(popup.input, Qt.Key.Key_Escape)

    popup.open_popup()

    assert popup.input.text() == ""
    assert popup.input.placeholderText() == "Ask a question about your documents…"
    assert not popup.answer_view.isVisible() and not popup.sources_label.isVisible()
    assert not popup.continue_button.isEnabled()
    qtbot.waitUntil(popup.input.hasFocus, timeout=2_000)
    assert popup.last_answer_button.isVisible()
    # As small as a question alone: the answer's height does not stay behind, empty.
    assert popup.height() == max(QUESTION_HEIGHT, popup.minimumSizeHint().height())

    popup.last_answer_button.click()

    assert PDF_ANSWER in popup.answer_view.toPlainText()
    assert f"p. {PDF_ANSWER_PAGE}" in popup.sources_label.text()
    assert popup.input.placeholderText() == "Ask a follow-up…"
    assert popup.continue_button.isEnabled() and popup.conversation_id == first_conversation


def test_a_question_after_reopening_starts_a_new_conversation(
    qtbot: QtBot, popup: QuickAskWindow, host: OrchestratorHost, lighthouse_pdf: Path
) -> None:
    ingest(qtbot, host, [lighthouse_pdf])
    ask_and_wait(qtbot, popup, PDF_QUESTION)
    first_conversation = popup.conversation_id
    popup.close()
    popup.open_popup()

    ask_and_wait(qtbot, popup, PDF_QUESTION)

    assert popup.conversation_id is not None and popup.conversation_id != first_conversation


def test_reopened_while_the_answer_is_still_coming_it_opens_empty_and_the_answer_goes_on(
    qtbot: QtBot,
    popup: QuickAskWindow,
    host: OrchestratorHost,
    lighthouse_pdf: Path,
    ollama_server: OllamaTestServer,
) -> None:
    ingest(qtbot, host, [lighthouse_pdf])
    ollama_server.faults.token_delay = 0.05
    popup.input.setText(PDF_QUESTION)
    qtbot.keyClick(popup.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: popup.answer_view.toPlainText() != "", timeout=ANSWER_TIMEOUT_MS)
    popup.close()

    popup.open_popup()

    assert popup.answer_view.toPlainText() == "" and not popup.answer_view.isVisible()
    assert popup.input.text() == "" and not popup.sources_label.isVisible()
    assert popup.last_answer_button.isVisible()
    ollama_server.faults.token_delay = 0.0

    popup.last_answer_button.click()  # the answer, still coming, is shown as it goes on

    qtbot.waitUntil(
        lambda: PDF_ANSWER in popup.answer_view.toPlainText() and popup.sources_label.isVisible(),
        timeout=ANSWER_TIMEOUT_MS,
    )


def test_with_a_compositor_on_x11_the_popup_keeps_its_see_through_corners(
    qtbot: QtBot, host: OrchestratorHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtGui import QGuiApplication

    from allma_desktop.gui.widgets import quick_ask

    monkeypatch.setattr(QGuiApplication, "platformName", staticmethod(lambda: "xcb"))
    monkeypatch.setattr("allma_desktop.gui.xlib.compositor_running", lambda: True)
    composited = QuickAskWindow(lambda: ChatController(host), host.events)
    qtbot.addWidget(composited)

    assert quick_ask.translucency_is_drawn("xcb")
    assert composited.testAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)


def test_a_new_question_while_the_left_answer_is_still_coming_stops_it_and_is_answered(
    qtbot: QtBot,
    popup: QuickAskWindow,
    host: OrchestratorHost,
    lighthouse_pdf: Path,
    ollama_server: OllamaTestServer,
) -> None:
    ingest(qtbot, host, [lighthouse_pdf])
    ollama_server.faults.token_delay = 0.05
    popup.input.setText(PDF_QUESTION)
    qtbot.keyClick(popup.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: popup.conversation_id is not None, timeout=ANSWER_TIMEOUT_MS)
    first_conversation = popup.conversation_id
    popup.close()
    popup.open_popup()
    ollama_server.faults.token_delay = 0.0

    ask_and_wait(qtbot, popup, PDF_QUESTION)

    assert popup.conversation_id not in (None, first_conversation)
    assert popup.answer_view.toPlainText().count(PDF_ANSWER) == 1
