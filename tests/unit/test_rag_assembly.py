"""Context assembly and citation checking, without a server."""

from __future__ import annotations

from allma_desktop.events import Source
from allma_desktop.services.keyword_index import KeywordHit
from allma_desktop.services.rag import (
    NOT_FOUND_ANSWER,
    build_messages,
    cited_numbers,
    cited_sources,
    fuse,
    rerank,
)
from allma_desktop.services.vectorstore.base import VectorHit


def _source(number: int, text: str, page: int | None = 1) -> Source:
    return Source(number, "doc", f"doc:{number}", f"/docs/f{number}.pdf", "T", page, 1.0, text)


def test_sources_are_numbered_in_the_prompt_with_file_and_page() -> None:
    sources = [_source(1, "Alpha fact."), _source(2, "Beta fact.", page=7)]
    messages, fitted = build_messages("What is beta?", sources, {}, [], context_tokens=8192)
    prompt = messages[-1].content
    assert "[1] (f1.pdf, page 1)\nAlpha fact." in prompt
    assert "[2] (f2.pdf, page 7)\nBeta fact." in prompt
    assert prompt.endswith("Question: What is beta?")
    assert [s.number for s in fitted] == [1, 2]
    assert "cite" in messages[0].content


def test_sources_that_do_not_fit_the_context_are_left_out_and_renumbered() -> None:
    big = "word " * 4000  # about 5000 tokens
    sources = [_source(1, big), _source(2, "Small fact.")]
    messages, fitted = build_messages("q", sources, {}, [], context_tokens=2048)
    assert [s.chunk_id for s in fitted] == ["doc:2"]
    assert fitted[0].number == 1
    assert "[1] (f2.pdf, page 1)" in messages[-1].content


def test_nothing_found_tells_the_model_to_say_so() -> None:
    messages, fitted = build_messages("q", [], {}, [], context_tokens=4096)
    assert fitted == []
    assert NOT_FOUND_ANSWER in messages[0].content


def test_history_is_placed_between_system_and_question() -> None:
    history = [("user", "earlier q"), ("assistant", "earlier a")]
    messages, _ = build_messages("now?", [], {}, history, context_tokens=4096)
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]


def test_citations_are_parsed_in_order_without_duplicates() -> None:
    assert cited_numbers("A [2]. B [1, 3]. C [2][4].") == [2, 1, 3, 4]


def test_citation_numbers_without_a_source_are_ignored() -> None:
    sources = [_source(1, "a"), _source(2, "b")]
    cited = cited_sources("Yes [2] and [9].", sources)
    assert [s.number for s in cited] == [2]


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
