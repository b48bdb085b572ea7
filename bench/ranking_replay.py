"""Replay row (c)'s ranking over a built library: try a ranking change in seconds.

Row (c) (``bench/retrieval_quality.py``) runs ``allma search`` once per question
in a process of its own, about half a minute a question under load. What decides
the ranking is ``RAGService.retrieve_with_embedding``: the vector query, the
keyword search, the fusion and the rerank, given the question's vector. This
replays exactly that over the library a CLI run of this checkout built, with the
questions' MiniLM vectors saved once under the temp folder (never in the repo).

    # once, in the benchmark environment: build (or reuse) this checkout's library
    # of the whole corpus through ``allma ingest``, and save the questions' vectors
    HF_HUB_OFFLINE=1 ../bench-venv/bin/python -m bench.ranking_replay --prepare
    # then, in either environment, after each ranking change (well under a second):
    python -m bench.ranking_replay [--show] [--misses] [--data-dir DIR]

The first replay of a library saves each question's first-stage candidates (the
vector query's and the keyword search's hits, with their texts) under the temp
folder; later replays re-run only the fusion and the rerank over them
(``rag.rank_hits``), so a ranking change is judged on the same candidates every
time (Chroma's HNSW search can return different ones from one start to the next).
``--live`` searches the stores instead (for a change to the first stage), and
``--misses`` lists, for each question whose page is not first, the page ranked
first, where the right one is, and the question's words against the right page's.

The figures equal a CLI run's for the same library (``allma search`` calls the
same method); ``--show`` prints each question's rank and the page ranked first.
Scores are printed for all 40 questions and for two halves split by document
(``TUNE_DOCS`` and the rest), so a change tuned on one half can be judged on the
other; the issue's owner checks on questions over other documents.

A change to the code that builds the index (``bench/cli_path.py``'s ``INDEX_CODE``)
needs a new library: run ``--prepare`` again (MiniLM's vectors of unchanged texts
come from the cache, so that is the parse and the stores, a few minutes).
"""

from __future__ import annotations

import argparse
import pickle
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.cli_path import CACHE_ROOT, REPO_ROOT
from bench.common import PDF_CORPUS
from bench.qa_set import Question, load_questions, score_retrieval

QUESTION_VECTORS = CACHE_ROOT / "question-vectors-minilm.pickle"

Hits = tuple[list[Any], list[Any]]  # (vector hits with their texts, keyword hits)

# Saved candidates are only reused by the first stage that made them: "fs2" adds the
# keyword hits the approximate vector search missed to its list (``RAGService.first_stage``).
FIRST_STAGE = "fs2"

# The half the rankings were tuned on; the other two documents are held out.
TUNE_DOCS = frozenset({"mupdf_explored.pdf", "test_4751.pdf"})


def default_library() -> Path:
    from bench.retrieval_quality import library_folder

    return library_folder(REPO_ROOT, PDF_CORPUS)


def prepare(data_dir: Path) -> None:
    """Build this checkout's library through the CLI (if it is not there) and save the
    questions' vectors (benchmark environment)."""
    from bench.cli_path import CliLibrary
    from bench.real_models import (
        CHAT_MODEL_NAME,
        EMBEDDING_MODEL_NAME,
        load_minilm,
        minilm_embedder,
        real_model_server,
    )

    started = time.perf_counter()
    embedder = minilm_embedder(cache=CACHE_ROOT / "minilm-vectors.sqlite3")
    with real_model_server(embedder, None) as server:
        library = CliLibrary(REPO_ROOT, server.url, EMBEDDING_MODEL_NAME, CHAT_MODEL_NAME, data_dir)
        library.ingest(PDF_CORPUS)  # unchanged files are skipped: a no-op once built
    print(f"library {data_dir} ready in {time.perf_counter() - started:.0f} s")
    questions = [q.question for q in load_questions()]
    model = load_minilm()
    vectors = model.encode(questions, normalize_embeddings=True, convert_to_numpy=True)
    saved = {text: vector.tolist() for text, vector in zip(questions, vectors, strict=True)}
    QUESTION_VECTORS.write_bytes(pickle.dumps(saved))
    print(f"saved the vectors of {len(saved)} questions to {QUESTION_VECTORS}")


