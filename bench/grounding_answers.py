"""Issue 19's last row: the answer checker on SmolLM2-135M's real answers to ``../shared/qa``.

The 40 questions are asked through the app's own path: the orchestrator's ``chat``
over an Ollama-protocol server with the real models behind it (SmolLM2-135M under
its true name, all-MiniLM-L6-v2 for the embeddings; ``bench/real_models.py``), on
the library that row (c)'s ``allma ingest`` builds for this checkout
(``bench/retrieval_quality.py``, whole corpus; ``--qa-docs-only``: its four PDFs).
Each answer is scored as the set's README scores it (it contains one of
``answer_contains``), and checked against the passages the model was given, twice in
the same run: by its words alone (``check_answer``), and as the app checks it, words
then closeness in meaning with MiniLM (``closeness`` / ``Closeness.apply``, the
texts prepared as the orchestrator prepares them, the app's quote of its source
left out as the orchestrator leaves it out). An answer is *flagged* when a
user would see a marker on it: a sentence not supported by its source, or a number
found in no source.

The first run also keeps the app's own check (its ``AnswerChecked`` event) and says
whether the re-check agrees with it. Answers, passages and that check are cached under
the bench's temp folder, keyed by the index and the code that decides an answer
(retrieval, prompt); a re-run of the checker then takes seconds.
``--refresh`` asks the model again.

    HF_HUB_OFFLINE=1 PYTHONPATH=. nice -n 10 ../bench-venv/bin/python -m bench.grounding_answers \
        [--show] [--refresh] [--qa-docs-only] [--answers JSON]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from allma_desktop.records import GroundingReport
from allma_desktop.services.retrieval.grounding import check_answer, closeness
from allma_desktop.services.retrieval.rag import embedding_document_text
from bench.cli_path import REPO_ROOT, index_key
from bench.common import PDF_CORPUS
from bench.qa_set import Question, load_questions
from bench.retrieval_quality import CACHE_ROOT, library_folder, qa_documents_folder

Embed = Callable[[list[str]], list[list[float]]]

# What decides an answer besides the index: a change here asks the model again (a change
# to the orchestrator's chat path needs ``--refresh``: the file changes too often to key on).
ANSWER_CODE = (
    "allma_desktop/services/retrieval/rag.py",
    "allma_desktop/services/retrieval/prompting.py",
    "allma_desktop/services/retrieval/text_terms.py",
    "bench/real_models.py",
)


@dataclass(frozen=True)
class Answered:
    """One question as the app answered it."""

    number: int  # 1-based, the question's line in qa.jsonl
    answer: str
    passages: dict[int, str]  # source number -> the text the app checks against
    pages: list[tuple[str, int | None]]  # each source's (file name, page), in order
    quote: str  # the app's fallback quote added after the model's text ("" if none)
    app_check: dict[str, Any] | None  # the orchestrator's AnswerChecked report

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "answer": self.answer,
            "passages": {str(k): v for k, v in self.passages.items()},
            "pages": [list(p) for p in self.pages],
            "quote": self.quote,
            "app_check": self.app_check,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Answered:
        return cls(
            number=int(data["number"]),
            answer=str(data["answer"]),
            passages={int(k): str(v) for k, v in data["passages"].items()},
            pages=[
                (str(name), None if page is None else int(page)) for name, page in data["pages"]
            ],
            quote=str(data.get("quote") or ""),
            app_check=data.get("app_check"),
        )


def cache_file(corpus: Path) -> Path:
    digest = hashlib.sha256(index_key(REPO_ROOT).encode())
    for name in ANSWER_CODE:
        digest.update((REPO_ROOT / name).read_bytes())
    which = "" if corpus == PDF_CORPUS else "-qa-docs"
    return CACHE_ROOT / f"grounding-answers-{digest.hexdigest()[:12]}{which}.json"


async def _ask_all(
    questions: Sequence[Question], host: str, data_dir: Path, corpus: Path
) -> list[Answered]:
    from allma_desktop.events import AnswerChecked, AnswerDone, SourcesFound, TokenChunk
    from allma_desktop.orchestrator import Orchestrator
    from allma_desktop.services.retrieval.prompting import fallback_quote
    from bench.real_models import real_models_config

    orchestrator = Orchestrator(real_models_config(host, data_dir))
    await orchestrator.open()
    answered: list[Answered] = []
    try:
        async for _event in orchestrator.ingest([corpus]):
            pass
        for number, question in enumerate(questions, start=1):
            sources: tuple[Any, ...] = ()
            done: AnswerDone | None = None
            checked: AnswerChecked | None = None
            last_chunk = ""
            async for event in orchestrator.chat(None, question.question):
                if isinstance(event, SourcesFound):
                    sources = event.sources
                elif isinstance(event, TokenChunk):
                    last_chunk = event.text
                elif isinstance(event, AnswerDone):
                    done = event
                elif isinstance(event, AnswerChecked):
                    checked = event
            answer = done.answer if done is not None else ""
            texts = await orchestrator.source_texts(sources)
            passages = {s.number: texts.get(s.chunk_id, s.snippet) for s in sources}
            # The app's quote is its last chunk, the one fallback_quote makes for the rest.
            quote = ""
            if last_chunk and answer.endswith(last_chunk):
                before = answer[: -len(last_chunk)]
                if fallback_quote(before, question.question, list(sources), texts) == last_chunk:
                    quote = last_chunk
            answered.append(
                Answered(
                    number,
                    answer,
                    passages,
                    [(Path(s.path).name, s.page) for s in sources],
                    quote,
                    checked.grounding.as_dict() if checked is not None else None,
                )
            )
            print(f"  q{number:02d} answered ({len(answer)} characters)", file=sys.stderr)
    finally:
        await orchestrator.close()
    return answered


def answers(
    questions: Sequence[Question], corpus: Path, refresh: bool, kept: Path | None = None
) -> list[Answered]:
    """The cached answers (or those of ``kept``), or the model's, asked through the app
    (and then cached)."""
    if kept is not None:
        print(f"answers from {kept}")
        rows = json.loads(kept.read_text(encoding="utf-8"))
        return [Answered.from_dict(d) for d in rows][: len(questions)]
    path = cache_file(corpus)
    if path.exists() and not refresh:
        kept = [Answered.from_dict(d) for d in json.loads(path.read_text(encoding="utf-8"))]
        if len(kept) >= len(questions):
            print(f"answers from the cache {path}")
            return kept[: len(questions)]
    from bench.real_models import minilm_embedder, real_model_server, smollm_generator

    embedder = minilm_embedder(cache=CACHE_ROOT / "minilm-vectors.sqlite3")
    data_dir = library_folder(REPO_ROOT, corpus)
    data_dir.mkdir(parents=True, exist_ok=True)
    with real_model_server(embedder, smollm_generator()) as server:
        got = asyncio.run(_ask_all(questions, server.url, data_dir, corpus))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([a.as_dict() for a in got], indent=1), encoding="utf-8")
    print(f"answers asked through the app, cached in {path}")
    return got


def app_check(one: Answered, embed: Embed | None) -> GroundingReport:
    """The check as the orchestrator makes it (``Orchestrator._with_closeness``);
    ``embed`` None is the words alone."""
    from bench.real_models import EMBEDDING_MODEL_NAME

    answer, passages = one.answer, one.passages
    quoted_from = len(answer) - len(one.quote) if one.quote else None
    report = check_answer(answer, passages, quoted_from=quoted_from)
    plan = closeness(report, passages) if embed is not None else None
    if plan is None or embed is None:
        return report
    vectors = embed([embedding_document_text(EMBEDDING_MODEL_NAME, t) for t in plan.texts])
    return plan.apply(report, vectors)


def flagged(report: GroundingReport) -> bool:
    """A user sees a marker: an unsupported sentence, or a number found in no source."""
    return bool(report.unsupported) or bool(report.unsupported_numbers)


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f}%)" if whole else "0/0"


@dataclass(frozen=True)
class Row:
    question: Question
    answered: Answered
    correct: bool  # carries its expected fact, as the set's README scores
    hit: bool  # the question's page was among the passages the model was given
    words: GroundingReport  # the check by words alone (the baseline)
    meaning: GroundingReport  # words, then closeness in meaning with MiniLM (the app's)


def _flag_line(rows: Sequence[Row], total: int, title: str) -> str:
    n = len(rows)
    by_words = sum(flagged(r.words) for r in rows)
    by_meaning = sum(flagged(r.meaning) for r in rows)
    nothing = sum(r.meaning.checked == 0 and not r.meaning.unsupported_numbers for r in rows)
    return (
        f"{title}: {n}/{total}; flagged: words alone {_share(by_words, n)}, "
        f"+ closeness (MiniLM) {_share(by_meaning, n)}; nothing to check in {nothing}"
    )


def _print_row(row: Row, show: bool) -> None:
    question, one, meaning = row.question, row.answered, row.meaning
    mark = "correct" if row.correct else "MISSING " + " / ".join(question.answer_contains)
    state = "FLAGGED" if flagged(meaning) else "not flagged"
    print(
        f"q{one.number:02d} [{state}; {mark}; right page in sources: {'yes' if row.hit else 'no'}"
        f"{'; quote added' if one.quote else ''}] {meaning.summary or 'nothing checked'} "
        f"(words alone: {row.words.summary or '-'})"
    )
    if show:
        print(f"    Q: {question.question}")
        print(f"    A: {one.answer[:500]!r}")
    for sentence in meaning.sentences:
        if sentence.supported and not show:
            continue
        close = "" if sentence.closeness is None else f", closeness {sentence.closeness}"
        state = "ok" if sentence.supported else "--"
        missing = f" missing {list(sentence.missing)}" if sentence.missing else ""
        print(f"    {state} {sentence.text[:160]!r}{missing}{close}")
    if meaning.unsupported_numbers:
        print(f"    numbers in no source: {list(meaning.unsupported_numbers)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--refresh", action="store_true", help="ask the model again")
    parser.add_argument("--show", action="store_true", help="print every answer and its check")
    parser.add_argument(
        "--qa-docs-only", action="store_true", help="index only the question set's four PDFs"
    )
    parser.add_argument("--limit", type=int, help="only the first N questions (to iterate)")
    parser.add_argument(
        "--answers",
        type=Path,
        metavar="JSON",
        help="check the answers of this cache file (an earlier run's) instead of asking",
    )
    args = parser.parse_args()
    questions = load_questions()[: args.limit]
    corpus = qa_documents_folder(load_questions()) if args.qa_docs_only else PDF_CORPUS
    got = answers(questions, corpus, args.refresh, args.answers)

    from bench.real_models import minilm_embedder

    embed = minilm_embedder(cache=CACHE_ROOT / "minilm-vectors.sqlite3")
    rows: list[Row] = []
    agree = compared = 0
    for question, one in zip(questions, got, strict=True):
        meaning = app_check(one, embed)
        if one.app_check is not None:
            compared += 1
            agree += GroundingReport.from_dict(one.app_check) == meaning
        rows.append(
            Row(
                question,
                one,
                question.answer_is_correct(one.answer),
                any(question.is_hit(doc, page) for doc, page in one.pages),
                app_check(one, None),
                meaning,
            )
        )

    missing = [r for r in rows if not r.correct]
    right = [r for r in rows if r.correct]
    total = len(rows)
    print(f"{total} questions, SmolLM2-135M answering through the app's chat ({corpus})")
    print(_flag_line(missing, total, "answers missing their expected fact"))
    print(_flag_line([r for r in missing if r.hit], total, "  right page among the sources"))
    print(_flag_line([r for r in missing if not r.hit], total, "  right page not among them"))
    print(_flag_line(right, total, "correct answers"))
    quoted = sum(bool(r.answered.quote) for r in rows)
    print(f"answers ending with the app's quote of its first source: {quoted}/{total}")
    for label, part in (("missing-fact", missing), ("correct", right)):
        checked = sum(r.meaning.checked for r in part)
        by_meaning = sum(len(r.meaning.unsupported) for r in part)
        by_words = sum(len(r.words.unsupported) for r in part)
        print(
            f"sentences of {label} answers: {checked} checked, flagged {by_meaning} "
            f"(words alone {by_words})"
        )
    if compared:
        print(
            f"re-check agrees with the app's own check (AnswerChecked, as recorded when the "
            f"answers were made; --refresh after a change to the checker): {agree}/{compared}"
        )

    print("\nflagged answers (words, then closeness) and their flagged sentences:")
    for row in rows:
        if flagged(row.meaning) or args.show:
            _print_row(row, args.show)

    def flags(part: Sequence[Row], words: bool) -> str:
        return _share(sum(flagged(r.words if words else r.meaning) for r in part), len(part))

    print(
        f"ROW | checker on SmolLM2-135M answers ({total} questions) | answers missing their "
        f"fact flagged {flags(missing, False)}; correct answers flagged {flags(right, False)} "
        f"| words alone: {flags(missing, True)}; {flags(right, True)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
