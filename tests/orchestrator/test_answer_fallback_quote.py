"""An answer that carries nothing of its source is followed by a marked, cited quote."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from allma_desktop.events import AnswerDone, TokenChunk
from allma_desktop.orchestrator import Orchestrator
from allma_desktop.services.retrieval.prompting import QUOTE_INTRO
from tests.support.ollama_server import DEFAULT_MODELS, FakeModel, OllamaTestServer
from tests.support.sample_docs import PDF_ANSWER, PDF_ANSWER_PAGE, PDF_QUESTION, SampleLibrary

TINY = FakeModel("tiny:135m", "llama", ("completion",), parameter_size="135M", context_length=8192)
VAGUE_ANSWER = "The lamp is described in the text."


def _vague(messages: list[dict[str, Any]], options: dict[str, Any]) -> str:
    return VAGUE_ANSWER  # restates the question's subject, none of the source's facts


@pytest.fixture
def ollama_server() -> Iterator[OllamaTestServer]:
    # The fake models' embeddings (no embedder hook); every chat answers vaguely.
    with OllamaTestServer([*DEFAULT_MODELS, TINY], generator=_vague) as server:
        yield server


async def _ask(orchestrator: Orchestrator, library: SampleLibrary) -> tuple[AnswerDone, str]:
    async for _event in orchestrator.ingest([library.pdf]):
        pass
    done: list[AnswerDone] = []
    streamed: list[str] = []
    async for event in orchestrator.chat(None, PDF_QUESTION, model=TINY.name):
        if isinstance(event, TokenChunk):
            streamed.append(event.text)
        if isinstance(event, AnswerDone):
            done.append(event)
    return done[-1], "".join(streamed)


async def test_vague_answer_is_kept_and_followed_by_a_quote_of_its_source_with_the_page(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    done, streamed = await _ask(orchestrator, sample_library)
    assert done.answer.startswith(VAGUE_ANSWER + "\n\n" + QUOTE_INTRO)
    assert f"page {PDF_ANSWER_PAGE}) [1]: “" in done.answer and PDF_ANSWER in done.answer
    assert streamed == done.answer  # the quote reaches the screen as the answer does
    assert [source.page for source in done.sources] == [PDF_ANSWER_PAGE]


async def test_saved_conversation_keeps_the_quote_with_the_answer(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    done, _ = await _ask(orchestrator, sample_library)
    saved = orchestrator.conversations.get_message(done.message_id)
    assert saved.content == done.answer
    assert [source.page for source in saved.sources] == [PDF_ANSWER_PAGE]
