"""Keyword (BM25) search over chunk texts, through SQLite FTS5.

The user's words are never passed to FTS5 as query syntax: they are cut into
words, each quoted, and OR-ed, so quotes, ``AND``/``NEAR``, ``*`` or brackets
in a question are just text. Very common English words are left out unless
the question has nothing else, which keeps ranking sharp and the query fast.

BM25 costs a few microseconds for every chunk that matches any query word, so an
OR of all the words of a question scores most of a large library. A search
therefore first counts (up to a cap) how many chunks hold each word and ranks
with the rarest words only, as many as fit a budget of matching chunks; the
words left out are common ones that BM25 weighs little anyway, and the rerank in
``rag.py`` still counts them. Only when the rare words find too few chunks does
the search rank with every word.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import peewee
from peewee import SqliteDatabase

from allma_desktop.pathnames import path_from_stored
from allma_desktop.services.documents.languages import (
    COMMON_WORDS,
    COMPOUNDING,
    DEFAULT_LANGUAGE,
    joined_words,
    query_variants,
    split_words,
)
from allma_desktop.services.library.storage import (
    KEYWORD_INDEX,
    execute_sql,
    translating_store_errors,
)
from allma_desktop.services.retrieval.text_terms import named_labels

MAX_QUERY_TERMS = 32

_WORD = re.compile(r"[^\W_]+")  # letters and digits; FTS5's unicode61 splits on the rest

# Words too common to say what a question is about (keeps BM25 sharp and OR-queries fast).
# fmt: off
STOPWORDS = frozenset((
    "a", "about", "above", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as",
    "at", "be", "because", "been", "before", "being", "between", "both", "but", "by", "can",
    "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from",
    "further", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how",
    "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my",
    "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours",
    "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the",
    "their", "theirs", "them", "then", "there", "these", "they", "this", "those", "through", "to",
    "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which",
    "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours",
))
# fmt: on


@dataclass(frozen=True)
class StoredChunk:
    text: str
    path: str
    title: str


@dataclass(frozen=True)
class KeywordHit:
    chunk_id: str
    document_id: str
    text: str
    score: float  # higher is better; BM25, comparable only within one search
    page: int | None
    path: str
    title: str
    heading_path: tuple[str, ...]
    char_start: int
    char_end: int


def query_words(query: str, languages: Iterable[str] = ()) -> list[str]:
    """The distinct words of ``query`` worth searching for, in order, lower-cased.

    Very common words of English and of ``languages`` are left out, unless the
    question has nothing else.
    """
    # A hyphenated word also counts written as one ("non-specialist" finds
    # "nonspecialist"; the index holds both forms of the text's hyphenated words).
    words = list(
        dict.fromkeys([word.lower() for word in _WORD.findall(query)] + joined_words(query))
    )
    stop = STOPWORDS.union(*(COMMON_WORDS.get(language, ()) for language in languages))
    # Single letters ("s" of "MuPDF's", "c" of "C") match nearly every chunk: they make
    # BM25 score the whole index while telling it almost nothing. (A CJK character is a
    # word of its own, and stays.)
    meaningful = [
        word for word in words if word not in stop and (len(word) > 1 or not word.isascii())
    ]
    return (meaningful or words)[:MAX_QUERY_TERMS]


def query_terms(query: str, languages: Sequence[str] = (DEFAULT_LANGUAGE,)) -> list[str]:
    """The index terms to search for ``query`` in a library of documents in ``languages``.

    Each word is stemmed as each language stems it (the index holds a document's words
    stemmed in its own language); a word in a language that joins compounds also
    matches the longer words it begins (a trailing ``*``: FTS5's prefix match).
    CJK text becomes its character pairs, as indexed.
    """
    compounding = any(language in COMPOUNDING for language in languages)
    # "Table 4.3" as a phrase of the index's terms ("tabl 4 3"): the number says which
    # table, and a lone digit is not searched for as a word.
    found = list(
        dict.fromkeys(
            " ".join((stem, *label.parts))
            for label in named_labels(query)
            for stem in query_variants(label.kind, languages)
        )
    )
    for word in query_words(query, languages):
        plain, pairs = split_words(word)
        variants = [stem for part in plain for stem in query_variants(part, languages)]
        if compounding:
            variants = [
                f"{stem}*" if len(stem) >= COMPOUND_PREFIX_MIN else stem for stem in variants
            ]
        for term in variants + pairs:
            if term and term not in found:
                found.append(term)
    return found[:MAX_QUERY_TERMS]


COMPOUND_PREFIX_MIN = 5
"""Shorter stems are not matched as the start of compounds (they begin too many words)."""


def fts5_query(query: str, languages: Sequence[str] = (DEFAULT_LANGUAGE,)) -> str:
    """A safe FTS5 MATCH expression for free text: quoted terms joined by OR; "" if none."""
    return _any_of(query_terms(query, languages))


def _any_of(terms: Sequence[str]) -> str:
    # A quoted FTS5 string is always a plain phrase; a quote inside is written twice. A
    # term ending in "*" (from ``query_terms``) is a prefix match.
    return " OR ".join(_quoted(term) for term in terms)


def _quoted(term: str) -> str:
    prefix = term.endswith("*") and len(term) > 1
    body = term[:-1] if prefix else term
    return '"' + body.replace('"', '""') + '"' + ("*" if prefix else "")


RANKING_BUDGET = 2000
"""How many matching chunks BM25 may score before common words are left out of the ranking.

BM25 costs FTS5 one to three microseconds per matching chunk (measured at 100k chunks),
so this keeps the ranking within a few milliseconds, while the rarest words of a
question, those that say what it is about, usually match fewer chunks than this."""


def rarest_terms(
    frequencies: Mapping[str, int], wanted: int, budget: int = RANKING_BUDGET
) -> list[str]:
    """The terms to rank with, rarest first: those that fit in ``budget`` matching chunks.

    ``frequencies`` maps each term to the number of chunks holding it (a count that
    may be capped above ``budget``). The rarest term is always taken, and more are
    taken past the budget while the chosen ones cannot match ``wanted`` chunks
    between them. Terms no chunk holds are left out: they cannot match.
    """
    present = sorted(
        (term for term, count in frequencies.items() if count > 0), key=frequencies.__getitem__
    )
    chosen: list[str] = []
    matching = 0  # at most this many chunks hold a chosen term
    for term in present:
        count = frequencies[term]
        if chosen and matching >= wanted and matching + count > budget:
            break  # every term after this one is at least as common
        chosen.append(term)
        matching += count
    return chosen


SHORTLIST_PER_HIT = 4
"""How many of the best matches in the whole library to shortlist per hit wanted."""

# The match runs on the index alone; each matching rowid is then one primary-key look-up
# in chunk_text (for its collection, document and text) and one in document. With a
# LIMIT on ``ORDER BY rank``, FTS5 sorts inside the index and the look-ups stop early.
_SEARCH_SQL = f"""
SELECT chunk.chunk_id, chunk.document_id, chunk.text, hit.rank, chunk.page, chunk.heading_path,
       chunk.char_start, chunk.char_end, document.path, document.title
FROM (
    SELECT rowid, rank FROM {KEYWORD_INDEX} WHERE {KEYWORD_INDEX} MATCH ?
    ORDER BY rank {{shortlist}}
) AS hit
JOIN chunk_text AS chunk ON chunk.id = hit.rowid
LEFT JOIN document ON document.id = chunk.document_id
WHERE chunk.collection_key = ? {{document_filter}}
ORDER BY hit.rank
LIMIT ?
"""


class KeywordIndex:
    """BM25 search within one collection's chunk texts (written by ``LibraryService``)."""

    def __init__(self, db: SqliteDatabase, ranking_budget: int = RANKING_BUDGET) -> None:
        self._db = db
        self._ranking_budget = ranking_budget

    @property
    def db(self) -> SqliteDatabase:
        return self._db

    @translating_store_errors
    def search(
        self,
        collection_key: str,
        query: str,
        k: int,
        document_ids: Sequence[str] | None = None,
    ) -> list[KeywordHit]:
        """The ``k`` chunks that best match the words of ``query``, best first.

        ``document_ids`` limits the search to those documents (an empty list finds nothing).
        """
        terms = query_terms(query, self.languages())
        if not terms or k <= 0 or (document_ids is not None and not document_ids):
            return []
        if document_ids is None:
            frequencies = self.chunk_frequencies(terms, cap=self._ranking_budget + 1)
            rarest = rarest_terms(frequencies, k, self._ranking_budget)
            rows = self._search_collection(_any_of(rarest), collection_key, k) if rarest else []
            found = [term for term in terms if frequencies[term] > 0]
            if len(rows) < k and len(found) > len(rarest):
                # The rare words are too few (or mostly in other collections): every word.
                rows = self._search_collection(_any_of(found), collection_key, k)
        else:
            rows = self._search(
                _any_of(terms), collection_key, k, list(dict.fromkeys(document_ids))
            )
        return [
            KeywordHit(
                chunk_id=chunk_id,
                document_id=document_id,
                text=text,
                score=-float(rank),  # FTS5's rank, bm25(), is lower-is-better
                page=None if page is None else int(page),
                path=path_from_stored(path or ""),
                title=title or "",
                heading_path=tuple(json.loads(heading_path or "[]")),
                char_start=int(char_start),
                char_end=int(char_end),
            )
            for (
                chunk_id,
                document_id,
                text,
                rank,
                page,
                heading_path,
                char_start,
                char_end,
                path,
                title,
            ) in rows
        ]

    def languages(self) -> list[str]:
        """The languages of the library's documents (English when it has none yet)."""
        rows = execute_sql(self._db, "SELECT DISTINCT language FROM document_language", ())
        return sorted(str(language) for (language,) in rows) or [DEFAULT_LANGUAGE]

    @translating_store_errors
    def texts(self, chunk_ids: Sequence[str]) -> dict[str, str]:
        """The stored text of each of ``chunk_ids`` that has one, by chunk id.

        A chunk without one is not in the library (yet): its document is still being
        indexed, failed, or was removed after its vectors were written.
        """
        return {chunk_id: stored.text for chunk_id, stored in self.stored_chunks(chunk_ids).items()}

    def stored_chunks(self, chunk_ids: Sequence[str]) -> dict[str, StoredChunk]:
        """``texts``, with where each chunk's document is now (a moved file keeps its
        vectors, whose copy of the path is then out of date)."""
        found: dict[str, StoredChunk] = {}
        for batch in peewee.chunked(list(set(chunk_ids)), 500):  # SQLite's parameter limit
            placeholders = ", ".join("?" for _ in batch)
            sql = (
                "SELECT chunk.chunk_id, chunk.text, document.path, document.title"
                " FROM chunk_text AS chunk JOIN document ON document.id = chunk.document_id"
                f" WHERE chunk.chunk_id IN ({placeholders})"
            )
            for chunk_id, text, path, title in execute_sql(self._db, sql, batch):
                found[chunk_id] = StoredChunk(text, path_from_stored(path), title)
        return found

    @translating_store_errors
    def read_by_ocr(self, chunk_ids: Sequence[str]) -> set[str]:
        """Those of ``chunk_ids`` whose page was read by OCR (the ``ocr_chunk`` marks)."""
        found: set[str] = set()
        for batch in peewee.chunked(list(set(chunk_ids)), 500):  # SQLite's parameter limit
            placeholders = ", ".join("?" for _ in batch)
            sql = f"SELECT chunk_id FROM ocr_chunk WHERE chunk_id IN ({placeholders})"
            found.update(chunk_id for (chunk_id,) in execute_sql(self._db, sql, batch))
        return found

    @translating_store_errors
    def chunk_frequencies(self, terms: Sequence[str], cap: int) -> dict[str, int]:
        """How many chunks of the library hold each term, counted up to ``cap``.

        FTS5 stems each term as it stems the texts, so "indexing" counts chunks that say
        "indexes". One statement for all terms; each count reads at most ``cap`` entries
        of the term's list of chunks, so a common word costs no more than a rare one.
        """
        if not terms:
            return {}
        counts = " UNION ALL ".join(
            f"SELECT {position}, count(*) FROM "
            f"(SELECT 1 FROM {KEYWORD_INDEX} WHERE {KEYWORD_INDEX} MATCH ? LIMIT {int(cap)})"
            for position in range(len(terms))
        )
        rows = execute_sql(self._db, counts, [_any_of([term]) for term in terms])
        return {terms[position]: int(count) for position, count in rows}

    def _search_collection(self, match: str, collection_key: str, k: int) -> list[tuple[Any, ...]]:
        # The library's best matches are usually enough: most searches cover a
        # collection holding much of the library. Ranking all of them is the fallback.
        rows = self._search(match, collection_key, k, shortlist=k * SHORTLIST_PER_HIT)
        if len(rows) < k:
            rows = self._search(match, collection_key, k)
        return rows

    def _search(
        self,
        match: str,
        collection_key: str,
        k: int,
        document_ids: Sequence[str] | None = None,
        shortlist: int | None = None,
    ) -> list[tuple[Any, ...]]:
        """Rows of ``_SEARCH_SQL``: the best ``k`` in the collection among the library's
        best ``shortlist`` matches (all matches when None)."""
        params: list[object] = [match]
        if shortlist is not None:
            params.append(shortlist)
        params.append(collection_key)
        document_filter = ""
        if document_ids is not None:
            document_filter = f"AND chunk.document_id IN ({', '.join('?' for _ in document_ids)})"
            params.extend(document_ids)
        params.append(k)
        sql = _SEARCH_SQL.format(
            shortlist="" if shortlist is None else "LIMIT ?", document_filter=document_filter
        )
        return execute_sql(self._db, sql, params)
