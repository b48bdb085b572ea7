"""The conversation list (a Qt model for the sidebar) and the operations on it."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from allma_desktop.errors import AllmaError

if TYPE_CHECKING:
    from allma_desktop.gui.orchestrator_host import OrchestratorHost
    from allma_desktop.records import CollectionRecord, ConversationRecord, MessageRecord

log = logging.getLogger(__name__)

ConversationIdRole = Qt.ItemDataRole.UserRole + 1
UpdatedRole = Qt.ItemDataRole.UserRole + 2  # "3 min ago", "Yesterday", ...

AnyIndex = QModelIndex | QPersistentModelIndex


class ConversationListModel(QAbstractListModel):
    """Conversations, most recent first. Updated in place, so selection and scroll survive."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[ConversationRecord] = []

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        record = self._rows[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return record.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{record.title}\n{record.message_count} messages"
        if role == ConversationIdRole:
            return record.id
        if role == UpdatedRole:
            return relative_time(record.updated_at)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{record.title}, {relative_time(record.updated_at)}"
        return None

    def conversation_id(self, row: int) -> int | None:
        return self._rows[row].id if 0 <= row < len(self._rows) else None

    def row_of(self, conversation_id: int) -> int | None:
        for row, record in enumerate(self._rows):
            if record.id == conversation_id:
                return row
        return None

    def record(self, row: int) -> ConversationRecord | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def set_rows(self, rows: list[ConversationRecord]) -> None:
        """Replace the contents, emitting the smallest change Qt views need."""
        if [r.id for r in rows] == [r.id for r in self._rows]:
            changed = [
                i for i, (old, new) in enumerate(zip(self._rows, rows, strict=True)) if old != new
            ]
            self._rows = rows
            for row in changed:
                self.dataChanged.emit(self.index(row), self.index(row))
            return
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()


class ConversationsController(QObject):
    """New, rename, delete, search; keeps ``model`` current on ``conversations_changed``."""

    failed = Signal(object)  # AllmaError
    created = Signal(int)  # a new conversation's id
    exported = Signal(object)  # the Path a conversation was exported to

    def __init__(self, host: OrchestratorHost, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._host = host
        self.model = ConversationListModel(self)
        self._filter = ""
        host.events.conversations_changed.connect(self.refresh)
        host.events.engine_ready.connect(self.refresh)

    @property
    def filter_text(self) -> str:
        return self._filter

    def set_filter(self, text: str) -> None:
        self._filter = text.strip()
        self.refresh()

    def refresh(self) -> None:
        orchestrator = self._host.orchestrator
        if orchestrator is None:
            return
        try:
            rows = (
                orchestrator.search_conversations(self._filter)
                if self._filter
                else orchestrator.list_conversations(limit=500)
            )
        except AllmaError as error:
            self.failed.emit(error)
            return
        self.model.set_rows(rows)

    def create(self) -> int | None:
        orchestrator = self._host.orchestrator
        if orchestrator is None:
            return None
        try:
            record = orchestrator.create_conversation()
        except AllmaError as error:
            self.failed.emit(error)
            return None
        self._host.events.conversations_changed.emit()
        self.created.emit(record.id)
        return record.id

    def rename(self, conversation_id: int, title: str) -> None:
        self._mutate(lambda: self._service_rename(conversation_id, title))

    def delete(self, conversation_id: int) -> None:
        self._mutate(lambda: self._service_delete(conversation_id))

    def export_markdown(self, conversation_id: int, target: Path) -> asyncio.Task[None] | None:
        """Write the conversation as Markdown to ``target``; ``exported`` or ``failed`` follows."""
        if self._host.orchestrator is None:
            return None
        return self._host.run(self._export(conversation_id, target))

    async def _export(self, conversation_id: int, target: Path) -> None:
        orchestrator = self._host.orchestrator
        if orchestrator is None:
            return
        try:
            markdown = orchestrator.conversation_markdown(conversation_id)
            # A long chat on a slow disk must not freeze the window.
            await asyncio.to_thread(target.write_text, markdown, encoding="utf-8")
        except AllmaError as error:
            self.failed.emit(error)
            return
        except OSError as error:
            self.failed.emit(
                AllmaError(
                    f"Cannot write {target}: {error.strerror}.", "Pick another file or folder."
                )
            )
            return
        self.exported.emit(target)

    def get(self, conversation_id: int) -> ConversationRecord | None:
        orchestrator = self._host.orchestrator
        if orchestrator is None:
            return None
        try:
            return orchestrator.conversation(conversation_id)
        except AllmaError:
            return None

    def messages(self, conversation_id: int) -> list[MessageRecord]:
        orchestrator = self._host.orchestrator
        if orchestrator is None:
            return []
        try:
            return orchestrator.conversation_messages(conversation_id)
        except AllmaError as error:
            self.failed.emit(error)
            return []

    def collections(self) -> list[CollectionRecord]:
        orchestrator = self._host.orchestrator
        if orchestrator is None:
            return []
        try:
            return orchestrator.collections()
        except AllmaError as error:
            self.failed.emit(error)
            return []

    def set_model(self, conversation_id: int, model: str | None) -> None:
        orchestrator = self._host.orchestrator
        if orchestrator is not None:
            self._mutate(lambda: orchestrator.set_conversation_model(conversation_id, model))

    def set_collection(
        self, conversation_id: int, collection_id: int | None, use_documents: bool
    ) -> None:
        orchestrator = self._host.orchestrator
        if orchestrator is not None:
            self._mutate(
                lambda: orchestrator.set_conversation_collection(
                    conversation_id, collection_id, use_documents=use_documents
                )
            )

    # --- internals ------------------------------------------------------------------

    def _service_rename(self, conversation_id: int, title: str) -> object:
        orchestrator = self._host.orchestrator
        assert orchestrator is not None
        return orchestrator.rename_conversation(conversation_id, title)

    def _service_delete(self, conversation_id: int) -> object:
        orchestrator = self._host.orchestrator
        assert orchestrator is not None
        orchestrator.delete_conversation(conversation_id)
        return None

    def _mutate(self, operation: Any) -> None:
        if self._host.orchestrator is None:
            return
        try:
            operation()
        except AllmaError as error:
            self.failed.emit(error)
            return
        self._host.events.conversations_changed.emit()


def relative_time(moment: datetime, now: datetime | None = None) -> str:
    """'just now', '5 min ago', 'Yesterday', 'Mar 3': how chat apps label recency."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    seconds = (now - moment).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    local_moment, local_now = moment.astimezone(), now.astimezone()
    days = (local_now.date() - local_moment.date()).days
    if days == 0:
        return local_moment.strftime("%H:%M")
    if days == 1:
        return "Yesterday"
    if days < 7:
        return local_moment.strftime("%A")
    if local_moment.year == local_now.year:
        return local_moment.strftime("%b %-d")
    return local_moment.strftime("%b %-d, %Y")
