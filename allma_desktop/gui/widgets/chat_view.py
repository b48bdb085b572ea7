"""The chat page: header (model, documents), the transcript, and the composer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QKeyEvent, QKeySequence, QResizeEvent, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from allma_desktop.errors import AllmaError
from allma_desktop.gui.widgets.chat_header import ChatHeader
from allma_desktop.gui.widgets.chat_message import MessageWidget
from allma_desktop.gui.widgets.context_meter import ContextMeter
from allma_desktop.gui.widgets.elided_label import ElidedLabel
from allma_desktop.records import ContextMode, whole_documents_note

if TYPE_CHECKING:
    from allma_desktop.events import AnswerChecked, AnswerDone
    from allma_desktop.gui.controllers.chat_controller import ChatController
    from allma_desktop.gui.controllers.conversations_controller import ConversationsController
    from allma_desktop.records import (
        CollectionRecord,
        ContextFit,
        ConversationRecord,
        HealthReport,
        MessageRecord,
    )
    from allma_desktop.sources import Source

NO_DOCUMENTS = -1  # collection combo value: answer without documents
MEASURE_DELAY_MS = 150  # the context meter waits this long for more changes
# ... and this long after "documents changed", which comes every second while files are
# indexed: measuring reads the length of every stored text, so it waits for a pause.
MEASURE_AFTER_DOCUMENTS_MS = 2000
# What the model reads of the documents: (label, mode, tooltip).
CONTEXT_CHOICES = (
    (
        "Auto",
        ContextMode.AUTO,
        "Whole documents, page by page, when they fit in the model's context and the "
        "question matches them; otherwise the passages that match best.",
    ),
    ("Passages", ContextMode.PASSAGES, "Only the passages that match the question best."),
    (
        "Whole document",
        ContextMode.WHOLE,
        "The whole documents, page by page, when they fit in the model's context, for "
        "questions such as “summarise this” or “what is on page 12”. Too long to fit, "
        "a summary is made from summaries of their parts.",
    ),
)


INPUT_PLACEHOLDER = "Ask about your documents…"
INPUT_KEYS_HINT = "  (Enter to send, Shift+Enter for a new line)"


class ChatInput(QPlainTextEdit):
    """Enter sends, Shift+Enter adds a line, Esc stops; grows with its text up to 8 lines.

    Its placeholder names the keys where the box is wide enough to show them whole (a
    placeholder is drawn on one line and cut where the box ends, mid-word).
    """

    submitted = Signal()
    escape_pressed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatInput")
        self.setPlaceholderText(INPUT_PLACEHOLDER + INPUT_KEYS_HINT)
        self.setToolTip("Enter sends, Shift+Enter starts a new line, Esc stops an answer")
        self.setAccessibleName("Message")
        self.setTabChangesFocus(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.document().contentsChanged.connect(self._fit_height)
        self._fit_height()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
            else:
                self.submitted.emit()
            return
        if event.key() == Qt.Key.Key_Escape:
            self.escape_pressed.emit()
            return
        super().keyPressEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:  # Qt's name
        super().resizeEvent(event)
        self._fit_placeholder()

    def _fit_placeholder(self) -> None:
        room = self.viewport().width() - 2 * int(self.document().documentMargin())
        full = INPUT_PLACEHOLDER + INPUT_KEYS_HINT
        fits = self.fontMetrics().horizontalAdvance(full) <= room
        text = full if fits else INPUT_PLACEHOLDER
        if text != self.placeholderText():
            self.setPlaceholderText(text)

    def _fit_height(self) -> None:
        lines = max(1, min(8, int(self.document().size().height())))
        line_height = self.fontMetrics().lineSpacing()
        self.setFixedHeight(lines * line_height + 18)
        # Past eight lines the box stops growing and scrolls instead.
        policy = Qt.ScrollBarPolicy
        overflow = self.document().size().height() > 8
        self.setVerticalScrollBarPolicy(
            policy.ScrollBarAsNeeded if overflow else policy.ScrollBarAlwaysOff
        )


class ChatView(QWidget):
    """Shows one conversation and streams answers into it through a ``ChatController``."""

    conversation_opened = Signal(int)  # the transcript now shows this conversation
    # A citation was clicked: (the answer's sources, the index of the clicked one).
    citation_requested = Signal(object, int)
    viewer_requested = Signal(str, int)  # a source's file and page (0: none), for its viewer

    def __init__(
        self,
        chat: ChatController,
        conversations: ConversationsController,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("chatView")
        self.chat = chat
        self.conversations = conversations
        self.conversation_id: int | None = None
        self.messages: list[MessageWidget] = []
        self._streaming: MessageWidget | None = None
        self._editing_message_id: int | None = None
        self._models: list[str] = []
        # Injected by tests; by default the desktop opens links and asks before opening files.
        self.open_url: Callable[[QUrl], object] = QDesktopServices.openUrl
        self.confirm_open_file: Callable[[str], bool] = self._ask_open_file

        self._build_header()
        self._build_transcript()
        self._build_composer()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.header)
        layout.addWidget(self.scroll_area, 1)
        layout.addWidget(self.composer)

        chat.started.connect(self._on_started)
        chat.sources.connect(self._on_sources)
        chat.thinking.connect(self._on_thinking)
        chat.token.connect(self._on_token)
        chat.finished.connect(self._on_finished)
        chat.checked.connect(self._on_checked)
        chat.failed.connect(self._on_failed)
        chat.busy_changed.connect(self._on_busy)
        chat.context_fit.connect(self._on_context_fit)
        chat.finished.connect(self.measure_context)  # the conversation grew
        events = chat.events
        events.health_changed.connect(self._on_health)
        events.documents_changed.connect(self._measure_after_documents)
        conversations.collections_loaded.connect(self._show_choices)
        conversations.records_updated.connect(self._show_current_title)  # renamed elsewhere
        conversations.records_updated.connect(self._show_context_mode)  # loaded, or changed
        conversations.opened.connect(self._on_opened)
        self._on_busy(False)
        self._show_empty_state(True)

    # --- building ----------------------------------------------------------------

    def _build_header(self) -> None:
        self.title = ElidedLabel("New chat", self)  # "…" on a narrow window
        self.title.setObjectName("chatTitle")
        self.model_box = QComboBox(self)
        self.model_box.setObjectName("modelBox")
        self.model_box.setAccessibleName("Model for this conversation")
        self.model_box.setToolTip("The model that answers in this conversation")
        self.model_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_box.activated.connect(self._on_model_chosen)
        self.collection_box = QComboBox(self)
        self.collection_box.setObjectName("collectionBox")
        self.collection_box.setAccessibleName("Documents to answer from")
        self.collection_box.setToolTip("Which documents this conversation answers from")
        self.collection_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.collection_box.activated.connect(self._on_collection_chosen)
        self.context_box = QComboBox(self)
        self.context_box.setObjectName("contextBox")
        self.context_box.setAccessibleName("What the model reads of the documents")
        for index, (label, mode, tip) in enumerate(CONTEXT_CHOICES):
            self.context_box.addItem(label, mode.value)
            self.context_box.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)
        self.context_box.setToolTip(
            "What the model reads of the documents: the best passages, or whole documents "
            "when they fit in its context"
        )
        self.context_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.context_box.activated.connect(self._on_context_chosen)
        self.context_meter = ContextMeter(self)
        pickers = [self.collection_box, self.context_box, self.context_meter, self.model_box]
        self.header = ChatHeader(self.title, pickers, self)  # one row, or two when narrow
        self.header.setObjectName("chatHeader")
        # Measured again when what it depends on changes; one measure for a burst of changes.
        self._measure_timer = QTimer(self)
        self._measure_timer.setSingleShot(True)
        self._measure_timer.setInterval(MEASURE_DELAY_MS)
        self._measure_timer.timeout.connect(self._measure_context)

    def _build_transcript(self) -> None:
        self.scroll_area = QScrollArea(self)
        self.scroll_area.setObjectName("transcriptScroll")
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.transcript = QWidget(self.scroll_area)
        self.transcript.setObjectName("transcript")
        self._column = QVBoxLayout(self.transcript)
        self._column.setContentsMargins(24, 16, 24, 16)
        self._column.setSpacing(12)
        self.empty_state = QWidget(self.transcript)
        empty = QVBoxLayout(self.empty_state)
        empty.addStretch(1)
        headline = QLabel("What would you like to know?", self.empty_state)
        headline.setObjectName("emptyHeadline")
        headline.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint = QLabel(
            "Ask a question and Allma answers from your documents, citing the page.\n"
            "Drop PDFs, Word files, Markdown or text anywhere on this window to add them.",
            self.empty_state,
        )
        hint.setObjectName("emptyHint")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint.setWordWrap(True)
        empty.addWidget(headline)
        empty.addWidget(hint)
        empty.addStretch(2)
        self._column.addWidget(self.empty_state, 1)
        self._column.addStretch(0)
        self.scroll_area.setWidget(self.transcript)
        self._follow_bottom = True
        bar = self.scroll_area.verticalScrollBar()
        bar.rangeChanged.connect(self._keep_bottom)
        bar.valueChanged.connect(self._track_bottom)

    def _build_composer(self) -> None:
        self.composer = QFrame(self)
        self.composer.setObjectName("composer")
        self.edit_banner = QLabel("Editing your last question — Esc to cancel", self.composer)
        self.edit_banner.setObjectName("editBanner")
        self.edit_banner.hide()
        self.input = ChatInput(self.composer)
        self.input.submitted.connect(self.submit)
        self.input.escape_pressed.connect(self.escape)
        self.send_button = QPushButton("Send", self.composer)
        self.send_button.setObjectName("sendButton")
        self.send_button.setAccessibleName("Send message")
        self.send_button.setToolTip("Send (Enter)")
        self.send_button.clicked.connect(self.submit)
        self.stop_button = QPushButton("Stop", self.composer)
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setAccessibleName("Stop the answer")
        self.stop_button.setToolTip("Stop (Esc)")
        self.stop_button.clicked.connect(self.chat.stop)
        box = QFrame(self.composer)
        box.setObjectName("composerBox")
        row = QHBoxLayout(box)
        row.setContentsMargins(10, 6, 6, 6)
        row.addWidget(self.input, 1)
        row.addWidget(self.send_button, 0, Qt.AlignmentFlag.AlignBottom)
        row.addWidget(self.stop_button, 0, Qt.AlignmentFlag.AlignBottom)
        column = QVBoxLayout(self.composer)
        column.setContentsMargins(24, 8, 24, 16)
        column.setSpacing(4)
        column.addWidget(self.edit_banner)
        column.addWidget(box)
        stop_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        stop_shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        stop_shortcut.activated.connect(self.escape)
        QWidget.setTabOrder(self.input, self.send_button)

    # --- conversations ------------------------------------------------------------

    def show_conversation(self, conversation_id: int | None) -> None:
        """Show a stored conversation (None: a new, empty chat). Built once, not per token."""
        if self.chat.busy and conversation_id != self.conversation_id:
            self.chat.stop()
        self._cancel_edit()
        self._clear()
        self.conversation_id = conversation_id or None
        record = self.conversations.get(conversation_id) if conversation_id else None
        self.title.setText(record.title if record else "New chat")
        if not conversation_id:
            self.context_box.setCurrentIndex(self.context_box.findData(ContextMode.AUTO.value))
        if conversation_id:
            # Loaded off the GUI thread; ``_on_opened`` shows it.
            self.conversations.open(conversation_id)
            self._sync_choices()
            self._update_actions()
            return
        self._show_loaded()

    def _on_opened(self, record: ConversationRecord, messages: list[MessageRecord]) -> None:
        if record.id != self.conversation_id or self.messages:
            return  # another conversation was chosen meanwhile, or this one is shown
        self.title.setText(record.title)
        for message in messages:
            self._add_stored(message)
        self._show_loaded()

    def _show_loaded(self) -> None:
        self._sync_choices()
        self._update_actions()
        self._show_empty_state(not self.messages)
        self._follow_bottom = True
        QTimer.singleShot(0, self, self._scroll_to_bottom)  # not after the view is gone

    def new_chat(self) -> None:
        self.show_conversation(None)
        self.focus_input()

    def focus_input(self) -> None:
        self.input.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _add_stored(self, message: MessageRecord) -> None:
        widget = self._add_message(message.role)
        widget.message_id = message.id
        if message.role == "user":
            widget.set_text(message.content)
            return
        note = ""
        if message.status == "interrupted":
            note = "Stopped — the answer is incomplete."
        elif message.status == "failed":
            note = message.error or "The answer failed."
        elif message.status == "streaming":
            note = "This answer was cut off when Allma closed."
        elif message.whole_documents:
            note = whole_documents_note(message.whole_documents, message.summary_parts)
        widget.author.setText(message.model or "Allma")
        widget.finish(message.content, message.thinking, message.sources, note)
        if message.grounding is not None:
            widget.show_grounding(message.grounding)

    def _add_message(self, role: str) -> MessageWidget:
        widget = MessageWidget(role, self.transcript)
        widget.link_clicked.connect(self.open_link)
        widget.open_source.connect(self.open_source)
        widget.cite_clicked.connect(lambda source, w=widget: self._on_cite(w, source))
        widget.regenerate_requested.connect(self.regenerate)
        widget.edit_requested.connect(self.edit_last_question)
        self._column.insertWidget(self._column.count() - 1, widget)
        self.messages.append(widget)
        self._show_empty_state(False)
        return widget

    def _clear(self) -> None:
        for widget in self.messages:
            widget.deleteLater()
        self.messages = []
        self._streaming = None

    def _show_empty_state(self, empty: bool) -> None:
        self.empty_state.setVisible(empty)
        self._column.setStretch(self._column.count() - 1, 0 if empty else 1)

    # --- sending ------------------------------------------------------------------

    def submit(self) -> None:
        text = self.input.toPlainText().strip()
        if not text or self.chat.busy:
            return
        self.input.clear()
        if self._editing_message_id is not None and self.conversation_id is not None:
            message_id = self._editing_message_id
            self._cancel_edit()
            self._drop_from_last_question()
            self._begin_exchange(text)
            self.chat.edit_and_resend(self.conversation_id, message_id, text)
            return
        self._begin_exchange(text)
        model, collection_id, use_documents = self._choices()
        self.chat.send(
            text,
            self.conversation_id,
            model,
            collection_id,
            use_documents,
            context_mode=self.context_mode(),
        )

    def regenerate(self) -> None:
        if self.conversation_id is None or self.chat.busy:
            return
        question = self._last_widget("user")
        if question is None:
            return
        text = question.text
        self._drop_from_last_question()
        self._begin_exchange(text)
        self.chat.regenerate(self.conversation_id)

    def edit_last_question(self) -> None:
        question = self._last_widget("user")
        if question is None or self.conversation_id is None or self.chat.busy:
            return
        conversation_id = self.conversation_id
        self.conversations.messages(
            conversation_id, lambda stored: self._edit_question(conversation_id, question, stored)
        )

    def _edit_question(
        self, conversation_id: int, question: MessageWidget, stored: list[MessageRecord]
    ) -> None:
        asked = [m for m in stored if m.role == "user"]
        if not asked or conversation_id != self.conversation_id or self.chat.busy:
            return
        self._editing_message_id = asked[-1].id
        self.input.setPlainText(question.text)
        self.edit_banner.show()
        self.focus_input()
        self.input.moveCursor(self.input.textCursor().MoveOperation.End)

    def escape(self) -> None:
        if self.chat.busy:
            self.chat.stop()
        elif self._editing_message_id is not None:
            self._cancel_edit()
            self.input.clear()

    def _cancel_edit(self) -> None:
        self._editing_message_id = None
        self.edit_banner.hide()

    def _begin_exchange(self, text: str) -> None:
        question = self._add_message("user")
        question.set_text(text)
        answer = self._add_message("assistant")
        answer.author.setText(self.model_box.currentText() or "Allma")
        answer.start_streaming()
        self._streaming = answer
        self._follow_bottom = True
        self._update_actions()

    def _drop_from_last_question(self) -> None:
        question = self._last_widget("user")
        if question is None:
            return
        index = self.messages.index(question)
        for widget in self.messages[index:]:
            widget.deleteLater()
        del self.messages[index:]

    def _last_widget(self, role: str) -> MessageWidget | None:
        for widget in reversed(self.messages):
            if widget.role == role:
                return widget
        return None

    def _show_current_title(self) -> None:
        """The open conversation's title as stored (renamed from the sidebar, say)."""
        if self.conversation_id is None:
            return
        record = self.conversations.get(self.conversation_id)
        if record is not None:
            self.title.setText(record.title)

    # --- the stream ---------------------------------------------------------------

    def _on_started(self, conversation_id: int, message_id: int) -> None:
        if self._streaming is not None:
            self._streaming.message_id = message_id
        if self.conversation_id != conversation_id:
            self.conversation_id = conversation_id
            record = self.conversations.get(conversation_id)
            if record is not None:
                self.title.setText(record.title)
            self.conversation_opened.emit(conversation_id)

    def _on_sources(self, sources: Sequence[Source]) -> None:
        if self._streaming is not None and sources:
            count = len(sources)
            self._streaming.set_status(
                f"Read {count} passage{'s' if count != 1 else ''} from your documents…"
            )

    def _on_thinking(self, text: str) -> None:
        if self._streaming is not None:
            self._streaming.set_status("")
            self._streaming.append_thinking(text)

    def _on_token(self, text: str) -> None:
        if self._streaming is not None:
            self._streaming.append_token(text)

    def _on_finished(self, done: AnswerDone) -> None:
        widget = self._streaming
        self._streaming = None
        if widget is None:
            return
        widget.message_id = done.message_id
        note = ""
        if done.error is not None:
            note = done.error.message + (f" {done.error.hint}" if done.error.hint else "")
        elif done.interrupted:
            note = "Stopped — the answer is incomplete."
        elif done.whole_documents:
            note = whole_documents_note(done.whole_documents, done.summary_parts)
        widget.finish(done.answer, done.thinking, done.sources)
        if note:
            widget.set_status(note, error=done.error is not None)
        if done.model:
            widget.author.setText(done.model)
        self._update_actions()

    def _on_checked(self, checked: AnswerChecked) -> None:
        for widget in reversed(self.messages):
            if widget.message_id == checked.message_id:
                widget.show_grounding(checked.grounding)
                return

    def _on_cite(self, widget: MessageWidget, source: Source) -> None:
        sources = widget.sources.sources
        if source in sources:
            self.citation_requested.emit(list(sources), sources.index(source))

    def _on_failed(self, error: AllmaError) -> None:
        widget = self._streaming
        self._streaming = None
        if widget is None:
            widget = self._add_message("assistant")
        widget.finish(widget.text, widget.thinking.text, [])
        widget.set_status(f"{error.message} {error.hint}".strip(), error=True)
        self._update_actions()

    def _on_busy(self, busy: bool) -> None:
        self.send_button.setVisible(not busy)
        self.stop_button.setVisible(busy)
        self.model_box.setEnabled(not busy)
        self.collection_box.setEnabled(not busy)
        self._enable_context_box()
        self._update_actions()

    def _update_actions(self) -> None:
        """Only the last exchange can be regenerated or edited, and not while streaming."""
        busy = self.chat.busy
        last_answer = self._last_widget("assistant")
        last_question = self._last_widget("user")
        for widget in self.messages:
            widget.regenerate_button.setVisible(widget is last_answer and not busy)
            widget.edit_button.setVisible(widget is last_question and not busy)

    # --- links and sources --------------------------------------------------------

    def open_link(self, url: QUrl) -> None:
        """Open http(s) links; file links only after the user agrees; nothing else."""
        scheme = url.scheme().lower()
        if scheme in {"http", "https"} or (
            scheme == "file" and self.confirm_open_file(url.toLocalFile())
        ):
            self.open_url(url)

    def open_source(self, source: Source) -> None:
        self.viewer_requested.emit(source.path, source.page or 0)

    def _ask_open_file(self, path: str) -> bool:
        answer = QMessageBox.question(
            self,
            "Open file?",
            f"The answer links to a file on this computer:\n\n{path}\n\nOpen it?",
        )
        return answer == QMessageBox.StandardButton.Yes

    # --- model and documents ------------------------------------------------------

    def refresh_choices(self, *_: object) -> None:
        """Load the collections again; the picker shows them once they are in."""
        self.conversations.refresh_collections()

    def _show_choices(self, collections: list[CollectionRecord]) -> None:
        self.collection_box.clear()
        for collection in collections:
            # The number the Library's header and the status bar show (library_counts).
            label = f"{collection.name}  ({collection.counts.documents_text})"
            self.collection_box.addItem(label, collection.id)
        self.collection_box.addItem("No documents (just chat)", NO_DOCUMENTS)
        self._sync_choices(measure=False)
        # Loaded again because documents changed (every second while files are indexed):
        # measured after a pause; the first time, at once.
        if self.context_meter.fit is None:
            self.measure_context()
        else:
            self._measure_after_documents()

    def _on_health(self, report: HealthReport) -> None:
        names = list(report.ollama.chat_models)  # as Ollama says: embedding models cannot chat
        if names != self._models:
            self._models = names
            self._sync_choices()

    def _sync_choices(self, *, measure: bool = True) -> None:
        record = self.conversations.get(self.conversation_id) if self.conversation_id else None
        model = (record.model if record else None) or self.chat.default_model
        names = list(self._models)
        if model not in names:
            names.insert(0, model)
        self.model_box.clear()
        self.model_box.addItems(names)
        self.model_box.setCurrentText(model)
        if record is not None and not record.use_documents:
            wanted: int | None = NO_DOCUMENTS
        else:
            wanted = record.collection_id if record else None
        index = self.collection_box.findData(wanted) if wanted is not None else 0
        self.collection_box.setCurrentIndex(max(0, index))
        self._show_context_mode()
        if measure:
            self.measure_context()

    def _show_context_mode(self, *_: object) -> None:
        """The conversation's mode as last loaded; a new chat, or one not loaded yet,
        keeps what is shown (a new chat starts in AUTO: ``show_conversation``)."""
        record = self.conversations.get(self.conversation_id) if self.conversation_id else None
        if record is not None:
            index = self.context_box.findData(record.context_mode.value)
            self.context_box.setCurrentIndex(max(0, index))
        self._enable_context_box()

    def context_mode(self) -> ContextMode:
        """The chosen ``ContextMode`` (what the model reads of the documents)."""
        return ContextMode(str(self.context_box.currentData() or ContextMode.AUTO.value))

    def _enable_context_box(self) -> None:
        # Without documents there is nothing to read whole or in passages.
        uses_documents = self.collection_box.currentData() != NO_DOCUMENTS
        self.context_box.setEnabled(uses_documents and not self.chat.busy)

    def _choices(self) -> tuple[str | None, int | None, bool]:
        model = self.model_box.currentText() or None
        collection = self.collection_box.currentData()
        if collection == NO_DOCUMENTS:
            return model, None, False
        return model, collection if isinstance(collection, int) else None, True

    @property
    def measure_timer(self) -> QTimer:
        """The meter's wait before it measures (short after a choice, longer after the
        documents changed)."""
        return self._measure_timer

    def measure_context(self, *_: object) -> None:
        """Measure again, soon, how much of the model's context the documents take."""
        self._measure_timer.start(MEASURE_DELAY_MS)

    def _measure_after_documents(self) -> None:
        if not self._measure_timer.isActive() or self._measure_timer.interval() > MEASURE_DELAY_MS:
            self._measure_timer.start(MEASURE_AFTER_DOCUMENTS_MS)

    def _measure_context(self) -> None:
        model, collection_id, use_documents = self._choices()
        if not use_documents:
            self.context_meter.show_fit(None)
            return
        self.chat.measure_context(collection_id, model, self.conversation_id)

    def _on_context_fit(self, fit: ContextFit | None) -> None:
        model = self.model_box.currentText() or self.chat.default_model
        _, _, use_documents = self._choices()
        self.context_meter.show_fit(fit if use_documents else None, model)

    def _on_model_chosen(self, _index: int) -> None:
        self.measure_context()
        if self.conversation_id is not None:
            self.conversations.set_model(self.conversation_id, self.model_box.currentText())

    def _on_collection_chosen(self, _index: int) -> None:
        self._enable_context_box()
        self.measure_context()
        if self.conversation_id is not None:
            _, collection_id, use_documents = self._choices()
            self.conversations.set_collection(self.conversation_id, collection_id, use_documents)

    def _on_context_chosen(self, _index: int) -> None:
        if self.conversation_id is not None:
            self.conversations.set_context_mode(self.conversation_id, self.context_mode())

    # --- scrolling ----------------------------------------------------------------

    def _track_bottom(self, value: int) -> None:
        bar = self.scroll_area.verticalScrollBar()
        self._follow_bottom = value >= bar.maximum() - 24

    def _keep_bottom(self, _minimum: int, maximum: int) -> None:
        if self._follow_bottom:
            self.scroll_area.verticalScrollBar().setValue(maximum)

    def _scroll_to_bottom(self) -> None:
        bar = self.scroll_area.verticalScrollBar()
        bar.setValue(bar.maximum())
