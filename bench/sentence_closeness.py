"""Two dense second-stage signals over the replay's saved candidates (issue 21, sixth round).

1. **Sentence closeness**: the question's MiniLM cosine to each sentence (or pair of
   adjacent sentences) of the top N reranked pages' passages; each of those pages gets
   its best sentence's cosine, at weight W, added to the rerank's score, and the N are
   reordered (the pages below them keep their places).
2. **Pseudo-relevance feedback on the dense side**: the question's vector moved toward
   the mean of the top 3 reranked passages' stored vectors (q + B * mean, B a share);
   the candidates' cosines recomputed exactly against it, then either only the rerank's
   closeness uses them ("closeness") or the vector list is reordered by them and fused
   again ("refuse").

Weights are chosen on the tune half (best first place, then MRR, then the smaller
weight) and printed before the held-out half is computed. Benchmark environment only
(sentence-transformers), over a library ``bench.ranking_replay`` has replayed once:

    HF_HUB_OFFLINE=1 PYTHONPATH=. nice -n 10 ../bench-venv/bin/python -m bench.sentence_closeness \\
        --data-dir /tmp/allma-bench/qa-cli-2b07f56ac7ff
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.qa_set import Question, load_questions, score_retrieval
from bench.ranking_replay import TUNE_DOCS, Hits, Replay, as_pages, cached_hits

Ranker = Callable[[Question, Hits], list[Any]]

# A "sentence" longer than this (a table or a list without stops) is cut into windows.
LONGEST_SENTENCE = 60  # words
WEIGHTS = (0.05, 0.1, 0.2, 0.3, 0.5)
SHARES = (0.25, 0.5, 1.0)


def sentences(text: str, pairs: bool) -> list[str]:
    """The passage's sentences (the rerank's own split; pieces of fewer than 3 words
    dropped, long ones cut), and with ``pairs`` each two adjacent ones as well."""
    from allma_desktop.services.retrieval.rag import _SENTENCE_SPLIT

    found: list[str] = []
    for piece in _SENTENCE_SPLIT.split(text):
        words = piece.split()
        for start in range(0, len(words), LONGEST_SENTENCE):
            window = words[start : start + LONGEST_SENTENCE]
            if len(window) >= 3:
                found.append(" ".join(window))
    if pairs:
        found += [f"{a} {b}" for a, b in itertools.pairwise(found)]
    return found


class Embedder:
    """MiniLM over texts, each text's unit vector kept for the next variant."""

    def __init__(self) -> None:
        from bench.real_models import load_minilm

        self.model = load_minilm()
        self.kept: dict[str, Any] = {}

    def __call__(self, texts: Sequence[str]) -> list[Any]:
        new = [t for t in dict.fromkeys(texts) if t not in self.kept]
        if new:
            vectors = self.model.encode(new, normalize_embeddings=True, convert_to_numpy=True)
            self.kept.update(zip(new, vectors, strict=True))
        return [self.kept[t] for t in texts]


def default_ranking(question: Question, hits: Hits) -> list[Any]:
    """The app's reranked candidates, one per page, all of them (``rag.rank_hits``)."""
    from allma_desktop.services.retrieval.rag import (
        RetrievalSettings,
        fused_hits,
        one_per_page,
        rerank,
    )

    fused = fused_hits(hits[0], hits[1], RetrievalSettings())
    ranked = rerank(question.question, fused)
    return one_per_page(ranked, len(ranked))


def with_sentences(
    embed: Embedder, vectors: dict[str, list[float]], top: int, weight: float, pairs: bool
) -> Ranker:
    import numpy as np

    def rank(question: Question, hits: Hits) -> list[Any]:
        ranked = default_ranking(question, hits)
        head, tail = ranked[:top], ranked[top:]
        query = np.asarray(vectors[question.question], dtype=np.float32)
        scored = []
        for candidate in head:
            texts = sentences(candidate.text, pairs) or [" ".join(candidate.text.split())]
            best = max(float(np.dot(v, query)) for v in embed(texts))
            scored.append((candidate.final + weight * best, candidate))
        scored.sort(key=lambda pair: pair[0], reverse=True)
        return [c for _, c in scored] + tail

    return rank


def with_feedback(replay: Replay, share: float, refuse: bool) -> Ranker:
    import numpy as np

    from allma_desktop.services.retrieval.rag import (
        RetrievalSettings,
        fused_hits,
        one_per_page,
        rerank,
    )

    collection = replay.store._existing(replay.key)
    settings = RetrievalSettings()

    def rank(question: Question, hits: Hits) -> list[Any]:
        vector_hits, keyword_hits = hits
        top3 = [c.chunk_id for c in default_ranking(question, hits)[:3]]
        found = collection.get(ids=top3, include=["embeddings"])
        mean = np.mean(np.asarray(found["embeddings"], dtype=np.float32), axis=0)
        query = np.asarray(replay.vectors[question.question], dtype=np.float32)
        moved = query + share * mean / max(float(np.linalg.norm(mean)), 1e-12)
        ids = list(dict.fromkeys([h.chunk_id for h in vector_hits + keyword_hits]))
        cosines = replay.store.similarities(replay.key, moved.tolist(), ids)
        if refuse:
            vector_hits = sorted(
                (
                    dataclasses.replace(h, score=cosines.get(h.chunk_id, h.score))
                    for h in vector_hits
                ),
                key=lambda h: h.score,
                reverse=True,
            )
            fused = fused_hits(vector_hits, keyword_hits, settings)
        else:
            fused = fused_hits(vector_hits, keyword_hits, settings)
            vector_ids = {h.chunk_id for h in vector_hits}
            farthest = min((cosines[i] for i in vector_ids if i in cosines), default=0.0)
            for candidate in fused:
                in_list = candidate.chunk_id in vector_ids
                candidate.similarity = (
                    cosines.get(candidate.chunk_id, farthest) if in_list else farthest
                )
        ranked = rerank(question.question, fused)
        return one_per_page(ranked, len(ranked))

    return rank


