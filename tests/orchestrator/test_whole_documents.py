"""Whole-document mode: a collection that fits in the model's context is given whole.

The orchestrator over real SQLite and Chroma and the Ollama-protocol test server, whose
fake model reads the numbered sources of the prompt and answers with the sentence that
best matches the question, citing its number: here the number of a page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from allma_desktop.errors import NotFound
from allma_desktop.events import AnswerDone, SourcesFound, TokenChunk
from allma_desktop.orchestrator import Orchestrator
from allma_desktop.records import ContextMode
from allma_desktop.services.retrieval.prompting import NOTHING_FOUND_NOTICE
from tests.orchestrator.test_orchestrator import collect, only
from tests.support.ollama_server import DEFAULT_MODELS, QWEN3_0_6B, OllamaTestServer
from tests.support.sample_docs import (
    PDF_ANSWER,
    PDF_ANSWER_PAGE,
    PDF_QUESTION,
    SampleLibrary,
    write_pdf,
)


@pytest.fixture
def ollama_server() -> Iterator[OllamaTestServer]:
    # The default models, and a model under a billion parameters.
    with OllamaTestServer([*DEFAULT_MODELS, QWEN3_0_6B]) as server:
        yield server


def last_prompt(server: OllamaTestServer) -> str:
    messages = server.requests_to("/api/chat")[-1].body["messages"]
    return str(messages[-1]["content"])


async def test_a_small_collection_is_given_whole_page_by_page_and_cited_by_page(
    orchestrator: Orchestrator, sample_library: SampleLibrary, ollama_server: OllamaTestServer
) -> None:
    await collect(orchestrator.ingest([sample_library.pdf]))
    events = await collect(orchestrator.chat(None, PDF_QUESTION))
    found = only(events, SourcesFound)[0]
    assert found.whole_documents == ("Lighthouse Manual",)
    assert [source.page for source in found.sources] == [1, 2, 3, 4]
    assert [source.number for source in found.sources] == [1, 2, 3, 4]
    prompt = last_prompt(ollama_server)
    assert prompt.startswith("Documents, page by page:")
    for page in (1, 2, 3, 4):
        assert f"[{page}] (lighthouse-manual.pdf, page {page})" in prompt
    done = only(events, AnswerDone)[-1]
    assert PDF_ANSWER in done.answer
    assert [source.page for source in done.sources] == [PDF_ANSWER_PAGE]
    stored = orchestrator.conversations.get_message(done.message_id)
    assert [source.page for source in stored.sources] == [PDF_ANSWER_PAGE]
    assert stored.whole_documents == ("Lighthouse Manual",)
    (listed,) = [
        m
        for m in orchestrator.conversation_messages(done.conversation_id)
        if m.id == done.message_id
    ]
    assert listed.whole_documents == ("Lighthouse Manual",)


async def test_the_check_reads_the_whole_cited_page(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    await collect(orchestrator.ingest([sample_library.pdf]))
    events = await collect(orchestrator.chat(None, PDF_QUESTION))
    done = only(events, AnswerDone)[-1]
    report = orchestrator.conversations.get_message(done.message_id).grounding
    assert report is not None and (report.checked, report.supported) == (1, 1)


async def test_passages_mode_sends_the_best_passages(
    orchestrator: Orchestrator, sample_library: SampleLibrary, ollama_server: OllamaTestServer
) -> None:
    await collect(orchestrator.ingest([sample_library.pdf]))
    events = await collect(orchestrator.chat(None, PDF_QUESTION, context_mode=ContextMode.PASSAGES))
    found = only(events, SourcesFound)[0]
    assert found.whole_documents == ()
    assert last_prompt(ollama_server).startswith("Sources:")
    assert len(found.sources) < 4  # not every page: the ones that match
    done = only(events, AnswerDone)[-1]
    record = orchestrator.conversation(done.conversation_id)
    assert record.context_mode is ContextMode.PASSAGES  # stored with the new conversation
    assert orchestrator.conversations.get_message(done.message_id).whole_documents == ()


async def test_auto_gives_passages_when_the_documents_do_not_fit(
    orchestrator: Orchestrator, tmp_path: Path, ollama_server: OllamaTestServer
) -> None:
    await collect(orchestrator.ingest([long_pdf(tmp_path)]))
    events = await collect(orchestrator.chat(None, "How deep is the harbour basin?"))
    assert only(events, SourcesFound)[0].whole_documents == ()
    assert last_prompt(ollama_server).startswith("Sources:")
    assert "too long" not in only(events, AnswerDone)[-1].answer


async def test_whole_document_mode_says_so_when_the_documents_do_not_fit(
    orchestrator: Orchestrator, tmp_path: Path, ollama_server: OllamaTestServer
) -> None:
    await collect(orchestrator.ingest([long_pdf(tmp_path)]))
    events = await collect(
        orchestrator.chat(None, "How deep is the harbour basin?", context_mode=ContextMode.WHOLE)
    )
    assert only(events, SourcesFound)[0].whole_documents == ()
    first = only(events, TokenChunk)[0].text
    assert first.startswith("The documents are too long for this model's context (about ")
    assert "room for " in first and "from the best passages" in first
    assert last_prompt(ollama_server).startswith("Sources:")


async def test_whole_document_mode_fits_the_documents_to_the_models_context(
    orchestrator: Orchestrator, sample_library: SampleLibrary, ollama_server: OllamaTestServer
) -> None:
    # The same four pages, with a context that cannot hold them and the answer's room.
    await collect(orchestrator.ingest([sample_library.pdf]))
    orchestrator.config = replace(orchestrator.config, context_length=1300)
    events = await collect(orchestrator.chat(None, PDF_QUESTION, context_mode=ContextMode.WHOLE))
    assert only(events, SourcesFound)[0].whole_documents == ()
    assert ollama_server.requests_to("/api/show")  # the context length came from the model
    assert "too long" in only(events, TokenChunk)[0].text


async def test_a_small_model_in_auto_mode_keeps_its_short_prompt(
    orchestrator: Orchestrator, sample_library: SampleLibrary, ollama_server: OllamaTestServer
) -> None:
    await collect(orchestrator.ingest([sample_library.pdf]))
    events = await collect(orchestrator.chat(None, PDF_QUESTION, model=QWEN3_0_6B.name))
    assert only(events, SourcesFound)[0].whole_documents == ()
    assert last_prompt(ollama_server).startswith("Text:")


async def test_the_mode_is_kept_with_the_conversation(
    orchestrator: Orchestrator, sample_library: SampleLibrary, ollama_server: OllamaTestServer
) -> None:
    await collect(orchestrator.ingest([sample_library.pdf]))
    record = orchestrator.create_conversation()
    assert record.context_mode is ContextMode.AUTO
    changed = orchestrator.set_conversation_context_mode(record.id, ContextMode.PASSAGES)
    assert changed.context_mode is ContextMode.PASSAGES
    assert orchestrator.list_conversations()[0].context_mode is ContextMode.PASSAGES
    events = await collect(orchestrator.chat(record.id, PDF_QUESTION))
    assert only(events, SourcesFound)[0].whole_documents == ()
    # Given for one answer, a mode holds for that answer alone.
    events = await collect(
        orchestrator.chat(record.id, PDF_QUESTION, context_mode=ContextMode.AUTO)
    )
    assert only(events, SourcesFound)[0].whole_documents == ("Lighthouse Manual",)
    assert orchestrator.conversation(record.id).context_mode is ContextMode.PASSAGES
    orchestrator.delete_conversation(record.id)
    with pytest.raises(NotFound):
        orchestrator.set_conversation_context_mode(record.id, ContextMode.WHOLE)


async def test_in_auto_mode_a_question_nothing_matches_is_not_given_the_documents(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    await collect(orchestrator.ingest([sample_library.pdf]))
    events = await collect(orchestrator.chat(None, "Who painted the Mona Lisa?"))
    assert only(events, SourcesFound)[0] == SourcesFound(())
    assert only(events, TokenChunk)[0].text.startswith(NOTHING_FOUND_NOTICE)


async def test_whole_document_mode_answers_from_the_pages_even_without_a_match(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    await collect(orchestrator.ingest([sample_library.pdf]))
    events = await collect(
        orchestrator.chat(None, "Summarise this", context_mode=ContextMode.WHOLE)
    )
    assert only(events, SourcesFound)[0].whole_documents == ("Lighthouse Manual",)
    done = only(events, AnswerDone)[-1]
    assert NOTHING_FOUND_NOTICE not in done.answer
    assert done.sources == ()  # it cites no page: no page is listed as its source


def long_pdf(folder: Path) -> Path:
    """Forty pages of harbour notes: some 20,000 tokens, more than the 8,192 of the context."""
    pages = [
        " ".join(
            f"Harbour note {page}.{line}: the basin on quay {page} was dredged to {line + 8} "
            f"metres and the pilots of sector {page} logged tide tables and moorings."
            for line in range(14)
        )
        for page in range(1, 41)
    ]
    return write_pdf(folder / "harbour.pdf", pages)
