"""RAGService: find the passages that answer a question (``prompting`` turns them into a prompt).

Retrieval is hybrid: vector similarity (the embedding model through Ollama, the
vector store) and keyword search (SQLite FTS5 BM25) are fused with reciprocal
rank fusion, page by page (a source cites a page), then reranked by how much of
the question each passage covers.
A relevance floor keeps unrelated passages out, so "not in your documents" is
an honest answer rather than a list of noise.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from itertools import pairwise

from allma_desktop.services.model_server.ollama import LLMService
from allma_desktop.services.retrieval.keyword_index import KeywordHit, KeywordIndex
from allma_desktop.services.retrieval.text_terms import (
    STOPWORDS,
    QueryTerms,
    content_terms,
    named_labels,
    stem,
)
from allma_desktop.services.vectorstore.base import VectorHit, VectorStore
from allma_desktop.sources import Source

_SEARCH_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="keyword-search")

# The keyword search's best hits that a search compares with the question exactly when
# the vector search did not return them (``RAGService._with_missed_vector_hits``). Deeper
# keyword hits move little with a vector rank, and each costs the search: reading 40
# stored vectors from Chroma at 100k chunks takes 2.5 ms, 10 take 1.2 ms.
MISSED_KEYWORD_HITS = 10
RRF_K = 60  # the constant from Cormack et al.; damps the weight of top ranks
# Of the final score; the rest is the question's (IDF-weighted) coverage. Chosen with the
# page fusion on the 40-question benchmark (bench/retrieval_quality.py): 0.58-0.63 all put
# the right page first for 30 and in the top 5 for 37; 0.7 for 28, below 0.58 the top 5 drops.
FUSED_SHARE = 0.6
SNIPPET_CHARS = 400


@dataclass(frozen=True)
class RetrievalSettings:
    k: int = 5
    hybrid: bool = True
    candidates: int = 40  # per retriever, before fusion
    min_similarity: float = 0.25  # vector-only hits below this are not relevant
    # Rank-fusion weights. The keyword side counts less because the coverage rerank
    # after fusion is a second lexical signal; together they balance the dense one.
    # (On the 40-question benchmark, bench/retrieval_quality.py: equal weights put the
    # right page in the top 5 for 33, these for 37, with chunk-level fusion.)
    vector_weight: float = 1.6
    keyword_weight: float = 0.4
    # Opt-in ("related words"): the question's words that (almost) no candidate holds
    # count as held, in part, by a passage holding a word the embedding model puts
    # near them ("kids" / "children"). It costs an embedding request of the
    # candidates' words (about a thousand) per search; see ``RelatedWords``.
    related_words: bool = False


def embedding_query_text(model: str, query: str) -> str:
    """nomic-embed-text was trained with task prefixes; other models take the text as is."""
    return f"search_query: {query}" if "nomic-embed" in model else query


def embedding_document_text(model: str, text: str) -> str:
    return f"search_document: {text}" if "nomic-embed" in model else text


class RAGService:
    def __init__(
        self,
        llm: LLMService,
        store: VectorStore,
        keywords: KeywordIndex,
        embedding_model: str,
    ) -> None:
        self._llm = llm
        self._store = store
        self._keywords = keywords
        self._embedding_model = embedding_model
        # model -> word -> vector, for ``related_words`` (bounded by WORD_CACHE per model).
        self._word_cache: dict[str, dict[str, list[float]]] = {}

    async def embed_query(self, query: str, model: str | None = None) -> list[float]:
        """``query``'s vector from ``model`` (default: the configured embedding model)."""
        model = model or self._embedding_model
        vectors = await self._llm.embed(model, [embedding_query_text(model, query)])
        return vectors[0]

    async def retrieve(
        self,
        query: str,
        collection_key: str,
        settings: RetrievalSettings,
        document_ids: Sequence[str] | None = None,
        embedding_model: str | None = None,
    ) -> list[Source]:
        """The best ``settings.k`` passages for ``query``, numbered from 1, best first.

        ``embedding_model``: the model the collection's vectors were made with (a query
        must be embedded by the same model to be compared with them).
        """
        if not query.strip():
            return []
        embedding = await self.embed_query(query, embedding_model)
        if not settings.related_words:
            return await asyncio.to_thread(
                self.retrieve_with_embedding,
                query,
                embedding,
                collection_key,
                settings,
                document_ids,
            )
        vector_hits, keyword_hits = await asyncio.to_thread(
            self.first_stage, query, embedding, collection_key, settings, document_ids
        )
        related = await self.related_terms(
            query, fused_hits(vector_hits, keyword_hits, settings), embedding_model
        )
        chosen = rank_hits(query, vector_hits, keyword_hits, settings, related=related)
        return await asyncio.to_thread(self._as_sources, chosen)

    async def related_terms(
        self, query: str, candidates: Sequence[Candidate], model: str | None = None
    ) -> RelatedTerms:
        """The passages' words near each question word the candidates lack (``RelatedWords``),
        by ``model``'s vectors (default: the configured embedding model)."""
        model = model or self._embedding_model
        wanted = unmatched_question_words(query, candidates)
        if not wanted:
            return {}
        words = passage_words(candidates)
        vectors = await self._word_vectors(model, [*wanted.values(), *words])
        return related_terms(
            {term: vectors[word] for term, word in wanted.items()},
            {word: vectors[word] for word in words},
        )

    async def _word_vectors(self, model: str, words: Sequence[str]) -> dict[str, list[float]]:
        """Each word's vector, from the cache or from one embedding request per batch."""
        cache = self._word_cache.setdefault(model, {})
        missing = [word for word in dict.fromkeys(words) if word not in cache]
        for start in range(0, len(missing), WORD_BATCH):
            batch = missing[start : start + WORD_BATCH]
            vectors = await self._llm.embed(
                model, [embedding_query_text(model, word) for word in batch]
            )
            for word, vector in zip(batch, vectors, strict=True):
                cache[word] = vector
        while len(cache) > WORD_CACHE:  # oldest first: dicts keep insertion order
            del cache[next(iter(cache))]
        return {word: cache[word] for word in words}

    def retrieve_with_embedding(
        self,
        query: str,
        embedding: Sequence[float],
        collection_key: str,
        settings: RetrievalSettings,
        document_ids: Sequence[str] | None = None,
    ) -> list[Source]:
        """The synchronous part of retrieval (store and index look-ups); runs in a worker."""
        vector_hits, keyword_hits = self.first_stage(
            query, embedding, collection_key, settings, document_ids
        )
        return self._as_sources(rank_hits(query, vector_hits, keyword_hits, settings))

    def _as_sources(self, chosen: Sequence[Candidate]) -> list[Source]:
        read_by_ocr = self._keywords.read_by_ocr([c.chunk_id for c in chosen]) if chosen else set()
        return [
            candidate.to_source(number, ocr=candidate.chunk_id in read_by_ocr)
            for number, candidate in enumerate(chosen, start=1)
        ]

    def first_stage(
        self,
        query: str,
        embedding: Sequence[float],
        collection_key: str,
        settings: RetrievalSettings,
        document_ids: Sequence[str] | None = None,
    ) -> tuple[list[VectorHit], list[KeywordHit]]:
        """The two retrievers' hits, best first: the vector query's (with their texts from
        the library) and the keyword search's (none when ``settings.hybrid`` is off).

        The keyword search runs in a thread of its own beside the vector query: both
        spend their time in native code (SQLite, Chroma) that releases the GIL, so the
        wait is the slower of the two rather than their sum.
        """
        keyword_search: Future[list[KeywordHit]] | None = None
        if settings.hybrid:
            keyword_search = _SEARCH_THREADS.submit(
                self._keywords.search,
                collection_key,
                query,
                settings.candidates,
                document_ids=document_ids,
            )
        vector_hits = self._with_library_texts(
            self._store.query(
                collection_key, embedding, settings.candidates, document_ids=document_ids
            )
        )
        keyword_hits = keyword_search.result() if keyword_search is not None else []
        return self._with_missed_vector_hits(
            collection_key, embedding, vector_hits, keyword_hits, settings.candidates
        ), keyword_hits

    def _with_missed_vector_hits(
        self,
        collection_key: str,
        embedding: Sequence[float],
        vector_hits: list[VectorHit],
        keyword_hits: Sequence[KeywordHit],
        k: int,
    ) -> list[VectorHit]:
        """The ``k`` closest of the vector hits and the best keyword hits the vector
        search did not return (``MISSED_KEYWORD_HITS``), each of those compared with the
        question exactly.

        The vector store's index is approximate (Chroma's HNSW): from one start to the
        next it can leave out a chunk that is among the ``k`` nearest, and a page the
        keyword search puts first then has no vector rank at all. A keyword hit at least
        as close as the list's last hit takes its place in the list; the others fall
        off its end, as they would have in an exact search.
        """
        returned = {hit.chunk_id for hit in vector_hits}
        missed = {
            hit.chunk_id: hit
            for hit in keyword_hits[:MISSED_KEYWORD_HITS]
            if hit.chunk_id not in returned
        }
        if not missed:
            return vector_hits
        scores = self._store.similarities(collection_key, embedding, list(missed))
        found = [
            as_vector_hit(missed[chunk_id], score)
            for chunk_id, score in scores.items()
            if chunk_id in missed
        ]
        merged = sorted([*vector_hits, *found], key=lambda hit: hit.score, reverse=True)
        return merged[:k]

    def retrieve_keywords_only(
        self,
        query: str,
        collection_key: str,
        settings: RetrievalSettings,
        document_ids: Sequence[str] | None = None,
    ) -> list[Source]:
        """The best passages by keyword search alone (no embedding: Ollama is not needed).

        Synchronous, like ``retrieve_with_embedding``; for when the embedding model cannot
        be reached. Ranked as a hybrid search ranks its keyword half, then reranked.
        """
        if not query.strip():
            return []
        hits = self._keywords.search(
            collection_key, query, settings.candidates, document_ids=document_ids
        )
        fused = fuse([], hits, settings.min_similarity, keyword_weight=settings.keyword_weight)
        ranked = rerank(query, fused)
        return [
            candidate.to_source(number)
            for number, candidate in enumerate(one_per_page(ranked, settings.k), start=1)
        ]

    def _with_library_texts(self, hits: Sequence[VectorHit]) -> list[VectorHit]:
        """The hits, in order, each with its text from the library; a hit the library has
        no text for is dropped: its document is not (or no longer) indexed."""
        if not hits:
            return []
        stored = self._keywords.stored_chunks([hit.chunk_id for hit in hits])
        return [
            replace(hit, text=copy.text, path=copy.path, title=copy.title)
            for hit in hits
            if (copy := stored.get(hit.chunk_id)) is not None
        ]


