"""Rows (c) and (d): retrieval and answer quality on ``../shared/qa/``, app vs LangChain.

Both sides index the whole PDF corpus with the same embedder (all-MiniLM-L6-v2)
and return 5 sources per question. The app runs end to end: the orchestrator
ingests through the Ollama protocol (real HTTP, the ``ollama`` client) and
``Orchestrator.search`` / ``Orchestrator.chat`` answer. The baseline is
LangChain's default recipe: ``PyPDFLoader``, ``RecursiveCharacterTextSplitter(1000,
200)``, Chroma, retriever with k=5, and its standard RAG prompt for answers.

Needs the benchmark environment (``bench/requirements.txt``):

    ../bench-venv/bin/python -m bench.retrieval_quality [--answers] [--no-baseline]

The app's index is kept under the temp folder between runs (re-ingest skips
unchanged files; a change to the chunking code gets a fresh index).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import PDF_CORPUS, pdf_files
from bench.qa_set import Question, RetrievalScore, load_questions, score_retrieval

TARGET_TOP5 = 37
TARGET_FIRST = 0.70
TARGET_ANSWERS = 10
CACHE_ROOT = Path(tempfile.gettempdir()) / "allma-bench"
_INDEX_CODE = (
    "allma_desktop/services/documents/chunking.py",
    "allma_desktop/services/documents/pdf.py",
)


@dataclass(frozen=True)
class QualityResult:
    retrieval: RetrievalScore
    answers_correct: int | None
    answers: tuple[str, ...]
    seconds: float
    right_ranks: tuple[int | None, ...] = ()  # per question: rank of the first right source


def right_ranks(
    questions: Sequence[Question], rankings: Sequence[Sequence[tuple[str, int | None]]]
) -> tuple[int | None, ...]:
    """For each question, the 1-based rank of its first accepted source (None: not in top 5)."""
    return tuple(
        next((rank for rank, source in enumerate(sources[:5], 1) if q.is_hit(*source)), None)
        for q, sources in zip(questions, rankings, strict=True)
    )


def _index_key() -> str:
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for name in _INDEX_CODE:
        digest.update((root / name).read_bytes())
    # The chunking defaults, not all of config.py: other settings do not change the index.
    from allma_desktop.config import AppConfig

    defaults = AppConfig.from_mapping({})
    digest.update(f"{defaults.chunk_size}/{defaults.chunk_overlap}".encode())
    return digest.hexdigest()[:12]


async def _app_run(
    questions: Sequence[Question], host: str, data_dir: Path, answers: bool
) -> tuple[list[list[tuple[str, int | None]]], list[str]]:
    from allma_desktop.config import AppConfig
    from allma_desktop.events import AnswerDone
    from allma_desktop.orchestrator import Orchestrator
    from bench.real_models import CHAT_MODEL_NAME, EMBEDDING_MODEL_NAME

    config = AppConfig.from_mapping(
        {
            "ollama_host": host,
            "data_dir": str(data_dir),
            "ollama_embedding_model": EMBEDDING_MODEL_NAME,
            "ollama_model": CHAT_MODEL_NAME,
            "think": False,
        }
    )
    orchestrator = Orchestrator(config)
    await orchestrator.open()
    rankings: list[list[tuple[str, int | None]]] = []
    replies: list[str] = []
    try:
        async for _event in orchestrator.ingest([PDF_CORPUS]):
            pass
        for question in questions:
            sources = await orchestrator.search(question.question)
            rankings.append([(Path(s.path).name, s.page) for s in sources])
            if answers:
                done: AnswerDone | None = None
                async for event in orchestrator.chat(None, question.question):
                    if isinstance(event, AnswerDone):
                        done = event
                replies.append(done.answer if done else "")
    finally:
        await orchestrator.close()
    return rankings, replies


def run_app(
    questions: Sequence[Question], answers: bool, data_dir: Path | None = None
) -> QualityResult:
    from bench.real_models import minilm_embedder, real_model_server, smollm_generator

    data_dir = data_dir or CACHE_ROOT / f"qa-app-{_index_key()}"
    data_dir.mkdir(parents=True, exist_ok=True)
    generator = smollm_generator() if answers else None
    started = time.perf_counter()
    with real_model_server(minilm_embedder(), generator) as server:
        rankings, replies = asyncio.run(_app_run(questions, server.url, data_dir, answers))
    correct = sum(q.answer_is_correct(a) for q, a in zip(questions, replies, strict=False))
    return QualityResult(
        score_retrieval(questions, rankings),
        correct if answers else None,
        tuple(replies),
        time.perf_counter() - started,
        right_ranks(questions, rankings),
    )


# --- the LangChain recipe ---------------------------------------------------------

RAG_PROMPT = (
    "You are an assistant for question-answering tasks. Use the following pieces of "
    "retrieved context to answer the question. If you don't know the answer, just say "
    "that you don't know. Use three sentences maximum and keep the answer concise.\n"
    "Question: {question} \nContext: {context} \nAnswer:"
)  # LangChain hub's "rlm/rag-prompt", the standard RAG prompt of its tutorials


def _langchain_embeddings() -> Any:
    from langchain_core.embeddings import Embeddings

    from bench.real_models import EMBED_BATCH_SIZE, load_minilm

    model = load_minilm()

    class MiniLM(Embeddings):  # the same model object the app's server uses
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            vectors = model.encode(texts, batch_size=EMBED_BATCH_SIZE, normalize_embeddings=True)
            return [v.tolist() for v in vectors]

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    return MiniLM()


def run_langchain(questions: Sequence[Question], answers: bool) -> QualityResult:
    import logging

    from langchain_chroma import Chroma
    from langchain_community.document_loaders import PyPDFLoader
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # font warnings, one per page
    started = time.perf_counter()
    pages = []
    for path in pdf_files():
        try:
            pages.extend(PyPDFLoader(str(path)).load())
        except Exception:  # a file pypdf cannot read is skipped, as a user's loop would
            continue
    splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(
        pages
    )
    with tempfile.TemporaryDirectory() as folder:
        store = Chroma.from_documents(
            splits,
            _langchain_embeddings(),
            persist_directory=folder,
            collection_name="langchain-qa",
        )
        retriever = store.as_retriever(search_kwargs={"k": 5})
        generate = None
        if answers:
            from bench.real_models import smollm_generator

            generate = smollm_generator()
        rankings: list[list[tuple[str, int | None]]] = []
        replies: list[str] = []
        for question in questions:
            documents = retriever.invoke(question.question)
            rankings.append(
                [(Path(d.metadata["source"]).name, int(d.metadata["page"]) + 1) for d in documents]
            )
            if generate is not None:
                context = "\n\n".join(d.page_content for d in documents)
                prompt = RAG_PROMPT.format(question=question.question, context=context)
                replies.append(generate([{"role": "user", "content": prompt}], {}))
    correct = sum(q.answer_is_correct(a) for q, a in zip(questions, replies, strict=False))
    return QualityResult(
        score_retrieval(questions, rankings),
        correct if answers else None,
        tuple(replies),
        time.perf_counter() - started,
        right_ranks(questions, rankings),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answers", action="store_true", help="also generate with SmolLM2")
    parser.add_argument("--no-baseline", action="store_true", help="skip the LangChain run")
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument(
        "--show-ranks",
        action="store_true",
        help="print, per question, the rank of the first right source (- if not in the top 5)",
    )
    parser.add_argument(
        "--show-answers", action="store_true", help="print every answer, marked right or wrong"
    )
    parser.add_argument(
        "--limit", type=int, help="only the first N questions (to iterate; figures need all 40)"
    )
    parser.add_argument(
        "--data-dir", type=Path, help="reuse this app library (default: one per chunking code)"
    )
    args = parser.parse_args()
    questions = load_questions()[: args.limit]
    app = run_app(questions, args.answers, args.data_dir)
    print(f"app      : {app.retrieval.describe()}  [{app.seconds:.0f} s]")
    if args.show_misses:
        for miss in app.retrieval.misses:
            print(f"  miss: {miss}")
    if args.show_ranks:
        _print_ranks(questions, app.right_ranks)
    if app.answers_correct is not None:
        print(f"app answers containing an expected string: {app.answers_correct}/{len(questions)}")
        if args.show_misses or args.show_answers:
            for question, reply in zip(questions, app.answers, strict=False):
                mark = "ok " if question.answer_is_correct(reply) else "-- "
                print(f"  {mark}{question.question}\n      {reply[:200]!r}")
    base: QualityResult | None = None
    if not args.no_baseline:
        base = run_langchain(questions, args.answers)
        print(f"langchain: {base.retrieval.describe()}  [{base.seconds:.0f} s]")
        if base.answers_correct is not None:
            print(f"langchain answers: {base.answers_correct}/{len(questions)}")
        print(
            f"top-5 {app.retrieval.top_k_hits} vs {base.retrieval.top_k_hits} "
            f"(+{(app.retrieval.top_k_hits - base.retrieval.top_k_hits) / len(questions):.0%}); "
            f"first {app.retrieval.first_hits} vs {base.retrieval.first_hits}"
        )
    n = len(questions)
    met = app.retrieval.top_k_hits >= TARGET_TOP5 and app.retrieval.first_hits >= TARGET_FIRST * n
    verdict = "met" if met else "MISSED"
    print(f"retrieval target (>= {TARGET_TOP5}/{n} top-5, >= 70% first): {verdict}")
    base_top = f"{base.retrieval.top_k_hits}/{n}" if base is not None else "not run"
    base_first = f"{base.retrieval.first_hits}/{n}" if base is not None else "not run"
    print(
        f"ROW | (c) retrieval, right page in top 5 | {app.retrieval.top_k_hits}/{n} | "
        f"{base_top} (LangChain) | {_diff(app.retrieval.top_k_hits, base, 'top', n)} | "
        f">= {TARGET_TOP5}/{n} | {'met' if app.retrieval.top_k_hits >= TARGET_TOP5 else 'MISSED'}"
    )
    first_met = app.retrieval.first_hits >= TARGET_FIRST * n
    print(
        f"ROW | (c) retrieval, right page first | {app.retrieval.first_hits}/{n} | "
        f"{base_first} (LangChain) | {_diff(app.retrieval.first_hits, base, 'first', n)} | "
        f">= 70% | {'met' if first_met else 'MISSED'}"
    )
    if app.answers_correct is not None:
        base_answers = (
            f"{base.answers_correct}/{n}"
            if base is not None and base.answers_correct is not None
            else "not run"
        )
        answers_met = app.answers_correct >= TARGET_ANSWERS
        print(
            f"ROW | (d) answers with SmolLM2-135M | {app.answers_correct}/{n} | "
            f"{base_answers} (LangChain) | "
            f"{_diff(app.answers_correct, base, 'answers', n)} | >= {TARGET_ANSWERS}/{n} | "
            f"{'met' if answers_met else 'MISSED'}"
        )


def _print_ranks(questions: Sequence[Question], ranks: Sequence[int | None]) -> None:
    for number, (question, rank) in enumerate(zip(questions, ranks, strict=True), start=1):
        shown = "-" if rank is None else str(rank)
        print(f"  rank {shown} | q{number:02d} {question.kind:10s} {question.doc} p{question.page}")


def _diff(value: int, base: QualityResult | None, which: str, n: int) -> str:
    if base is None:
        return "-"
    other = {
        "top": base.retrieval.top_k_hits,
        "first": base.retrieval.first_hits,
        "answers": base.answers_correct or 0,
    }[which]
    return f"{(value - other) / n:+.0%} points"


if __name__ == "__main__":
    main()
