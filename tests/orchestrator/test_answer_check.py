"""Answers checked against their sources, and answers when the documents have nothing.

The orchestrator over real SQLite and Chroma and the Ollama-protocol test server,
whose fake model answers with a sentence of the best source and cites it.
"""

from __future__ import annotations

from dataclasses import replace

from allma_desktop.events import AnswerChecked, AnswerDone, SourcesFound, TokenChunk
from allma_desktop.orchestrator import Orchestrator
from allma_desktop.services.library.storage import AnswerCheck
from allma_desktop.services.retrieval.prompting import (
    GENERAL_KNOWLEDGE_NOTE,
    NO_DOCUMENTS_NOTICE,
    NOTHING_FOUND_NOTICE,
)
from allma_desktop.services.upkeep.export import export_conversation
from tests.orchestrator.test_orchestrator import collect, only
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import PDF_QUESTION, SampleLibrary

OUTSIDE_QUESTION = "Who painted the Mona Lisa?"


async def test_a_cited_answer_is_checked_after_it_is_done(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    await collect(orchestrator.ingest([sample_library.folder]))
    events = await collect(orchestrator.chat(None, PDF_QUESTION))
    kinds = [type(event) for event in events]
    assert kinds[-2:] == [AnswerDone, AnswerChecked]  # the check never holds up the answer
    done, checked = only(events, AnswerDone)[-1], only(events, AnswerChecked)[-1]
    assert checked.message_id == done.message_id
    # The fake model copies a sentence of the source it cites: supported.
    assert checked.grounding.checked == 1
    assert checked.grounding.supported == 1
    assert checked.grounding.sentences[0].cited == (done.sources[0].number,)


async def test_the_check_is_stored_with_the_answer_and_exported(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    await collect(orchestrator.ingest([sample_library.folder]))
    events = await collect(orchestrator.chat(None, PDF_QUESTION))
    checked = only(events, AnswerChecked)[-1]
    stored = orchestrator.conversations.messages(checked.conversation_id)[-1]
    assert stored.grounding == checked.grounding
    assert orchestrator.conversations.get_message(checked.message_id).grounding == stored.grounding
    exported = export_conversation(orchestrator.conversations, checked.conversation_id)
    assert f"*Checked: {checked.grounding.summary}.*" in exported


async def test_deleting_an_answer_deletes_its_check(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    await collect(orchestrator.ingest([sample_library.folder]))
    first = only(await collect(orchestrator.chat(None, PDF_QUESTION)), AnswerChecked)[-1]
    question = orchestrator.conversations.messages(first.conversation_id)[0]
    assert AnswerCheck.select().count() == 1
    orchestrator.conversations.delete_messages_from(question.id)
    assert AnswerCheck.select().count() == 0


async def test_when_nothing_is_relevant_the_answer_says_so_before_the_model_speaks(
    orchestrator: Orchestrator, sample_library: SampleLibrary, ollama_server: OllamaTestServer
) -> None:
    await collect(orchestrator.ingest([sample_library.folder]))
    events = await collect(orchestrator.chat(None, OUTSIDE_QUESTION))
    assert only(events, SourcesFound)[0].sources == ()
    first_token = only(events, TokenChunk)[0].text
    assert first_token.startswith(f"{NOTHING_FOUND_NOTICE} {GENERAL_KNOWLEDGE_NOTE}")
    done = only(events, AnswerDone)[-1]
    assert done.answer.startswith(NOTHING_FOUND_NOTICE)
    assert len(done.answer) > len(first_token)  # the model's own text follows
    assert ollama_server.requests_to("/api/chat")
    assert not only(events, AnswerChecked)  # nothing to check an answer against


async def test_answer_only_from_my_documents_does_not_call_the_model(
    orchestrator: Orchestrator, sample_library: SampleLibrary, ollama_server: OllamaTestServer
) -> None:
    await collect(orchestrator.ingest([sample_library.folder]))
    orchestrator.config = replace(orchestrator.config, documents_only=True)
    ollama_server.clear_requests()
    events = await collect(orchestrator.chat(None, OUTSIDE_QUESTION))
    done = only(events, AnswerDone)[-1]
    assert done.answer == NOTHING_FOUND_NOTICE
    assert done.error is None and not done.interrupted
    assert ollama_server.requests_to("/api/chat") == []
    stored = orchestrator.conversations.messages(done.conversation_id)[-1]
    assert (stored.content, stored.status) == (NOTHING_FOUND_NOTICE, "complete")


async def test_answer_only_from_my_documents_with_an_empty_library_says_to_add_some(
    orchestrator: Orchestrator, ollama_server: OllamaTestServer
) -> None:
    orchestrator.config = replace(orchestrator.config, documents_only=True)
    done = only(await collect(orchestrator.chat(None, OUTSIDE_QUESTION)), AnswerDone)[-1]
    assert done.answer == NO_DOCUMENTS_NOTICE
    assert ollama_server.requests_to("/api/chat") == []


async def test_documents_are_not_mentioned_when_the_chat_does_not_use_them(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    await collect(orchestrator.ingest([sample_library.folder]))
    done = only(
        await collect(orchestrator.chat(None, OUTSIDE_QUESTION, use_documents=False)), AnswerDone
    )[-1]
    assert NOTHING_FOUND_NOTICE not in done.answer