def as_vector_hit(hit: KeywordHit, score: float) -> VectorHit:
    """A keyword hit as the vector search would have returned it, at ``score``."""
    return VectorHit(
        chunk_id=hit.chunk_id,
        document_id=hit.document_id,
        text=hit.text,
        score=score,
        page=hit.page,
        path=hit.path,
        title=hit.title,
        heading_path=hit.heading_path,
        char_start=hit.char_start,
        char_end=hit.char_end,
    )


RelatedTerms = dict[str, dict[str, float]]
"""A question term -> the passages' words near it -> their similarity (``related_terms``)."""

CitedUnit = tuple[str, int | str]
"""What a source cites: (document, page), or (document, chunk) for text without pages."""


def cited_unit(document_id: str, page: int | None, chunk_id: str) -> CitedUnit:
    return (document_id, page) if page is not None else (document_id, chunk_id)


@dataclass
class Candidate:
    chunk_id: str
    document_id: str
    text: str
    path: str
    title: str
    page: int | None
    heading_path: tuple[str, ...]
    char_start: int
    char_end: int
    similarity: float = 0.0
    fused: float = 0.0  # the fused score of the candidate's page: what the rerank weighs
    chunk_fused: float = 0.0  # the chunk's own fused score: orders the chunks of one page
    keyword_rank: int | None = None
    final: float = 0.0

    @property
    def unit(self) -> CitedUnit:
        return cited_unit(self.document_id, self.page, self.chunk_id)

    def to_source(self, number: int, *, ocr: bool = False) -> Source:
        return Source(
            number=number,
            document_id=self.document_id,
            chunk_id=self.chunk_id,
            path=self.path,
            title=self.title,
            page=self.page,
            score=self.final,
            snippet=make_snippet(self.text),
            heading_path=self.heading_path,
            char_start=self.char_start,
            char_end=self.char_end,
            ocr=ocr,
        )