class Replay:
    """The app's retrieval over one library, given the questions' saved vectors."""

    def __init__(self, data_dir: Path) -> None:
        from allma_desktop.config import AppConfig
        from allma_desktop.services.library.catalog import LibraryService
        from allma_desktop.services.library.storage import open_database
        from allma_desktop.services.retrieval.keyword_index import KeywordIndex
        from allma_desktop.services.retrieval.rag import RAGService
        from allma_desktop.services.vectorstore.factory import create_vector_store

        if not (data_dir / "allma.sqlite3").is_file():
            raise SystemExit(f"no library at {data_dir}: run with --prepare first")
        if not QUESTION_VECTORS.is_file():
            raise SystemExit(f"no question vectors at {QUESTION_VECTORS}: run --prepare first")
        config = AppConfig.from_mapping({"data_dir": str(data_dir)})
        self.db = open_database(config.database_path)
        self.store = create_vector_store(config, own_process=False)
        self.keywords = KeywordIndex(self.db)
        self.key = LibraryService(self.db).default_collection().key
        self.rag: Any = RAGService(None, self.store, self.keywords, "all-minilm")  # type: ignore[arg-type]
        self.vectors: dict[str, list[float]] = pickle.loads(QUESTION_VECTORS.read_bytes())

    def rankings(
        self, questions: Sequence[Question], settings: Any = None
    ) -> list[list[tuple[str, int | None]]]:
        """The app's whole retrieval, the stores searched anew (``--live``)."""
        from allma_desktop.services.retrieval.rag import RetrievalSettings

        settings = settings or RetrievalSettings()
        found = []
        for question in questions:
            sources = self.rag.retrieve_with_embedding(
                question.question, self.vectors[question.question], self.key, settings
            )
            found.append([(Path(s.path).name, s.page) for s in sources])
        return found

    def first_stage(self, question: Question) -> Hits:
        """The two retrievers' hits for ``question``, as a search gets them."""
        from allma_desktop.services.retrieval.rag import RetrievalSettings

        return self.rag.first_stage(  # type: ignore[no-any-return]
            question.question, self.vectors[question.question], self.key, RetrievalSettings()
        )

    def page_texts(self, doc: str, page: int) -> list[str]:
        """The texts of the chunks of page ``page`` of the document named ``doc``."""
        rows = self.db.execute_sql(
            "SELECT chunk.text FROM chunk_text AS chunk"
            " JOIN document ON document.id = chunk.document_id"
            " WHERE document.path LIKE ? AND chunk.page = ? ORDER BY chunk.chunk_index",
            (f"%{doc}", page),
        ).fetchall()
        return [text for (text,) in rows]


def cached_hits(replay: Replay, questions: Sequence[Question], data_dir: Path) -> list[Hits]:
    """Each question's first-stage hits, searched once per library and then read back."""
    from allma_desktop.services.retrieval.rag import RetrievalSettings

    candidates = RetrievalSettings().candidates
    path = CACHE_ROOT / f"ranking-candidates-{data_dir.name}-{candidates}-{FIRST_STAGE}.pickle"
    saved: dict[str, Hits] = pickle.loads(path.read_bytes()) if path.is_file() else {}
    missing = [q for q in questions if q.question not in saved]
    for question in missing:
        saved[question.question] = replay.first_stage(question)
    if missing:
        path.write_bytes(pickle.dumps(saved))
        print(f"saved the first-stage hits of {len(missing)} questions to {path}")
    return [saved[q.question] for q in questions]


def replayed(
    questions: Sequence[Question],
    hits: Sequence[Hits],
    settings: Any = None,
    stage: Any = None,
    related: Sequence[Any] | None = None,
) -> list[list[Any]]:
    """The ranking's candidates (best first) for each question, from its saved hits;
    ``related``: each question's ``rag.related_terms`` (the ``related_words`` opt-in)."""
    from allma_desktop.services.retrieval.rag import RetrievalSettings, rank_hits

    settings = settings or RetrievalSettings()
    return [
        rank_hits(q.question, vector_hits, keyword_hits, settings, stage, near)
        for q, (vector_hits, keyword_hits), near in zip(
            questions, hits, related or [None] * len(questions), strict=True
        )
    ]


