"""Words that carry meaning: a tiny, dependency-free normaliser for reranking."""

from __future__ import annotations

import functools
import re

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
