"""The shared question set (``../shared/qa/qa.jsonl``) and how a run is scored."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.common import QA_DIR

_DASHES = re.compile(r"[\u2010-\u2015\u2212]")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Question:
    doc: str
    page: int
    question: str
    answer_contains: tuple[str, ...]
    kind: str
    also_on: tuple[int, ...]

    @property
    def accepted_pages(self) -> frozenset[int]:
        return frozenset((self.page, *self.also_on))

    def is_hit(self, doc: str, page: int | None) -> bool:
        return doc == self.doc and page is not None and page in self.accepted_pages

    def answer_is_correct(self, answer: str) -> bool:
        text = normalise(answer).lower()
        return any(normalise(expected).lower() in text for expected in self.answer_contains)


def normalise(text: str) -> str:
    """As the set's check.py: NFKC, dashes to '-', whitespace runs to one space."""
    text = unicodedata.normalize("NFKC", text)
    return _SPACES.sub(" ", _DASHES.sub("-", text)).strip()


def load_questions(path: Path = QA_DIR / "qa.jsonl") -> list[Question]:
    questions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        raw = json.loads(line)
        questions.append(
            Question(
                doc=raw["doc"],
                page=int(raw["page"]),
                question=raw["question"],
                answer_contains=tuple(raw["answer_contains"]),
                kind=raw["kind"],
                also_on=tuple(int(p) for p in raw.get("also_on") or ()),
            )
        )
    return questions


@dataclass(frozen=True)
class RetrievalScore:
    top_k_hits: int
    first_hits: int
    total: int
    misses: tuple[str, ...]
    by_kind: dict[str, tuple[int, int]]  # kind -> (top-k hits, questions)
    mrr: float = 0.0  # mean of 1/rank of the first right source in the top 5 (0 if none)

    def describe(self) -> str:
        kinds = ", ".join(f"{kind} {hit}/{n}" for kind, (hit, n) in sorted(self.by_kind.items()))
        return (
            f"top-5 {self.top_k_hits}/{self.total} ({self.top_k_hits / self.total:.0%}), "
            f"first {self.first_hits}/{self.total} ({self.first_hits / self.total:.0%}), "
            f"MRR {self.mrr:.3f}; {kinds}"
        )


def score_retrieval(
    questions: Sequence[Question], ranked: Sequence[Sequence[tuple[str, int | None]]]
) -> RetrievalScore:
    """``ranked[i]`` is the (file name, 1-based page) list returned for question i, best first."""
    top = first = 0
    reciprocal = 0.0
    misses: list[str] = []
    by_kind: dict[str, tuple[int, int]] = {}
    for question, sources in zip(questions, ranked, strict=True):
        hit = any(question.is_hit(doc, page) for doc, page in sources[:5])
        top += hit
        first += bool(sources) and question.is_hit(*sources[0])
        rank = next((r for r, s in enumerate(sources[:5], 1) if question.is_hit(*s)), None)
        reciprocal += 1 / rank if rank else 0.0
        hits, count = by_kind.get(question.kind, (0, 0))
        by_kind[question.kind] = (hits + hit, count + 1)
        if not hit:
            misses.append(f"{question.doc} p{question.page}: {question.question}")
    return RetrievalScore(
        top, first, len(questions), tuple(misses), by_kind, reciprocal / max(1, len(questions))
    )
