"""Conversations, messages, sources and the history sent to the model."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from peewee import SqliteDatabase

from allma_desktop.errors import NotFound
from allma_desktop.records import ContextMode
from allma_desktop.services.library.catalog import LibraryService
from allma_desktop.services.library.conversations import (
    ConversationService,
    approx_tokens,
    auto_title,
)
from allma_desktop.services.library.storage import (
    AnswerContext,
    ConversationContext,
    Message,
    MessageSource,
)
from allma_desktop.sources import Source


@pytest.fixture
def conversations(db: SqliteDatabase) -> ConversationService:
    return ConversationService(db)


def _source(number: int, page: int | None = 1) -> Source:
    return Source(
        number=number,
        document_id=f"doc{number}",
        chunk_id=f"doc{number}:0",
        path=f"/papers/paper{number}.pdf",
        title=f"Paper {number}",
        page=page,
        score=1.0 / number,
        snippet=f"passage {number}",
    )


def test_new_conversation_is_called_new_chat_and_has_no_messages(
    conversations: ConversationService,
) -> None:
    chat = conversations.create()
    assert (chat.title, chat.message_count, chat.use_documents) == ("New chat", 0, True)


def test_getting_an_unknown_conversation_raises_not_found(
    conversations: ConversationService,
) -> None:
    with pytest.raises(NotFound, match="Conversation 42 does not exist"):
        conversations.get(42)


def test_rename_changes_the_title(conversations: ConversationService) -> None:
    chat = conversations.create()
    assert conversations.rename(chat.id, "  Tax questions ").title == "Tax questions"


def test_deleting_a_conversation_deletes_its_messages_and_sources(
    conversations: ConversationService,
) -> None:
    chat = conversations.create()
    answer = conversations.add_message(chat.id, "assistant", "See [1].")
    conversations.add_sources(answer.id, [_source(1)])

    conversations.delete(chat.id)

    assert (Message.select().count(), MessageSource.select().count()) == (0, 0)


def test_list_puts_the_most_recently_updated_conversation_first(
    conversations: ConversationService,
) -> None:
    older = conversations.create("older")
    conversations.create("newer")
    conversations.add_message(older.id, "user", "bump")
    assert [chat.title for chat in conversations.list()] == ["older", "newer"]


def test_list_pages_with_limit_and_offset(conversations: ConversationService) -> None:
    for number in range(5):
        conversations.create(f"chat {number}")
    page = conversations.list(limit=2, offset=1)
    assert [chat.title for chat in page] == ["chat 3", "chat 2"]


def test_list_counts_each_conversations_messages(conversations: ConversationService) -> None:
    chat = conversations.create()
    conversations.add_message(chat.id, "user", "one")
    conversations.add_message(chat.id, "assistant", "two")
    assert conversations.list()[0].message_count == 2


def test_search_finds_titles_and_message_text_ignoring_case(
    conversations: ConversationService,
) -> None:
    by_title = conversations.create("Quarterly REPORT")
    by_message = conversations.create("Other")
    conversations.add_message(by_message.id, "user", "Where is the report for Q3?")
    conversations.create("Unrelated")

    found = {chat.id for chat in conversations.search("report")}

    assert found == {by_title.id, by_message.id}


def test_search_treats_percent_and_underscore_as_plain_characters(
    conversations: ConversationService,
) -> None:
    conversations.create("growth of 5% a year")
    conversations.create("growth of 50 a year")
    conversations.create("snake_case names")
    conversations.create("snakeXcase names")

    assert [chat.title for chat in conversations.search("5%")] == ["growth of 5% a year"]
    assert [chat.title for chat in conversations.search("e_c")] == ["snake_case names"]


def test_first_question_names_a_new_chat(conversations: ConversationService) -> None:
    chat = conversations.create()
    conversations.add_message(chat.id, "user", "What does the lease say about pets?")
    assert conversations.get(chat.id).title == "What does the lease say about pets?"


def test_long_first_question_is_cut_on_a_word_boundary() -> None:
    question = "Summarise the differences between the two insurance policies " * 3
    title = auto_title(question)
    assert len(title) <= 61 and title.endswith("…")
    assert question.startswith(title.removesuffix("…"))
    assert question[len(title) - 1] == " "


def test_later_questions_do_not_rename_the_conversation(
    conversations: ConversationService,
) -> None:
    chat = conversations.create()
    conversations.add_message(chat.id, "user", "First question")
    conversations.add_message(chat.id, "user", "Second question")
    assert conversations.get(chat.id).title == "First question"


def test_a_named_conversation_keeps_its_name(conversations: ConversationService) -> None:
    chat = conversations.create("Taxes")
    conversations.add_message(chat.id, "user", "What is deductible?")
    assert conversations.get(chat.id).title == "Taxes"


def test_sources_are_stored_with_their_message_in_citation_order(
    conversations: ConversationService,
) -> None:
    chat = conversations.create()
    answer = conversations.add_message(chat.id, "assistant", "See [2] and [1].")
    conversations.add_sources(answer.id, [_source(2, page=None), _source(1)])

    stored = conversations.messages(chat.id)[0].sources

    assert stored == (_source(1), _source(2, page=None))


def test_an_answers_sources_read_back_with_page_heading_path_and_span(
    conversations: ConversationService,
) -> None:
    chat = conversations.create()
    answer = conversations.add_message(chat.id, "assistant", "Oil it monthly [1]; see [2].")
    cited = [
        replace(_source(1), heading_path=("Bicycle care", "Chain"), char_start=41, char_end=97),
        replace(_source(2, page=None), heading_path=("Ünïcode “quoted”",), char_end=12),
    ]
    conversations.add_sources(answer.id, cited)

    assert conversations.messages(chat.id)[0].sources == tuple(cited)
    assert conversations.get_message(answer.id).sources == tuple(cited)


def test_update_message_changes_only_the_given_fields(
    conversations: ConversationService,
) -> None:
    chat = conversations.create()
    answer = conversations.add_message(
        chat.id, "assistant", "", thinking="hmm", model="m", status="streaming"
    )

    updated = conversations.update_message(
        answer.id, content="Done.", status="complete", completion_tokens=3, duration_ms=12.5
    )

    assert (updated.content, updated.thinking, updated.status) == ("Done.", "hmm", "complete")
    assert (updated.completion_tokens, updated.duration_ms, updated.model) == (3, 12.5, "m")


def test_an_answer_update_survives_a_commit_from_another_connection_mid_update(
    conversations: ConversationService,
    db: SqliteDatabase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The chat saves its answer while an ingest commits from a worker thread's connection.

    A deferred transaction that reads, then finds another connection has committed
    before its first write, fails at once with "database is locked" whatever the busy
    timeout; the update must take the write lock up front and win or wait instead.
    """
    chat = conversations.create()
    answer = conversations.add_message(chat.id, "assistant", "", status="streaming")
    other = sqlite3.connect(tmp_path / "allma.sqlite3", timeout=0)
    other.execute("CREATE TABLE ingest_probe (n INTEGER)")
    other.commit()
    real_message_row = ConversationService._message_row

    def read_then_let_another_connection_commit(
        service: ConversationService, message_id: int
    ) -> Message:
        row = real_message_row(service, message_id)
        try:  # with the write lock already held this is refused, as it should be
            other.execute("INSERT INTO ingest_probe VALUES (1)")
            other.commit()
        except sqlite3.OperationalError:
            other.rollback()
        return row

    monkeypatch.setattr(
        ConversationService, "_message_row", read_then_let_another_connection_commit
    )

    updated = conversations.update_message(answer.id, content="Saved.", status="complete")

    other.close()
    assert (updated.content, updated.status) == ("Saved.", "complete")


