"""Words that carry meaning: a tiny, dependency-free normaliser for reranking."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+", re.UNICODE)

STOPWORDS = frozenset(
    (
        "a about above after again against all am an and any are as at be because been before "
        "being below between both but by can could did do does doing down during each few for "
        "from further had has have having he her here hers herself him himself his how i if in "
        "into is it its itself just me more most my myself no nor not now of off on once only or "
        "other our ours ourselves out over own same she should so some such than that the their "
        "theirs them themselves then there these they this those through to too under until up "
        "very was we were what when where which while who whom why will with would you your "
        "yours yourself yourselves "
    ).split()
)


def stem(word: str) -> str:
    """Strip the commonest English endings so 'indexing', 'indexed' and 'indexes' meet."""
    for suffix in ("ingly", "edly", "ing", "ies", "ied", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            return base + "y" if suffix in {"ies", "ied"} else base
    return word


def content_terms(text: str) -> list[str]:
    """Lower-cased, stemmed words of ``text`` without stopwords, in order."""
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1]


@functools.lru_cache(maxsize=16_384)
def _stem_of(word: str) -> str:
    # A library's words repeat from passage to passage; stemming each once is the saving.
    return stem(word)


class QueryTerms:
    """The content terms of a question, and a quick test of which of them a text holds.

    ``held_in(text)`` equals ``set(content_terms(text)) & terms`` but reads only the
    words of ``text`` that could stem to a term: ``stem`` only cuts endings (adding
    a "y" for "-ies"/"-ied"), so such a word starts with the term, or with the term
    less its final "y". That is a few words of a passage instead of all of them.
    """

    def __init__(self, query: str) -> None:
        self.terms = frozenset(content_terms(query))
        prefixes = {term[:-1] if term.endswith("y") else term for term in self.terms}
        # Longest first, so a prefix does not cut a longer one short (``re`` takes the first).
        alternatives = "|".join(re.escape(p) for p in sorted(prefixes, key=len, reverse=True))
        # A word starts where no letter or digit comes before it, as ``_WORD`` splits.
        self._candidate_words = (
            re.compile(rf"(?<![^\W_])(?:{alternatives})[^\W_]*") if prefixes else None
        )

    def held_in(self, text: str) -> frozenset[str]:
        """The terms of the question that ``text`` holds (after stemming both)."""
        if self._candidate_words is None:
            return frozenset()
        words = set(self._candidate_words.findall(text.lower())) - STOPWORDS
        return frozenset(term for term in map(_stem_of, words) if term in self.terms)


# "Table 4.3", "TABLE 2", "Fig. 3b", "Figure 1-2", "footnote 12", "Box 8.2", "Appendix C".
_LABEL_KINDS = {
    "table": "table",
    "tab": "table",
    "figure": "figure",
    "fig": "figure",
    "footnote": "footnote",
    "box": "box",
    "appendix": "appendix",
    "annex": "annex",
    "equation": "equation",
    "eq": "equation",
    "chart": "chart",
    "exhibit": "exhibit",
}
_LABEL = re.compile(
    r"\b(" + "|".join(_LABEL_KINDS) + r")\.?\s*"
    r"(\d+(?:\s*[.\-\u2010-\u2013]\s*\d+)*[a-z]?(?![\w.]*\d)|(?-i:[A-Z])(?:\.\d+)*\b)",
    re.IGNORECASE,
)
_LABEL_SEPARATOR = re.compile(r"\s*[.\-\u2010-\u2013]\s*")


@dataclass(frozen=True)
class Label:
    """A table, figure, footnote, box or appendix that a text names by its number."""

    kind: str  # "table", "figure", ... (abbreviations spelled out)
    number: str  # "4.3", "2b", "C": separators as "."

    @property
    def parts(self) -> list[str]:
        """The number's parts as words: "4.3" -> ["4", "3"], "2b" -> ["2b"]."""
        return self.number.split(".")

    def pattern(self) -> re.Pattern[str]:
        """Where a text names this label: "TABLE 4.3", "Table 4.3.", "Tab. 4-3"."""
        kinds = "|".join(re.escape(k) for k, kind in _LABEL_KINDS.items() if kind == self.kind)
        number = r"\s*[.\-\u2010-\u2013]\s*".join(re.escape(p) for p in self.parts)
        return re.compile(rf"\b(?:{kinds})\.?\s*{number}(?![\w.]*\d|\w)", re.IGNORECASE)


def named_labels(text: str) -> list[Label]:
    """The labels ``text`` names by number, in order, each once ("Table 4.3" -> table 4.3).

    A question that names "Table 2" or "Figure 3b" is about the page that holds it:
    the number is what says which, and it is not a word a keyword search would weigh.
    """
    found: dict[Label, None] = {}
    for kind, number in _LABEL.findall(text):
        normal = _LABEL_SEPARATOR.sub(".", number.strip()).lower()
        found.setdefault(Label(_LABEL_KINDS[kind.lower()], normal), None)
    return list(found)
