"""Rank fusion and reranking, without a server (prompt assembly: test_prompting.py)."""

from __future__ import annotations

from allma_desktop.services.retrieval.keyword_index import KeywordHit
from allma_desktop.services.retrieval.rag import fuse, rerank
from allma_desktop.services.vectorstore.base import VectorHit


def _vector(chunk_id: str, score: float, text: str = "x") -> VectorHit:
    return VectorHit(chunk_id, "d", text, score, 1, "/p", "t", (), 0, len(text))


def _keyword(chunk_id: str, text: str = "x") -> KeywordHit:
    return KeywordHit(
        chunk_id=chunk_id,
        document_id="d",
        text=text,
        score=1.0,
        page=1,
        path="/p",
        title="t",
        heading_path=(),
        char_start=0,
        char_end=len(text),
    )


def test_fusion_prefers_chunks_found_by_both_retrievers() -> None:
    fused = fuse([_vector("a", 0.9), _vector("b", 0.8)], [_keyword("b"), _keyword("c")], 0.2)
    assert fused[0].chunk_id == "b"


def test_weak_vector_only_hits_are_dropped_by_the_relevance_floor() -> None:
    fused = fuse([_vector("a", 0.05)], [], min_similarity=0.2)
    assert fused == []


def test_rerank_lifts_the_passage_covering_the_question() -> None:
    candidates = fuse(
        [
            _vector("a", 0.9, "unrelated words entirely"),
            _vector("b", 0.85, "the gizmo voltage is 5 volts"),
        ],
        [],
        0.2,
    )
    ranked = rerank("what is the gizmo voltage", candidates)
    assert ranked[0].chunk_id == "b"
