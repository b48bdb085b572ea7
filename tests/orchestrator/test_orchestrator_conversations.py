"""The orchestrator's conversation operations, which every front end uses instead of
the conversation service (the OpenAI-compatible API, the CLI's `chats`, the sidebar)."""

from __future__ import annotations

import pytest

from allma_desktop.errors import NotFound
from allma_desktop.orchestrator import Orchestrator


async def test_a_conversation_created_with_earlier_messages_keeps_them_in_order(
    orchestrator: Orchestrator,
) -> None:
    created = orchestrator.create_conversation(
        model="deepseek-r1:latest",
        use_documents=False,
        earlier=[("user", "Where is the lighthouse?"), ("assistant", "On the cliff.")],
    )

    messages = orchestrator.conversation_messages(created.id)
    assert [(m.role, m.content) for m in messages] == [
        ("user", "Where is the lighthouse?"),
        ("assistant", "On the cliff."),
    ]
    assert created.message_count == 2
    assert created.title == "Where is the lighthouse?"  # named by its first question
    assert (created.model, created.use_documents) == ("deepseek-r1:latest", False)


async def test_a_conversation_created_without_messages_is_a_new_chat(
    orchestrator: Orchestrator,
) -> None:
    created = orchestrator.create_conversation()

    assert orchestrator.conversation_messages(created.id) == []
    assert (created.title, created.use_documents) == ("New chat", True)


async def test_conversations_are_listed_newest_first_and_found_by_what_they_say(
    orchestrator: Orchestrator,
) -> None:
    first = orchestrator.create_conversation(earlier=[("user", "About bicycles")])
    second = orchestrator.create_conversation(earlier=[("user", "About greenhouses")])

    assert [c.id for c in orchestrator.list_conversations()] == [second.id, first.id]
    assert [c.id for c in orchestrator.list_conversations(limit=1, offset=1)] == [first.id]
    assert [c.id for c in orchestrator.search_conversations("bicycle")] == [first.id]


async def test_renaming_pointing_and_deleting_a_conversation(orchestrator: Orchestrator) -> None:
    created = orchestrator.create_conversation(earlier=[("user", "A question")])
    library = orchestrator.collection(None)

    assert orchestrator.rename_conversation(created.id, "Renamed").title == "Renamed"
    assert orchestrator.set_conversation_model(created.id, "qwen3:8b").model == "qwen3:8b"
    pointed = orchestrator.set_conversation_collection(created.id, library.id, False)
    assert (pointed.collection_id, pointed.use_documents) == (library.id, False)

    orchestrator.delete_conversation(created.id)
    assert orchestrator.list_conversations() == []
    with pytest.raises(NotFound, match=str(created.id)):
        orchestrator.delete_conversation(created.id)


async def test_a_conversation_exports_as_markdown_with_its_messages(
    orchestrator: Orchestrator,
) -> None:
    created = orchestrator.create_conversation(
        earlier=[("user", "What powers the lamp?"), ("assistant", "A small diesel engine.")]
    )

    markdown = orchestrator.conversation_markdown(created.id)

    assert markdown.startswith("# What powers the lamp?")
    assert markdown.index("What powers the lamp?") < markdown.index("A small diesel engine.")
    with pytest.raises(NotFound):
        orchestrator.conversation_markdown(created.id + 1)
