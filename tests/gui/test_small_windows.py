"""The window holds at 800x600: titles end in "…", the pickers and the sidebar stay readable."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from allma_desktop.gui.main_window import DROP_CUE, SIDEBAR_MIN_WIDTH, MainWindow

LONG_TITLE = "How many watts is the xenon bulb of the lighthouse lamp rated at, and why?"


def test_at_800x600_the_chat_header_elides_its_title_and_keeps_the_pickers_whole(
    qtbot: QtBot, window: MainWindow
) -> None:
    window.resize(800, 600)
    window.chat_view.title.setText(LONG_TITLE)
    qtbot.waitUntil(lambda: window.width() == 800)
    window.chat_view.header.layout().activate()

    title = window.chat_view.title
    assert title.elided_text().endswith("…")
    assert title.toolTip() == LONG_TITLE
    for box in (window.chat_view.model_box, window.chat_view.collection_box):
        assert box.width() >= box.sizeHint().width(), box.currentText()
        assert box.geometry().right() <= window.chat_view.header.width()


def test_at_800x600_the_sidebar_keeps_room_for_conversation_titles(
    qtbot: QtBot, window: MainWindow
) -> None:
    window.resize(800, 600)
    qtbot.waitUntil(lambda: window.width() == 800)

    assert window.sidebar.width() >= SIDEBAR_MIN_WIDTH


def test_dragging_files_over_any_page_says_what_dropping_will_do(window: MainWindow) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile("/docs/lease.pdf")])
    enter = QDragEnterEvent(
        QPointF(200, 200),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, enter)

    assert enter.isAccepted()
    assert window.status.currentMessage() == DROP_CUE
    QApplication.sendEvent(window, QDragLeaveEvent())
    assert window.status.currentMessage() == ""
