"""Conversations and their messages, stored in SQLite.

Every method returns frozen dataclasses, never peewee rows, so callers on any
thread (and the GUI) hold plain values.
"""

from __future__ import annotations

import builtins
import json
import logging
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import replace

import peewee
from peewee import JOIN, SQL, SqliteDatabase, chunked, fn

from allma_desktop.errors import NotFound
from allma_desktop.records import ContextMode, ConversationRecord, GroundingReport, MessageRecord
from allma_desktop.services.library.storage import (
    MESSAGE_ROLES,
    MESSAGE_STATUSES,
    AnswerCheck,
    AnswerContext,
    Collection,
    Conversation,
    ConversationContext,
    Message,
    MessageSource,
    OcrChunk,
    as_utc,
    translating_store_errors,
    tuple_rows,
    utc_now,
)
from allma_desktop.sources import SOURCE_FIELDS, Source

log = logging.getLogger(__name__)

DEFAULT_TITLE = "New chat"
AUTO_TITLE_MAX_CHARS = 60
PROMPT_ROLES = ("user", "assistant")
PROMPT_STATUSES = ("complete", "interrupted")  # an interrupted answer is still worth remembering


def approx_tokens(text: str) -> int:
    """An estimate of how many tokens ``text`` costs: about four characters per token.

    Good enough to budget history when the model's tokenizer is not at hand;
    it over-counts code and under-counts some non-Latin scripts.
    """
    return (len(text) + 3) // 4


def auto_title(text: str, max_chars: int = AUTO_TITLE_MAX_CHARS) -> str:
    """A conversation title from its first question: one line, cut on a word boundary."""
    words = " ".join(text.split())
    if len(words) <= max_chars:
        return words
    cut = words[: max_chars + 1].rsplit(" ", 1)[0] if " " in words[:max_chars] else ""
    return (cut or words[:max_chars]).rstrip(" ,;:.-") + "…"


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _source(row: MessageSource, read_by_ocr: Container[str] = ()) -> Source:
    """A stored source as the answer cited it; ``ocr`` as the library marks its chunk now."""
    stored = {name: getattr(row, name) for name in SOURCE_FIELDS if name != "ocr"}
    stored["heading_path"] = tuple(json.loads(row.heading_path or "[]"))
    return Source(**stored, ocr=row.chunk_id in read_by_ocr)


def _source_row(message_id: int, source: Source) -> dict[str, object]:
    """Every field of ``source`` but ``ocr`` (read from the library), as its row's columns."""
    row: dict[str, object] = {name: getattr(source, name) for name in SOURCE_FIELDS}
    row["heading_path"] = json.dumps(list(source.heading_path), ensure_ascii=False)
    del row["ocr"]
    return {"message": message_id, **row}


def _read_by_ocr(rows: Sequence[MessageSource]) -> set[str]:
    """Which of the sources' chunks the library marks as read by OCR (``ocr_chunk``)."""
    found: set[str] = set()
    for batch in chunked(sorted({row.chunk_id for row in rows}), 500):
        query = OcrChunk.select(OcrChunk.chunk_id).where(OcrChunk.chunk_id.in_(batch))
        found.update(chunk_id for (chunk_id,) in tuple_rows(query))
    return found


def _grounding(report: str | None) -> GroundingReport | None:
    if not report:
        return None
    try:
        return GroundingReport.from_dict(json.loads(report))
    except (ValueError, KeyError, TypeError):
        log.warning("unreadable answer check skipped")
        return None


def _read_context(stored: str) -> tuple[tuple[str, ...], int]:
    """(titles, summary parts) of an ``answer_context`` row: a JSON list of titles for
    documents read whole, an object ``{"titles": [...], "summary_parts": n}`` for
    documents summarised in parts."""
    try:
        value = json.loads(stored)
    except ValueError:
        value = None
    parts = 0
    if isinstance(value, dict):
        parts = value.get("summary_parts", 0)
        value = value.get("titles")
        if not isinstance(parts, int) or isinstance(parts, bool) or parts < 0:
            value = None
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        log.warning("unreadable record of documents read whole skipped")
        return (), 0
    return tuple(value), parts


