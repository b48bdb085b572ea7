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

from peewee import SqliteDatabase

from allma_desktop.services.storage import execute_sql, translating_store_errors

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
    meaningful = [word for word in words if word not in STOPWORDS]
    return (meaningful or words)[:MAX_QUERY_TERMS]


def fts5_query(query: str) -> str:
    """A safe FTS5 MATCH expression for free text: quoted words joined by OR; "" if none."""
    return " OR ".join(f'"{term}"' for term in query_terms(query))


_SEARCH_SQL = """
SELECT hit.chunk_id, hit.document_id, hit.text, hit.rank, hit.page, hit.heading_path,
       hit.char_start, hit.char_end, document.path, document.title
FROM (
    SELECT chunk_id, document_id, text, bm25(chunk_text) AS rank, page, heading_path,
           char_start, char_end
    FROM chunk_text
    WHERE chunk_text MATCH ? AND collection_key = ? {document_filter}
    ORDER BY rank
    LIMIT ?
) AS hit
LEFT JOIN document ON document.id = hit.document_id
ORDER BY hit.rank
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
        params: list[object] = [match, collection_key]
        document_filter = ""
        if document_ids is not None:
            ids = list(dict.fromkeys(document_ids))
            document_filter = f"AND document_id IN ({', '.join('?' for _ in ids)})"
            params.extend(ids)
        params.append(k)
        rows = execute_sql(self._db, _SEARCH_SQL.format(document_filter=document_filter), params)
        return [
            KeywordHit(
                chunk_id=chunk_id,
                document_id=document_id,
                text=text,
                score=-float(rank),  # FTS5's bm25() is lower-is-better
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
