"""A chunk the approximate vector search missed gets its vector rank back.

Chroma's HNSW index is approximate: from one start to the next it can leave out a chunk
that is among the nearest (on the 40-question benchmark a page the keyword search put
first lost its vector rank this way, and with it the top 5). Each keyword hit the vector
search did not return is compared with the question exactly; one at least as close as
the vector list's last hit takes its place there.

Real Chroma and SQLite in a temp folder; the store below leaves chosen chunks out of its
answers, as an approximate index does; the query's vector is given, so no model runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from peewee import SqliteDatabase

from allma_desktop.services.model_server.ollama import OllamaService
from allma_desktop.services.retrieval.keyword_index import KeywordIndex
from allma_desktop.services.retrieval.rag import RAGService, RetrievalSettings
from allma_desktop.services.vectorstore.base import VectorHit
from allma_desktop.services.vectorstore.chroma import ChromaVectorStore
from tests.support.paged_document import store_pages

DIMENSION = 8
QUESTION = "How many packages does rminer pull in as dependencies?"
PAGES = [
    # 1: a reference list naming the question's words; the vector search's second.
    "[21] rminer: data mining classification and regression methods. R packages, "
    "available at https://cran.r-project.org/package=rminer. [22] CRAN packages.",
    # 2: the answer; the question's nearest chunk, and the keyword search's first.
    "Software stacks grow large: rminer, an R data mining application, pulls in 150 "
    "dependencies, each of them packages maintained by others.",
    "Compute nodes boot over the network from an image served by the management nodes.",
    "Burst buffers sit between the compute nodes and the parallel file system.",
    "Access to the cluster is through login nodes with multi-factor authentication.",
    "Operators scrub memory and local disks between jobs of different users.",
]
ANSWER_PAGE = 2
FAR_PAGE = 6  # holds none of the question's words; the farthest from its vector


class MissingStore(ChromaVectorStore):
    """Real Chroma whose searches leave out ``missed`` chunks, as an approximate index
    can: the next nearest chunks fill their places."""

    missed: frozenset[str] = frozenset()

    def query(
        self,
        key: str,
        embedding: Sequence[float],
        k: int,
        document_ids: Sequence[str] | None = None,
        file_types: Sequence[str] | None = None,
    ) -> list[VectorHit]:
        found = super().query(key, embedding, k + len(self.missed), document_ids, file_types)
        return [hit for hit in found if hit.chunk_id not in self.missed][:k]


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=DIMENSION)
    unit_vector: np.ndarray = vector / np.linalg.norm(vector)
    return unit_vector


@pytest.fixture
def missing_store(tmp_path: Path) -> Iterator[MissingStore]:
    store = MissingStore(tmp_path / "vectors")
    yield store
    store.close()


@pytest.fixture
def library(db: SqliteDatabase, missing_store: MissingStore) -> tuple[RAGService, str, list[float]]:
    """The pages stored with vectors that put page 2 nearest the query, then page 1, and
    the rest farther, page 6 the farthest; the service and the query's vector."""
    query = unit(0)
    vectors = []
    for page in range(1, len(PAGES) + 1):
        closeness = {ANSWER_PAGE: 0.9, 1: 0.8, FAR_PAGE: -0.5}.get(page, 0.3 - 0.05 * page)
        mixed = closeness * query + (1 - abs(closeness)) * unit(page)
        vectors.append([float(x) for x in mixed / np.linalg.norm(mixed)])
    key = store_pages(db, missing_store, "/docs/hpc.pdf", PAGES, vectors)
    service = RAGService(
        OllamaService("http://127.0.0.1:9"), missing_store, KeywordIndex(db), "none"
    )
    return service, key, [float(x) for x in query]


def chunk_of(page: int) -> str:
    return f":{page - 1}"


def test_the_page_the_vector_search_missed_keeps_its_vector_rank(
    library: tuple[RAGService, str, list[float]], missing_store: MissingStore
) -> None:
    service, key, query = library
    settings = RetrievalSettings(candidates=3, min_similarity=-1.0)
    answer_chunk = next(
        hit.chunk_id
        for hit in missing_store.query(key, query, 1)
        if hit.chunk_id.endswith(chunk_of(ANSWER_PAGE))
    )
    missing_store.missed = frozenset({answer_chunk})

    vector_hits, keyword_hits = service.first_stage(QUESTION, query, key, settings)
    sources = service.retrieve_with_embedding(QUESTION, query, key, settings)

    # The keyword search found the page; its exact closeness puts it back first.
    assert keyword_hits[0].chunk_id == answer_chunk
    assert [hit.page for hit in vector_hits][:2] == [ANSWER_PAGE, 1]
    assert len(vector_hits) == settings.candidates
    assert vector_hits[0].score == pytest.approx(max(h.score for h in vector_hits))
    assert sources[0].page == ANSWER_PAGE


def test_a_keyword_hit_farther_than_the_vector_list_gets_no_vector_rank(
    library: tuple[RAGService, str, list[float]], missing_store: MissingStore
) -> None:
    service, key, query = library
    settings = RetrievalSettings(candidates=3, min_similarity=-1.0)
    question = "How do operators scrub memory between jobs of different users?"

    vector_hits, keyword_hits = service.first_stage(question, query, key, settings)

    # Page 6 is the keyword search's first but the farthest from the question's vector:
    # the vector search did not miss it, so the vector list stays the store's own.
    assert keyword_hits[0].page == FAR_PAGE
    store_order = missing_store.query(key, query, settings.candidates)
    assert [hit.chunk_id for hit in vector_hits] == [hit.chunk_id for hit in store_order]
    assert FAR_PAGE not in {hit.page for hit in vector_hits}
