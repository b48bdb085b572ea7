"""The conversation list: new, rename, delete, search, most recent first."""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox
from pytest import MonkeyPatch
from pytestqt.qtbot import QtBot

from allma_desktop.gui.main_window import MainWindow
from allma_desktop.records import ConversationRecord


def titles(window: MainWindow) -> list[str]:
    model = window.conversations.model
    return [str(model.index(row).data()) for row in range(model.rowCount())]


WAIT_MS = 10_000
STALL_SECONDS = 60.0  # the stalled read outlasts any wait of the test: it ends when told


def make_conversations(qtbot: QtBot, window: MainWindow, *names: str) -> list[int]:
    assert window.host.orchestrator is not None
    service = window.host.orchestrator.conversations
    ids = [service.create(title=name).id for name in names]
    window.host.events.conversations_changed.emit()
    qtbot.waitUntil(lambda: len(titles(window)) == len(names), timeout=WAIT_MS)
    return ids


def test_conversations_are_listed_most_recent_first(qtbot: QtBot, window: MainWindow) -> None:
    make_conversations(qtbot, window, "Oldest", "Middle", "Newest")

    assert titles(window) == ["Newest", "Middle", "Oldest"]


def test_new_chat_shortcut_clears_the_chat_and_the_first_question_adds_it_on_top(
    qtbot: QtBot, window: MainWindow
) -> None:
    make_conversations(qtbot, window, "Earlier chat")
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.chat_view.conversation_id is None

    window.chat_view.input.setPlainText("Lighthouse keepers")
    with qtbot.waitSignal(window.chat_controller.finished, timeout=20_000):
        qtbot.keyClick(window.chat_view.input, Qt.Key.Key_Return)

    qtbot.waitUntil(lambda: titles(window)[0] == "Lighthouse keepers", timeout=WAIT_MS)
    selected = window.sidebar.list.currentIndex()
    assert selected.row() == 0
    assert window.sidebar.list.selectionModel().isSelected(selected)


def test_renaming_a_conversation_updates_its_row(
    qtbot: QtBot, window: MainWindow, monkeypatch: MonkeyPatch
) -> None:
    (conversation_id,) = make_conversations(qtbot, window, "Untitled")
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Harbor notes", True))

    window.sidebar.rename(conversation_id)

    qtbot.waitUntil(lambda: titles(window) == ["Harbor notes"], timeout=WAIT_MS)


def test_deleting_the_open_conversation_removes_it_and_shows_a_new_chat(
    qtbot: QtBot, window: MainWindow, monkeypatch: MonkeyPatch
) -> None:
    _, doomed = make_conversations(qtbot, window, "Keep me", "Delete me")
    window.open_conversation(doomed)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)

    window.sidebar.delete(doomed)

    qtbot.waitUntil(lambda: titles(window) == ["Keep me"], timeout=WAIT_MS)
    assert window.chat_view.conversation_id is None


