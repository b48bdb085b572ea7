"""Rank fusion by page: the retrievers vote for the pages that sources cite."""

from __future__ import annotations

import pytest

from allma_desktop.services.retrieval.keyword_index import KeywordHit
from allma_desktop.services.retrieval.rag import RRF_K, fuse, page_rrf, rerank
from allma_desktop.services.vectorstore.base import VectorHit


def _vector(chunk_id: str, page: int | None, score: float = 0.9, text: str = "x") -> VectorHit:
    return VectorHit(chunk_id, "doc", text, score, page, "/doc.pdf", "doc", (), 0, len(text))


def _keyword(chunk_id: str, page: int | None, text: str = "x") -> KeywordHit:
    return KeywordHit(
        chunk_id=chunk_id,
        document_id="doc",
        text=text,
        score=1.0,
        page=page,
        path="/doc.pdf",
        title="doc",
        heading_path=(),
        char_start=0,
        char_end=len(text),
    )


def test_a_page_ranks_once_in_a_list_at_its_best_rank() -> None:
    scores = page_rrf([("doc", 1), ("doc", 1), ("doc", 1), ("doc", 2)], weight=1.0)
    assert scores == {("doc", 1): 1 / (RRF_K + 1), ("doc", 2): 1 / (RRF_K + 2)}


def test_overlapping_chunks_of_one_page_do_not_push_the_next_page_down() -> None:
    fused = fuse([_vector("a", 1), _vector("b", 1), _vector("c", 1), _vector("d", 2)], [], 0.2)
    page_two = next(candidate for candidate in fused if candidate.chunk_id == "d")
    assert page_two.fused == pytest.approx(1 / (RRF_K + 2))


def test_a_page_found_through_different_chunks_gets_both_retrievers_votes() -> None:
    # The vector search finds page 1 through chunk "a", the keyword search through its
    # neighbour "b"; page 3 is first in one list only.
    fused = fuse([_vector("x", 3), _vector("a", 1)], [_keyword("b", 1), _keyword("y", 5)], 0.2)
    assert fused[0].page == 1


def test_chunks_of_one_page_share_its_score_and_keep_their_own_order() -> None:
    fused = fuse([_vector("a", 1), _vector("b", 1)], [_keyword("b", 1)], 0.2)
    assert fused[0].fused == fused[1].fused
    assert [candidate.chunk_id for candidate in fused] == ["b", "a"]


def test_chunks_without_pages_are_ranked_each_on_its_own() -> None:
    fused = fuse([_vector("a", None), _vector("b", None)], [], 0.2)
    assert fused[0].fused > fused[1].fused


def test_vector_hits_under_the_relevance_floor_give_their_page_no_vote() -> None:
    fused = fuse([_vector("weak", 2, score=0.05)], [_keyword("k", 2)], 0.2)
    assert [candidate.chunk_id for candidate in fused] == ["k"]
    assert fused[0].fused == pytest.approx(1 / (RRF_K + 1))


def test_rerank_picks_the_chunk_of_a_page_that_covers_the_question() -> None:
    candidates = fuse(
        [
            _vector("a", 4, text="unrelated words entirely"),
            _vector("b", 4, text="the gizmo voltage is 5 volts"),
        ],
        [],
        0.2,
    )
    assert rerank("what is the gizmo voltage", candidates)[0].chunk_id == "b"


def test_the_page_captioned_with_the_table_a_question_names_ranks_first() -> None:
    # The question's words are all on page 1, which refers to the table; page 2 holds it.
    candidates = fuse(
        [
            _vector("a", 1, text="The doses by weight are given for each child (Table 2)."),
            _vector("b", 2, text="Overview\nTABLE 2 Weight bands\n14-25 kg: 200 mg"),
            _vector("c", 3, text="TABLE 1 Doses by weight for each child"),
        ],
        [],
        0.2,
    )
    assert [
        c.page for c in rerank("What doses by weight for a child does Table 2 give?", candidates)
    ] == [2, 1, 3]
