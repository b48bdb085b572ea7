"""The chat's "what the model reads" choice: Auto, Passages or Whole document, per conversation."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from allma_desktop.gui.main_window import MainWindow
from allma_desktop.gui.widgets.chat_view import NO_DOCUMENTS
from allma_desktop.records import ContextMode
from tests.gui.conftest import ingest
from tests.gui.test_chat import ask
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import PDF_ANSWER_PAGE, PDF_QUESTION


def choose(qtbot: QtBot, window: MainWindow, label: str) -> None:
    box = window.chat_view.context_box
    index = box.findText(label)
    assert index >= 0, label
    box.setCurrentIndex(index)
    box.activated.emit(index)  # as a user's pick does


def last_prompt(server: OllamaTestServer) -> str:
    return str(server.requests_to("/api/chat")[-1].body["messages"][-1]["content"])


def test_the_options_offer_auto_passages_and_whole_document(window: MainWindow) -> None:
    box = window.chat_view.context_box
    assert [box.itemText(i) for i in range(box.count())] == ["Auto", "Passages", "Whole document"]
    assert box.currentText() == "Auto"
    assert "whole documents" in box.toolTip()
    tip = box.itemData(2, Qt.ItemDataRole.ToolTipRole)
    assert "summarise this" in tip


def test_a_new_chat_in_passages_mode_sends_passages_and_keeps_the_choice(
    qtbot: QtBot, window: MainWindow, lighthouse_pdf: Path, ollama_server: OllamaTestServer
) -> None:
    ingest(qtbot, window.host, [lighthouse_pdf])
    choose(qtbot, window, "Passages")
    done = ask(qtbot, window, PDF_QUESTION)
    assert last_prompt(ollama_server).startswith("Sources:")
    assert done.whole_documents == ()
    assert window.host.orchestrator is not None
    record = window.host.orchestrator.conversation(done.conversation_id)
    assert record.context_mode is ContextMode.PASSAGES


def test_choosing_whole_document_in_a_conversation_is_stored_and_shown_again(
    qtbot: QtBot, window: MainWindow, lighthouse_pdf: Path, ollama_server: OllamaTestServer
) -> None:
    ingest(qtbot, window.host, [lighthouse_pdf])
    choose(qtbot, window, "Passages")
    first = ask(qtbot, window, PDF_QUESTION)
    orchestrator = window.host.orchestrator
    assert orchestrator is not None
    qtbot.waitUntil(lambda: not window.chat_controller.busy, timeout=5_000)  # checked, too

    choose(qtbot, window, "Whole document")
    qtbot.waitUntil(
        lambda: orchestrator.conversation(first.conversation_id).context_mode is ContextMode.WHOLE,
        timeout=5_000,
    )
    second = ask(qtbot, window, PDF_QUESTION)
    assert last_prompt(ollama_server).startswith("Documents, page by page:")
    assert second.whole_documents == ("Lighthouse Manual",)
    status = window.chat_view.messages[-1].status
    assert status.isVisibleTo(window) and "Read whole" in status.text()
    assert [s.page for s in second.sources] == [PDF_ANSWER_PAGE]

    window.chat_view.new_chat()
    assert window.chat_view.context_box.currentText() == "Auto"
    window.chat_view.show_conversation(first.conversation_id)
    qtbot.waitUntil(
        lambda: window.chat_view.context_box.currentText() == "Whole document", timeout=5_000
    )
    # Reopened, the answer from the whole document says so again; the one from passages not.
    qtbot.waitUntil(lambda: len(window.chat_view.messages) == 4, timeout=5_000)
    passages_answer, whole_answer = window.chat_view.messages[1], window.chat_view.messages[3]
    assert whole_answer.message_id == second.message_id
    assert whole_answer.status.isVisibleTo(window)
    assert whole_answer.status.text() == "Read whole, page by page: Lighthouse Manual"
    assert "Read whole" not in passages_answer.status.text()


def test_without_documents_there_is_nothing_to_choose(qtbot: QtBot, window: MainWindow) -> None:
    view = window.chat_view
    qtbot.waitUntil(lambda: view.collection_box.findData(NO_DOCUMENTS) >= 0, timeout=5_000)
    index = view.collection_box.findData(NO_DOCUMENTS)
    view.collection_box.setCurrentIndex(index)
    view.collection_box.activated.emit(index)
    assert not view.context_box.isEnabled()
