"""Related words (the ``related_words`` opt-in): a question word that the passages say in
other words ("kids" where the page says "children") counts, in part, through the word
the embedding model puts near it.

Real Chroma and SQLite in a temp folder; the embedding model is the Ollama-protocol test
server with a small embedder of its own (a word list: synonyms share a direction), so
the words' vectors come through the app's real requests.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator

import numpy as np
import pytest
from peewee import SqliteDatabase

from allma_desktop.services.model_server.ollama import OllamaService
from allma_desktop.services.retrieval.keyword_index import KeywordIndex
from allma_desktop.services.retrieval.rag import (
    RAGService,
    RetrievalSettings,
    fused_hits,
    passage_words,
    related_terms,
    unmatched_question_words,
)
from allma_desktop.services.vectorstore.chroma import ChromaVectorStore
from tests.support.ollama_server import ALL_MINILM, OllamaTestServer
from tests.support.paged_document import store_pages

DIMENSION = 32
MODEL = ALL_MINILM.name
QUESTION = "Which unwanted reaction did the kids report most often?"
# The question's vector is closest to page 1, which repeats its wording; page 2 holds the
# answer in other words ("children" for "kids", "adverse" for "unwanted").
PAGES = [
    "Parents were asked which reaction they would report most often, and how often.",
    "Adverse events among children: vomiting (21%) was the most often reported.",
    "Dosing tables for adults list the weight bands and the tablets.",
    "The report was written by the guideline group and reviewed twice.",
]
# The embedder's own vocabulary: words in one group share a direction.
SYNONYMS = [("kids", "children", "child"), ("unwanted", "adverse")]
QUERY_DIRECTION = 0  # the question's vector: near page 1's


def direction(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=DIMENSION)
    return vector / np.linalg.norm(vector)


def text_vector(text: str) -> list[float]:
    """The test model: a word of a synonym group points its group's way; any other text
    points a way of its own (from its hash), nearly unrelated to the rest."""
    word = text.strip().lower()
    for group, words in enumerate(SYNONYMS):
        if word in words:
            return [float(x) for x in direction(1000 + group)]
    seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big")
    return [float(x) for x in direction(seed)]


def embed(texts: list[str]) -> list[list[float]]:
    return [text_vector(text) for text in texts]


@pytest.fixture
def server() -> Iterator[OllamaTestServer]:
    with OllamaTestServer([ALL_MINILM], embedder=embed) as running:
        yield running


def page_vector(index: int) -> list[float]:
    """Page 1 is the query's nearest, page 2 the next (so both are candidates)."""
    share = {0: 0.1, 1: 0.35}.get(index, 0.9)
    mixed = (1 - share) * direction(QUERY_DIRECTION) + share * direction(50 + index)
    return [float(x) for x in mixed / np.linalg.norm(mixed)]


@pytest.fixture
def rag(
    db: SqliteDatabase, store: ChromaVectorStore, server: OllamaTestServer
) -> tuple[RAGService, str]:
    vectors = [page_vector(index) for index in range(len(PAGES))]
    key = store_pages(db, store, "/docs/children.pdf", PAGES, vectors)
    llm = OllamaService(server.url, timeout=10)
    return RAGService(llm, store, KeywordIndex(db), MODEL), key


class QuestionVector:
    """The server answers the question itself with the query direction."""

    def __init__(self, server: OllamaTestServer) -> None:
        def answer(texts: list[str]) -> list[list[float]]:
            return [
                [float(x) for x in direction(QUERY_DIRECTION)] if text == QUESTION else vector
                for text, vector in zip(texts, embed(texts), strict=True)
            ]

        server.embedder = answer


def pages(sources: list[object]) -> list[int | None]:
    return [getattr(source, "page", None) for source in sources]


def test_the_page_saying_the_question_in_other_words_comes_first_with_related_words(
    rag: tuple[RAGService, str], server: OllamaTestServer
) -> None:
    service, key = rag
    QuestionVector(server)
    plain = RetrievalSettings(min_similarity=-1.0)
    related = RetrievalSettings(min_similarity=-1.0, related_words=True)

    without = asyncio.run(service.retrieve(QUESTION, key, plain))
    embeds_without = len(server.requests_to("/api/embed"))
    with_related = asyncio.run(service.retrieve(QUESTION, key, related))

    assert pages(without)[:2] == [1, 2]  # the page repeating the question's words wins
    assert pages(with_related)[:2] == [2, 1]  # "children" and "adverse" now count
    # Off, a search asks the model for the question's vector only: no words.
    assert embeds_without == 1
    words_sent = [
        text
        for request in server.requests_to("/api/embed")[embeds_without:]
        for text in request.body["input"]
    ]
    assert {"kids", "unwanted", "children", "adverse"} <= set(words_sent)


def test_words_are_embedded_once_per_model(
    rag: tuple[RAGService, str], server: OllamaTestServer
) -> None:
    service, key = rag
    QuestionVector(server)
    settings = RetrievalSettings(min_similarity=-1.0, related_words=True)

    asyncio.run(service.retrieve(QUESTION, key, settings))
    after_first = len(server.requests_to("/api/embed"))
    again = asyncio.run(service.retrieve(QUESTION, key, settings))

    # The second search sends only the question itself: the words' vectors are kept.
    assert len(server.requests_to("/api/embed")) == after_first + 1
    assert pages(again)[0] == 2


def test_only_the_words_the_candidates_lack_are_looked_up(
    rag: tuple[RAGService, str],
) -> None:
    service, key = rag
    settings = RetrievalSettings(min_similarity=-1.0)
    vector_hits, keyword_hits = service.first_stage(
        QUESTION, direction(QUERY_DIRECTION).tolist(), key, settings
    )
    candidates = fused_hits(vector_hits, keyword_hits, settings)

    wanted = unmatched_question_words(QUESTION, candidates)

    # "report" is held by pages 1, 2 and 4, "reaction" by page 1 only, "often" by 1 and 2:
    # a word more than one candidate holds needs no help.
    assert wanted == {"unwant": "unwanted", "reaction": "reaction", "kid": "kids"}
    assert "children" in passage_words(candidates)
    assert "the" not in passage_words(candidates)


def test_a_word_is_related_only_above_the_threshold_and_never_to_itself() -> None:
    question = {"kid": text_vector("kids")}
    words = {w: text_vector(w) for w in ("children", "kid", "dosing", "child")}

    found = related_terms(question, words)

    assert set(found) == {"kid"}
    assert set(found["kid"]) == {"children", "child"}  # "kid" is the term itself
    assert found["kid"]["children"] == pytest.approx(1.0)
    assert related_terms(question, words, threshold=1.01) == {}
    assert related_terms({}, words) == {}
    assert related_terms(question, {}) == {}
