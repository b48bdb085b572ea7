"""Two small shares of the rerank beside the question's words: the passage's closeness to
the question (rank fusion keeps only the vector ranks) and its document's weight among
the candidates (a question is mostly about one document).

Real Chroma and SQLite in a temp folder; the query's vector is given and each page's
cosine to it is set by the test, so no model runs.
"""

from __future__ import annotations

import math

import pytest
from peewee import SqliteDatabase

from allma_desktop.services.model_server.ollama import OllamaService
from allma_desktop.services.retrieval.keyword_index import KeywordIndex
from allma_desktop.services.retrieval.rag import (
    RAGService,
    RetrievalSettings,
    SecondStage,
    document_shares,
    fused_hits,
    rank_hits,
)
from allma_desktop.services.vectorstore.chroma import ChromaVectorStore
from tests.support.paged_document import store_pages

DIMENSION = 16
QUERY = [1.0] + [0.0] * (DIMENSION - 1)
# The vector search alone (hybrid off), so the fused scores are its ranks only.
VECTOR_ONLY = RetrievalSettings(k=2, candidates=2, hybrid=False, min_similarity=-1.0)


def at_cosine(cosine: float, axis: int) -> list[float]:
    """A unit vector whose cosine to ``QUERY`` is ``cosine`` (``axis`` keeps it apart)."""
    vector = [0.0] * DIMENSION
    vector[0] = cosine
    vector[axis] = math.sqrt(1 - cosine**2)
    return vector


def service(db: SqliteDatabase, store: ChromaVectorStore) -> RAGService:
    return RAGService(OllamaService("http://127.0.0.1:9"), store, KeywordIndex(db), "none")


def test_a_far_closer_page_beats_one_that_holds_one_more_word(
    db: SqliteDatabase, store: ChromaVectorStore
) -> None:
    question = "Which solvent, heated and stirred, dissolves the resin of the old varnish layer?"
    pages = [
        # 1: the nearest by far; holds all the question's words but "stirred".
        "The old varnish layer: its resin dissolves in a heated solvent.",
        # 2: second in the vector search, far behind; holds every one of the words.
        "Varnish resin solvent heated stirred dissolves old layer: a glossary of words.",
        "Frames are cleaned with a soft brush and dry cloth.",
    ]
    vectors = [at_cosine(0.95, 1), at_cosine(0.15, 2), at_cosine(0.05, 3)]
    key = store_pages(db, store, "/docs/conservation.pdf", pages, vectors)
    rag = service(db, store)

    sources = rag.retrieve_with_embedding(question, QUERY, key, VECTOR_ONLY)

    assert [source.page for source in sources] == [1, 2]
    # Without the closeness share the extra word decides, though fusion puts the two
    # pages side by side (ranks 1 and 2) and the first is far closer.
    vector_hits, keyword_hits = rag.first_stage(question, QUERY, key, VECTOR_ONLY)
    by_words = rank_hits(question, vector_hits, keyword_hits, VECTOR_ONLY, SecondStage(closeness=0))
    assert [candidate.page for candidate in by_words] == [2, 1]


def test_a_page_of_the_document_most_candidates_come_from_comes_first(
    db: SqliteDatabase, store: ChromaVectorStore
) -> None:
    question = "What did the survey find?"
    settings = RetrievalSettings(k=4, candidates=4, hybrid=False, min_similarity=-1.0)
    # One page of another document is the nearest, by a hair; the next three are pages
    # of the survey report.
    stray = store_pages(
        db, store, "/docs/minutes.pdf", ["Minutes of the May meeting."], [at_cosine(0.90, 1)]
    )
    report = [
        "Most respondents preferred care close to home.",
        "Respondents were reached through clinics and online forms.",
        "The questionnaire had 24 items in four languages.",
    ]
    key = store_pages(
        db,
        store,
        "/docs/survey-report.pdf",
        report,
        [at_cosine(0.89, 2), at_cosine(0.85, 3), at_cosine(0.80, 4)],
    )
    assert key == stray  # one collection, two documents
    rag = service(db, store)

    sources = rag.retrieve_with_embedding(question, QUERY, key, settings)

    assert (sources[0].path, sources[0].page) == ("/docs/survey-report.pdf", 1)
    vector_hits, keyword_hits = rag.first_stage(question, QUERY, key, settings)
    shares = document_shares(fused_hits(vector_hits, keyword_hits, settings))
    assert sorted(shares.values()) == [pytest.approx(1 / 3, abs=0.02), 1.0]
    # Without the document's share the stray page stays first.
    alone = rank_hits(question, vector_hits, keyword_hits, settings, SecondStage(document=0))
    assert alone[0].path == "/docs/minutes.pdf"
