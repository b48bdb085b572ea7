"""Replay row (d) without the CLI: the saved candidates (``bench.ranking_replay --dump``),
the app's ranking and prompt (``prompting.build_messages`` for a small model), SmolLM2
called directly, and the app's fallback quote. To try a prompt change in minutes;
the figure of record is the CLI run of ``bench.retrieval_quality --answers``.

    ../bench-venv/bin/python -m bench.answer_replay [--limit N] [--show] [--no-quote]
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

from bench.qa_set import load_questions
from bench.ranking_replay import SAVED


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--show", action="store_true")
    parser.add_argument("--no-quote", action="store_true", help="the model's answer alone")
    args = parser.parse_args()

    from allma_desktop.services.retrieval.prompting import (
        build_messages,
        chat_options,
        fallback_quote,
    )
    from allma_desktop.services.retrieval.rag import RetrievalSettings, fuse, one_per_page, rerank
    from bench.real_models import smollm_generator

    generate = smollm_generator()
    settings = RetrievalSettings()
    questions = load_questions()[: args.limit]
    saved = pickle.loads(SAVED.read_bytes())
    right = alone = 0
    for question, (text, vector_hits, keyword_hits) in zip(questions, saved, strict=False):
        fused = fuse(
            vector_hits,
            keyword_hits,
            settings.min_similarity,
            vector_weight=settings.vector_weight,
            keyword_weight=settings.keyword_weight,
        )
        sources = [
            c.to_source(n)
            for n, c in enumerate(one_per_page(rerank(text, fused), settings.k), start=1)
        ]
        texts = {c.chunk_id: c.text for c in fused}
        messages, fitted = build_messages(
            text, sources, texts, [], context_tokens=8192, small_model=True
        )
        options = chat_options(8192, 0.2, small_model=True)
        answer = generate(
            [{"role": m.role, "content": m.content} for m in messages], options.to_ollama()
        )
        alone += question.answer_is_correct(answer)
        quote = None if args.no_quote else fallback_quote(answer, text, fitted, texts)
        full = answer + (quote or "")
        ok = question.answer_is_correct(full)
        right += ok
        if args.show:
            where = f"{Path(fitted[0].path).name} p{fitted[0].page}" if fitted else "-"
            print(f"{'ok' if ok else '--'} [{where}] {text}\n     {full[:300]!r}")
    n = len(questions)
    print(f"answers with the expected fact: {right}/{n} (the model's text alone: {alone}/{n})")


if __name__ == "__main__":
    main()
