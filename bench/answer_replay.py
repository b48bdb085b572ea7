"""Replay row (d) without the CLI: the app's retrieval over a built library, then only
the generation re-run. To try a change of the small-model prompt in minutes; the
figure of record is the CLI run of ``bench.retrieval_quality --answers``.

What ``allma ask`` does for a model under a billion parameters, step by step and with
the app's own functions: ``RAGService.retrieve_with_embedding`` (as
``bench.ranking_replay``, with the questions' saved MiniLM vectors), the chunks' texts
from the library, ``prompting.build_messages(small_model=True)`` and
``prompting.chat_options``, SmolLM2-135M through llama.cpp as ``bench.real_models``
serves it, and ``prompting.fallback_quote`` after the model's text. The retrieval of
a library is saved once under the temp folder; SmolLM2's answers are kept there by
the exact messages and options (greedy decoding: the same prompt gives the same
answer), so only the prompts that changed are generated again.

``--previous REF`` runs REF's ``prompting.py`` over the same retrieval in the same
run, so each figure prints against the previous one. Figures are printed for all 40
questions and for ``bench.ranking_replay``'s two halves (tune on one, judge on the
other).

    HF_HUB_OFFLINE=1 ../bench-venv/bin/python -m bench.answer_replay \\
        [--data-dir DIR] [--previous main] [--show] [--limit N] [--cli-library DIR]

``--cli-library DIR`` reads the answers a CLI run of row (d) left in its library (``allma
ask`` keeps each as a conversation) and says, per question, whether the CLI's source and
full answer are the replay's: where they differ, the replay does not measure what a
user gets. Give ``--data-dir`` a copy of that library, so both retrieve from one index.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import pickle
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.cli_path import CACHE_ROOT, checkout_of
from bench.qa_set import Question, load_questions
from bench.ranking_replay import TUNE_DOCS, Replay, default_library

ANSWERS_CACHE = CACHE_ROOT / "smollm-answers.sqlite3"
CONTEXT_TOKENS = 8192  # what the app sends SmolLM2 (its native context, the app's cap)


@dataclass(frozen=True)
class Retrieved:
    """What the app hands the prompt for one question: the ranked sources and texts."""

    sources: list[Any]
    texts: dict[str, str]


def retrieved(data_dir: Path, questions: Sequence[Question]) -> list[Retrieved]:
    """Each question's sources and chunk texts over ``data_dir``, saved once per library."""
    saved = CACHE_ROOT / f"answer-sources-{data_dir.name}.pickle"
    if saved.is_file():
        # Plain tuples: the file is read by any script, not only this module.
        cached: dict[str, tuple[list[Any], dict[str, str]]] = pickle.loads(saved.read_bytes())
        if all(q.question in cached for q in questions):
            return [Retrieved(*cached[q.question]) for q in questions]
    from allma_desktop.services.library.catalog import LibraryService
    from allma_desktop.services.retrieval.rag import RetrievalSettings

    replay = Replay(data_dir)
    library = LibraryService(replay.db)
    found: dict[str, tuple[list[Any], dict[str, str]]] = {}
    for question in questions:
        sources = replay.rag.retrieve_with_embedding(
            question.question, replay.vectors[question.question], replay.key, RetrievalSettings()
        )
        chunks = library.chunks_by_ids([s.chunk_id for s in sources])
        found[question.question] = (
            list(sources),
            {chunk_id: chunk.text for chunk_id, chunk in chunks.items()},
        )
    saved.write_bytes(pickle.dumps(found))
    return [Retrieved(*found[q.question]) for q in questions]


def cached_generator(
    generate: Callable[[], Callable[[list[dict[str, Any]], dict[str, Any]], str]],
) -> Callable[[list[dict[str, Any]], dict[str, Any]], str]:
    """SmolLM2's answer to exact messages and options, generated once (the model is
    loaded only when an answer is missing)."""
    from bench.real_models import smollm_path

    ANSWERS_CACHE.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(ANSWERS_CACHE)
    db.execute("CREATE TABLE IF NOT EXISTS answer (key TEXT PRIMARY KEY, text TEXT)")
    model = smollm_path()
    model_id = f"{model.name}:{model.stat().st_size}"
    loaded: list[Callable[[list[dict[str, Any]], dict[str, Any]], str]] = []

    def answer(messages: list[dict[str, Any]], options: dict[str, Any]) -> str:
        key = hashlib.sha256(
            json.dumps([model_id, messages, options], sort_keys=True).encode()
        ).hexdigest()
        row = db.execute("SELECT text FROM answer WHERE key = ?", (key,)).fetchone()
        if row is not None:
            return str(row[0])
        if not loaded:
            loaded.append(generate())
        text = loaded[0](messages, options)
        db.execute("INSERT OR REPLACE INTO answer VALUES (?, ?)", (key, text))
        db.commit()
        return text

    return answer


