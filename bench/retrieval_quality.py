"""Rows (c) and (d): retrieval and answer quality on ``../shared/qa/``, app vs LangChain.

Both sides index the whole PDF corpus with the same embedder (all-MiniLM-L6-v2)
and return 5 sources per question. The app is measured as a user runs it: the
``allma`` command (``allma ingest``, then ``allma search --json`` and ``allma ask
--json`` per question, each its own process; ``bench/cli_path.py``) against an
Ollama-protocol server with the real models behind it. ``--previous REF`` runs a
git ref's command too, in the same run, so the figures print against the previous
ones; ``--in-process`` also runs the old loop over ``Orchestrator`` calls on the
same library. The baseline is LangChain's default recipe: ``PyPDFLoader``,
``RecursiveCharacterTextSplitter(1000, 200)``, Chroma, retriever with k=5, and its
standard RAG prompt for answers.

Needs the benchmark environment (``bench/requirements.txt``):

    ../bench-venv/bin/python -m bench.retrieval_quality [--answers] [--previous main]

Each checkout's library is kept under the temp folder between runs, one per hash of
the code that decides the index (``bench/cli_path.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cli_path import REPO_ROOT, CliLibrary, checkout_of, index_key
from bench.common import PDF_CORPUS, pdf_files
from bench.qa_set import Question, RetrievalScore, load_questions, score_retrieval

TARGET_TOP5 = 38  # issue 21: page in the top 5 for at least 38 of 40, through the CLI
TARGET_FIRST = 34  # and first for at least 34 (85%)
TARGET_ANSWERS = 20  # SmolLM2-135M under its true name
CACHE_ROOT = Path(tempfile.gettempdir()) / "allma-bench"


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


async def _app_run(
    questions: Sequence[Question], host: str, data_dir: Path, answers: bool, corpus: Path
) -> tuple[list[list[tuple[str, int | None]]], list[str]]:
    from allma_desktop.events import AnswerDone
    from allma_desktop.orchestrator import Orchestrator
    from bench.real_models import real_models_config

    orchestrator = Orchestrator(real_models_config(host, data_dir))
    await orchestrator.open()
    rankings: list[list[tuple[str, int | None]]] = []
    replies: list[str] = []
    try:
        async for _event in orchestrator.ingest([corpus]):
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


def run_in_process(
    questions: Sequence[Question],
    host: str,
    answers: bool,
    data_dir: Path | None = None,
    corpus: Path = PDF_CORPUS,
) -> QualityResult:
    """The old way: the orchestrator called in-process (kept to show how it differs).

    By default over the same library as the CLI run of this checkout, so the two differ
    only in the path (in-process calls or the command)."""
    data_dir = data_dir or library_folder(REPO_ROOT, corpus)
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rankings, replies = asyncio.run(_app_run(questions, host, data_dir, answers, corpus))
    return _result(questions, rankings, replies, answers, started)


def run_cli(
    questions: Sequence[Question],
    host: str,
    answers: bool,
    code_root: Path = REPO_ROOT,
    data_dir: Path | None = None,
    corpus: Path = PDF_CORPUS,
) -> QualityResult:
    """As a user: ``allma ingest`` the corpus, then ``allma search --json`` (top 5) and
    ``allma ask --json`` per question, each a process of its own, from ``code_root``."""
    from bench.real_models import CHAT_MODEL_NAME, EMBEDDING_MODEL_NAME

    library = CliLibrary(
        code_root,
        host,
        EMBEDDING_MODEL_NAME,
        CHAT_MODEL_NAME,
        data_dir or library_folder(code_root, corpus),
    )
    started = time.perf_counter()
    library.ingest(corpus)
    rankings = [library.search(q.question) for q in questions]
    replies = [library.ask(q.question) for q in questions] if answers else []
    return _result(questions, rankings, replies, answers, started)


def library_folder(code_root: Path, corpus: Path) -> Path:
    """One library per index code and corpus (the whole folder, or the QA documents)."""
    which = "" if corpus == PDF_CORPUS else "-qa-docs"
    return CACHE_ROOT / f"qa-cli-{index_key(code_root)}{which}"


def copy_of(data_dir: Path) -> Path:
    """A copy of a library for the previous ref's run (made once), so the two runs
    search the same index and neither sees the other's conversations."""
    copy = data_dir.with_name(f"{data_dir.name}-previous")
    if not copy.exists():
        shutil.copytree(data_dir, copy)
    return copy


def qa_documents_folder(questions: Sequence[Question]) -> Path:
    """A folder holding (links to) only the PDFs the questions are about."""
    folder = CACHE_ROOT / "qa-docs"
    folder.mkdir(parents=True, exist_ok=True)
    for name in sorted({q.doc for q in questions}):
        link = folder / name
        if not link.exists():
            link.symlink_to(PDF_CORPUS / name)
    return folder


