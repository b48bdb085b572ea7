"""A chat with a model Ollama reports as small (under 1B parameters) gets the short prompt."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from allma_desktop.events import AnswerDone
from allma_desktop.orchestrator import Orchestrator
from allma_desktop.services.retrieval.prompting import SMALL_MODEL_ANSWER_TOKENS
from tests.support.ollama_server import DEFAULT_MODELS, FakeModel, OllamaTestServer
from tests.support.sample_docs import PDF_ANSWER, PDF_ANSWER_PAGE, PDF_QUESTION, SampleLibrary

SMOLLM2 = FakeModel(
    "smollm2:135m", "llama", ("completion",), parameter_size="135M", context_length=8192
)


@pytest.fixture
def ollama_server() -> Iterator[OllamaTestServer]:
    with OllamaTestServer([*DEFAULT_MODELS, SMOLLM2]) as server:
        yield server


async def _ask_small_model(orchestrator: Orchestrator, sample_library: SampleLibrary) -> AnswerDone:
    async for _event in orchestrator.ingest([sample_library.pdf]):
        pass
    done: list[AnswerDone] = []
    async for event in orchestrator.chat(None, PDF_QUESTION, model=SMOLLM2.name):
        if isinstance(event, AnswerDone):
            done.append(event)
    return done[-1]


def _last_chat_body(server: OllamaTestServer) -> dict[str, Any]:
    body = server.requests_to("/api/chat")[-1].body
    assert isinstance(body, dict)
    return body


async def test_small_model_is_sent_one_focused_source_greedily_with_an_answer_limit(
    orchestrator: Orchestrator, sample_library: SampleLibrary, ollama_server: OllamaTestServer
) -> None:
    await _ask_small_model(orchestrator, sample_library)
    body = _last_chat_body(ollama_server)
    prompt = body["messages"][-1]["content"]
    assert prompt.startswith("Text:\n") and PDF_ANSWER in prompt
    assert prompt.count("Question:") == 1 and "[1]" not in prompt
    assert body["options"] == {
        "temperature": 0.0,
        "num_ctx": 8192,
        "num_predict": SMALL_MODEL_ANSWER_TOKENS,
    }


async def test_small_model_answer_is_credited_to_the_one_source_it_read(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    done = await _ask_small_model(orchestrator, sample_library)
    assert done.error is None
    assert [source.page for source in done.sources] == [PDF_ANSWER_PAGE]