def prompting_of(ref: str | None) -> ModuleType:
    """This checkout's ``prompting`` module, or ``ref``'s loaded beside it."""
    if ref is None:
        from allma_desktop.services.retrieval import prompting

        return prompting
    path = checkout_of(ref) / "allma_desktop/services/retrieval/prompting.py"
    spec = importlib.util.spec_from_file_location(f"prompting_{ref.replace('/', '_')}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Answered:
    answer: str  # the model's own text
    full: str  # what the user reads: the model's text and the fallback quote, if any
    quoted: bool
    where: str  # the source the prompt held


def answer_all(
    prompting: ModuleType,
    questions: Sequence[Question],
    contexts: Sequence[Retrieved],
    generate: Callable[[list[dict[str, Any]], dict[str, Any]], str],
) -> list[Answered]:
    answered = []
    for question, context in zip(questions, contexts, strict=True):
        messages, fitted = prompting.build_messages(
            question.question,
            context.sources,
            context.texts,
            [],
            context_tokens=CONTEXT_TOKENS,
            small_model=True,
        )
        options = prompting.chat_options(CONTEXT_TOKENS, 0.2, small_model=True).to_ollama()
        answer = generate([{"role": m.role, "content": m.content} for m in messages], options)
        quote = prompting.fallback_quote(answer, question.question, fitted, context.texts)
        where = f"{Path(fitted[0].path).name} p{fitted[0].page}" if fitted else "-"
        answered.append(Answered(answer, answer + (quote or ""), quote is not None, where))
    return answered


def score(questions: Sequence[Question], answered: Sequence[Answered]) -> dict[str, str]:
    halves = {
        "all": [True] * len(questions),
        "tune half": [q.doc in TUNE_DOCS for q in questions],
        "held-out half": [q.doc not in TUNE_DOCS for q in questions],
    }
    figures = {}
    for name, keep in halves.items():
        chosen = [(q, a) for q, a, k in zip(questions, answered, keep, strict=True) if k]
        right = sum(q.answer_is_correct(a.full) for q, a in chosen)
        alone = sum(q.answer_is_correct(a.answer) for q, a in chosen)
        quoted = sum(a.quoted for _, a in chosen)
        figures[name] = (
            f"{right}/{len(chosen)} (model's text alone {alone}, quote added to {quoted})"
        )
    return figures


def cli_answers(data_dir: Path) -> dict[str, tuple[str, str | None]]:
    """The answers a CLI run left in ``data_dir``'s library: for each question asked, the
    last answer's full text and its first source's chunk id."""
    db = sqlite3.connect(f"file:{data_dir / 'allma.sqlite3'}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT question.content, answer.content, ("
            "  SELECT chunk_id FROM message_source WHERE message_id = answer.id"
            "  ORDER BY number LIMIT 1)"
            " FROM message AS question JOIN message AS answer ON answer.id = ("
            "  SELECT MIN(id) FROM message WHERE conversation_id = question.conversation_id"
            "  AND id > question.id)"
            " WHERE question.role = 'user' AND answer.role = 'assistant'"
            " ORDER BY answer.id"
        ).fetchall()
    finally:
        db.close()
    return {str(question): (str(answer), source) for question, answer, source in rows}


def compare_with_cli(
    questions: Sequence[Question],
    contexts: Sequence[Retrieved],
    answered: Sequence[Answered],
    cli: dict[str, tuple[str, str | None]],
) -> list[str]:
    """One line per question where the CLI's answer is not the replay's, then a summary."""
    lines = []
    same = 0
    for number, (question, context, replayed) in enumerate(
        zip(questions, contexts, answered, strict=True), 1
    ):
        if question.question not in cli:
            lines.append(f"  q{number:02d}: not asked through the CLI")
            continue
        text, source = cli[question.question]
        first = context.sources[0].chunk_id if context.sources else None
        if text == replayed.full and source == first:
            same += 1
            continue
        why = "another first source" if source != first else "another answer"
        marks = (
            f"CLI {'ok' if question.answer_is_correct(text) else '--'}, "
            f"replay {'ok' if question.answer_is_correct(replayed.full) else '--'}"
        )
        lines.append(f"  q{number:02d}: {why} ({marks})")
    right = sum(q.answer_is_correct(cli[q.question][0]) for q in questions if q.question in cli)
    lines.append(
        f"CLI vs replay: the same source and answer for {same}/{len(questions)}; "
        f"the CLI's answers {right}/{len(questions)}"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, help="the library (default: this checkout's)")
    parser.add_argument("--previous", help="also run this git ref's prompting.py")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--show", action="store_true", help="every answer, marked")
    parser.add_argument(
        "--cli-library",
        type=Path,
        help="compare with the answers a CLI run (bench.retrieval_quality --answers) left here",
    )
    args = parser.parse_args()
    from bench.real_models import smollm_generator

    questions = load_questions()[: args.limit]
    data_dir = args.data_dir or default_library()
    contexts = retrieved(data_dir, questions)
    generate = cached_generator(smollm_generator)
    runs = {"now": prompting_of(None)}
    if args.previous:
        runs = {f"previous ({args.previous})": prompting_of(args.previous), **runs}
    results = {}
    for name, module in runs.items():
        started = time.perf_counter()
        results[name] = answer_all(module, questions, contexts, generate)
        print(f"{name}: answered in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    if args.show:
        for number, question in enumerate(questions, 1):
            print(
                f"q{number:02d} {question.kind} {question.doc} p{question.page}: "
                f"{question.question}  [{' | '.join(question.answer_contains)}]"
            )
            for name, answered in results.items():
                a = answered[number - 1]
                mark = "ok" if question.answer_is_correct(a.full) else "--"
                print(f"   {mark} {name:>8.8s} [{a.where}] {a.full[:400]!r}")
    print(f"answers with the expected fact, SmolLM2-135M over {data_dir.name}:")
    for name, answered in results.items():
        for half, figure in score(questions, answered).items():
            print(f"  {name:20s} {half:14s} {figure}")
    if args.cli_library:
        for line in compare_with_cli(
            questions, contexts, results["now"], cli_answers(args.cli_library)
        ):
            print(line)


if __name__ == "__main__":
    main()