def related_words(questions: Sequence[Question], hits: Sequence[Hits]) -> list[Any]:
    """Each question's related words (``RetrievalSettings.related_words``), as
    ``RAGService.related_terms`` finds them, with MiniLM run here (benchmark environment;
    words' vectors are cached with the corpus's under the temp folder). Prints the cost:
    how many words a search would send to the embedding model."""
    from allma_desktop.services.retrieval.rag import (
        RetrievalSettings,
        fused_hits,
        passage_words,
        related_terms,
        unmatched_question_words,
    )
    from bench.real_models import minilm_embedder

    embed = minilm_embedder(cache=CACHE_ROOT / "minilm-vectors.sqlite3")
    settings = RetrievalSettings()
    found, counts = [], []
    for question, (vector_hits, keyword_hits) in zip(questions, hits, strict=True):
        candidates = fused_hits(vector_hits, keyword_hits, settings)
        wanted = unmatched_question_words(question.question, candidates)
        if not wanted:
            found.append({})
            counts.append(0)
            continue
        words = passage_words(candidates)
        texts = list(dict.fromkeys([*wanted.values(), *words]))
        vectors = dict(zip(texts, embed(texts), strict=True))
        found.append(
            related_terms(
                {term: vectors[word] for term, word in wanted.items()},
                {word: vectors[word] for word in words},
            )
        )
        counts.append(len(texts))
    asked = sorted(c for c in counts if c)
    if asked:
        print(
            f"related words: {len(asked)} of {len(questions)} searches embed words,"
            f" median {asked[len(asked) // 2]}, most {asked[-1]}"
        )
    return found


def as_pages(ranked: Sequence[Sequence[Any]]) -> list[list[tuple[str, int | None]]]:
    return [[(Path(c.path).name, c.page) for c in candidates] for candidates in ranked]


def report(
    questions: Sequence[Question], rankings: Sequence[Sequence[tuple[str, int | None]]]
) -> None:
    halves = {
        "all": [True] * len(questions),
        "tune half": [q.doc in TUNE_DOCS for q in questions],
        "held-out half": [q.doc not in TUNE_DOCS for q in questions],
    }
    for name, keep in halves.items():
        chosen = [(q, r) for q, r, k in zip(questions, rankings, keep, strict=True) if k]
        score = score_retrieval([q for q, _ in chosen], [r for _, r in chosen])
        print(f"{name:14s} {score.describe()}")


def show(
    questions: Sequence[Question], rankings: Sequence[Sequence[tuple[str, int | None]]]
) -> None:
    for number, (question, sources) in enumerate(zip(questions, rankings, strict=True), 1):
        rank = next((r for r, s in enumerate(sources, 1) if question.is_hit(*s)), None)
        top = f"{sources[0][0]} p{sources[0][1]}" if sources else "nothing"
        print(
            f"  {rank or '-'} | q{number:02d} {question.kind:10s} p{question.page:<4d}"
            f" first: {top:24s} {question.question[:70]}"
        )