def test_search_filters_conversations_by_title(qtbot: QtBot, window: MainWindow) -> None:
    make_conversations(qtbot, window, "Lighthouse lamp", "Greenhouse tomatoes", "Lighthouse staff")
    qtbot.keyClick(window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert window.sidebar.search.hasFocus() or not window.isActiveWindow()

    qtbot.keyClicks(window.sidebar.search, "lighthouse")

    qtbot.waitUntil(
        lambda: titles(window) == ["Lighthouse staff", "Lighthouse lamp"], timeout=WAIT_MS
    )
    window.sidebar.search.clear()
    qtbot.waitUntil(lambda: len(titles(window)) == 3, timeout=WAIT_MS)


def test_selecting_a_conversation_shows_its_messages(qtbot: QtBot, window: MainWindow) -> None:
    view = window.chat_view
    view.input.setPlainText("What is a fog horn?")
    with qtbot.waitSignal(window.chat_controller.finished, timeout=20_000):
        qtbot.keyClick(view.input, Qt.Key.Key_Return)
    window.new_chat()
    assert view.messages == []

    index = window.conversations.model.index(0)
    window.sidebar.list.clicked.emit(index)

    qtbot.waitUntil(lambda: len(view.messages) == 2, timeout=WAIT_MS)
    assert [m.role for m in view.messages] == ["user", "assistant"]
    assert view.messages[0].text == "What is a fog horn?"


def test_renaming_the_open_chat_updates_its_header(qtbot: QtBot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.conversations.created, timeout=WAIT_MS) as created:
        window.conversations.create()
    conversation_id = created.args[0]
    window.open_conversation(conversation_id)

    window.conversations.rename(conversation_id, "Lamp questions")

    qtbot.waitUntil(lambda: window.chat_view.title.text() == "Lamp questions", timeout=WAIT_MS)


def test_a_rename_landing_while_the_chat_opens_is_not_undone_by_the_slower_open(
    qtbot: QtBot, window: MainWindow, monkeypatch: MonkeyPatch
) -> None:
    (conversation_id,) = make_conversations(qtbot, window, "Untitled")
    assert window.host.orchestrator is not None
    orchestrator = window.host.orchestrator
    read_conversation = orchestrator.conversation
    renamed = threading.Event()

    def read_then_stall(wanted: int) -> ConversationRecord:
        record = read_conversation(wanted)  # the title before the rename
        renamed.wait(timeout=STALL_SECONDS)  # come back only after the rename has
        return record

    def rename_known() -> bool:
        record = window.conversations.get(conversation_id)
        return record is not None and record.title == "Lamp questions"

    monkeypatch.setattr(orchestrator, "conversation", read_then_stall)
    try:
        window.open_conversation(conversation_id)
        window.conversations.rename(conversation_id, "Lamp questions")
        qtbot.waitUntil(rename_known, timeout=WAIT_MS)
        with qtbot.waitSignal(window.conversations.opened, timeout=WAIT_MS):
            renamed.set()
    finally:
        renamed.set()  # never leave the stalled read holding a worker thread

    assert window.chat_view.title.text() == "Lamp questions"
    assert titles(window) == ["Lamp questions"]


def stall_list_reloads(window: MainWindow, monkeypatch: MonkeyPatch) -> threading.Event:
    """Hold every reload of the list until the returned event is set."""
    assert window.host.orchestrator is not None
    orchestrator = window.host.orchestrator
    list_conversations = orchestrator.list_conversations
    release = threading.Event()

    def stalled_list(limit: int) -> list[ConversationRecord]:
        release.wait(timeout=STALL_SECONDS)
        return list_conversations(limit=limit)

    monkeypatch.setattr(orchestrator, "list_conversations", stalled_list)
    return release


def test_a_rename_shows_in_the_list_before_the_list_reloads(
    qtbot: QtBot, window: MainWindow, monkeypatch: MonkeyPatch
) -> None:
    (conversation_id,) = make_conversations(qtbot, window, "Untitled")

    def rename_known() -> bool:
        record = window.conversations.get(conversation_id)
        return record is not None and record.title == "Lamp questions"

    release = stall_list_reloads(window, monkeypatch)
    try:
        window.conversations.rename(conversation_id, "Lamp questions")
        qtbot.waitUntil(rename_known, timeout=WAIT_MS)
        assert titles(window) == ["Lamp questions"]
    finally:
        release.set()


def test_a_delete_shows_in_the_list_before_the_list_reloads(
    qtbot: QtBot, window: MainWindow, monkeypatch: MonkeyPatch
) -> None:
    _, doomed = make_conversations(qtbot, window, "Keep me", "Delete me")

    release = stall_list_reloads(window, monkeypatch)
    try:
        with qtbot.waitSignal(window.conversations.deleted, timeout=WAIT_MS):
            window.conversations.delete(doomed)
        assert titles(window) == ["Keep me"]
    finally:
        release.set()