def test_messages_come_back_oldest_first(conversations: ConversationService) -> None:
    chat = conversations.create()
    for text in ("one", "two", "three"):
        conversations.add_message(chat.id, "user", text)
    assert [message.content for message in conversations.messages(chat.id)] == [
        "one",
        "two",
        "three",
    ]


def test_adding_a_message_to_an_unknown_conversation_raises_not_found(
    conversations: ConversationService,
) -> None:
    with pytest.raises(NotFound):
        conversations.add_message(7, "user", "hello")


def test_delete_messages_from_removes_that_message_and_all_later_ones(
    conversations: ConversationService,
) -> None:
    chat = conversations.create()
    other = conversations.create()
    conversations.add_message(chat.id, "user", "q1")
    conversations.add_message(chat.id, "assistant", "a1")
    second_question = conversations.add_message(chat.id, "user", "q2")
    conversations.add_message(chat.id, "assistant", "a2")
    conversations.add_message(other.id, "user", "elsewhere")

    deleted = conversations.delete_messages_from(second_question.id)

    assert deleted == 2
    assert [m.content for m in conversations.messages(chat.id)] == ["q1", "a1"]
    assert [m.content for m in conversations.messages(other.id)] == ["elsewhere"]


def test_history_keeps_the_newest_exchanges_that_fit_the_budget(
    conversations: ConversationService,
) -> None:
    chat = conversations.create()
    for number in range(1, 4):
        conversations.add_message(chat.id, "user", f"q{number}")
        conversations.add_message(chat.id, "assistant", f"a{number}")

    history = conversations.history_for_prompt(chat.id, budget_tokens=8, count_tokens=len)

    assert history == [("user", "q2"), ("assistant", "a2"), ("user", "q3"), ("assistant", "a3")]