def page_rrf(ranked_units: Iterable[CitedUnit], weight: float) -> dict[CitedUnit, float]:
    """Reciprocal rank fusion terms of one ranked list, each page ranked once, at its best.

    A page whose overlapping chunks fill several ranks of a list would otherwise push the
    other pages down that list, and its own later chunks would add votes that are
    mostly the same evidence again.
    """
    distinct = dict.fromkeys(ranked_units)  # first occurrence = best rank
    return {unit: weight / (RRF_K + rank + 1) for rank, unit in enumerate(distinct)}


def fuse(
    vector_hits: Sequence[VectorHit],
    keyword_hits: Sequence[KeywordHit],
    min_similarity: float,
    *,
    vector_weight: float = 1.0,
    keyword_weight: float = 1.0,
) -> list[Candidate]:
    """Weighted reciprocal rank fusion of the two ranked lists, by page.

    Sources cite pages, so the two retrievers vote for pages: a page's score sums its
    best rank in each list, and every candidate chunk of the page carries it (the
    rerank then picks among them). The keyword search may find a page through one chunk
    and the vector search through its neighbour; both count for that page. Chunks of
    one page keep the order of their own fused ranks.

    A vector hit below ``min_similarity`` that the keyword search did not also find
    is dropped: it is only "the least unrelated" passage, not a relevant one.
    """
    keyword_ids = {hit.chunk_id for hit in keyword_hits}
    relevant_vector_hits = [
        (rank, hit)
        for rank, hit in enumerate(vector_hits)
        if hit.score >= min_similarity or hit.chunk_id in keyword_ids
    ]
    # A chunk the vector search did not return is no closer than its last hit.
    farthest = vector_hits[-1].score if vector_hits else 0.0
    candidates: dict[str, Candidate] = {}
    for rank, hit in relevant_vector_hits:
        candidate = Candidate(
            hit.chunk_id,
            hit.document_id,
            hit.text,
            hit.path,
            hit.title,
            hit.page,
            hit.heading_path,
            hit.char_start,
            hit.char_end,
            similarity=hit.score,
        )
        candidate.chunk_fused += vector_weight / (RRF_K + rank + 1)
        candidates[hit.chunk_id] = candidate
    for rank, keyword_hit in enumerate(keyword_hits):
        existing = candidates.get(keyword_hit.chunk_id)
        if existing is None:
            existing = Candidate(
                keyword_hit.chunk_id,
                keyword_hit.document_id,
                keyword_hit.text,
                keyword_hit.path,
                keyword_hit.title,
                keyword_hit.page,
                keyword_hit.heading_path,
                keyword_hit.char_start,
                keyword_hit.char_end,
                similarity=farthest,
            )
            candidates[keyword_hit.chunk_id] = existing
        existing.chunk_fused += keyword_weight / (RRF_K + rank + 1)
        existing.keyword_rank = rank
    page_scores: defaultdict[CitedUnit, float] = defaultdict(float)
    vector_units = [candidates[hit.chunk_id].unit for _, hit in relevant_vector_hits]
    keyword_units = [candidates[hit.chunk_id].unit for hit in keyword_hits]
    for units, weight in ((vector_units, vector_weight), (keyword_units, keyword_weight)):
        for unit, score in page_rrf(units, weight).items():
            page_scores[unit] += score
    for candidate in candidates.values():
        candidate.fused = page_scores[candidate.unit]
    return sorted(candidates.values(), key=lambda c: (c.fused, c.chunk_fused), reverse=True)


