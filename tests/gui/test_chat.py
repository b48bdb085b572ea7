"""The chat page over the real engine and the Ollama test server."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from pytestqt.qtbot import QtBot

from allma_desktop.events import AnswerDone
from allma_desktop.gui.main_window import MainWindow
from allma_desktop.gui.widgets.chat_message import MessageWidget
from allma_desktop.reader.viewers import plan_opening
from allma_desktop.records import MessageRecord
from tests.gui.conftest import ingest
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import PDF_ANSWER, PDF_ANSWER_PAGE, PDF_QUESTION
from tests.support.scans import write_scanned_pdf

ANSWER_TIMEOUT_MS = 20_000


def stored_messages(window: MainWindow, conversation_id: int) -> list[MessageRecord]:
    """The conversation's messages as the library has them."""
    assert window.host.orchestrator is not None
    return window.host.orchestrator.conversation_messages(conversation_id)


def ask(qtbot: QtBot, window: MainWindow, question: str) -> AnswerDone:
    view = window.chat_view
    view.input.setPlainText(question)
    with qtbot.waitSignal(window.chat_controller.finished, timeout=ANSWER_TIMEOUT_MS) as done:
        qtbot.keyClick(view.input, Qt.Key.Key_Return)
    answer = done.args[0] if done.args else None
    assert isinstance(answer, AnswerDone)
    return answer


def last_answer(window: MainWindow) -> MessageWidget:
    answers = [m for m in window.chat_view.messages if m.role == "assistant"]
    return answers[-1]


def test_answer_streams_in_with_its_cited_page_and_is_stored(
    qtbot: QtBot, window: MainWindow, lighthouse_pdf: Path
) -> None:
    ingest(qtbot, window.host, [lighthouse_pdf])
    tokens: list[str] = []
    window.chat_controller.token.connect(tokens.append)

    done = ask(qtbot, window, PDF_QUESTION)

    widget = last_answer(window)
    assert len(tokens) > 1
    assert PDF_ANSWER in widget.body.toPlainText()
    assert [s.page for s in widget.sources.sources] == [PDF_ANSWER_PAGE]
    assert widget.sources.chips[0].isVisibleTo(window)
    stored = stored_messages(window, done.conversation_id)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert PDF_ANSWER in stored[1].content
    assert [s.page for s in stored[1].sources] == [PDF_ANSWER_PAGE]