def misses(
    replay: Replay,
    questions: Sequence[Question],
    hits: Sequence[Hits],
    ranked: Sequence[Sequence[Any]],
) -> None:
    """For each question whose page is not first: the page ranked first, the right one's
    place (in the top 5, among the fused candidates, or in neither retriever's list),
    and which of the question's words the right page holds and which it lacks."""
    from allma_desktop.services.retrieval.rag import RetrievalSettings, fuse, rerank
    from allma_desktop.services.retrieval.text_terms import QueryTerms

    settings = RetrievalSettings()
    for number, (question, (vector_hits, keyword_hits), top) in enumerate(
        zip(questions, hits, ranked, strict=True), 1
    ):
        if top and question.is_hit(Path(top[0].path).name, top[0].page):
            continue
        everything = rerank(
            question.question,
            fuse(
                vector_hits,
                keyword_hits,
                settings.min_similarity,
                vector_weight=settings.vector_weight,
                keyword_weight=settings.keyword_weight,
            ),
        )
        pages = list(dict.fromkeys((Path(c.path).name, c.page) for c in everything))
        place = next((i for i, p in enumerate(pages, 1) if question.is_hit(*p)), None)
        vector_place = next(
            (i for i, h in enumerate(vector_hits, 1) if question.is_hit(Path(h.path).name, h.page)),
            None,
        )
        keyword_place = next(
            (
                i
                for i, h in enumerate(keyword_hits, 1)
                if question.is_hit(Path(h.path).name, h.page)
            ),
            None,
        )
        terms = QueryTerms(question.question)
        texts = [
            t
            for page in sorted(question.accepted_pages)
            for t in replay.page_texts(question.doc, page)
        ]
        held = frozenset().union(*(terms.held_in(t) for t in texts)) if texts else frozenset()
        first = f"{Path(top[0].path).name} p{top[0].page}" if top else "nothing"
        print(
            f"\nq{number:02d} ({question.kind}, {question.doc} p{question.page})",
            question.question,
        )
        print(
            f"  first: {first}; right page: {place or 'not'} among fused pages"
            f" (vector rank {vector_place or '-'}, keyword rank {keyword_place or '-'} of chunks)"
        )
        print(
            f"  question's terms on the right page: {sorted(held)};",
            f"not: {sorted(terms.terms - held)}",
        )
        if top:
            first_held = terms.held_in(top[0].text)
            print(f"  ... in the first passage: {sorted(first_held)}")
            print(f"  first passage: {' '.join(top[0].text.split())[:300]}")
        answer = question.answer_contains[0]
        best = next(
            (t for t in texts if answer.lower() in " ".join(t.split()).lower()),
            texts[0] if texts else "",
        )
        flat = " ".join(best.split())
        at = flat.lower().find(answer.lower())
        start = max(0, at - 150) if at >= 0 else 0
        print(f"  right passage (expects {answer!r}): ...{flat[start : start + 300]}...")


def second_stage(changes: Sequence[str]) -> Any:
    """The rerank's default ``SecondStage`` with ``FIELD=VALUE`` changes."""
    from dataclasses import fields, replace

    from allma_desktop.services.retrieval.rag import SECOND_STAGE

    known = {field.name for field in fields(SECOND_STAGE)}
    values: dict[str, float] = {}
    for change in changes:
        name, _, value = change.partition("=")
        if name not in known:
            raise SystemExit(
                f"--compare {change}: no such field; one of {', '.join(sorted(known))}"
            )
        try:
            values[name] = float(value)
        except ValueError:
            raise SystemExit(f"--compare {change}: {value!r} is not a number") from None
    return replace(SECOND_STAGE, **values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prepare", action="store_true", help="build the library, save vectors")
    parser.add_argument("--data-dir", type=Path, help="the library (default: this checkout's)")
    parser.add_argument("--show", action="store_true", help="each question's rank")
    parser.add_argument("--misses", action="store_true", help="what each first-place miss is")
    parser.add_argument("--live", action="store_true", help="search the stores, not saved hits")
    parser.add_argument(
        "--related",
        action="store_true",
        help="also replay with related words on (RetrievalSettings.related_words), first",
    )
    parser.add_argument(
        "--compare",
        metavar="FIELD=VALUE",
        nargs="+",
        help="also replay with these rag.SecondStage fields changed (e.g. number=0), first",
    )
    args = parser.parse_args()
    data_dir = args.data_dir or default_library()
    if args.prepare:
        prepare(data_dir)
        return
    questions = load_questions()
    replay = Replay(data_dir)
    hits = [] if args.live else cached_hits(replay, questions, data_dir)
    if args.compare and not args.live:
        stage = second_stage(args.compare)
        print(f"with {stage}:")
        report(questions, as_pages(replayed(questions, hits, stage=stage)))
        print("now:")
    if args.related and not args.live:
        started = time.perf_counter()
        near = related_words(questions, hits)
        with_related = as_pages(replayed(questions, hits, related=near))
        print(f"with related words ({time.perf_counter() - started:.1f} s with MiniLM):")
        report(questions, with_related)
        if args.show:
            show(questions, with_related)
        print("without (the default):")
    started = time.perf_counter()
    ranked = [] if args.live else replayed(questions, hits)
    rankings = replay.rankings(questions) if args.live else as_pages(ranked)
    seconds = time.perf_counter() - started
    report(questions, rankings)
    what = "searches" if args.live else "rankings of saved hits"
    print(f"({len(questions)} {what} in {seconds:.2f} s over {data_dir})")
    if args.show:
        show(questions, rankings)
    if args.misses and not args.live:
        misses(replay, questions, hits, ranked)


if __name__ == "__main__":
    main()