def fused_hits(
    vector_hits: Sequence[VectorHit],
    keyword_hits: Sequence[KeywordHit],
    settings: RetrievalSettings,
) -> list[Candidate]:
    """The two retrievers' hits fused by page with ``settings``' weights (``fuse``)."""
    return fuse(
        vector_hits,
        keyword_hits,
        settings.min_similarity,
        vector_weight=settings.vector_weight,
        keyword_weight=settings.keyword_weight,
    )


def rank_hits(
    query: str,
    vector_hits: Sequence[VectorHit],
    keyword_hits: Sequence[KeywordHit],
    settings: RetrievalSettings,
    stage: SecondStage | None = None,
    related: RelatedTerms | None = None,
) -> list[Candidate]:
    """The best ``settings.k`` passages from the two retrievers' hits: fused by page,
    reranked, one per page. (What a search does once the stores have answered.)"""
    fused = fused_hits(vector_hits, keyword_hits, settings)
    return one_per_page(rerank(query, fused, stage, related), settings.k)


@dataclass(frozen=True)
class SecondStage:
    """How the rerank mixes its lexical evidence (shares of the non-fused part)."""

    coverage: float = 1.0  # the question's terms anywhere in the passage (IDF-weighted)
    sentence: float = 0.0  # ... within one sentence of it (the best one)
    phrase: float = 0.0  # pairs of adjacent question words that stand together in it
    # The tables, figures, boxes ... the question names by number ("Table 4.3") that the
    # passage holds: as a caption (at a line's start) in full, named in its text in half.
    label: float = 1.0
    # The numbers the question states ("MSVC 2019", "400x300", "17-29 kg") that the
    # passage states too. On the 40-question benchmark (bench/ranking_replay.py) any
    # share from 0.05 to 0.5 gives the same ranks; 0.25 is in the middle.
    number: float = 0.25
    # With ``related_words`` on: a question word no more than one candidate holds counts
    # as held by a passage with a related word, at this share times their similarity.
    # On the 40-question benchmark (bench/ranking_replay.py --related) 1.0 and 1.5 give
    # the same ranks on the tune half; 0.5-0.75 half the gain.
    related: float = 1.0
    # The passage's closeness to the question (its cosine; a passage the vector search
    # did not return counts at its last hit's), added at this weight beside the shares:
    # rank fusion keeps only the vector ranks, and a page far closer to the question
    # than the next gets no more for it. On the 40-question benchmark
    # (bench/ranking_replay.py) any weight from 0.05 to 0.2 gives the same ranks.
    closeness: float = 0.1
    # The passage's document's share of the candidates' fused scores (its pages' sum,
    # over the best document's), added at this weight: a question is mostly about the
    # document most candidates come from. On the 40-question benchmark 0.05 and 0.1
    # bring two pages into the top 5 (tune half) and move no held-out question; 0.02
    # moves none.
    document: float = 0.05
    fused_share: float = FUSED_SHARE


