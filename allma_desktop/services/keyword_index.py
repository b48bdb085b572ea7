"""Keyword (BM25) search over chunk texts, through SQLite FTS5.

The user's words are never passed to FTS5 as query syntax: they are cut into
words, each quoted, and OR-ed, so quotes, ``AND``/``NEAR``, ``*`` or brackets
in a question are just text. Very common English words are left out unless
the question has nothing else, which keeps ranking sharp and the query fast.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from peewee import SqliteDatabase

from allma_desktop.services.storage import KEYWORD_INDEX, execute_sql, translating_store_errors

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


def query_terms(query: str) -> list[str]:
    """The distinct words of ``query`` worth searching for, in order, lower-cased."""
    words = list(dict.fromkeys(word.lower() for word in _WORD.findall(query)))
    # Single letters ("s" of "MuPDF's", "c" of "C") match nearly every chunk: they make
    # BM25 score the whole index while telling it almost nothing.
    meaningful = [word for word in words if word not in STOPWORDS and len(word) > 1]
    return (meaningful or words)[:MAX_QUERY_TERMS]


def fts5_query(query: str) -> str:
    """A safe FTS5 MATCH expression for free text: quoted words joined by OR; "" if none."""
    return " OR ".join(f'"{term}"' for term in query_terms(query))


SHORTLIST_PER_HIT = 10
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

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

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
        match = fts5_query(query)
        if not match or k <= 0 or (document_ids is not None and not document_ids):
            return []
        if document_ids is None:
            # The library's best matches are usually enough: most searches cover a
            # collection holding much of the library. Ranking all of them is the fallback.
            rows = self._search(match, collection_key, k, shortlist=k * SHORTLIST_PER_HIT)
            if len(rows) < k:
                rows = self._search(match, collection_key, k)
        else:
            rows = self._search(match, collection_key, k, list(dict.fromkeys(document_ids)))
        return [
            KeywordHit(
                chunk_id=chunk_id,
                document_id=document_id,
                text=text,
                score=-float(rank),  # FTS5's rank, bm25(), is lower-is-better
                page=None if page is None else int(page),
                path=path or "",
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
