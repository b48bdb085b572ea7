"""The left column: navigation, New chat, search, and the conversation list."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QFont, QKeySequence, QPainter, QPalette, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QMessageBox,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from allma_desktop.gui.controllers.conversations_controller import (
    ConversationIdRole,
    UpdatedRole,
)
from allma_desktop.gui.recent_folders import remember, start_path

if TYPE_CHECKING:
    from PySide6.QtCore import QPersistentModelIndex

    from allma_desktop.errors import AllmaError
    from allma_desktop.gui.controllers.conversations_controller import ConversationsController

PAGES = ("chat", "library", "settings")


class ConversationDelegate(QStyledItemDelegate):
    """Title on the left, "5 min ago" on the right, roomy rows."""

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        size = super().sizeHint(option, index)
        return QSize(size.width(), max(size.height(), option.fontMetrics.height() + 18))

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        when = str(index.data(UpdatedRole) or "")
        title_option = QStyleOptionViewItem(option)
        self.initStyleOption(title_option, index)
        title_option.text = ""
        style = option.widget.style() if option.widget else None
        if style is not None:
            style.drawControl(
                QStyle.ControlElement.CE_ItemViewItem, title_option, painter, option.widget
            )
        painter.save()
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        rect: QRect = option.rect.adjusted(12, 0, -10, 0)
        painter.setFont(smaller_font(option.font))
        painter.setPen(option.palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
        when_width = painter.fontMetrics().horizontalAdvance(when) + 8
        painter.drawText(rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, when)
        painter.setFont(option.font)
        painter.setPen(option.palette.color(role))
        title_rect = rect.adjusted(0, 0, -when_width, 0)
        title = painter.fontMetrics().elidedText(
            str(index.data() or ""), Qt.TextElideMode.ElideRight, title_rect.width()
        )
        painter.drawText(
            title_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, title
        )
        painter.restore()


def smaller_font(font: QFont, ratio: float = 0.85) -> QFont:
    """``font`` at ``ratio`` of its size, for a row's date beside its title.

    The theme gives sizes in pixels, and such a font has no point size (-1): taken from
    it, the date was 7 pt whatever the title's size, tiny beside large text.
    """
    small = QFont(font)
    if font.pointSizeF() > 0:
        small.setPointSizeF(max(7.0, font.pointSizeF() * ratio))
    else:
        small.setPixelSize(max(9, round(font.pixelSize() * ratio)))
    return small


class Sidebar(QFrame):
    """Emits what the user picked; the main window and the controller act on it."""

    page_requested = Signal(str)  # "chat" | "library" | "settings"
    conversation_selected = Signal(int)
    new_chat_requested = Signal()

    def __init__(self, conversations: ConversationsController, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.conversations = conversations
        self.new_chat_button = QPushButton("+  New chat", self)
        self.new_chat_button.setObjectName("newChatButton")
        self.new_chat_button.setAccessibleName("New chat")
        self.new_chat_button.setToolTip("Start a new conversation (Ctrl+N)")
        self.new_chat_button.clicked.connect(self.new_chat_requested)

        self.search = QLineEdit(self)
        self.search.setObjectName("conversationSearch")
        self.search.setPlaceholderText("Search chats  (Ctrl+K)")
        self.search.setAccessibleName("Search conversations")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(conversations.set_filter)

        self.list = QListView(self)
        self.list.setObjectName("conversationList")
        self.list.setAccessibleName("Conversations")
        self.list.setModel(conversations.model)
        self.list.setItemDelegate(ConversationDelegate(self.list))
        self.list.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        self.list.setUniformItemSizes(True)
        self.list.setFrameShape(QFrame.Shape.NoFrame)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.list.clicked.connect(self._on_clicked)
        self.list.activated.connect(self._on_clicked)
        self.empty_label = _muted_label(NO_CONVERSATIONS_TEXT, self)
        self.empty_label.setWordWrap(True)
        self.empty_label.setContentsMargins(7, 2, 4, 0)  # lines up with the caption above
        # Outcome of the last export (or a failed rename/delete): inline, never a modal box.
        self.notice_label = _muted_label("", self)
        self.notice_label.setObjectName("sidebarNotice")
        self.notice_label.setWordWrap(True)
        self.notice_label.setContentsMargins(7, 2, 4, 0)
        self.notice_label.hide()
        conversations.exported.connect(self._show_exported)
        conversations.failed.connect(self._show_failure)

        self.nav_buttons: dict[str, QPushButton] = {}
        nav = QVBoxLayout()
        nav.setSpacing(2)
        for page, label, tip in (
            ("chat", "Chat", "Chat with your documents"),
            ("library", "Library", "Your documents and collections"),
            ("settings", "Settings", "Models, Ollama and appearance (Ctrl+,)"),
        ):
            button = QPushButton(label, self)
            button.setObjectName("navButton")
            button.setCheckable(True)
            button.setAutoExclusive(True)
            button.setToolTip(tip)
            button.setAccessibleName(label)
            button.clicked.connect(lambda _=False, p=page: self.page_requested.emit(p))
            self.nav_buttons[page] = button
            nav.addWidget(button)
        self.nav_buttons["chat"].setChecked(True)

        caption = _muted_label("Conversations", self)
        caption.setObjectName("sidebarCaption")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 12, 10, 10)
        layout.setSpacing(8)
        layout.addWidget(self.new_chat_button)
        layout.addWidget(self.search)
        layout.addWidget(caption)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.notice_label)
        layout.addLayout(nav)

        model = conversations.model
        model.modelReset.connect(self._update_empty)
        model.rowsInserted.connect(self._update_empty)
        model.rowsRemoved.connect(self._update_empty)
        self._selected_id: int | None = None
        model.modelReset.connect(self._restore_selection)
        self._update_empty()

        for key, handler in ((Qt.Key.Key_F2, self.rename), (Qt.Key.Key_Delete, self.delete)):
            shortcut = QShortcut(QKeySequence(key), self.list)
            shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
            shortcut.activated.connect(lambda h=handler: self._on_current(h))

    def set_page(self, page: str) -> None:
        if page in self.nav_buttons:
            self.nav_buttons[page].setChecked(True)

    def select_conversation(self, conversation_id: int | None) -> None:
        """Highlight ``conversation_id`` (None: nothing); emits nothing."""
        self._selected_id = conversation_id
        self._restore_selection()

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def rename(self, conversation_id: int) -> None:
        record = self.conversations.get(conversation_id)
        if record is None:
            return
        title, ok = QInputDialog.getText(self, "Rename chat", "Name:", text=record.title)
        if ok and title.strip():
            self.conversations.rename(conversation_id, title.strip())

    def delete(self, conversation_id: int) -> None:
        record = self.conversations.get(conversation_id)
        if record is None:
            return
        answer = QMessageBox.question(
            self,
            "Delete chat?",
            f"Delete “{record.title}” and all its messages? This cannot be undone.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.conversations.delete(conversation_id)

    def export(self, conversation_id: int) -> None:
        """Ask where to save the conversation as Markdown, then write it there."""
        record = self.conversations.get(conversation_id)
        if record is None:
            return
        suggested = start_path("export_chat", f"{_file_stem(record.title)}.md")
        chosen, _filter = QFileDialog.getSaveFileName(
            self, "Export chat as Markdown", suggested, "Markdown (*.md);;All files (*)"
        )
        if chosen:
            remember("export_chat", chosen)
            self.conversations.export_markdown(conversation_id, Path(chosen))

    def _show_exported(self, target: Path) -> None:
        self.notice_label.setText(f"Exported to {target}")
        self.notice_label.setToolTip(str(target))
        self.notice_label.show()

    def _show_failure(self, error: AllmaError) -> None:
        self.notice_label.setText(f"{error.message} {error.hint}".strip())
        self.notice_label.setToolTip("")
        self.notice_label.show()

    def _on_current(self, action: Callable[[int], None]) -> None:
        conversation_id = self.list.currentIndex().data(ConversationIdRole)
        if isinstance(conversation_id, int):
            action(conversation_id)

    def _on_clicked(self, index: QModelIndex) -> None:
        conversation_id = index.data(ConversationIdRole)
        if isinstance(conversation_id, int):
            self._selected_id = conversation_id
            self.conversation_selected.emit(conversation_id)

    def _restore_selection(self) -> None:
        model = self.conversations.model
        row = model.row_of(self._selected_id) if self._selected_id is not None else None
        selection = self.list.selectionModel()
        if row is None:
            selection.clearSelection()
            return
        index = model.index(row)
        selection.setCurrentIndex(index, selection.SelectionFlag.ClearAndSelect)

    def _update_empty(self) -> None:
        empty = self.conversations.model.rowCount() == 0
        if self.conversations.filter_text:
            self.empty_label.setText("No chats match your search")
        else:
            self.empty_label.setText(NO_CONVERSATIONS_TEXT)
        self.empty_label.setVisible(empty)

    def _context_menu(self, position: QPoint) -> None:
        index = self.list.indexAt(position)
        conversation_id = index.data(ConversationIdRole) if index.isValid() else None
        if not isinstance(conversation_id, int):
            return
        menu = QMenu(self)
        menu.addAction("Rename…", lambda: self.rename(conversation_id))
        menu.addAction("Export as Markdown…", lambda: self.export(conversation_id))
        menu.addAction("Delete…", lambda: self.delete(conversation_id))
        menu.exec(self.list.viewport().mapToGlobal(position))


NO_CONVERSATIONS_TEXT = "No conversations yet. Ask a question and it appears here."


def _file_stem(title: str) -> str:
    """A file name from a chat title: no path separators or characters file systems refuse."""
    stem = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', " ", title).strip(" .")
    return stem[:80] or "chat"


def _muted_label(text: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setObjectName("mutedLabel")
    return label