SECOND_STAGE = SecondStage()
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?;:])\s+|\n\s*\n")


def rerank(
    query: str,
    candidates: list[Candidate],
    stage: SecondStage | None = None,
    related: RelatedTerms | None = None,
) -> list[Candidate]:
    """Order by fused rank, nudged by how much of the question each passage covers.

    Coverage is a cheap, model-free cross-check of the first-stage ranks: a passage
    holding all the question's rare words beats one that shares a single common word.
    Each term counts by its rarity among the candidates (an IDF over the candidate
    set), so the word that singles out the answer weighs more than one every
    candidate shares. ``related`` (``related_terms``) lets a passage hold a question
    term it lacks in part, through a word near it. A small share of the passage's own
    closeness to the question (``SecondStage.closeness``) separates pages that rank
    fusion puts side by side although the embedding model put one far closer, and a
    small share of the document's weight among the candidates (``document_shares``)
    favours the document the question is about.
    """
    if not candidates:
        return []
    stage = stage or SECOND_STAGE
    question = QueryTerms(query)
    top_fused = candidates[0].fused or 1.0
    candidate_terms = [question.held_in(candidate.text) for candidate in candidates]
    weights = {
        term: math.log(
            1.0 + len(candidates) / (1 + sum(term in terms for terms in candidate_terms))
        )
        for term in question.terms
    }
    total_weight = sum(weights.values())
    pairs = _question_pairs(query) if stage.phrase else []
    labels = [label.pattern() for label in named_labels(query)] if stage.label else []
    numbers = numbers_in(query) if stage.number else frozenset()
    related = {t: near for t, near in (related or {}).items() if t in weights and near}
    if not stage.related:
        related = {}
    nearby = QueryTerms(" ".join({word for near in related.values() for word in near}))
    documents = document_shares(candidates) if stage.document else {}
    for candidate, terms in zip(candidates, candidate_terms, strict=True):
        lexical = 0.0
        if total_weight > 0:
            coverage = sum(weights[term] for term in terms) / total_weight
            lexical += stage.coverage * coverage
            if related:
                held = nearby.held_in(candidate.text)
                lexical += stage.related * _related_share(
                    related, terms, held, weights, total_weight
                )
            if stage.sentence and terms:
                lexical += stage.sentence * _best_sentence_coverage(
                    question, candidate.text, weights, total_weight
                )
        if pairs:
            lexical += stage.phrase * _phrase_share(pairs, candidate.text)
        if labels:
            lexical += stage.label * _label_share(labels, candidate.text)
        if numbers:
            lexical += stage.number * len(numbers & numbers_in(candidate.text)) / len(numbers)
        candidate.final = (
            stage.fused_share * (candidate.fused / top_fused)
            + (1 - stage.fused_share) * lexical
            + stage.closeness * candidate.similarity
            + stage.document * documents.get(candidate.document_id, 0.0)
        )
    return sorted(candidates, key=lambda c: c.final, reverse=True)


