"""The answer check's second signal: closeness in meaning, from the collection's embedder.

The orchestrator over real SQLite and Chroma and the Ollama-protocol test server. The
server's embedder here knows synonyms, as a real embedding model does ("rose" and
"increased" point the same way), while the check by words does not: a paraphrase is
then flagged by its words and accepted by its meaning, and a changed number or a
sentence about something else stays flagged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import allma_desktop.orchestrator as orchestrator_module
from allma_desktop.events import AnswerChecked, AnswerDone
from allma_desktop.orchestrator import Orchestrator
from allma_desktop.services.retrieval.grounding import check_answer
from tests.orchestrator.test_orchestrator import collect, only
from tests.support.ollama_server import OllamaTestServer, embed_text

PASSAGE = (
    "The Hamburg plant opened in 1998 and employs 2,400 people. "
    "Its furnaces recycle aluminium scrap into billets for carmakers. "
    "Yearly production increased to 310,000 tonnes after the furnaces were rebuilt. "
    "Maintenance windows are scheduled every sixth week by the works council. "
    "Electricity comes from a nearby offshore windfarm under a fixed contract."
)
QUESTION = "How many tonnes of aluminium did the furnaces turn out after they were rebuilt?"
# The third sentence of the passage in other words: numbers kept, rarer words swapped.
PARAPHRASE = "Annual output climbed to 310,000 tonnes once the furnaces had been reconstructed [1]."
CHANGED_NUMBER = (
    "Annual output climbed to 350,000 tonnes once the furnaces had been reconstructed [1]."
)
ELSEWHERE = "Seasonal tourism dominates the regional economy around picturesque lakes [1]."

# What a real embedding model knows and the check by words does not.
SYNONYMS = {
    "annual": "yearly",
    "output": "production",
    "climbed": "increased",
    "reconstructed": "rebuilt",
    "once": "after",
}
_WORD = re.compile(r"[A-Za-z]+")


def meaning_embedder(texts: list[str]) -> list[list[float]]:
    """The test server's embeddings, over words put in their synonyms' place."""
    return [
        embed_text(_WORD.sub(lambda m: SYNONYMS.get(m.group(0).lower(), m.group(0)), text))
        for text in texts
    ]


@pytest.fixture
def ollama_server() -> Iterator[OllamaTestServer]:
    with OllamaTestServer(embedder=meaning_embedder) as server:
        yield server


def answering(server: OllamaTestServer, answer: str, then: Any = None) -> None:
    """Every chat answers ``answer``; ``then(server)`` runs as the model is asked."""

    def generate(messages: list[dict[str, Any]], options: dict[str, Any]) -> str:
        if then is not None:
            then(server)
        return answer

    server.generator = generate


async def ask(orchestrator: Orchestrator, tmp_path: Path) -> tuple[AnswerDone, AnswerChecked]:
    document = tmp_path / "docs" / "hamburg.md"
    document.parent.mkdir()
    document.write_text(f"# Hamburg plant\n\n{PASSAGE}\n", encoding="utf-8")
    await collect(orchestrator.ingest([document]))
    events = await collect(orchestrator.chat(None, QUESTION))
    return only(events, AnswerDone)[-1], only(events, AnswerChecked)[-1]


def embed_requests_after_chat(server: OllamaTestServer) -> list[list[str]]:
    paths = [request.path for request in server.requests]
    last_chat = max(i for i, path in enumerate(paths) if path == "/api/chat")
    return [
        list(request.body["input"])
        for request in server.requests[last_chat + 1 :]
        if request.path == "/api/embed"
    ]


async def test_a_paraphrase_its_words_miss_is_supported_by_its_meaning(
    orchestrator: Orchestrator, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    answering(ollama_server, PARAPHRASE)
    done, checked = await ask(orchestrator, tmp_path)
    passages = {1: PASSAGE}
    assert check_answer(done.answer, passages).supported == 0  # the words alone flag it
    sentence = checked.grounding.sentences[0]
    assert (sentence.supported, sentence.close_in_meaning) == (True, True)
    assert sentence.closeness is not None and sentence.closeness > 0.5
    assert "Close in meaning" in sentence.note
    # One request to the embedder, with the sentence and the passage's sentences.
    (batch,) = embed_requests_after_chat(ollama_server)
    assert len(batch) == 1 + 5
    assert batch[0].endswith(PARAPHRASE.replace(" [1]", ""))  # citation out, task prefix in
    stored = orchestrator.conversations.get_message(done.message_id).grounding
    assert stored == checked.grounding


async def test_a_paraphrase_with_a_changed_number_stays_flagged(
    orchestrator: Orchestrator, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    answering(ollama_server, CHANGED_NUMBER)
    _, checked = await ask(orchestrator, tmp_path)
    sentence = checked.grounding.sentences[0]
    assert not sentence.supported
    assert "350000" in sentence.missing
    # A number not found is never left to the embedder: no request was made.
    assert embed_requests_after_chat(ollama_server) == []


async def test_a_sentence_about_something_else_stays_flagged(
    orchestrator: Orchestrator, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    answering(ollama_server, ELSEWHERE)
    _, checked = await ask(orchestrator, tmp_path)
    sentence = checked.grounding.sentences[0]
    assert len(embed_requests_after_chat(ollama_server)) == 1  # asked, and not close
    assert sentence.closeness is not None
    assert (sentence.supported, sentence.close_in_meaning) == (False, False)


async def test_with_the_embedder_failing_the_check_by_words_stands(
    orchestrator: Orchestrator, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    # The server fails every request after the model has been asked: the answer's own
    # stream is under way, the check's embedder request gets Ollama's 500.
    answering(ollama_server, PARAPHRASE, then=lambda s: setattr(s.faults, "status_500", True))
    done, checked = await ask(orchestrator, tmp_path)
    assert done.error is None and done.answer == PARAPHRASE
    assert len(embed_requests_after_chat(ollama_server)) == 1
    sentence = checked.grounding.sentences[0]
    assert (sentence.supported, sentence.closeness) == (False, None)


async def test_a_slow_embedder_is_not_waited_for_past_its_limit(
    orchestrator: Orchestrator,
    ollama_server: OllamaTestServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(orchestrator_module, "CLOSENESS_TIMEOUT", 0.3)
    answering(ollama_server, PARAPHRASE, then=lambda s: setattr(s.faults, "embed_delay", 3.0))
    _, checked = await ask(orchestrator, tmp_path)
    sentence = checked.grounding.sentences[0]
    assert (sentence.supported, sentence.closeness) == (False, None)