def _message_record(
    row: Message,
    sources: tuple[Source, ...] = (),
    grounding: GroundingReport | None = None,
    context: tuple[tuple[str, ...], int] = ((), 0),
) -> MessageRecord:
    return MessageRecord(
        id=row.id,
        conversation_id=row.__data__["conversation"],
        role=row.role,
        content=row.content,
        thinking=row.thinking,
        model=row.model,
        status=row.status,
        error=row.error,
        created_at=as_utc(row.created_at),
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        duration_ms=row.duration_ms,
        sources=sources,
        grounding=grounding,
        whole_documents=context[0],
        summary_parts=context[1] if context[0] else 0,
    )


class ConversationService:
    """Create, browse and edit conversations; keep each answer's sources with it."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    @property
    def db(self) -> SqliteDatabase:
        return self._db

    # --- conversations ---------------------------------------------------------

    @translating_store_errors
    def create(
        self,
        title: str = DEFAULT_TITLE,
        model: str | None = None,
        collection_id: int | None = None,
        use_documents: bool = True,
        context_mode: ContextMode = ContextMode.AUTO,
    ) -> ConversationRecord:
        self._check_collection(collection_id)
        now = utc_now()
        with self._db.atomic():
            row = Conversation.create(
                title=title.strip() or DEFAULT_TITLE,
                model=model,
                collection=collection_id,
                use_documents=use_documents,
                created_at=now,
                updated_at=now,
            )
            if context_mode is not ContextMode.AUTO:
                ConversationContext.create(conversation=row.id, mode=context_mode.value)
        return self.get(row.id)

    @translating_store_errors
    def get(self, conversation_id: int) -> ConversationRecord:
        rows = self._records(Conversation.id == conversation_id)
        if not rows:
            raise _conversation_not_found(conversation_id)
        return rows[0]

    @translating_store_errors
    def rename(self, conversation_id: int, title: str) -> ConversationRecord:
        self._update(conversation_id, title=title.strip() or DEFAULT_TITLE)
        return self.get(conversation_id)

    @translating_store_errors
    def delete(self, conversation_id: int) -> None:
        """Delete the conversation with its messages and their sources."""
        if Conversation.delete().where(Conversation.id == conversation_id).execute() == 0:
            self.get(conversation_id)  # raises NotFound

    @translating_store_errors
    def list(self, limit: int = 100, offset: int = 0) -> builtins.list[ConversationRecord]:
        """Conversations, most recently updated first."""
        return self._records(None, limit=limit, offset=offset)

    @translating_store_errors
    def search(self, text: str, limit: int = 100) -> builtins.list[ConversationRecord]:
        """Conversations whose title or any message contains ``text`` (case-insensitive).

        ``%`` and ``_`` match themselves. SQLite's LIKE folds case for ASCII letters only.
        """
        needle = text.strip()
        if not needle:
            return self.list(limit=limit)
        pattern = _like_pattern(needle)
        title_matches = peewee.NodeList((Conversation.title, SQL("LIKE ? ESCAPE '\\'", [pattern])))
        content_matches = peewee.NodeList((Message.content, SQL("LIKE ? ESCAPE '\\'", [pattern])))
        in_messages = Message.select(Message.conversation).where(content_matches)
        return self._records(title_matches | Conversation.id.in_(in_messages), limit=limit)

    @translating_store_errors
    def set_model(self, conversation_id: int, model: str | None) -> ConversationRecord:
        self._update(conversation_id, model=model)
        return self.get(conversation_id)

    @translating_store_errors
    def set_collection(
        self,
        conversation_id: int,
        collection_id: int | None,
        use_documents: bool | None = None,
    ) -> ConversationRecord:
        """Point the conversation at a collection (None: all); optionally toggle document use."""
        self._check_collection(collection_id)
        changes: dict[str, object] = {"collection": collection_id}
        if use_documents is not None:
            changes["use_documents"] = use_documents
        self._update(conversation_id, **changes)
        return self.get(conversation_id)

    @translating_store_errors
    def set_context_mode(self, conversation_id: int, mode: ContextMode) -> ConversationRecord:
        """What the conversation gives the model from its documents, from now on."""
        with self._db.atomic():
            self._conversation_row(conversation_id)  # raises NotFound
            ConversationContext.insert(conversation=conversation_id, mode=mode.value).on_conflict(
                conflict_target=[ConversationContext.conversation],
                update={ConversationContext.mode: mode.value},
            ).execute()
        return self.get(conversation_id)

    # --- messages --------------------------------------------------------------

    @translating_store_errors
    def add_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        *,
        thinking: str = "",
        model: str | None = None,
        status: str = "complete",
    ) -> MessageRecord:
        """Append a message; the first user message names a conversation still called "New chat"."""
        _check_choice("role", role, MESSAGE_ROLES)
        _check_choice("status", status, MESSAGE_STATUSES)
        with self._db.atomic("IMMEDIATE"):  # reads then writes: see LibraryService.start_document
            conversation = self._conversation_row(conversation_id)
            now = utc_now()
            row = Message.create(
                conversation=conversation_id,
                role=role,
                content=content,
                thinking=thinking,
                model=model,
                status=status,
                created_at=now,
            )
            changes: dict[str, object] = {"updated_at": now}
            if role == "user" and conversation.title == DEFAULT_TITLE and content.strip():
                earlier_questions = Message.select().where(
                    (Message.conversation == conversation_id)
                    & (Message.role == "user")
                    & (Message.id != row.id)
                )
                if not earlier_questions.exists():
                    changes["title"] = auto_title(content)
            Conversation.update(**changes).where(Conversation.id == conversation_id).execute()
        return _message_record(row)

    @translating_store_errors
    def update_message(
        self,
        message_id: int,
        *,
        content: str | None = None,
        thinking: str | None = None,
        status: str | None = None,
        error: str | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        duration_ms: float | None = None,
    ) -> MessageRecord:
        """Change the given fields (None leaves a field as it is)."""
        if status is not None:
            _check_choice("status", status, MESSAGE_STATUSES)
        given = {
            "content": content,
            "thinking": thinking,
            "status": status,
            "error": error,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "duration_ms": duration_ms,
        }
        changes = {name: value for name, value in given.items() if value is not None}
        with self._db.atomic("IMMEDIATE"):  # reads then writes: see LibraryService.start_document
            row = self._message_row(message_id)
            if changes:
                Message.update(**changes).where(Message.id == message_id).execute()
                Conversation.update(updated_at=utc_now()).where(
                    Conversation.id == row.__data__["conversation"]
                ).execute()
            return self._message_with_sources(message_id)

    @translating_store_errors
    def add_sources(self, message_id: int, sources: Sequence[Source]) -> MessageRecord:
        """Store the passages an answer cites, numbered as in its text, with where they are."""
        with self._db.atomic("IMMEDIATE"):  # reads then writes: see LibraryService.start_document
            self._message_row(message_id)
            rows = [_source_row(message_id, source) for source in sources]
            if rows:
                MessageSource.insert_many(rows).execute()
            return self._message_with_sources(message_id)

    @translating_store_errors
    def get_message(self, message_id: int) -> MessageRecord:
        return self._message_with_sources(message_id)

    @translating_store_errors
    def messages(self, conversation_id: int) -> builtins.list[MessageRecord]:
        """The conversation's messages, oldest first, each with its sources."""
        self._conversation_row(conversation_id)
        rows = builtins.list(
            Message.select().where(Message.conversation == conversation_id).order_by(Message.id)
        )
        sources: dict[int, builtins.list[Source]] = {row.id: [] for row in rows}
        if rows:
            source_rows = (
                MessageSource.select()
                .join(Message)
                .where(Message.conversation == conversation_id)
                .order_by(MessageSource.message, MessageSource.number, MessageSource.id)
            )
            source_list = builtins.list(source_rows)
            read_by_ocr = _read_by_ocr(source_list)
            for source in source_list:
                sources[source.__data__["message"]].append(_source(source, read_by_ocr))
        ids = [row.id for row in rows]
        checks, whole = self._checks(ids), self._whole_documents(ids)
        return [
            _message_record(
                row, tuple(sources[row.id]), checks.get(row.id), whole.get(row.id, ((), 0))
            )
            for row in rows
        ]

    @translating_store_errors
    def set_grounding(self, message_id: int, report: GroundingReport) -> None:
        """Store the check of an answer against its sources (replacing an earlier one)."""
        with self._db.atomic("IMMEDIATE"):
            self._message_row(message_id)
            AnswerCheck.delete().where(AnswerCheck.message == message_id).execute()
            AnswerCheck.create(
                message=message_id, report=json.dumps(report.as_dict()), checked_at=utc_now()
            )

    @translating_store_errors
    def set_whole_documents(
        self, message_id: int, titles: Sequence[str], summary_parts: int = 0
    ) -> None:
        """Store that an answer was made from these documents read whole, or summarised
        in ``summary_parts`` parts (no titles: from passages)."""
        stored: object = list(titles)
        if summary_parts:
            stored = {"titles": list(titles), "summary_parts": summary_parts}
        with self._db.atomic("IMMEDIATE"):
            self._message_row(message_id)
            AnswerContext.delete().where(AnswerContext.message == message_id).execute()
            if titles:
                AnswerContext.create(message=message_id, whole_documents=json.dumps(stored))

    def _whole_documents(
        self, message_ids: builtins.list[int]
    ) -> dict[int, tuple[tuple[str, ...], int]]:
        found: dict[int, tuple[tuple[str, ...], int]] = {}
        for chunk in chunked(message_ids, 500):
            query = AnswerContext.select(
                AnswerContext.message, AnswerContext.whole_documents
            ).where(AnswerContext.message.in_(chunk))
            for message_id, stored in tuple_rows(query):
                context = _read_context(stored)
                if context[0]:
                    found[int(message_id)] = context
        return found

    def _checks(self, message_ids: builtins.list[int]) -> dict[int, GroundingReport]:
        found: dict[int, GroundingReport] = {}
        for chunk in chunked(message_ids, 500):
            query = AnswerCheck.select(AnswerCheck.message, AnswerCheck.report).where(
                AnswerCheck.message.in_(chunk)
            )
            for message_id, report in tuple_rows(query):
                grounding = _grounding(report)
                if grounding is not None:
                    found[int(message_id)] = grounding
        return found

    @translating_store_errors
    def delete_messages_from(self, message_id: int) -> int:
        """Delete this message and every later one in its conversation; returns how many.

        Used to regenerate an answer or to edit a question and ask again.
        """
        with self._db.atomic("IMMEDIATE"):  # reads then writes: see LibraryService.start_document
            row = self._message_row(message_id)
            conversation_id = row.__data__["conversation"]
            deleted = int(
                Message.delete()
                .where((Message.conversation == conversation_id) & (Message.id >= message_id))
                .execute()
            )
            Conversation.update(updated_at=utc_now()).where(
                Conversation.id == conversation_id
            ).execute()
        return deleted

    @translating_store_errors
    def mark_streaming_interrupted(self) -> int:
        """Mark answers left "streaming" by a crash as interrupted; returns how many."""
        return int(
            Message.update(status="interrupted").where(Message.status == "streaming").execute()
        )

    @translating_store_errors
    def history_for_prompt(
        self,
        conversation_id: int,
        budget_tokens: int,
        count_tokens: Callable[[str], int] = approx_tokens,
        exclude_message_ids: Iterable[int] = (),
    ) -> builtins.list[tuple[str, str]]:
        """(role, content) of the newest exchanges that fit in ``budget_tokens``, oldest first.

        Only complete or interrupted user and assistant messages count. Whole
        exchanges (a question with its answer) are dropped oldest first, so a
        question never appears without its answer or the other way round.
        ``exclude_message_ids`` leaves out messages such as the question being
        asked now and its still-empty answer.
        """
        excluded = set(exclude_message_ids)
        rows = (
            Message.select(Message.role, Message.content)
            .where(
                (Message.conversation == conversation_id)
                & Message.role.in_(PROMPT_ROLES)
                & Message.status.in_(PROMPT_STATUSES)
                & Message.id.not_in(excluded)
            )
            .order_by(Message.id)
        )
        exchanges: builtins.list[builtins.list[tuple[str, str]]] = []
        for role, content in tuple_rows(rows):
            current = exchanges[-1] if exchanges else None
            answers_open_question = (
                role == "assistant" and current is not None and current[-1][0] == "user"
            )
            if answers_open_question and current is not None:
                current.append((role, content))
            else:
                exchanges.append([(role, content)])

        kept: builtins.list[builtins.list[tuple[str, str]]] = []
        spent = 0
        for exchange in reversed(exchanges):
            cost = sum(count_tokens(content) for _, content in exchange)
            if spent + cost > budget_tokens:
                break
            kept.append(exchange)
            spent += cost
        return [message for exchange in reversed(kept) for message in exchange]

    # --- helpers ---------------------------------------------------------------

    def _records(
        self,
        where: peewee.Expression | None,
        limit: int | None = None,
        offset: int = 0,
    ) -> builtins.list[ConversationRecord]:
        message_count = fn.COUNT(Message.id).alias("message_count")
        query = (
            Conversation.select(Conversation, message_count)
            .join(Message, JOIN.LEFT_OUTER)
            .group_by(Conversation.id)
            .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        )
        if where is not None:
            query = query.where(where)
        if limit is not None:
            query = query.limit(limit).offset(offset)
        records = [
            ConversationRecord(
                id=row.id,
                title=row.title,
                created_at=as_utc(row.created_at),
                updated_at=as_utc(row.updated_at),
                model=row.model,
                collection_id=row.__data__.get("collection"),
                use_documents=bool(row.use_documents),
                message_count=int(getattr(row, "message_count", 0)),
            )
            for row in query
        ]
        return self._with_context_modes(records)

    def _with_context_modes(
        self, records: builtins.list[ConversationRecord]
    ) -> builtins.list[ConversationRecord]:
        modes: dict[int, ContextMode] = {}
        for batch in chunked([r.id for r in records], 500):
            rows = ConversationContext.select().where(ConversationContext.conversation.in_(batch))
            for row in rows:
                try:
                    modes[int(row.__data__["conversation"])] = ContextMode(row.mode)
                except ValueError:  # written by a newer version: the default until then
                    log.warning("conversation %s: unknown context mode %r", row, row.mode)
        return [replace(r, context_mode=modes[r.id]) if r.id in modes else r for r in records]

    def _check_collection(self, collection_id: int | None) -> None:
        if collection_id is None:
            return
        if Collection.get_or_none(Collection.id == collection_id) is None:
            raise NotFound(
                f"Collection {collection_id} does not exist.", "Pick one from the library."
            )

    def _update(self, conversation_id: int, **changes: object) -> None:
        changes.setdefault("updated_at", utc_now())
        updated = Conversation.update(**changes).where(Conversation.id == conversation_id).execute()
        if updated == 0:
            self.get(conversation_id)  # raises NotFound

    def _conversation_row(self, conversation_id: int) -> Conversation:
        row = Conversation.get_or_none(Conversation.id == conversation_id)
        if row is None:
            raise _conversation_not_found(conversation_id)
        return row

    def _message_row(self, message_id: int) -> Message:
        row = Message.get_or_none(Message.id == message_id)
        if row is None:
            raise NotFound(
                f"Message {message_id} does not exist.",
                "It may have been deleted with its conversation; reload the conversation.",
            )
        return row

    def _message_with_sources(self, message_id: int) -> MessageRecord:
        row = self._message_row(message_id)
        source_rows = builtins.list(
            MessageSource.select()
            .where(MessageSource.message == message_id)
            .order_by(MessageSource.number, MessageSource.id)
        )
        read_by_ocr = _read_by_ocr(source_rows)
        sources = tuple(_source(source, read_by_ocr) for source in source_rows)
        return _message_record(
            row,
            sources,
            self._checks([message_id]).get(message_id),
            self._whole_documents([message_id]).get(message_id, ((), 0)),
        )


def _conversation_not_found(conversation_id: int) -> NotFound:
    return NotFound(
        f"Conversation {conversation_id} does not exist.",
        "It may have been deleted; pick one from the list.",
    )


def _check_choice(name: str, value: str, accepted: Sequence[str]) -> None:
    if value not in accepted:
        raise ValueError(f"{name} must be one of {', '.join(accepted)}, not {value!r}")