def test_history_never_splits_a_question_from_its_answer(
    conversations: ConversationService,
) -> None:
    chat = conversations.create()
    conversations.add_message(chat.id, "user", "q1")
    conversations.add_message(chat.id, "assistant", "a1")
    conversations.add_message(chat.id, "user", "q2")
    conversations.add_message(chat.id, "assistant", "a2")

    # Room for three messages: the older pair cannot fit whole, so it goes whole.
    history = conversations.history_for_prompt(chat.id, budget_tokens=6, count_tokens=len)

    assert history == [("user", "q2"), ("assistant", "a2")]


def test_history_leaves_out_failed_and_streaming_messages(
    conversations: ConversationService,
) -> None:
    chat = conversations.create()
    conversations.add_message(chat.id, "system", "be brief")
    conversations.add_message(chat.id, "user", "q1")
    conversations.add_message(chat.id, "assistant", "partial", status="interrupted")
    conversations.add_message(chat.id, "user", "q2")
    conversations.add_message(chat.id, "assistant", "", status="failed")
    conversations.add_message(chat.id, "assistant", "typing", status="streaming")

    history = conversations.history_for_prompt(chat.id, budget_tokens=1000)

    assert history == [("user", "q1"), ("assistant", "partial"), ("user", "q2")]


def test_history_is_empty_when_even_the_newest_exchange_does_not_fit(
    conversations: ConversationService,
) -> None:
    chat = conversations.create()
    conversations.add_message(chat.id, "user", "a long question")
    assert conversations.history_for_prompt(chat.id, budget_tokens=1) == []


def test_approx_tokens_counts_about_four_characters_per_token() -> None:
    assert (approx_tokens(""), approx_tokens("abcd"), approx_tokens("x" * 400)) == (0, 1, 100)


def test_deleting_its_collection_leaves_the_conversation_searching_everything(
    db: SqliteDatabase, conversations: ConversationService
) -> None:
    library = LibraryService(db)
    papers = library.create_collection("Papers")
    chat = conversations.create(collection_id=papers.id)

    library.delete_collection(papers.id)

    assert conversations.get(chat.id).collection_id is None


def test_mark_streaming_interrupted_recovers_answers_cut_by_a_crash(
    conversations: ConversationService,
) -> None:
    chat = conversations.create()
    answer = conversations.add_message(chat.id, "assistant", "half", status="streaming")

    assert conversations.mark_streaming_interrupted() == 1
    assert conversations.get_message(answer.id).status == "interrupted"


def test_conversation_cannot_point_at_an_unknown_collection(
    conversations: ConversationService,
) -> None:
    with pytest.raises(NotFound, match="Collection 5"):
        conversations.create(collection_id=5)


def test_history_can_leave_out_the_exchange_being_answered(
    conversations: ConversationService,
) -> None:
    chat = conversations.create()
    conversations.add_message(chat.id, "user", "q1")
    conversations.add_message(chat.id, "assistant", "a1")
    question = conversations.add_message(chat.id, "user", "q2")
    answer = conversations.add_message(chat.id, "assistant", "")

    history = conversations.history_for_prompt(
        chat.id, budget_tokens=1000, exclude_message_ids={question.id, answer.id}
    )

    assert history == [("user", "q1"), ("assistant", "a1")]


def test_a_conversations_context_mode_is_kept_and_defaults_to_auto(
    conversations: ConversationService,
) -> None:
    plain = conversations.create()
    assert plain.context_mode is ContextMode.AUTO
    whole = conversations.create(context_mode=ContextMode.WHOLE)
    assert conversations.get(whole.id).context_mode is ContextMode.WHOLE
    assert conversations.set_context_mode(plain.id, ContextMode.PASSAGES).context_mode is (
        ContextMode.PASSAGES
    )
    assert conversations.set_context_mode(plain.id, ContextMode.AUTO).context_mode is (
        ContextMode.AUTO
    )
    listed = {record.id: record.context_mode for record in conversations.list()}
    assert listed == {plain.id: ContextMode.AUTO, whole.id: ContextMode.WHOLE}


