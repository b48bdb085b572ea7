"""The check of an answer followed by the app's quote of its source checks the model's
words, not the quote: its label's page number is no invented figure, and its citation
does not leave the model's uncited sentences unchecked (seen on SmolLM2-135M's answers,
``bench/grounding_answers.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from allma_desktop.events import AnswerChecked, AnswerDone
from allma_desktop.orchestrator import Orchestrator
from allma_desktop.services.retrieval.prompting import QUOTE_INTRO
from tests.support.ollama_server import DEFAULT_MODELS, FakeModel, OllamaTestServer
from tests.support.sample_docs import PDF_ANSWER_PAGE, PDF_QUESTION, SampleLibrary

TINY = FakeModel("tiny:135m", "llama", ("completion",), parameter_size="135M", context_length=8192)
# Nothing of the source (so the app quotes it), and a year that no page holds.
VAGUE_WITH_YEAR = "The lamp was described in a survey of 1875."


def _vague(messages: list[dict[str, Any]], options: dict[str, Any]) -> str:
    return VAGUE_WITH_YEAR


@pytest.fixture
def ollama_server() -> Iterator[OllamaTestServer]:
    with OllamaTestServer([*DEFAULT_MODELS, TINY], generator=_vague) as server:
        yield server


async def test_the_check_reads_the_models_sentence_and_not_the_apps_quote(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    async for _event in orchestrator.ingest([sample_library.pdf]):
        pass
    done: AnswerDone | None = None
    checked: AnswerChecked | None = None
    async for event in orchestrator.chat(None, PDF_QUESTION, model=TINY.name):
        if isinstance(event, AnswerDone):
            done = event
        elif isinstance(event, AnswerChecked):
            checked = event
    assert done is not None and checked is not None
    assert done.answer.startswith(VAGUE_WITH_YEAR + "\n\n" + QUOTE_INTRO)
    assert f"page {PDF_ANSWER_PAGE})" in done.answer
    report = checked.grounding
    (sentence,) = report.sentences
    assert sentence.text == VAGUE_WITH_YEAR
    assert (sentence.supported, sentence.implicit) == (False, True)
    assert "1875" in sentence.missing
    assert report.unsupported_numbers == ("1875",)  # not the quote's page number
    stored = orchestrator.conversations.get_message(done.message_id).grounding
    assert stored == report
