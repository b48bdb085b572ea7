"""The rerank counts the numbers a question states: the page that states them comes first.

Real Chroma and SQLite in a temp folder; the query embedding is given, so no model runs.
"""

from __future__ import annotations

import numpy as np
import pytest
from peewee import SqliteDatabase

from allma_desktop.services.model_server.ollama import OllamaService
from allma_desktop.services.retrieval.keyword_index import KeywordIndex
from allma_desktop.services.retrieval.rag import (
    RAGService,
    RetrievalSettings,
    SecondStage,
    numbers_in,
    rank_hits,
)
from allma_desktop.services.vectorstore.chroma import ChromaVectorStore
from tests.support.paged_document import store_pages

DIMENSION = 8
QUESTION = "Why did the developers move the PC builds to Microsoft's 2019 compiler toolchain?"
# Both pages hold the question's words; only the second states its number.
PAGES = [
    "The developers moved the PC builds to Microsoft's compiler toolchain in 2017, when "
    "the older compiler toolchain went out of support for PC builds.",
    "Windows builds use MSVC 2019: the OCR library needs a later C++ than the developers' "
    "older compiler toolchain for PC builds supports.",
    "Linux builds use GCC and Clang, 32 and 64 bit.",
    "The release notes list the changes of each version.",
]


def unit(seed: int) -> list[float]:
    vector = np.random.default_rng(seed).normal(size=DIMENSION)
    return [float(x) for x in vector / np.linalg.norm(vector)]


def near(seed: int, other: int, share: float) -> list[float]:
    """A unit vector between ``unit(seed)`` and ``unit(other)``, ``share`` of the way."""
    mixed = (1 - share) * np.array(unit(seed)) + share * np.array(unit(other))
    return [float(x) for x in mixed / np.linalg.norm(mixed)]


@pytest.fixture
def rag(db: SqliteDatabase, store: ChromaVectorStore) -> tuple[RAGService, str]:
    """One document, a page per text; the query's vector is closest to page 1's."""
    vectors = [unit(index) for index in range(len(PAGES))]
    key = store_pages(db, store, "/docs/build.pdf", PAGES, vectors)
    service = RAGService(OllamaService("http://127.0.0.1:9"), store, KeywordIndex(db), "none")
    return service, key


def test_the_page_stating_the_questions_number_comes_first(
    rag: tuple[RAGService, str],
) -> None:
    service, key = rag
    embedding = near(0, 1, 0.3)  # page 1 is the vector search's first, page 2 its second
    settings = RetrievalSettings(min_similarity=-1.0)

    sources = service.retrieve_with_embedding(QUESTION, embedding, key, settings)

    assert [source.page for source in sources][:2] == [2, 1]
    # The number is what decides: without it the page that only repeats the words wins.
    vector_hits, keyword_hits = service.first_stage(QUESTION, embedding, key, settings)
    unnumbered = rank_hits(QUESTION, vector_hits, keyword_hits, settings, SecondStage(number=0))
    assert [candidate.page for candidate in unnumbered][:2] == [1, 2]


def test_a_question_without_numbers_ranks_as_before(rag: tuple[RAGService, str]) -> None:
    service, key = rag
    question = "Why did the developers move the PC builds to Microsoft's compiler toolchain?"
    embedding = near(0, 1, 0.3)
    settings = RetrievalSettings(min_similarity=-1.0)
    vector_hits, keyword_hits = service.first_stage(question, embedding, key, settings)

    ranked = rank_hits(question, vector_hits, keyword_hits, settings)
    unnumbered = rank_hits(question, vector_hits, keyword_hits, settings, SecondStage(number=0))

    assert [c.chunk_id for c in ranked] == [c.chunk_id for c in unnumbered]
    assert [c.final for c in ranked] == [c.final for c in unnumbered]


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("Windows (using MSVC 2019).", {"2019"}),
        ("a 400x300 image drawn at 40×30", {"400", "300", "40", "30"}),
        ("children weighing 17–29 kg", {"17", "29"}),
        ("from 10,000 to 1,000,000", {"10000", "1000000"}),
        ("Qwen2-72B on an H100", {"72"}),  # digits ending a word name it, not a number
        ("Table 4.3 and version 3.10.2", {"4.3", "3.10.2"}),
        ("no numbers here", set()),
    ],
)
def test_the_numbers_a_text_states(text: str, numbers: set[str]) -> None:
    assert numbers_in(text) == numbers
