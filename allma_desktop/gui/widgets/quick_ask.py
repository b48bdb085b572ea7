"""Quick ask: a small frameless popup that answers from the library, with its sources.

Opened from the tray, with the quick-ask key (from any program where the platform allows:
``gui/global_shortcut.py``) or ``allma-desktop --quick-ask``; Esc closes it and "Continue
in the app" opens the conversation in the main window. Each opening starts empty, ready
for a new question; the last answer comes back only when asked for ("Show the last
answer"), and a question asked then follows it up in the same conversation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QGuiApplication, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsDropShadowEffect,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from allma_desktop.gui.theme import POPUP_SHADOW, app_icon

if TYPE_CHECKING:
    from allma_desktop.errors import AllmaError
    from allma_desktop.events import AnswerDone
    from allma_desktop.gui.app_events import AppEvents
    from allma_desktop.gui.controllers.chat_controller import ChatController
    from allma_desktop.sources import Source

RENDER_INTERVAL_MS = 60  # re-render the streaming answer at most this often
POPUP_WIDTH = 620
QUESTION_HEIGHT = 150  # the question alone
ANSWER_HEIGHT = 440  # with an answer under it
READY_TEXT = "Answers come from your library, with sources."
FOLLOW_UP_TEXT = "Ask a follow-up, or continue in the app."
QUESTION_PLACEHOLDER = "Ask a question about your documents…"
FOLLOW_UP_PLACEHOLDER = "Ask a follow-up…"


def source_label(source: Source) -> str:
    page = f", p. {source.page}" if source.page is not None else ""
    return f"[{source.number}] {source.name}{page}"


def translucency_is_drawn(platform: str) -> bool:
    """Whether a see-through window shows as such: always on Wayland, Windows and macOS;
    on X11 only while a compositing manager runs (asked of the X server: Qt cannot say)."""
    if platform != "xcb":
        return True
    from allma_desktop.gui.xlib import compositor_running

    return compositor_running()


class QuickAskWindow(QWidget):
    def __init__(
        self,
        chat_controller_factory: Callable[[], ChatController],
        events: AppEvents,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._factory = chat_controller_factory
        self._events = events
        self._controller: ChatController | None = None
        self.conversation_id: int | None = None  # the last question's, for Continue
        self._answer = ""  # the last answer, as far as it has come
        self._sources: tuple[Source, ...] = ()
        self._showing = False  # the last answer is on screen (asked in this opening, or shown)
        self._waiting: str | None = None  # asked while the last answer was still coming
        self._waiting_conversation: int | None = None
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(RENDER_INTERVAL_MS)
        self._render_timer.timeout.connect(self._render)
        self.setWindowFlags(
            Qt.WindowType.Tool
            | Qt.WindowType.FramelessWindowHint
            | Qt.WindowType.WindowStaysOnTopHint
        )
        # Rounded corners need a see-through window, which only a compositor draws: on X11
        # without one the corners showed as a black box. Square corners there.
        if translucency_is_drawn(QGuiApplication.platformName()):
            self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
        self.setWindowTitle("Quick ask · Allma")
        self.setWindowIcon(app_icon())
        self._build()
        close = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        close.activated.connect(self.close)

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 16, 16, 16)
        self.card = QFrame(self)
        self.card.setObjectName("quickAskCard")
        shadow = QGraphicsDropShadowEffect(self.card)
        shadow.setBlurRadius(28)
        shadow.setOffset(0, 6)
        shadow.setColor(QColor(POPUP_SHADOW))
        self.card.setGraphicsEffect(shadow)
        outer.addWidget(self.card)
        layout = QVBoxLayout(self.card)
        layout.setContentsMargins(16, 14, 16, 14)
        layout.setSpacing(10)

        header = QHBoxLayout()
        icon = QLabel(self.card)
        icon.setPixmap(app_icon().pixmap(18, 18))
        title = QLabel("Ask your library", self.card)
        title.setObjectName("cardTitle")
        hint = QLabel("Esc to close", self.card)
        hint.setObjectName("fieldHint")
        header.addWidget(icon)
        header.addWidget(title)
        header.addStretch(1)
        header.addWidget(hint)
        layout.addLayout(header)

        self.input = QLineEdit(self.card)
        self.input.setObjectName("quickAskInput")
        self.input.setPlaceholderText(QUESTION_PLACEHOLDER)
        self.input.returnPressed.connect(self.ask)
        layout.addWidget(self.input)

        self.answer_view = QTextBrowser(self.card)
        self.answer_view.setObjectName("quickAskAnswer")
        self.answer_view.setOpenExternalLinks(True)
        self.answer_view.setMinimumHeight(160)
        self.answer_view.hide()
        layout.addWidget(self.answer_view, 1)

        self.sources_label = QLabel("", self.card)
        self.sources_label.setObjectName("quickAskSources")
        self.sources_label.setWordWrap(True)
        self.sources_label.hide()
        layout.addWidget(self.sources_label)

        footer = QHBoxLayout()
        self.status_label = QLabel(READY_TEXT, self.card)
        self.status_label.setObjectName("fieldHint")
        self.last_answer_button = QPushButton("Show the last answer", self.card)
        self.last_answer_button.setObjectName("linkButton")
        self.last_answer_button.setFlat(True)
        self.last_answer_button.setToolTip("Bring back the previous answer, to follow it up")
        self.last_answer_button.clicked.connect(self.show_last_answer)
        self.last_answer_button.hide()
        self.continue_button = QPushButton("Continue in the app", self.card)
        self.continue_button.setObjectName("accentButton")
        self.continue_button.setEnabled(False)
        self.continue_button.clicked.connect(self.continue_in_app)
        footer.addWidget(self.status_label, 1)
        footer.addWidget(self.last_answer_button)
        footer.addWidget(self.continue_button)
        layout.addLayout(footer)
        self.resize(POPUP_WIDTH, 150)

    # --- actions ----------------------------------------------------------------------

    def open_popup(self) -> None:
        """Show centred near the top of the screen, ready to type."""
        self.start_over()
        screen = QGuiApplication.screenAt(self.cursor().pos()) or QGuiApplication.primaryScreen()
        if screen is not None:
            area = screen.availableGeometry()
            self.move(area.center().x() - self.width() // 2, area.top() + area.height() // 5)
        self.show()
        self.raise_()
        self.activateWindow()
        self.input.setFocus(Qt.FocusReason.PopupFocusReason)

    def start_over(self) -> None:
        """Empty, ready for a new question (in a new conversation); the last answer is kept
        for "Show the last answer", and goes on arriving if it is still being written."""
        self._showing = False
        self.input.clear()
        self.input.setPlaceholderText(QUESTION_PLACEHOLDER)
        self.answer_view.clear()
        self.answer_view.hide()
        self.sources_label.hide()
        self.continue_button.setEnabled(False)
        self.status_label.setText(READY_TEXT)
        self.last_answer_button.setVisible(self.conversation_id is not None or bool(self._answer))
        self._fit(QUESTION_HEIGHT)

    def _fit(self, height: int) -> None:
        """The popup's size for what it shows now (the layout first learns what is hidden:
        else the answer it showed before keeps it tall)."""
        for layout in (self.card.layout(), self.layout()):
            if layout is not None:
                layout.invalidate()
                layout.activate()
        least = self.minimumSizeHint()
        self.resize(max(POPUP_WIDTH, least.width()), max(height, least.height()))

    def show_last_answer(self) -> None:
        """The previous answer back on screen; a question now follows it up."""
        self._showing = True
        self.last_answer_button.hide()
        self.answer_view.show()
        self._render()
        self._show_sources(self._sources)
        self.continue_button.setEnabled(self.conversation_id is not None)
        busy = self._controller is not None and self._controller.busy
        self.status_label.setText("Writing the answer…" if busy else FOLLOW_UP_TEXT)
        self.input.setPlaceholderText(FOLLOW_UP_PLACEHOLDER)
        self._fit(ANSWER_HEIGHT)
        self.input.setFocus(Qt.FocusReason.OtherFocusReason)

    def ask(self) -> None:
        text = self.input.text().strip()
        if not text:
            return
        controller = self._chat()
        # A follow-up continues the answer on screen; otherwise a new conversation.
        follow_up = self._showing and self.conversation_id is not None
        conversation_id = self.conversation_id if follow_up else None
        self._showing = True
        self._answer = ""
        self._sources = ()
        self.last_answer_button.hide()
        self.answer_view.setPlainText("")
        self.answer_view.show()
        self.sources_label.hide()
        self.continue_button.setEnabled(False)
        self.status_label.setText("Searching your library…")
        self._fit(ANSWER_HEIGHT)
        if controller.busy:
            # The answer left behind is still coming: stop it (what it wrote is kept in
            # its conversation), then ask.
            self._waiting = text
            self._waiting_conversation = conversation_id
            controller.stop()
            return
        if not follow_up:
            self.conversation_id = None
        controller.send(text, conversation_id, use_documents=True)

    def continue_in_app(self) -> None:
        if self.conversation_id is None:
            return
        self._events.open_conversation.emit(self.conversation_id)
        self.close()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.close()
            return
        super().keyPressEvent(event)

    # --- the answer ----------------------------------------------------------------------

    def _chat(self) -> ChatController:
        if self._controller is None:
            controller = self._factory()
            controller.setParent(self)
            controller.started.connect(self._on_started)
            controller.sources.connect(self._on_sources)
            controller.thinking.connect(self._on_thinking)
            controller.token.connect(self._on_token)
            controller.finished.connect(self._on_finished)
            controller.failed.connect(self._on_failed)
            controller.busy_changed.connect(self._on_busy_changed)
            self._controller = controller
        return self._controller

    def _on_busy_changed(self, busy: bool) -> None:
        if busy or self._waiting is None or self._controller is None:
            return
        text, self._waiting = self._waiting, None
        conversation_id = self._waiting_conversation
        if conversation_id is None:
            self.conversation_id = None
        self._answer = ""
        self._sources = ()
        self.answer_view.setPlainText("")
        self._controller.send(text, conversation_id, use_documents=True)

    def _on_started(self, conversation_id: int, _message_id: int) -> None:
        self.conversation_id = conversation_id
        self.continue_button.setEnabled(self._showing)

    def _on_sources(self, sources: tuple[Source, ...]) -> None:
        if self._waiting is not None:
            return  # the stopped answer's last words: not this question's
        self._sources = sources
        if self._showing:
            self._show_sources(sources)
            self.status_label.setText("Writing the answer…")

    def _on_thinking(self, _text: str) -> None:
        if not self._answer and self._showing and self._waiting is None:
            self.status_label.setText("Thinking…")

    def _on_token(self, text: str) -> None:
        if self._waiting is not None:
            return
        self._answer += text
        if self._showing and not self._render_timer.isActive():
            self._render_timer.start()

    def _render(self) -> None:
        if self._showing:
            self.answer_view.setMarkdown(self._answer)

    def _on_finished(self, done: AnswerDone) -> None:
        if self._waiting is not None:
            return  # the answer stopped for the new question
        self._render_timer.stop()
        self._answer = done.answer or self._answer
        self._sources = done.sources
        if not self._showing:
            self.last_answer_button.show()  # finished while the popup showed a fresh start
            return
        self._render()
        self._show_sources(done.sources)
        self.continue_button.setEnabled(self.conversation_id is not None)
        if done.error is not None:
            self.status_label.setText(done.error.message)
        else:
            self.status_label.setText(FOLLOW_UP_TEXT)
        self.input.clear()
        self.input.setPlaceholderText(FOLLOW_UP_PLACEHOLDER)

    def _on_failed(self, error: AllmaError) -> None:
        if self._waiting is not None:
            return  # the answer stopped for the new question
        self._render_timer.stop()
        self._answer = f"{error.message}\n\n{error.hint}".strip()
        if not self._showing:
            return
        self.answer_view.show()
        self.answer_view.setPlainText(self._answer)
        self.status_label.setText("The question could not be answered.")

    def _show_sources(self, sources: tuple[Source, ...]) -> None:
        if not sources:
            self.sources_label.hide()
            return
        self.sources_label.setText("Sources: " + "  ·  ".join(source_label(s) for s in sources))
        self.sources_label.show()


__all__ = ["QuickAskWindow", "source_label"]
