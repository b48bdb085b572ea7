"""The chat's "what the model reads" choice: Auto, Passages or Whole document, per conversation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from pytest import MonkeyPatch
from pytestqt.qtbot import QtBot

from allma_desktop.gui.main_window import MainWindow
from allma_desktop.gui.widgets.chat_view import MEASURE_AFTER_DOCUMENTS_MS, NO_DOCUMENTS
from allma_desktop.gui.widgets.context_meter import short_tokens
from allma_desktop.records import ContextFit, ContextMode
from tests.gui.conftest import ingest
from tests.gui.test_chat import ask
from tests.orchestrator.test_whole_documents import long_pdf
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
    # Added to a shown transcript, a widget is shown at the next turn of the event loop.
    qtbot.waitUntil(lambda: whole_answer.status.isVisibleTo(window), timeout=5_000)
    assert whole_answer.status.text() == "Read whole, page by page: Lighthouse Manual"
    assert "Read whole" not in passages_answer.status.text()


def test_without_documents_there_is_nothing_to_choose(qtbot: QtBot, window: MainWindow) -> None:
    view = window.chat_view
    qtbot.waitUntil(lambda: view.collection_box.findData(NO_DOCUMENTS) >= 0, timeout=5_000)
    index = view.collection_box.findData(NO_DOCUMENTS)
    view.collection_box.setCurrentIndex(index)
    view.collection_box.activated.emit(index)
    assert not view.context_box.isEnabled()


def measured(qtbot: QtBot, window: MainWindow, changed: Callable[[ContextFit], bool]) -> ContextFit:
    """The meter's next measure that ``changed`` accepts, after the documents changed (as
    the library announces when it has indexed files)."""
    meter = window.chat_view.context_meter
    window.host.events.documents_changed.emit()

    def settled() -> bool:
        # A measure taken while the file was still being committed (its row there, its
        # text not yet: 0 tokens) can land after the ingest: it is not the one wanted.
        fit = meter.fit
        return fit is not None and fit.tokens > 0 and changed(fit)

    qtbot.waitUntil(settled, timeout=10_000)
    assert meter.fit is not None
    return meter.fit


def test_the_meter_shows_how_much_of_the_context_the_documents_take(
    qtbot: QtBot, window: MainWindow, lighthouse_pdf: Path, tmp_path: Path
) -> None:
    meter = window.chat_view.context_meter
    ingest(qtbot, window.host, [lighthouse_pdf])
    fit = measured(qtbot, window, lambda fit: fit.documents == 1)
    assert meter.isVisibleTo(window) and fit.fits
    assert meter.label.text() == f"{short_tokens(fit.tokens)} / {short_tokens(fit.room)} tokens"
    assert meter.bar.value() == round(100 * fit.share) and 0 < meter.bar.value() < 100
    assert meter.bar.property("over") is False
    tip = meter.toolTip()
    assert f"{fit.tokens:,} tokens of the {fit.room:,}" in tip
    assert "deepseek-r1:latest's context of 8,192" in tip and "It fits" in tip

    # Forty more pages: too long to read whole; a summary is made in parts.
    ingest(qtbot, window.host, [long_pdf(tmp_path)])
    # (a measure from while its pages were being committed would still fit)
    long = measured(qtbot, window, lambda fit: fit.documents == 2 and not fit.fits)
    assert not long.fits and long.summarisable
    assert meter.bar.value() == 100 and meter.bar.property("over") is True
    assert meter.label.property("over") is True
    assert "the 2 documents take" in meter.toolTip()
    assert f"summaries of their parts, about {long.summary_requests}" in meter.toolTip()

    # Without documents there is nothing to measure.
    view = window.chat_view
    index = view.collection_box.findData(NO_DOCUMENTS)
    view.collection_box.setCurrentIndex(index)
    view.collection_box.activated.emit(index)
    qtbot.waitUntil(lambda: not meter.isVisibleTo(window), timeout=5_000)


def test_the_meter_hides_when_the_model_cannot_be_asked(
    qtbot: QtBot, window: MainWindow, lighthouse_pdf: Path, ollama_server: OllamaTestServer
) -> None:
    meter = window.chat_view.context_meter
    ingest(qtbot, window.host, [lighthouse_pdf])
    measured(qtbot, window, lambda fit: fit.documents == 1)
    # A conversation whose model is gone from the server: its context cannot be known.
    orchestrator = window.host.orchestrator
    assert orchestrator is not None
    ollama_server.faults.missing_models = {"gone:latest"}
    record = orchestrator.create_conversation(model="gone:latest", earlier=[("user", "Hello")])
    window.chat_view.show_conversation(record.id)
    qtbot.waitUntil(lambda: window.chat_view.model_box.currentText() == "gone:latest")
    qtbot.waitUntil(lambda: meter.fit is None and not meter.isVisibleTo(window), timeout=10_000)
    assert [m.role for m in window.chat_view.messages] == ["user"]  # nothing said: only a meter


def test_the_meter_counts_tokens_in_a_few_characters() -> None:
    counts = [850, 3_240, 19_903, 999_499, 999_500, 1_240_000]
    assert [short_tokens(c) for c in counts] == ["850", "3.2k", "20k", "999k", "1.0M", "1.2M"]


def test_while_files_are_indexed_the_meter_waits_for_a_pause(
    qtbot: QtBot, window: MainWindow, lighthouse_pdf: Path, monkeypatch: MonkeyPatch
) -> None:
    ingest(qtbot, window.host, [lighthouse_pdf])
    # The first health report names the models, and a new list of models is measured at
    # once (not after a pause): let that happen before the documents keep changing.
    qtbot.waitUntil(lambda: window.health.report is not None, timeout=10_000)
    measured(qtbot, window, lambda fit: fit.documents == 1)
    # Counted where the meter asks, not where answers arrive (an answer to a request made
    # before this point may still be on its way), and only the asks that waited for the
    # documents to settle: a change of the models or choices is measured soon, by design.
    asked: list[object] = []
    controller = window.chat_controller
    measure = controller.measure_context
    timer = window.chat_view.measure_timer

    def counted_measure(*args: object, **kwargs: object) -> None:
        if timer.interval() == MEASURE_AFTER_DOCUMENTS_MS:
            asked.append(args)
        measure(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(controller, "measure_context", counted_measure)
    # "Documents changed" again and again, as the library announces while indexing, each
    # well inside the meter's wait (a tenth of it, so a loaded machine cannot stretch a
    # gap past it).
    spacing_ms = MEASURE_AFTER_DOCUMENTS_MS // 10
    for _ in range(15):  # for longer than the wait: each one has to put the measure off
        window.host.events.documents_changed.emit()
        qtbot.wait(spacing_ms)
    assert asked == []  # not measured while they keep coming
    qtbot.waitUntil(lambda: len(asked) == 1, timeout=10_000)
    qtbot.wait(spacing_ms * 3)
    assert len(asked) == 1  # once, after the pause