def test_a_deleted_conversation_takes_its_context_mode_with_it(
    conversations: ConversationService,
) -> None:
    record = conversations.create(context_mode=ContextMode.PASSAGES)
    conversations.delete(record.id)
    assert ConversationContext.select().count() == 0
    with pytest.raises(NotFound, match=str(record.id)):
        conversations.set_context_mode(record.id, ContextMode.WHOLE)


def test_a_context_mode_written_by_a_newer_version_reads_as_auto(
    conversations: ConversationService,
) -> None:
    record = conversations.create(context_mode=ContextMode.WHOLE)
    ConversationContext.update(mode="chapters").execute()
    assert conversations.get(record.id).context_mode is ContextMode.AUTO


def test_an_answer_read_from_whole_documents_keeps_their_titles(
    conversations: ConversationService,
) -> None:
    chat = conversations.create()
    conversations.add_message(chat.id, "user", "Summarise the manual")
    whole = conversations.add_message(chat.id, "assistant", "It covers lamps [1].")
    passages = conversations.add_message(chat.id, "assistant", "The lamp turns [1].")
    conversations.set_whole_documents(whole.id, ["Lighthouse Manual", "Keeper's Log"])

    stored = conversations.get_message(whole.id)
    assert stored.whole_documents == ("Lighthouse Manual", "Keeper's Log")
    listed = {m.id: m.whole_documents for m in conversations.messages(chat.id)}
    assert listed[whole.id] == ("Lighthouse Manual", "Keeper's Log")
    assert listed[passages.id] == ()
    # Stored again: replaced; with no titles: back to passages.
    conversations.set_whole_documents(whole.id, ["Keeper's Log"])
    assert conversations.get_message(whole.id).whole_documents == ("Keeper's Log",)
    conversations.set_whole_documents(whole.id, [])
    assert conversations.get_message(whole.id).whole_documents == ()
    assert AnswerContext.select().count() == 0


def test_the_documents_read_whole_go_with_their_answer(
    conversations: ConversationService,
) -> None:
    chat = conversations.create()
    question = conversations.add_message(chat.id, "user", "Summarise it")
    answer = conversations.add_message(chat.id, "assistant", "It is short.")
    conversations.set_whole_documents(answer.id, ["Lighthouse Manual"])
    conversations.delete_messages_from(question.id)  # regenerate
    assert AnswerContext.select().count() == 0
    answer = conversations.add_message(chat.id, "assistant", "Again.")
    conversations.set_whole_documents(answer.id, ["Lighthouse Manual"])
    conversations.delete(chat.id)
    assert AnswerContext.select().count() == 0
    with pytest.raises(NotFound, match=str(answer.id)):
        conversations.set_whole_documents(answer.id, ["Lighthouse Manual"])


def test_an_answer_summarised_in_parts_keeps_how_many(
    conversations: ConversationService,
) -> None:
    chat = conversations.create()
    answer = conversations.add_message(chat.id, "assistant", "It covers the harbour [3].")
    conversations.set_whole_documents(answer.id, ["Harbour"], summary_parts=4)
    stored = conversations.get_message(answer.id)
    assert (stored.whole_documents, stored.summary_parts) == (("Harbour",), 4)
    assert [(m.whole_documents, m.summary_parts) for m in conversations.messages(chat.id)] == [
        (("Harbour",), 4)
    ]
    conversations.set_whole_documents(answer.id, ["Harbour"])  # read whole after all
    assert conversations.get_message(answer.id).summary_parts == 0


@pytest.mark.parametrize(
    "stored",
    [
        "not json",
        '{"title": "x"}',
        "[1, 2]",
        '{"titles": ["x"], "summary_parts": -1}',
        '{"titles": ["x"], "summary_parts": true}',
        '{"titles": "x", "summary_parts": 2}',
    ],
)
def test_an_unreadable_record_of_documents_read_whole_reads_as_passages(
    conversations: ConversationService, stored: str
) -> None:
    chat = conversations.create()
    answer = conversations.add_message(chat.id, "assistant", "It is short.")
    conversations.set_whole_documents(answer.id, ["Lighthouse Manual"])
    AnswerContext.update(whole_documents=stored).execute()  # damaged, or a newer version's
    assert conversations.get_message(answer.id).whole_documents == ()
    assert [m.whole_documents for m in conversations.messages(chat.id)] == [()]
