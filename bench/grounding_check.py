"""How well the answer checker (retrieval/grounding.py) tells supported sentences from altered ones.

A labelled set is built from the documents of the shared question set
(``../shared/qa``): for each question, the chunks of its answer page (as the app
cuts them) are the passages. True sentences are taken from a passage and cited
to it; altered ones are the same sentences with a number changed, with a name
swapped for one from another page of the document, or a sentence taken from
another page, cited to the passage all the same. Targets (issue 19): at least 90%
of altered sentences flagged, at most 10% of true sentences flagged; a typical
answer checked in under 50 ms.

    .venv/bin/python -m bench.grounding_check
"""

from __future__ import annotations

import random
import re
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from allma_desktop.services.documents.model import Chunk
from allma_desktop.services.documents.service import DocumentService
from allma_desktop.services.retrieval.grounding import check_answer
from bench.common import PDF_CORPUS, percentile
from bench.qa_set import load_questions

SEED = 19
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w])")
# A name inside a sentence: capitalised after a lower-case word (not a sentence's first word).
_NAME = re.compile(r"(?<=[a-z,;:] )[A-Z][a-z]{2,}[A-Za-z]*\b")


@dataclass(frozen=True)
class Case:
    kind: str  # "true", "number", "name", "other page"
    sentence: str
    passage: str

    @property
    def altered(self) -> bool:
        return self.kind != "true"


def checkable(sentence: str) -> bool:
    """A whole prose sentence: 8 to 60 words, mostly letters (not a table row or a heading)."""
    words = sentence.split()
    letters = sum(ch.isalpha() for ch in sentence)
    return 8 <= len(words) <= 60 and letters > 0.7 * len(sentence.replace(" ", ""))


def sentences_of(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(" ".join(text.split())) if checkable(s.strip())]


def changed_number(sentence: str, passage: str, rng: random.Random) -> str | None:
    numbers = _NUMBER.findall(sentence)
    if not numbers:
        return None
    old = rng.choice(numbers)
    digits = old.replace(",", "").replace(".", "")
    for _ in range(20):
        new = str(int(digits) + rng.choice((1, 2, 3, 5, 7, 10, 13))) if digits.isdigit() else "7"
        if new not in passage:
            return re.sub(rf"(?<![\w.]){re.escape(old)}(?![\w])", new, sentence, count=1)
    return None


def swapped_name(
    sentence: str, passage: str, names: Sequence[str], rng: random.Random
) -> str | None:
    present = list(_NAME.finditer(sentence))
    others = [n for n in names if n.lower() not in passage.lower()]
    if not present or not others:
        return None
    old = rng.choice(present)
    return sentence[: old.start()] + rng.choice(others) + sentence[old.end() :]


def build_cases(chunks_by_doc: dict[str, list[Chunk]], rng: random.Random) -> list[Case]:
    cases: list[Case] = []
    seen: set[tuple[str, int]] = set()
    for question in load_questions():
        key = (question.doc, question.page)
        if key in seen or question.doc not in chunks_by_doc:
            continue
        seen.add(key)
        chunks = chunks_by_doc[question.doc]
        page_chunks = [c for c in chunks if c.page == question.page]
        far_chunks = [c for c in chunks if c.page is not None and abs(c.page - question.page) > 3]
        names = sorted({n for c in far_chunks for n in _NAME.findall(c.text)})
        for chunk in page_chunks:
            for sentence in sentences_of(chunk.text)[:3]:
                cases.append(Case("true", sentence, chunk.text))
                number = changed_number(sentence, chunk.text, rng)
                if number is not None:
                    cases.append(Case("number", number, chunk.text))
                name = swapped_name(sentence, chunk.text, names, rng)
                if name is not None:
                    cases.append(Case("name", name, chunk.text))
                for _ in range(5):
                    other = rng.choice(far_chunks) if far_chunks else None
                    picked = sentences_of(other.text) if other is not None else []
                    if picked:
                        cases.append(Case("other page", rng.choice(picked), chunk.text))
                        break
    return cases


def flagged(case: Case) -> bool:
    report = check_answer(f"{case.sentence} [1]", {1: case.passage})
    return report.checked > 0 and report.supported < report.checked


def main() -> int:
    rng = random.Random(SEED)
    service = DocumentService()
    docs = sorted({q.doc for q in load_questions()})
    chunks_by_doc: dict[str, list[Chunk]] = {}
    for name in docs:
        path = PDF_CORPUS / name
        if not path.exists():
            print(f"missing {path}", file=sys.stderr)
            continue
        chunks_by_doc[name] = service.chunk(service.parse(Path(path)), name)
    cases = build_cases(chunks_by_doc, rng)

    by_kind: dict[str, list[bool]] = {}
    for case in cases:
        by_kind.setdefault(case.kind, []).append(flagged(case))
    print(f"labelled set: {len(cases)} sentences from {len(chunks_by_doc)} documents (seed {SEED})")
    for kind, results in sorted(by_kind.items()):
        share = 100 * sum(results) / len(results)
        print(f"  {kind:<11} {len(results):4d} sentences, flagged {share:5.1f}%")
    altered = [r for kind, rs in by_kind.items() if kind != "true" for r in rs]
    true = by_kind.get("true", [])
    altered_share = 100 * sum(altered) / max(1, len(altered))
    true_share = 100 * sum(true) / max(1, len(true))
    print(f"altered flagged: {altered_share:.1f}% (target >= 90%)")
    print(f"true flagged:    {true_share:.1f}% (target <= 10%)")

    # A typical answer: four sentences citing two of five passages of about 1,000 characters.
    timings = []
    passages_pool = [c.text for cs in chunks_by_doc.values() for c in cs if len(c.text) > 600]
    true_cases = [c for c in cases if c.kind == "true"]
    for _ in range(200):
        picked = rng.sample(true_cases, 4)
        passages = {1: picked[0].passage, 2: picked[2].passage}
        for number in range(3, 6):
            passages[number] = rng.choice(passages_pool)
        answer = " ".join(f"{case.sentence} [{1 if i < 2 else 2}]" for i, case in enumerate(picked))
        started = time.perf_counter()
        check_answer(answer, passages)
        timings.append((time.perf_counter() - started) * 1000)
    print(
        "check time, 4-sentence answer over 5 passages: "
        f"median {statistics.median(timings):.2f} ms, "
        f"p95 {percentile(timings, 0.95):.2f} ms (target < 50 ms)"
    )
    ok = altered_share >= 90 and true_share <= 10
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