def test_a_source_read_by_ocr_says_so_on_its_chip_also_when_reloaded(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    scan = write_scanned_pdf(
        tmp_path / "ferry.pdf", ["The ferry to the island leaves at noon on Sundays."]
    )
    ingest(qtbot, window.host, [scan])

    done = ask(qtbot, window, "When does the ferry to the island leave?")

    chip = last_answer(window).sources.chips[0]
    assert chip.text().endswith("p. 1 · OCR")
    stored = stored_messages(window, done.conversation_id)[1].sources
    assert [(s.page, s.ocr) for s in stored] == [(1, True)]


def test_streaming_re_renders_only_the_answer_being_written(
    qtbot: QtBot, window: MainWindow
) -> None:
    ask(qtbot, window, "What is the capital of France?")
    earlier = list(window.chat_view.messages)
    renders_before = [m.render_count for m in earlier]
    tokens: list[str] = []
    window.chat_controller.token.connect(tokens.append)

    ask(qtbot, window, "Tell me about lighthouses and their keepers in winter")

    assert [m.render_count for m in earlier] == renders_before
    assert last_answer(window).render_count <= len(tokens) + 2


def test_thinking_streams_then_folds_away_when_the_answer_starts(
    qtbot: QtBot, window: MainWindow
) -> None:
    thoughts: list[str] = []
    window.chat_controller.thinking.connect(thoughts.append)

    ask(qtbot, window, "Why is the sky blue?")

    thinking = last_answer(window).thinking
    assert thoughts
    assert thinking.isVisibleTo(window)
    assert thinking.text.strip()
    assert not thinking.is_open


def test_stop_mid_answer_keeps_the_partial_answer(
    qtbot: QtBot, window: MainWindow, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.token_delay = 0.05
    view = window.chat_view
    view.input.setPlainText("Explain how a lighthouse lens focuses light over long distances")
    tokens: list[str] = []
    window.chat_controller.token.connect(tokens.append)
    qtbot.keyClick(view.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(tokens) >= 2, timeout=ANSWER_TIMEOUT_MS)

    with qtbot.waitSignal(window.chat_controller.finished, timeout=ANSWER_TIMEOUT_MS) as done:
        qtbot.keyClick(view.input, Qt.Key.Key_Escape)

    answer = done.args[0]
    assert answer.interrupted
    assert answer.answer
    widget = last_answer(window)
    assert widget.text == answer.answer
    assert "Stopped" in widget.status.text()
    stored = stored_messages(window, answer.conversation_id)[-1]
    assert stored.status == "interrupted"
    assert stored.content == answer.answer


def test_regenerate_replaces_the_last_answer(qtbot: QtBot, window: MainWindow) -> None:
    first = ask(qtbot, window, "What is a fog horn?")
    widget = last_answer(window)
    assert widget.regenerate_button.isVisibleTo(window)

    with qtbot.waitSignal(window.chat_controller.finished, timeout=ANSWER_TIMEOUT_MS):
        widget.regenerate_button.click()

    stored = stored_messages(window, first.conversation_id)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[0].content == "What is a fog horn?"
    assert len(window.chat_view.messages) == 2


def test_edit_and_resend_replaces_the_last_question(qtbot: QtBot, window: MainWindow) -> None:
    first = ask(qtbot, window, "What is a fog horn?")
    view = window.chat_view
    question = view.messages[0]
    question.edit_button.click()
    qtbot.waitUntil(lambda: view.input.toPlainText() == "What is a fog horn?", timeout=5_000)
    assert view.edit_banner.isVisibleTo(window)

    view.input.setPlainText("What is a radio channel?")
    with qtbot.waitSignal(window.chat_controller.finished, timeout=ANSWER_TIMEOUT_MS):
        qtbot.keyClick(view.input, Qt.Key.Key_Return)

    stored = stored_messages(window, first.conversation_id)
    assert (stored[0].role, stored[0].content) == ("user", "What is a radio channel?")
    assert len(stored) == 2
    assert view.messages[0].text == "What is a radio channel?"


def test_shift_enter_adds_a_line_instead_of_sending(qtbot: QtBot, window: MainWindow) -> None:
    view = window.chat_view
    view.input.setPlainText("first line")
    view.input.moveCursor(view.input.textCursor().MoveOperation.End)
    qtbot.keyClick(view.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)

    assert view.input.toPlainText() == "first line\n"
    assert not window.chat_controller.busy
    assert view.messages == []


def test_clicking_a_source_shows_its_passage_and_opens_the_pdf_at_the_page(
    qtbot: QtBot, window: MainWindow, lighthouse_pdf: Path
) -> None:
    ingest(qtbot, window.host, [lighthouse_pdf])
    ask(qtbot, window, PDF_QUESTION)
    launched: list[Sequence[str]] = []
    window.reader.plan_opening = lambda path, page, **_: plan_opening(
        path, page, platform="linux", which=lambda name: f"/usr/bin/{name}"
    )
    window.reader.launch = lambda argv: launched.append(argv) is None
    strip = last_answer(window).sources

    strip.chips[0].click()
    assert strip.snippet_panel.isVisibleTo(window)
    assert "xenon" in strip.snippet_text.text()
    strip.open_button.click()

    # xdg-open would drop a "#page=3": the viewer itself is told the page.
    assert launched == [
        ("/usr/bin/evince", "--page-index", str(PDF_ANSWER_PAGE), str(lighthouse_pdf.resolve()))
    ]


def test_file_links_in_answers_open_only_after_confirmation(window: MainWindow) -> None:
    view = window.chat_view
    opened: list[QUrl] = []
    asked: list[str] = []
    view.open_url = opened.append
    view.confirm_open_file = lambda path: asked.append(path) is not None  # always "No"

    view.open_link(QUrl("file:///etc/passwd"))
    view.open_link(QUrl("javascript:alert(1)"))
    view.open_link(QUrl("https://ollama.com"))

    assert asked == ["/etc/passwd"]
    assert opened == [QUrl("https://ollama.com")]


def test_new_conversation_uses_the_model_chosen_in_the_header(
    qtbot: QtBot, window: MainWindow
) -> None:
    view = window.chat_view
    qtbot.waitUntil(lambda: view.model_box.findText("llama3.2:latest") >= 0, timeout=10_000)
    view.model_box.setCurrentText("llama3.2:latest")

    done = ask(qtbot, window, "Hello there")

    assert done.model == "llama3.2:latest"
    assert last_answer(window).author.text() == "llama3.2:latest"
