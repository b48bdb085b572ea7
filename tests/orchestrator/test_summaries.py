"""Documents too long for the model's context, summarised in parts for "summarise this".

The orchestrator over real SQLite and Chroma and the Ollama-protocol test server. Its
fake model answers each request with the sentence of the numbered sources that best
matches the question, citing its number: a part's summary cites one of the part's
pages, and the answer cites a page from the summaries.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from allma_desktop.events import AnswerDone, SourcesFound, ThinkingChunk, TokenChunk
from allma_desktop.orchestrator import Orchestrator
from allma_desktop.records import ContextMode
from allma_desktop.services.retrieval.summaries import (
    SUMMARY_ANSWER_INSTRUCTIONS,
    SUMMARY_PART_INSTRUCTIONS,
)
from tests.orchestrator.test_orchestrator import collect, only
from tests.orchestrator.test_whole_documents import long_pdf
from tests.support.ollama_server import OllamaTestServer, compose_reply
from tests.support.sample_docs import SampleLibrary

SUMMARY_QUESTION = "Summarise the harbour notes on the dredged basin"
_PAGE = re.compile(r"^\[(\d+)\] \(harbour\.pdf, page (\d+)\)$", re.MULTILINE)


def system_of(request: Any) -> str:
    return str(request.body["messages"][0]["content"])


def pages_in(request: Any) -> list[int]:
    return [int(page) for _, page in _PAGE.findall(str(request.body["messages"][-1]["content"]))]


async def test_a_summary_of_documents_too_long_is_made_in_parts_and_cites_pages(
    orchestrator: Orchestrator, tmp_path: Path, ollama_server: OllamaTestServer
) -> None:
    await collect(orchestrator.ingest([long_pdf(tmp_path)]))  # ~20,000 tokens, 8,192 context
    events = await collect(
        orchestrator.chat(None, SUMMARY_QUESTION, context_mode=ContextMode.WHOLE)
    )

    found = only(events, SourcesFound)[0]
    assert found.whole_documents == ("Harbour",)
    assert [s.page for s in found.sources] == list(range(1, 41))
    chats = ollama_server.requests_to("/api/chat")
    maps = [r for r in chats if system_of(r) == SUMMARY_PART_INSTRUCTIONS]
    final = chats[-1]
    assert system_of(final).startswith(SUMMARY_ANSWER_INSTRUCTIONS)
    # The map: every page once, in order, in parts that each fit the context.
    assert len(maps) >= 3
    assert [page for r in maps for page in pages_in(r)] == list(range(1, 41))
    assert all(r.body["options"]["num_ctx"] == 8192 for r in chats)
    assert all(r.body["options"]["num_predict"] == 512 for r in maps)
    # Progress, one line a part, before each is asked.
    progress = [e.text for e in only(events, ThinkingChunk) if e.text.startswith("Summarising")]
    assert len(progress) == len(maps)
    assert progress[0] == (
        f"Summarising, part 1 of {len(maps)}: harbour.pdf, page 1 to "
        f"harbour.pdf, page {pages_in(maps[0])[-1]}…\n"
    )
    # The reduce: what each part's summary said, under the page it cited.
    summarised = pages_in(final)
    assert summarised and set(summarised) < set(range(1, 41))
    done = only(events, AnswerDone)[-1]
    assert done.summary_parts == len(maps) and done.error is None
    assert re.search(r"\[\d+\]", done.answer)
    assert [s.page for s in done.sources] and {s.page for s in done.sources} <= set(summarised)
    # Stored with the answer: reopened, it still says how it was made.
    stored = orchestrator.conversations.get_message(done.message_id)
    assert (stored.whole_documents, stored.summary_parts) == (("Harbour",), len(maps))
    assert [s.page for s in stored.sources] == [s.page for s in done.sources]


async def test_the_summary_is_checked_against_the_pages_it_cites(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    await collect(orchestrator.ingest([long_pdf(tmp_path)]))
    events = await collect(
        orchestrator.chat(None, SUMMARY_QUESTION, context_mode=ContextMode.WHOLE)
    )
    done = only(events, AnswerDone)[-1]
    report = orchestrator.conversations.get_message(done.message_id).grounding
    assert report is not None and report.checked >= 1 and report.supported == report.checked


async def test_auto_summarises_in_parts_too_but_answers_other_questions_from_passages(
    orchestrator: Orchestrator, tmp_path: Path, ollama_server: OllamaTestServer
) -> None:
    await collect(orchestrator.ingest([long_pdf(tmp_path)]))
    events = await collect(orchestrator.chat(None, SUMMARY_QUESTION))
    assert only(events, AnswerDone)[-1].summary_parts >= 3
    before = len(ollama_server.requests_to("/api/chat"))
    events = await collect(orchestrator.chat(None, "How deep is the harbour basin on quay 7?"))
    done = only(events, AnswerDone)[-1]
    assert done.summary_parts == 0 and done.whole_documents == ()
    assert len(ollama_server.requests_to("/api/chat")) == before + 1  # one request: passages


async def test_a_summary_request_that_fails_ends_the_answer_with_the_error(
    orchestrator: Orchestrator, tmp_path: Path, ollama_server: OllamaTestServer
) -> None:
    await collect(orchestrator.ingest([long_pdf(tmp_path)]))
    asked: list[int] = []

    def generate(messages: list[dict[str, Any]], options: dict[str, Any]) -> str:
        asked.append(1)
        ollama_server.faults.status_500 = True  # the next request fails
        return compose_reply(messages).answer

    ollama_server.generator = generate
    events = await collect(
        orchestrator.chat(None, SUMMARY_QUESTION, context_mode=ContextMode.WHOLE)
    )
    done = only(events, AnswerDone)[-1]
    assert done.error is not None and done.interrupted
    assert asked == [1]  # the first part's summary; the second failed, nothing after it
    assert not [e for e in events if isinstance(e, TokenChunk)]
    stored = orchestrator.conversations.get_message(done.message_id)
    assert stored.status == "failed"


async def test_a_stop_while_summarising_asks_nothing_more(
    orchestrator: Orchestrator, tmp_path: Path, ollama_server: OllamaTestServer
) -> None:
    from allma_desktop.cancel import CancelToken

    await collect(orchestrator.ingest([long_pdf(tmp_path)]))
    cancel = CancelToken()

    def generate(messages: list[dict[str, Any]], options: dict[str, Any]) -> str:
        cancel.cancel()  # the user presses Stop while the first part is summarised
        return compose_reply(messages).answer

    ollama_server.generator = generate
    before = len(ollama_server.requests_to("/api/chat"))
    events = await collect(
        orchestrator.chat(None, SUMMARY_QUESTION, context_mode=ContextMode.WHOLE, cancel=cancel)
    )
    assert len(ollama_server.requests_to("/api/chat")) == before + 1
    done = only(events, AnswerDone)[-1]
    assert done.interrupted and done.answer == "" and done.summary_parts == 1


async def test_documents_too_long_even_to_summarise_say_so_and_get_passages(
    orchestrator: Orchestrator, tmp_path: Path, ollama_server: OllamaTestServer
) -> None:
    await collect(orchestrator.ingest([long_pdf(tmp_path)]))
    orchestrator.config = replace(orchestrator.config, context_length=1500)
    events = await collect(
        orchestrator.chat(None, SUMMARY_QUESTION, context_mode=ContextMode.WHOLE)
    )
    first = only(events, TokenChunk)[0].text
    assert first.startswith("The documents are too long to summarise with this model's context")
    assert "at most 16" in first and "from the best passages" in first
    assert only(events, AnswerDone)[-1].summary_parts == 0
    prompts = [system_of(r) for r in ollama_server.requests_to("/api/chat")]
    assert SUMMARY_PART_INSTRUCTIONS not in prompts


async def test_the_meter_measures_as_the_chat_decides(
    orchestrator: Orchestrator,
    tmp_path: Path,
    sample_library: SampleLibrary,
    ollama_server: OllamaTestServer,
) -> None:
    await collect(orchestrator.ingest([sample_library.pdf]))
    fit = await orchestrator.context_fit()
    assert fit.fits and fit.exact and fit.documents == 1
    assert fit.context_tokens == 8192 and 0 < fit.tokens < fit.room < fit.context_tokens
    assert fit.summary_requests == 0 and not fit.summarisable
    events = await collect(
        orchestrator.chat(None, "Summarise this", context_mode=ContextMode.WHOLE)
    )
    assert only(events, SourcesFound)[0].whole_documents == ("Lighthouse Manual",)

    harbour = orchestrator.create_collection("Harbour")
    await collect(orchestrator.ingest([long_pdf(tmp_path)], collection_id=harbour.id))
    long = await orchestrator.context_fit(harbour.id)
    assert not long.fits and long.summarisable and long.summary_requests >= 3
    assert long.tokens > long.room and long.documents == 1
    events = await collect(
        orchestrator.chat(
            None, SUMMARY_QUESTION, collection_id=harbour.id, context_mode=ContextMode.WHOLE
        )
    )
    assert only(events, AnswerDone)[-1].summary_parts == long.summary_requests


async def test_the_meter_follows_the_models_context_and_the_conversation(
    orchestrator: Orchestrator, sample_library: SampleLibrary, ollama_server: OllamaTestServer
) -> None:
    # The same four pages, with a context that cannot hold them and the answer's room.
    await collect(orchestrator.ingest([sample_library.pdf]))
    orchestrator.config = replace(orchestrator.config, context_length=1300)
    fit = await orchestrator.context_fit()
    assert not fit.fits and fit.context_tokens == 1300 and fit.room < fit.tokens
    events = await collect(orchestrator.chat(None, "What is it?", context_mode=ContextMode.WHOLE))
    assert only(events, SourcesFound)[0].whole_documents == ()  # as the meter said
    # A conversation's history takes room from the documents.
    conversation = only(events, AnswerDone)[-1].conversation_id
    later = await orchestrator.context_fit(conversation_id=conversation)
    assert later.room < fit.room and later.context_tokens == fit.context_tokens