def figures(questions: Sequence[Question], hits: Sequence[Hits], rank: Ranker) -> list[Any]:
    return as_pages([rank(q, h)[:5] for q, h in zip(questions, hits, strict=True)])


def half(questions: Sequence[Question], pages: Sequence[Any], tune: bool) -> Any:
    chosen = [(q, p) for q, p in zip(questions, pages, strict=True) if (q.doc in TUNE_DOCS) == tune]
    return score_retrieval([q for q, _ in chosen], [p for _, p in chosen])


def ranks(questions: Sequence[Question], pages: Sequence[Any]) -> list[int | None]:
    return [
        next((r for r, s in enumerate(p, 1) if q.is_hit(*s)), None)
        for q, p in zip(questions, pages, strict=True)
    ]


def moved(questions: Sequence[Question], before: Sequence[Any], after: Sequence[Any]) -> str:
    changes = [
        f"q{n:02d} {a or '-'}->{b or '-'}"
        for n, (a, b) in enumerate(
            zip(ranks(questions, before), ranks(questions, after), strict=True), 1
        )
        if a != b
    ]
    return ", ".join(changes) or "none"


def short(score: Any) -> str:
    return f"{score.first_hits} / {score.top_k_hits} / {score.mrr:.3f}"


def cost(questions: Sequence[Question], hits: Sequence[Hits], top: int, pairs: bool) -> None:
    """Per search: how many texts the top ``top`` pages give, and MiniLM's time for them
    in one batch (no vectors kept between searches), on this CPU."""
    from bench.real_models import load_minilm

    model = load_minilm()
    model.encode(["warm up"], normalize_embeddings=True)
    counts, seconds = [], []
    for question, h in zip(questions, hits, strict=True):
        texts = [question.question]
        for candidate in default_ranking(question, h)[:top]:
            texts += sentences(candidate.text, pairs)
        started = time.perf_counter()
        model.encode(texts, normalize_embeddings=True, batch_size=len(texts))
        seconds.append(time.perf_counter() - started)
        counts.append(len(texts))
    counts.sort()
    seconds.sort()
    print(
        f"cost, top {top}, {'sentences and pairs' if pairs else 'sentences'}: texts per search"
        f" median {statistics.median(counts):.0f}, most {counts[-1]}; MiniLM seconds median"
        f" {statistics.median(seconds):.2f}, p95 {seconds[int(0.95 * (len(seconds) - 1))]:.2f},"
        f" most {seconds[-1]:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--top", type=int, nargs="+", default=[10])
    args = parser.parse_args()
    import torch

    print(f"torch threads {torch.get_num_threads()}")
    questions = load_questions()
    replay = Replay(args.data_dir)
    hits = cached_hits(replay, questions, args.data_dir)
    embed = Embedder()
    baseline = figures(questions, hits, default_ranking)
    variants: dict[str, Ranker] = {}
    for top in args.top:
        for pairs in (False, True):
            for weight in WEIGHTS:
                name = f"sentences{'+pairs' if pairs else ''} top {top} w {weight}"
                variants[name] = with_sentences(embed, replay.vectors, top, weight, pairs)
    for refuse in (False, True):
        for share in SHARES:
            name = f"feedback {'refuse' if refuse else 'closeness'} share {share}"
            variants[name] = with_feedback(replay, share, refuse)
    pages = {name: figures(questions, hits, rank) for name, rank in variants.items()}
    print(f"tune half (21)  baseline {short(half(questions, baseline, True))}")
    for name, found in pages.items():
        print(f"  {name:40s} {short(half(questions, found, True))}")
    for family in ("sentences top", "sentences+pairs", "feedback closeness", "feedback refuse"):
        names = [n for n in pages if n.startswith(family)]
        best = max(
            names,
            key=lambda n: (
                half(questions, pages[n], True).first_hits,
                half(questions, pages[n], True).mrr,
                -float(n.split()[-1]),
            ),
        )
        print(f"chosen on the tune half for {family!r}: {best}")
    print(f"held-out half (19) and all (40)   baseline {short(half(questions, baseline, False))}")
    for name, found in pages.items():
        whole = score_retrieval(questions, found)
        print(
            f"  {name:40s} held out {short(half(questions, found, False))}"
            f"  all {short(whole)}  moved: {moved(questions, baseline, found)}"
        )
    for top in args.top:
        for pairs in (False, True):
            cost(questions, hits, top, pairs)


if __name__ == "__main__":
    main()
