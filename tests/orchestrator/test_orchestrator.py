"""The orchestrator end to end: real Chroma and SQLite, the real ollama client over HTTP
to the Ollama-protocol test server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from allma_desktop.cancel import CancelToken
from allma_desktop.errors import ModelMissing, OllamaUnreachable
from allma_desktop.events import (
    AnswerDone,
    ChatStarted,
    EmbedProgress,
    FileFinished,
    IngestFinished,
    SourcesFound,
    ThinkingChunk,
    TokenChunk,
)
from allma_desktop.orchestrator import Orchestrator
from allma_desktop.records import ContextMode
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import (
    DOCX_FACT,
    MARKDOWN_FACT,
    PDF_ANSWER,
    PDF_ANSWER_PAGE,
    PDF_PAGES,
    PDF_QUESTION,
    SampleLibrary,
    write_pdf,
)

E = TypeVar("E")


async def collect(stream: AsyncIterator[Any]) -> list[Any]:
    return [event async for event in stream]


def only(events: Sequence[Any], kind: type[E]) -> list[E]:
    return [event for event in events if isinstance(event, kind)]


def results_by_name(events: Sequence[Any]) -> dict[str, FileFinished]:
    finished = only(events, IngestFinished)[-1]
    return {Path(result.path).name: result for result in finished.results}


async def test_ingesting_a_mixed_folder_indexes_good_files_and_reports_the_corrupt_one(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    events = await collect(orchestrator.ingest([sample_library.folder]))
    results = results_by_name(events)
    assert {name: r.status for name, r in results.items()} == {
        "lighthouse-manual.pdf": "indexed",
        "greenhouse.docx": "indexed",
        "bicycle.md": "indexed",
        "baking.txt": "indexed",
        "broken.pdf": "failed",
    }
    assert results["broken.pdf"].reason
    assert results["lighthouse-manual.pdf"].pages == 4
    documents = {Path(d.path).name: d for d in orchestrator.list_documents()}
    assert documents["lighthouse-manual.pdf"].status == "ready"
    assert documents["lighthouse-manual.pdf"].chunk_count == results["lighthouse-manual.pdf"].chunks


async def test_reingesting_unchanged_files_adds_no_chunks(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    await collect(orchestrator.ingest([sample_library.folder]))
    collection = orchestrator.collection(None)
    count_before = orchestrator.store.count(collection.key)
    events = await collect(orchestrator.ingest([sample_library.folder]))
    statuses = {name: r.status for name, r in results_by_name(events).items()}
    assert statuses.pop("broken.pdf") == "failed"
    assert set(statuses.values()) == {"unchanged"}
    assert orchestrator.store.count(collection.key) == count_before


async def test_changed_file_replaces_its_old_chunks(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    pdf = write_pdf(tmp_path / "notes.pdf", ["The old secret code is PELICAN."])
    await collect(orchestrator.ingest([pdf]))
    write_pdf(pdf, ["The new secret code is ALBATROSS.", "A second page about harbours."])
    events = await collect(orchestrator.ingest([pdf]))
    assert results_by_name(events)["notes.pdf"].status == "indexed"
    key = orchestrator.collection(None).key
    document = orchestrator.list_documents()[0]
    assert orchestrator.store.count(key) == document.chunk_count
    assert orchestrator.store.chunk_ids(key) == orchestrator.library.document_chunk_ids(document.id)
    texts = " ".join(s.snippet for s in await orchestrator.search("secret code"))
    assert "ALBATROSS" in texts
    assert "PELICAN" not in texts


async def test_embeddings_are_requested_in_batches(
    orchestrator: Orchestrator, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    pages = [f"Page {n} talks about topic number {n} in some detail. " * 30 for n in range(40)]
    pdf = write_pdf(tmp_path / "long.pdf", pages)
    events = await collect(orchestrator.ingest([pdf]))
    chunks = results_by_name(events)["long.pdf"].chunks
    embed_requests = [r for r in ollama_server.requests if r.path == "/api/embed"]
    assert chunks >= 40
    batch = orchestrator.config.embed_batch_size
    assert len(embed_requests) == -(-chunks // batch)
    assert only(events, EmbedProgress)[-1].chunks_done == chunks


async def test_cancelling_ingestion_stops_before_the_next_file(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    cancel = CancelToken()
    events = []
    async for event in orchestrator.ingest([sample_library.folder], cancel=cancel):
        events.append(event)
        if isinstance(event, FileFinished):
            cancel.cancel()
    finished = only(events, IngestFinished)[-1]
    assert finished.cancelled
    assert len([r for r in finished.results if r.status == "indexed"]) <= 1


async def test_search_finds_the_page_holding_the_answer(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    await collect(orchestrator.ingest([sample_library.folder]))
    sources = await orchestrator.search(PDF_QUESTION)
    assert sources[0].path == str(sample_library.pdf.resolve())
    assert sources[0].page == PDF_ANSWER_PAGE
    assert [s.number for s in sources] == list(range(1, len(sources) + 1))


async def test_search_finds_docx_and_markdown_facts(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    await collect(orchestrator.ingest([sample_library.folder]))
    docx_hit = (await orchestrator.search("When do the greenhouse tomatoes need watering?"))[0]
    assert DOCX_FACT in docx_hit.snippet
    markdown_hit = (await orchestrator.search("when should the bicycle chain be oiled"))[0]
    assert MARKDOWN_FACT in markdown_hit.snippet
    assert markdown_hit.heading_path[-1] == "Chain"


async def test_ask_answers_from_the_right_page_and_cites_it(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    await collect(orchestrator.ingest([sample_library.folder]))
    events = await collect(orchestrator.chat(None, PDF_QUESTION))
    done = only(events, AnswerDone)[-1]
    assert done.error is None and not done.interrupted
    assert PDF_ANSWER in done.answer
    assert done.sources, "the answer must cite a source"
    assert done.sources[0].path == str(sample_library.pdf.resolve())
    assert done.sources[0].page == PDF_ANSWER_PAGE
    assert "".join(e.text for e in only(events, TokenChunk)) == done.answer
    assert only(events, ThinkingChunk), "deepseek-r1 streams its thinking"
    assert done.thinking


async def test_answer_question_and_sources_are_stored(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    await collect(orchestrator.ingest([sample_library.folder]))
    events = await collect(orchestrator.chat(None, PDF_QUESTION))
    started = only(events, ChatStarted)[0]
    messages = orchestrator.conversations.messages(started.conversation_id)
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[0].content == PDF_QUESTION
    answer = messages[1]
    assert answer.status == "complete"
    assert PDF_ANSWER in answer.content
    assert answer.sources[0].page == PDF_ANSWER_PAGE
    assert answer.thinking


async def test_an_answers_sources_come_back_from_history_with_heading_path_and_span(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    await collect(orchestrator.ingest([sample_library.folder]))
    events = await collect(orchestrator.chat(None, "When should the bicycle chain be oiled?"))
    done = only(events, AnswerDone)[-1]
    cited = done.sources[0]
    assert MARKDOWN_FACT in done.answer and cited.path == str(sample_library.markdown.resolve())
    assert cited.heading_path == ("Bicycle care", "Chain")
    chunk = orchestrator.library.chunks_by_ids([cited.chunk_id])[cited.chunk_id]
    assert cited.span == (chunk.char_start, chunk.char_end) != (0, 0)

    stored = orchestrator.conversations.messages(done.conversation_id)[-1]

    assert stored.sources == done.sources


async def test_the_prompt_sets_num_ctx_and_numbers_the_sources(
    orchestrator: Orchestrator, sample_library: SampleLibrary, ollama_server: OllamaTestServer
) -> None:
    await collect(orchestrator.ingest([sample_library.folder]))
    await collect(orchestrator.chat(None, PDF_QUESTION, context_mode=ContextMode.PASSAGES))
    chat_request = [r for r in ollama_server.requests if r.path == "/api/chat"][-1]
    body = (
        chat_request.body if isinstance(chat_request.body, dict) else json.loads(chat_request.body)
    )
    assert body["options"]["num_ctx"] >= 2048
    assert "[1] (lighthouse-manual.pdf, page 3)" in body["messages"][-1]["content"]


async def test_follow_up_question_carries_the_conversation_history(
    orchestrator: Orchestrator, sample_library: SampleLibrary, ollama_server: OllamaTestServer
) -> None:
    await collect(orchestrator.ingest([sample_library.folder]))
    first = only(await collect(orchestrator.chat(None, PDF_QUESTION)), AnswerDone)[-1]
    await collect(orchestrator.chat(first.conversation_id, "And how often is the lens cleaned?"))
    body = [r for r in ollama_server.requests if r.path == "/api/chat"][-1].body
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert len(orchestrator.conversations.messages(first.conversation_id)) == 4


async def test_question_outside_the_documents_gets_no_sources(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    await collect(orchestrator.ingest([sample_library.folder]))
    events = await collect(orchestrator.chat(None, "Who painted the Mona Lisa?"))
    assert only(events, SourcesFound)[0].sources == ()
    assert only(events, AnswerDone)[-1].sources == ()


async def test_stopping_mid_answer_keeps_the_partial_answer(
    orchestrator: Orchestrator, sample_library: SampleLibrary, ollama_server: OllamaTestServer
) -> None:
    await collect(orchestrator.ingest([sample_library.folder]))
    cancel = CancelToken()
    events = []
    async for event in orchestrator.chat(None, PDF_QUESTION, cancel=cancel):
        events.append(event)
        if isinstance(event, TokenChunk) and len(only(events, TokenChunk)) == 2:
            cancel.cancel()
    done = only(events, AnswerDone)[-1]
    assert done.interrupted
    stored = orchestrator.conversations.messages(done.conversation_id)[-1]
    assert stored.status == "interrupted"
    assert stored.content == done.answer != ""


async def test_stream_cut_by_the_server_keeps_the_partial_answer_marked_interrupted(
    orchestrator: Orchestrator, sample_library: SampleLibrary, ollama_server: OllamaTestServer
) -> None:
    await collect(orchestrator.ingest([sample_library.folder]))
    ollama_server.faults.cut_stream_after = 3
    done = only(await collect(orchestrator.chat(None, PDF_QUESTION)), AnswerDone)[-1]
    assert done.interrupted and done.error is not None
    assert done.answer
    stored = orchestrator.conversations.messages(done.conversation_id)[-1]
    assert stored.status == "interrupted"


async def test_regenerate_replaces_the_last_answer(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    await collect(orchestrator.ingest([sample_library.folder]))
    first = only(await collect(orchestrator.chat(None, PDF_QUESTION)), AnswerDone)[-1]
    user_message = orchestrator.conversations.messages(first.conversation_id)[0]
    await collect(
        orchestrator.chat(
            first.conversation_id,
            "How is the lens cleaned?",
            replace_from_message_id=user_message.id,
        )
    )
    messages = orchestrator.conversations.messages(first.conversation_id)
    assert [m.content for m in messages if m.role == "user"] == ["How is the lens cleaned?"]


async def test_missing_chat_model_is_reported_with_the_pull_command(
    orchestrator: Orchestrator, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.missing_models.add("deepseek-r1:latest")
    done = only(await collect(orchestrator.chat(None, "hello")), AnswerDone)[-1]
    assert isinstance(done.error, ModelMissing)
    assert "allma pull deepseek-r1:latest" in done.error.hint


async def test_missing_embedding_model_fails_ingest_with_the_pull_command(
    orchestrator: Orchestrator, ollama_server: OllamaTestServer, sample_library: SampleLibrary
) -> None:
    ollama_server.faults.missing_models.add("nomic-embed-text:latest")
    events = await collect(orchestrator.ingest([sample_library.pdf]))
    finished = only(events, IngestFinished)[-1]
    assert isinstance(finished.error, ModelMissing)
    assert finished.results[0].status == "failed"
    assert orchestrator.store.count(orchestrator.collection(None).key) == 0
    assert orchestrator.list_documents()[0].status == "failed"


async def test_unreachable_ollama_is_reported_in_health_and_chat(
    orchestrator: Orchestrator, ollama_server: OllamaTestServer
) -> None:
    ollama_server.stop()
    report = await orchestrator.health()
    assert not report.ok
    assert isinstance(report.ollama.error, OllamaUnreachable)
    done = only(await collect(orchestrator.chat(None, "hello")), AnswerDone)[-1]
    assert isinstance(done.error, OllamaUnreachable)
    assert "ollama serve" in done.error.hint


async def test_health_reports_models_and_counts(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    await collect(orchestrator.ingest([sample_library.pdf]))
    report = await orchestrator.health()
    assert report.ok
    assert report.ollama.chat_model_present and report.ollama.embedding_model_present
    assert report.documents == 1 and report.chunks >= 1


async def test_documents_in_another_collection_are_not_searched(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    papers = orchestrator.create_collection("Papers")
    await collect(orchestrator.ingest([sample_library.pdf], collection_id=papers.id))
    assert await orchestrator.search(PDF_QUESTION) == []
    hits = await orchestrator.search(PDF_QUESTION, collection_id=papers.id)
    assert hits[0].page == PDF_ANSWER_PAGE


async def test_removing_a_document_removes_its_chunks(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    await collect(orchestrator.ingest([sample_library.pdf]))
    document = orchestrator.list_documents()[0]
    await orchestrator.remove_document(document.id)
    assert orchestrator.list_documents() == []
    assert orchestrator.store.count(orchestrator.collection(None).key) == 0
    assert await orchestrator.search(PDF_QUESTION) == []


@pytest.mark.parametrize("name", [".hidden.txt", "song.mp3"])
async def test_hidden_and_unsupported_files_are_skipped_with_a_reason(
    orchestrator: Orchestrator, tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    path.write_bytes(b"ID3\x04\x00" if name.endswith(".mp3") else b"hidden")
    result = only(await collect(orchestrator.ingest([path])), IngestFinished)[-1].results[0]
    assert result.status == "skipped"
    assert result.reason


def test_sample_pdf_pages_are_distinct() -> None:
    # Guards the fixtures the retrieval tests rely on.
    assert len(set(PDF_PAGES)) == len(PDF_PAGES)