def document_shares(candidates: Sequence[Candidate]) -> dict[str, float]:
    """Each candidate document's sum of its pages' fused scores, over the best one's."""
    pages = {candidate.unit: candidate for candidate in candidates}
    totals: defaultdict[str, float] = defaultdict(float)
    for candidate in pages.values():
        totals[candidate.document_id] += candidate.fused
    best = max(totals.values(), default=0.0) or 1.0
    return {document_id: total / best for document_id, total in totals.items()}


def _related_share(
    related: RelatedTerms,
    terms: frozenset[str],
    held: frozenset[str],
    weights: dict[str, float],
    total_weight: float,
) -> float:
    """The IDF-weighted share of the question's terms a passage lacks but holds a word
    near, each counted at its nearest held word's similarity."""
    share = 0.0
    for term, near in related.items():
        if term not in terms:
            share += weights[term] * max(
                (similarity for word, similarity in near.items() if stem(word) in held),
                default=0.0,
            )
    return share / total_weight


# Related words (``RetrievalSettings.related_words``): a question term at most this many
# candidates hold is one the passages say in other words ("kids" where they say
# "children"); terms most candidates hold need no help, and their neighbours
# ("sensitivity" / "specificity") would only blur them.
RELATED_MAX_HOLDERS = 1
RELATED_SIMILARITY = 0.55  # cosine of two words' vectors (all-MiniLM-L6-v2: 0.45-0.55 alike)
WORD_BATCH = 256  # words per embedding request
WORD_CACHE = 50_000  # words' vectors kept per embedding model
_LETTER_WORD = re.compile(r"[^\W\d_]{3,}")


def unmatched_question_words(
    query: str, candidates: Sequence[Candidate], max_holders: int = RELATED_MAX_HOLDERS
) -> dict[str, str]:
    """The question's terms that at most ``max_holders`` candidates hold, each with the
    question's word for it (``{"kid": "kids"}``): the words the passages may say otherwise."""
    question = QueryTerms(query)
    holders = [question.held_in(candidate.text) for candidate in candidates]
    found: dict[str, str] = {}
    for word in _LETTER_WORD.findall(query.lower()):
        term = stem(word)
        if word in STOPWORDS or term not in question.terms or term in found:
            continue
        if sum(term in held for held in holders) <= max_holders:
            found[term] = word
    return found


def passage_words(candidates: Sequence[Candidate]) -> list[str]:
    """The distinct words (letters only, three or more, no stopwords) of the candidates."""
    words = {
        word
        for candidate in candidates
        for word in _LETTER_WORD.findall(candidate.text.lower())
        if word not in STOPWORDS
    }
    return sorted(words)


