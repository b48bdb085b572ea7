"""An answer that carries nothing of its source, or that its source does not support,
is followed by a marked, cited quote; an answer drawn from its source is left alone."""

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
VAGUE_ANSWER = "The lamp is described in the text."  # the subject, none of the facts
# The source's figure, and a second one the source does not hold (a 135M model's habit).
INVENTED_ANSWER = "The xenon bulb uses 3500 watts and lasts 900 hours."
DRAWN_ANSWER = "The lighthouse lamp uses a xenon bulb rated at 3500 watts."


class _Model:
    """What the fake chat model answers (one reply per test) and the prompts it got."""

    def __init__(self) -> None:
        self.reply = VAGUE_ANSWER
        self.prompts: list[str] = []

    def __call__(self, messages: list[dict[str, Any]], options: dict[str, Any]) -> str:
        self.prompts.append(str(messages[-1].get("content") or ""))
        return self.reply


MODEL = _Model()


@pytest.fixture
def ollama_server() -> Iterator[OllamaTestServer]:
    # The fake models' embeddings (no embedder hook); every chat answers ``MODEL.reply``.
    MODEL.reply, MODEL.prompts = VAGUE_ANSWER, []
    with OllamaTestServer([*DEFAULT_MODELS, TINY], generator=MODEL) as server:
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


async def test_an_answer_with_a_figure_its_source_lacks_is_followed_by_the_quote(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    # It carries the source's own figure, so only the answer check catches the other one.
    MODEL.reply = INVENTED_ANSWER
    done, streamed = await _ask(orchestrator, sample_library)
    assert done.answer.startswith(INVENTED_ANSWER + "\n\n" + QUOTE_INTRO)
    quote = done.answer.split("“", 1)[1]
    # The best sentence and the one after it, whole, from the page the prompt held.
    assert quote == (
        "The lighthouse lamp uses a xenon bulb rated at 3500 watts. The lens is cleaned "
        "every Friday with distilled water and a soft cloth.”"
    )
    assert f"page {PDF_ANSWER_PAGE}) [1]: “" in done.answer
    assert streamed == done.answer


async def test_an_answer_drawn_from_its_source_gets_no_quote(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    MODEL.reply = DRAWN_ANSWER
    done, _ = await _ask(orchestrator, sample_library)
    assert done.answer == DRAWN_ANSWER
    # The small model's short prompt: the focused passage of the one best source.
    assert MODEL.prompts[-1].startswith("Text:\n") and PDF_ANSWER in MODEL.prompts[-1]
    assert MODEL.prompts[-1].endswith(
        f"Question: {PDF_QUESTION}\nAnswer with the words of the text."
    )
