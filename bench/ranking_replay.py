"""Replay the ranking over saved candidates: try a ranking change in seconds.

``--dump`` (benchmark environment) opens a library the CLI run of row (c) built,
embeds the 40 questions with all-MiniLM-L6-v2 and saves, per question, the vector
hits and keyword hits the app's first stage returns (``settings.candidates`` each).
Without ``--dump`` it scores the app's fusion + rerank (``RAGService``'s second half,
as it is in this checkout) over the saved candidates: page in top 5, page first.
The figures equal a CLI run's as long as the first stage is unchanged.

    ../bench-venv/bin/python -m bench.ranking_replay --dump --data-dir /tmp/allma-bench/qa-cli-KEY
    python -m bench.ranking_replay [--show]
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
from pathlib import Path
from typing import Any

from bench.qa_set import load_questions, score_retrieval

SAVED = Path(tempfile.gettempdir()) / "allma-bench" / "ranking-replay.pickle"


def dump(data_dir: Path) -> None:
    from allma_desktop.config import AppConfig
    from allma_desktop.services.library.catalog import LibraryService
    from allma_desktop.services.library.storage import open_database
    from allma_desktop.services.retrieval.keyword_index import KeywordIndex
    from allma_desktop.services.retrieval.rag import RAGService, RetrievalSettings
    from allma_desktop.services.vectorstore.factory import create_vector_store
    from bench.real_models import load_minilm

    config = AppConfig.from_mapping({"data_dir": str(data_dir)})
    db = open_database(config.database_path)
    store = create_vector_store(config, own_process=False)
    keywords = KeywordIndex(db)
    key = LibraryService(db).default_collection().key
    rag: Any = RAGService(None, store, keywords, "all-minilm")  # type: ignore[arg-type]
    settings = RetrievalSettings()
    model = load_minilm()
    saved = []
    for question in load_questions():
        vector = model.encode([question.question], normalize_embeddings=True)[0].tolist()
        vector_hits = rag._with_library_texts(store.query(key, vector, settings.candidates))
        keyword_hits = keywords.search(key, question.question, settings.candidates)
        saved.append((question.question, vector_hits, keyword_hits))
    SAVED.write_bytes(pickle.dumps(saved))
    print(f"saved the candidates of {len(saved)} questions to {SAVED}")


def replay(show: bool, stage: Any = None) -> Any:
    from allma_desktop.services.retrieval.rag import RetrievalSettings, fuse, one_per_page, rerank

    settings = RetrievalSettings()
    questions = load_questions()
    saved = pickle.loads(SAVED.read_bytes())
    rankings = []
    for (text, vector_hits, keyword_hits), question in zip(saved, questions, strict=True):
        assert text == question.question
        fused = fuse(
            vector_hits,
            keyword_hits,
            settings.min_similarity,
            vector_weight=settings.vector_weight,
            keyword_weight=settings.keyword_weight,
        )
        ranked = one_per_page(rerank(text, fused, stage), settings.k)
        rankings.append([(Path(c.path).name, c.page) for c in ranked])
    score = score_retrieval(questions, rankings)
    if stage is not None:
        return score
    print(score.describe())
    if show:
        for number, (question, sources) in enumerate(zip(questions, rankings, strict=True), 1):
            rank = next((r for r, s in enumerate(sources, 1) if question.is_hit(*s)), None)
            print(f"  {rank or '-'} | q{number:02d} {question.kind:10s} {question.question}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dump", action="store_true")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--show", action="store_true")
    parser.add_argument("--grid", action="store_true", help="try a grid of second-stage weights")
    args = parser.parse_args()
    if args.dump:
        dump(args.data_dir)
    elif args.grid:
        grid()
    else:
        replay(args.show)


def grid() -> None:
    from allma_desktop.services.retrieval.rag import SecondStage

    for share in (0.5, 0.55, 0.6, 0.65, 0.7):
        for sentence in (0.0, 0.25, 0.5, 1.0):
            for phrase in (0.0, 0.25, 0.5):
                stage = SecondStage(1.0, sentence, phrase, share)
                score = replay(False, stage)
                print(
                    f"share {share:.2f} sentence {sentence:.2f} phrase {phrase:.2f}: "
                    f"first {score.first_hits}/{score.total} top-5 {score.top_k_hits}/{score.total}"
                )


if __name__ == "__main__":
    main()