def related_terms(
    question_vectors: dict[str, Sequence[float]],
    word_vectors: dict[str, Sequence[float]],
    threshold: float = RELATED_SIMILARITY,
) -> RelatedTerms:
    """For each question term (by its word's vector), the words whose vectors are at
    least ``threshold`` similar (cosine), with their similarity; a word of the term's
    own stem is not related, it is the term."""
    import numpy as np

    if not question_vectors or not word_vectors:
        return {}
    words = list(word_vectors)
    matrix = np.asarray([word_vectors[w] for w in words], dtype=np.float32)
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    stems = [stem(word) for word in words]
    found: RelatedTerms = {}
    for term, vector in question_vectors.items():
        query = np.asarray(vector, dtype=np.float32)
        query /= max(float(np.linalg.norm(query)), 1e-12)
        similarities = matrix @ query
        near = {
            words[index]: float(similarities[index])
            for index in np.flatnonzero(similarities >= threshold)
            if stems[index] != term
        }
        if near:
            found[term] = near
    return found


def _best_sentence_coverage(
    question: QueryTerms, text: str, weights: dict[str, float], total_weight: float
) -> float:
    """The IDF-weighted share of the question's terms held by the passage's best sentence."""
    best = 0.0
    for sentence in _SENTENCE_SPLIT.split(text):
        held = question.held_in(sentence)
        if held:
            best = max(best, sum(weights[term] for term in held) / total_weight)
    return best


def _question_pairs(query: str) -> list[tuple[str, str]]:
    """Adjacent content terms of the question ("rotary position", "Qwen2 72B")."""
    terms = content_terms(query)
    return list(dict.fromkeys(pairwise(terms)))


def _phrase_share(pairs: Sequence[tuple[str, str]], text: str) -> float:
    """The share of the question's adjacent term pairs that stand together in ``text``."""
    terms = content_terms(text)
    present = set(pairwise(terms))
    return sum(pair in present for pair in pairs) / len(pairs)


# Digits not inside a word, or the second side of a size ("400x300").
_NUMBER = re.compile(r"(?:(?<![^\W_])|(?<=\d[x\u00d7]))\d+(?:[.,]\d+)*")


def numbers_in(text: str) -> frozenset[str]:
    """The numbers ``text`` states, as written less thousands separators ("1,000,000" is
    "1000000"; "4.3" stays). Digits that end a word ("Qwen2", "H100") are not numbers
    of their own; digits that start one count ("72B" states 72, "400x300" 400 and 300).
    """
    found: set[str] = set()
    for number in _NUMBER.findall(text):
        if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", number):
            number = number.replace(",", "")
        found.update(number.split(",") if "," in number else (number,))
    return frozenset(found)


def _label_share(labels: Sequence[re.Pattern[str]], text: str) -> float:
    """How much of what the question names by number ``text`` holds: a label counts in
    full as a caption (first on its line: "TABLE 4.3 DAA suppliers"), in half when the
    text only refers to it ("... (Table 4.3)")."""
    held = 0.0
    for label in labels:
        found = [text[: match.start()].rstrip(" \t") for match in label.finditer(text)]
        if found:
            held += 1.0 if any(not before or before.endswith("\n") for before in found) else 0.5
    return held / len(labels)


def one_per_page(ranked: Sequence[Candidate], k: int) -> list[Candidate]:
    """The best ``k`` candidates, at most one from each page of a document.

    Neighbouring chunks of one page repeat each other (they overlap) and cite the same
    page; a second page that may hold the answer is worth more than either. Pages are
    only shared when there are not ``k`` distinct ones among the candidates.
    """
    chosen: list[Candidate] = []
    repeats: list[Candidate] = []
    seen: set[tuple[str, int]] = set()
    for candidate in ranked:
        if candidate.page is None:
            chosen.append(candidate)
        elif (candidate.document_id, candidate.page) in seen:
            repeats.append(candidate)
        else:
            seen.add((candidate.document_id, candidate.page))
            chosen.append(candidate)
        if len(chosen) == k:
            return chosen
    return chosen + repeats[: k - len(chosen)]


def make_snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat.rfind(" ", 0, limit)
    return flat[: cut if cut > limit // 2 else limit] + "…"
