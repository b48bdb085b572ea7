"""The conversation list (a Qt model for the sidebar) and the operations on it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
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
from allma_desktop.gui.ops import op

if TYPE_CHECKING:
    from allma_desktop.gui.orchestrator_host import OrchestratorHost
    from allma_desktop.orchestrator import Orchestrator
    from allma_desktop.records import (
        CollectionRecord,
        ContextMode,
        ConversationRecord,
        MessageRecord,
    )

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

    def replace_record(self, record: ConversationRecord) -> None:
        """Show ``record`` in place of the listed row with its id (none listed: no change)."""
        row = self.row_of(record.id)
        if row is not None and self._rows[row] != record:
            self._rows[row] = record
            self.dataChanged.emit(self.index(row), self.index(row))

    def remove_conversation(self, conversation_id: int) -> None:
        row = self.row_of(conversation_id)
        if row is not None:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            self.endRemoveRows()

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
    """New, rename, delete, search; keeps ``model`` current on ``conversations_changed``.

    Every read and write runs off the GUI thread (``gui/ops.py``). The records the list
    has loaded are kept, so ``get`` answers at once; ``open`` loads a conversation with
    its messages and ``opened`` delivers them.
    """

    failed = Signal(object)  # AllmaError
    created = Signal(int)  # a new conversation's id
    exported = Signal(object)  # the Path a conversation was exported to
    opened = Signal(object, object)  # ConversationRecord, list[MessageRecord]
    deleted = Signal(int)  # a conversation that is gone (deleted here or elsewhere)
    collections_loaded = Signal(object)  # list[CollectionRecord], for the chat's picker
    records_updated = Signal()  # ``get`` may answer differently now (a title changed)

    def __init__(self, host: OrchestratorHost, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._host = host
        self.model = ConversationListModel(self)
        self._filter = ""
        self._records: dict[int, ConversationRecord] = {}
        self._collections: list[CollectionRecord] = []
        self._refresh_generation = 0
        self._open_generation = 0
        # Reads and writes run concurrently, so a read begun before a rename can come back
        # after it: a clock tick per read start and per write result lets ``_fresher``
        # keep the written record over such a stale read.
        self._clock = 0
        self._written_at: dict[int, int] = {}
        host.events.conversations_changed.connect(self.refresh)
        host.events.engine_ready.connect(self.refresh)
        host.events.engine_ready.connect(self.refresh_collections)
        host.events.documents_changed.connect(self.refresh_collections)
        if host.ready:
            self.refresh()
            self.refresh_collections()

    @property
    def filter_text(self) -> str:
        return self._filter

    def set_filter(self, text: str) -> None:
        self._filter = text.strip()
        self.refresh()

    def refresh(self) -> None:
        """Reload the list (the filter's matches, or the most recent conversations)."""
        self._refresh_generation += 1
        generation, text, started = self._refresh_generation, self._filter, self._tick()

        def rows(o: Orchestrator) -> list[ConversationRecord]:
            return o.search_conversations(text) if text else o.list_conversations(limit=LISTED)

        op(self._host, rows, description="Loading the conversations").success(
            lambda found: self._show_rows(generation, text, started, found)
        ).failure(self.failed.emit).quiet_when_closed().run()

    def _show_rows(
        self, generation: int, text: str, started: int, rows: list[ConversationRecord]
    ) -> None:
        if generation != self._refresh_generation:
            return  # a later refresh (the user typed on) is on its way
        rows = [self._fresher(row, started) for row in rows]
        if not text and len(rows) < LISTED:
            # Every conversation there is: those not among them are gone.
            gone = set(self._records) - {r.id for r in rows}
            for conversation_id in gone:
                del self._records[conversation_id]
                self.deleted.emit(conversation_id)
        self._records.update((r.id, r) for r in rows)
        self.model.set_rows(rows)
        self.records_updated.emit()

    def create(self) -> None:
        """A new, empty conversation; ``created`` follows with its id."""
        op(
            self._host,
            lambda o: o.create_conversation(),
            changes=("conversations",),
            description="Creating a conversation",
        ).success(self._on_created).failure(self.failed.emit).run()

    def _on_created(self, record: ConversationRecord) -> None:
        self._remember(record)
        self.created.emit(record.id)

    def rename(self, conversation_id: int, title: str) -> None:
        self._update(lambda o: o.rename_conversation(conversation_id, title), "Renaming")

    def delete(self, conversation_id: int) -> None:
        op(
            self._host,
            lambda o: o.delete_conversation(conversation_id),
            changes=("conversations",),
            description="Deleting the conversation",
        ).success(lambda _none: self._forget(conversation_id)).failure(self.failed.emit).run()

    def _forget(self, conversation_id: int) -> None:
        self.model.remove_conversation(conversation_id)  # gone from the list at once
        if self._records.pop(conversation_id, None) is not None:
            self.deleted.emit(conversation_id)

    def export_markdown(self, conversation_id: int, target: Path) -> asyncio.Task[None] | None:
        """Write the conversation as Markdown to ``target``; ``exported`` or ``failed`` follows."""

        def export(o: Orchestrator) -> Path:
            markdown = o.conversation_markdown(conversation_id)
            try:
                target.write_text(markdown, encoding="utf-8")
            except OSError as error:
                raise AllmaError(
                    f"Cannot write {target}: {error.strerror}.", "Pick another file or folder."
                ) from error
            return target

        return (
            op(self._host, export, description="Exporting the conversation")
            .success(self.exported.emit)
            .failure(self.failed.emit)
            .quiet_when_closed()
            .run()
        )

    def get(self, conversation_id: int) -> ConversationRecord | None:
        """The conversation as last loaded (None: not known, or deleted). No database read."""
        return self._records.get(conversation_id)

    def open(self, conversation_id: int) -> None:
        """Load a conversation and its messages; ``opened`` follows (``failed`` if gone)."""
        self._open_generation += 1
        generation, started = self._open_generation, self._tick()

        def load(o: Orchestrator) -> tuple[ConversationRecord, list[MessageRecord]]:
            return o.conversation(conversation_id), o.conversation_messages(conversation_id)

        op(self._host, load, description="Opening the conversation").success(
            lambda loaded: self._on_opened(generation, started, *loaded)
        ).failure(self.failed.emit).run()

    def _on_opened(
        self,
        generation: int,
        started: int,
        record: ConversationRecord,
        messages: list[MessageRecord],
    ) -> None:
        record = self._fresher(record, started)
        self._records[record.id] = record
        self.records_updated.emit()
        if generation == self._open_generation:
            self.opened.emit(record, messages)

    def messages(self, conversation_id: int, then: Callable[[list[MessageRecord]], object]) -> None:
        """Load the conversation's messages, oldest first, and call ``then`` with them."""
        op(
            self._host,
            lambda o: o.conversation_messages(conversation_id),
            description="Loading the messages",
        ).success(then).failure(self.failed.emit).run()

    def collections(self) -> list[CollectionRecord]:
        """The collections as last loaded (``collections_loaded`` says when they change)."""
        return list(self._collections)

    def refresh_collections(self, *_: object) -> None:
        op(self._host, lambda o: o.collections(), description="Loading the collections").success(
            self._on_collections
        ).failure(self.failed.emit).quiet_when_closed().run()

    def _on_collections(self, collections: list[CollectionRecord]) -> None:
        self._collections = collections
        self.collections_loaded.emit(self.collections())

    def set_model(self, conversation_id: int, model: str | None) -> None:
        self._update(lambda o: o.set_conversation_model(conversation_id, model), "Saving")

    def set_collection(
        self, conversation_id: int, collection_id: int | None, use_documents: bool
    ) -> None:
        self._update(
            lambda o: o.set_conversation_collection(
                conversation_id, collection_id, use_documents=use_documents
            ),
            "Saving",
        )

    def set_context_mode(self, conversation_id: int, mode: ContextMode) -> None:
        self._update(lambda o: o.set_conversation_context_mode(conversation_id, mode), "Saving")

    # --- internals ------------------------------------------------------------------

    def _update(self, call: Callable[[Orchestrator], ConversationRecord], doing: str) -> None:
        op(
            self._host,
            call,
            changes=("conversations",),
            description=f"{doing} the conversation",
        ).success(self._remember).failure(self.failed.emit).run()

    def _remember(self, record: ConversationRecord) -> None:
        """A record a write returned: the newest there is, whatever reads are under way."""
        self._written_at[record.id] = self._tick()
        self._records[record.id] = record
        # The list shows it now, not when the reload that the write set off comes back.
        self.model.replace_record(record)
        self.records_updated.emit()

    def _fresher(self, read: ConversationRecord, started: int) -> ConversationRecord:
        """``read`` unless a write to it came back after the read began (then the written one)."""
        if self._written_at.get(read.id, -1) > started:
            return self._records.get(read.id, read)
        return read

    def _tick(self) -> int:
        self._clock += 1
        return self._clock


LISTED = 500  # conversations in the sidebar's list (all that match, when searching)


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
