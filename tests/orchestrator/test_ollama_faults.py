"""Ollama failing in every way it does, seen through the orchestrator.

Each fault gives an AllmaError with a message and a next step (never a bare
exception), a partial answer is kept and marked ``interrupted``, a retry of the
same question gives a complete answer, and an ingest that could not embed leaves
its document ``failed`` with nothing in the vector store until it is re-ingested.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from allma_desktop.config import AppConfig
from allma_desktop.errors import (
    AllmaError,
    ModelMissing,
    OllamaError,
    OllamaTimeout,
    OllamaUnreachable,
    StreamInterrupted,
)
from allma_desktop.events import (
    AnswerDone,
    ChatStarted,
    FileFinished,
    IngestFinished,
    TokenChunk,
)
from allma_desktop.orchestrator import Orchestrator
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import write_text

E = TypeVar("E")

QUESTION = "When is the sourdough starter fed with rye flour?"
ANSWER_FACT = "The sourdough starter is fed with rye flour on Sundays."


async def collect(stream: AsyncIterator[Any]) -> list[Any]:
    return [event async for event in stream]


def only(events: Sequence[Any], kind: type[E]) -> list[E]:
    return [event for event in events if isinstance(event, kind)]


def assert_actionable(error: AllmaError | None) -> AllmaError:
    """An error the user can act on: what happened, and what to do."""
    assert isinstance(error, AllmaError)
    assert error.message and error.hint
    return error


@pytest.fixture
def one_document(tmp_path: Path) -> Path:
    folder = tmp_path / "incoming"
    folder.mkdir()
    return write_text(folder / "baking.txt")


@pytest.fixture
async def indexed(orchestrator: Orchestrator, one_document: Path) -> Orchestrator:
    """The orchestrator with one small text document indexed."""
    events = await collect(orchestrator.ingest([one_document]))
    assert only(events, IngestFinished)[-1].count("indexed") == 1
    return orchestrator


async def ask(orchestrator: Orchestrator, conversation_id: int | None = None, **kw: Any) -> Any:
    """(ChatStarted, AnswerDone) for QUESTION."""
    events = await collect(orchestrator.chat(conversation_id, QUESTION, **kw))
    return only(events, ChatStarted)[0], only(events, AnswerDone)[0]


async def retry(orchestrator: Orchestrator, started: ChatStarted) -> AnswerDone:
    """Ask the same question again in place of the failed turn, as Retry in the GUI does."""
    events = await collect(
        orchestrator.chat(
            started.conversation_id, QUESTION, replace_from_message_id=started.user_message_id
        )
    )
    return only(events, AnswerDone)[0]


def assert_retry_completes(
    orchestrator: Orchestrator, started: ChatStarted, done: AnswerDone
) -> None:
    assert done.error is None and not done.interrupted
    assert ANSWER_FACT in done.answer
    messages = orchestrator.conversations.messages(started.conversation_id)
    # The failed turn is replaced, not kept next to the new one.
    assert [(m.role, m.status) for m in messages] == [
        ("user", "complete"),
        ("assistant", "complete"),
    ]
    assert messages[-1].content == done.answer


def stored_answer(orchestrator: Orchestrator, done: AnswerDone) -> Any:
    return orchestrator.conversations.get_message(done.message_id)


# --- not reachable ------------------------------------------------------------------


async def test_unreachable_at_start_health_says_so_with_the_hint(
    orchestrator: Orchestrator, ollama_server: OllamaTestServer
) -> None:
    ollama_server.stop()
    report = await orchestrator.health()
    assert not report.ollama.reachable and not report.ok
    error = assert_actionable(report.ollama.error)
    assert isinstance(error, OllamaUnreachable)
    assert "ollama serve" in error.hint


async def test_unreachable_at_start_chat_gives_ollama_unreachable_and_stores_a_failed_answer(
    orchestrator: Orchestrator, ollama_server: OllamaTestServer
) -> None:
    ollama_server.stop()
    started, done = await ask(orchestrator)
    assert isinstance(assert_actionable(done.error), OllamaUnreachable)
    assert stored_answer(orchestrator, done).status == "failed"
    # The question itself is never lost.
    assert orchestrator.conversations.get_message(started.user_message_id).content == QUESTION


# --- stopped mid-answer -------------------------------------------------------------


@contextlib.asynccontextmanager
async def engine_at(config: AppConfig, server: OllamaTestServer) -> AsyncIterator[Orchestrator]:
    engine = Orchestrator(config.with_changes(ollama_host=server.url))
    await engine.open()
    try:
        yield engine
    finally:
        await engine.close()


async def test_ollama_stopped_mid_answer_keeps_the_partial_answer_and_a_retry_completes_it(
    config: AppConfig, one_document: Path
) -> None:
    with OllamaTestServer() as first:
        async with engine_at(config, first) as engine:
            await collect(engine.ingest([one_document]))
            first.faults.token_delay = 0.05
            events: list[Any] = []
            async for event in engine.chat(None, QUESTION):
                events.append(event)
                if isinstance(event, TokenChunk) and len(only(events, TokenChunk)) == 2:
                    # Ollama quits while answering. The cut is needed because the test
                    # server, once stopping, would otherwise flush the rest of the answer.
                    first.faults.cut_stream_after = 0
                    await asyncio.to_thread(first.stop)
            started, done = only(events, ChatStarted)[0], only(events, AnswerDone)[0]
            assert done.interrupted and done.answer
            assert isinstance(assert_actionable(done.error), OllamaError)
            saved = stored_answer(engine, done)
            assert (saved.status, saved.content) == ("interrupted", done.answer)
    with OllamaTestServer() as restarted:  # Ollama is back (on another port here)
        async with engine_at(config, restarted) as engine:
            assert_retry_completes(engine, started, await retry(engine, started))


async def test_stream_cut_without_done_is_interrupted_and_retry_completes(
    indexed: Orchestrator, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.cut_stream_after = 2
    started, done = await ask(indexed)
    assert done.interrupted and done.answer
    assert isinstance(assert_actionable(done.error), StreamInterrupted)
    assert stored_answer(indexed, done).status == "interrupted"
    ollama_server.faults.cut_stream_after = None
    assert_retry_completes(indexed, started, await retry(indexed, started))


async def test_error_line_mid_answer_is_interrupted_and_names_ollamas_reason(
    indexed: Orchestrator, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.error_after = 2
    started, done = await ask(indexed)
    error = assert_actionable(done.error)
    assert done.interrupted and done.answer
    assert "runner process has terminated" in error.message
    ollama_server.faults.error_after = None
    assert_retry_completes(indexed, started, await retry(indexed, started))


# --- HTTP 500 ----------------------------------------------------------------------


async def test_http_500_gives_ollamas_message_and_retry_completes(
    indexed: Orchestrator, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.status_500 = True
    started, done = await ask(indexed)
    error = assert_actionable(done.error)
    assert isinstance(error, OllamaError) and "500" in error.message
    assert not done.answer and stored_answer(indexed, done).status == "failed"
    ollama_server.faults.status_500 = False
    assert_retry_completes(indexed, started, await retry(indexed, started))


# --- slow first token ----------------------------------------------------------------


async def test_first_token_slower_than_the_timeout_gives_ollama_timeout(
    config: AppConfig, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.first_token_delay = 1.0
    engine = Orchestrator(config.with_changes(request_timeout=0.3))
    await engine.open()
    try:
        _, done = await ask(engine, use_documents=False)
    finally:
        await engine.close()
    error = assert_actionable(done.error)
    assert isinstance(error, OllamaTimeout)
    assert "0.3 s" in error.message and "timeout" in error.hint


async def test_slow_first_token_within_the_timeout_is_waited_for(
    indexed: Orchestrator, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.first_token_delay = 0.5  # the default timeout is minutes
    _, done = await ask(indexed)
    assert done.error is None and ANSWER_FACT in done.answer


# --- model removed ---------------------------------------------------------------------


async def test_model_removed_after_listing_gives_model_missing_and_retry_after_pull_completes(
    indexed: Orchestrator, ollama_server: OllamaTestServer
) -> None:
    await ask(indexed)  # the model's details are known (cached) from a first answer
    assert "deepseek-r1:latest" in [m.name for m in await indexed.models()]
    ollama_server.faults.missing_models = {"deepseek-r1:latest"}
    started, done = await ask(indexed)
    error = assert_actionable(done.error)
    assert isinstance(error, ModelMissing) and "allma pull deepseek-r1:latest" in error.hint
    ollama_server.faults.missing_models = set()
    done = await retry(indexed, started)
    assert done.error is None and ANSWER_FACT in done.answer


# --- malformed line -----------------------------------------------------------------


async def test_malformed_line_mid_answer_keeps_the_partial_answer_and_retry_completes(
    indexed: Orchestrator, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.malformed_line_after = 2
    started, done = await ask(indexed)
    assert done.interrupted and done.answer
    assert isinstance(assert_actionable(done.error), StreamInterrupted)
    assert stored_answer(indexed, done).status == "interrupted"
    ollama_server.faults.malformed_line_after = None
    assert_retry_completes(indexed, started, await retry(indexed, started))


# --- embedding failures during ingestion ------------------------------------------


async def ingest_one(orchestrator: Orchestrator, path: Path) -> tuple[FileFinished, IngestFinished]:
    events = await collect(orchestrator.ingest([path]))
    return only(events, FileFinished)[-1], only(events, IngestFinished)[-1]


def assert_failed_with_nothing_stored(
    orchestrator: Orchestrator, path: Path, result: FileFinished
) -> None:
    assert result.status == "failed" and result.reason
    (document,) = [d for d in orchestrator.list_documents() if Path(d.path).name == path.name]
    assert document.status == "failed" and document.error
    collection = orchestrator.collection(None)
    assert orchestrator.store.count(collection.key, document.id) == 0
    assert orchestrator.store.count(collection.key) == 0


async def assert_reingest_indexes(orchestrator: Orchestrator, path: Path) -> None:
    result, _ = await ingest_one(orchestrator, path)
    assert result.status == "indexed" and result.chunks > 0
    (document,) = orchestrator.list_documents()
    assert document.status == "ready" and document.error is None
    collection = orchestrator.collection(None)
    assert orchestrator.store.count(collection.key, document.id) == result.chunks


async def test_embedding_500_leaves_the_document_failed_and_reingest_indexes_it(
    orchestrator: Orchestrator, ollama_server: OllamaTestServer, one_document: Path
) -> None:
    ollama_server.faults.status_500 = True
    result, finished = await ingest_one(orchestrator, one_document)
    assert_failed_with_nothing_stored(orchestrator, one_document, result)
    assert isinstance(assert_actionable(finished.error), OllamaError)
    ollama_server.faults.status_500 = False
    await assert_reingest_indexes(orchestrator, one_document)


async def test_missing_embedding_model_leaves_the_document_failed_and_reingest_indexes_it(
    orchestrator: Orchestrator, ollama_server: OllamaTestServer, one_document: Path
) -> None:
    ollama_server.faults.missing_models = {"nomic-embed-text:latest"}
    result, finished = await ingest_one(orchestrator, one_document)
    assert_failed_with_nothing_stored(orchestrator, one_document, result)
    error = assert_actionable(finished.error)
    assert isinstance(error, ModelMissing) and error.role == "embedding"
    ollama_server.faults.missing_models = set()
    await assert_reingest_indexes(orchestrator, one_document)


async def test_failed_chat_never_loses_the_indexed_documents(
    indexed: Orchestrator, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.status_500 = True
    await ask(indexed)
    ollama_server.faults.status_500 = False
    sources = await indexed.search(QUESTION)
    assert sources and sources[0].snippet