def _result(
    questions: Sequence[Question],
    rankings: Sequence[Sequence[tuple[str, int | None]]],
    replies: Sequence[str],
    answers: bool,
    started: float,
) -> QualityResult:
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
    parser.add_argument(
        "--previous",
        metavar="REF",
        help="also run the CLI of this git ref (e.g. main) in the same run, as 'previous'",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="also run the old in-process orchestrator loop (how the figures used to be taken)",
    )
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
        "--data-dir",
        type=Path,
        help="reuse this app library (default: one per index code); with --previous, "
        "the previous ref searches a copy of it",
    )
    parser.add_argument(
        "--qa-docs-only",
        action="store_true",
        help="index only the question set's four PDFs, not the whole corpus folder",
    )
    args = parser.parse_args()
    questions = load_questions()[: args.limit]
    from bench.real_models import minilm_embedder, real_model_server, smollm_generator

    runs: dict[str, QualityResult] = {}
    generator = smollm_generator() if args.answers else None
    corpus = qa_documents_folder(load_questions()) if args.qa_docs_only else PDF_CORPUS
    embedder = minilm_embedder(cache=CACHE_ROOT / "minilm-vectors.sqlite3")
    with real_model_server(embedder, generator) as server:
        if args.previous:
            runs[f"previous ({args.previous}), CLI"] = run_cli(
                questions,
                server.url,
                args.answers,
                checkout_of(args.previous),
                data_dir=copy_of(args.data_dir) if args.data_dir else None,
                corpus=corpus,
            )
        app = runs["now, CLI"] = run_cli(
            questions, server.url, args.answers, data_dir=args.data_dir, corpus=corpus
        )
        if args.in_process:
            # Retrieval only: the answers of the path that users run are the figure.
            runs["now, in-process"] = run_in_process(questions, server.url, False, corpus=corpus)
    for name, result in runs.items():
        print(f"{name:28s}: {result.retrieval.describe()}  [{result.seconds:.0f} s]")
        if result.answers_correct is not None:
            print(
                f"{'':28s}  answers containing an expected string: "
                f"{result.answers_correct}/{len(questions)}"
            )
    if args.show_misses:
        for miss in app.retrieval.misses:
            print(f"  miss: {miss}")
    if args.show_ranks:
        _print_ranks(questions, runs)
    if app.answers_correct is not None and (args.show_misses or args.show_answers):
        for question, reply in zip(questions, app.answers, strict=False):
            mark = "ok " if question.answer_is_correct(reply) else "-- "
            print(f"  {mark}{question.question}\n      {reply[:200]!r}")
    base: QualityResult | None = None
    if not args.no_baseline:
        base = run_langchain(questions, args.answers)
        print(f"langchain: {base.retrieval.describe()}  [{base.seconds:.0f} s]")
        if base.answers_correct is not None:
            print(f"langchain answers: {base.answers_correct}/{len(questions)}")
    previous = next((r for name, r in runs.items() if name.startswith("previous")), None)
    n = len(questions)

    def was(value: int | None) -> str:
        return f" (previous {value}/{n})" if value is not None else ""

    top, first = app.retrieval.top_k_hits, app.retrieval.first_hits
    base_top = f"{base.retrieval.top_k_hits}/{n}" if base is not None else "not run"
    base_first = f"{base.retrieval.first_hits}/{n}" if base is not None else "not run"
    print(
        f"ROW | (c) retrieval, right page in top 5 (CLI) | {top}/{n}"
        f"{was(previous.retrieval.top_k_hits if previous else None)} | "
        f"{base_top} (LangChain) | {_diff(top, base, 'top', n)} | "
        f">= {TARGET_TOP5}/{n} | {'met' if top >= TARGET_TOP5 else 'MISSED'}"
    )
    print(
        f"ROW | (c) retrieval, right page first (CLI) | {first}/{n}"
        f"{was(previous.retrieval.first_hits if previous else None)} | "
        f"{base_first} (LangChain) | {_diff(first, base, 'first', n)} | "
        f">= {TARGET_FIRST}/{n} | {'met' if first >= TARGET_FIRST else 'MISSED'}"
    )
    if app.answers_correct is not None:
        base_answers = (
            f"{base.answers_correct}/{n}"
            if base is not None and base.answers_correct is not None
            else "not run"
        )
        answers_met = app.answers_correct >= TARGET_ANSWERS
        print(
            f"ROW | (d) answers with SmolLM2-135M (CLI) | {app.answers_correct}/{n}"
            f"{was(previous.answers_correct if previous else None)} | "
            f"{base_answers} (LangChain) | "
            f"{_diff(app.answers_correct, base, 'answers', n)} | >= {TARGET_ANSWERS}/{n} | "
            f"{'met' if answers_met else 'MISSED'}"
        )


def _print_ranks(questions: Sequence[Question], runs: dict[str, QualityResult]) -> None:
    print("  ranks (" + " / ".join(runs) + ")")
    for number, question in enumerate(questions):
        shown = " / ".join(
            "-" if (rank := r.right_ranks[number]) is None else str(rank) for r in runs.values()
        )
        print(
            f"  rank {shown} | q{number + 1:02d} {question.kind:10s} {question.doc} "
            f"p{question.page}"
        )


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
