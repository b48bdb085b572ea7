"""How fast the SQLite side finds, replaces and searches chunk texts in a big library.

Builds a fresh database of N documents x M chunks (~800 characters each of varied,
Zipf-distributed words, so BM25 sees realistic term frequencies), then times the
look-ups the app makes while chatting and indexing, and prints p50/p95 per operation.

Run from the repository root:

    python -m bench.bench_sqlite_chunks                      # 1,000 x 100 = 100k chunks
    python -m bench.bench_sqlite_chunks --documents 100      # a quick 10k run
"""

from __future__ import annotations

import argparse
import itertools
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from allma_desktop.records import DocumentRecord
from allma_desktop.services.documents.model import Chunk, DocumentMetadata
from allma_desktop.services.library.catalog import LibraryService
from allma_desktop.services.library.storage import ChunkText, open_database
from allma_desktop.services.retrieval.keyword_index import KeywordIndex
from bench.common import percentile

CHUNK_CHARS = 800
SYLLABLES = [consonant + vowel for consonant in "bdfgklmnprstvz" for vowel in "aeiou"]
STOPWORD_RANKS = 150  # the most common words stand for those the app leaves out of queries


def vocabulary(size: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


class TextMaker:
    """Sentences of words drawn with Zipf frequencies (a few very common, most rare)."""

    def __init__(self, seed: int, vocabulary_size: int = 20_000) -> None:
        self._rng = random.Random(seed)
        self.words = vocabulary(vocabulary_size, self._rng)
        self._rng.shuffle(self.words)
        self._rank = {word: rank for rank, word in enumerate(self.words)}
        self._cumulative = list(
            itertools.accumulate(1 / rank for rank in range(1, len(self.words) + 1))
        )

    def sample(self, count: int) -> list[str]:
        return self._rng.choices(self.words, cum_weights=self._cumulative, k=count)

    def text(self, chars: int = CHUNK_CHARS) -> str:
        words = self.sample(chars // 5)
        text = " ".join(words)[:chars]
        return text[: text.rfind(" ")] + "."

    def query(self) -> str:
        """A few words as a question would have them, past the stopword-like top ranks."""
        count = self._rng.randint(3, 6)
        words: list[str] = []
        while len(words) < count:
            word = self.sample(1)[0]
            if self._rank[word] >= STOPWORD_RANKS:
                words.append(word)
        return " ".join(words)


def make_chunks(
    document: DocumentRecord, count: int, texts: TextMaker, version: int
) -> list[Chunk]:
    chunks = []
    offset = 0
    for index in range(count):
        text = texts.text()
        chunks.append(
            Chunk(
                chunk_id=f"{document.id}:v{version}:{index}",
                document_id=document.id,
                index=index,
                text=text,
                path=document.path,
                title=document.title,
                page=index // 4 + 1,
                heading_path=("Part I", f"Section {index % 7}"),
                char_start=offset,
                char_end=offset + len(text),
                file_type="text",
            )
        )
        offset += len(text) + 2
    return chunks


def timed(action: Callable[[], object], repeats: int) -> list[float]:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return seconds


def describe(name: str, seconds: Sequence[float]) -> str:
    milliseconds = [value * 1000 for value in seconds]
    return (
        f"{name:<28} p50 {percentile(milliseconds, 0.5):8.2f} ms   "
        f"p95 {percentile(milliseconds, 0.95):8.2f} ms   (n={len(milliseconds)})"
    )


def chunks_by_ids_or_scan(library: LibraryService) -> Callable[[list[str]], object]:
    """``LibraryService.chunks_by_ids``, or what it costs without it (the code before it)."""
    method = getattr(library, "chunks_by_ids", None)
    if method is not None:
        return method  # type: ignore[no-any-return]
    return lambda ids: list(ChunkText.select().where(ChunkText.chunk_id.in_(ids)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--chunks-per-document", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=40, help="timed calls per operation")
    parser.add_argument("--queries", type=int, default=300, help="keyword searches to time")
    parser.add_argument("--k", type=int, default=20, help="hits per keyword search")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    texts = TextMaker(args.seed)
    pick = random.Random(args.seed + 1)
    with tempfile.TemporaryDirectory(prefix="allma-bench-") as folder:
        db = open_database(Path(folder) / "allma.sqlite3")
        library = LibraryService(db)
        index = KeywordIndex(db)
        collection = library.default_collection()
        metadata = DocumentMetadata(title="Bench", file_type="text")

        started = time.perf_counter()
        documents: list[DocumentRecord] = []
        all_chunk_ids: list[str] = []
        for number in range(args.documents):
            document = library.start_document(collection.id, f"/bench/document-{number}.txt")
            chunks = make_chunks(document, args.chunks_per_document, texts, version=1)
            library.commit_document(
                document.id, chunks=chunks, collection_key=collection.key, metadata=metadata
            )
            documents.append(document)
            all_chunk_ids.extend(chunk.chunk_id for chunk in chunks)
        build = time.perf_counter() - started
        total = args.documents * args.chunks_per_document
        print(
            f"built {args.documents} documents x {args.chunks_per_document} chunks = {total} "
            f"chunks in {build:.1f} s ({total / build:.0f} chunks/s)"
        )

        # Chunks made outside the timed call: only the database work is measured.
        prepared = []
        for document in pick.sample(documents, args.repeats):
            prepared.append((document, make_chunks(document, args.chunks_per_document, texts, 3)))
        replacements = iter(prepared)

        def commit_prepared() -> None:
            document, chunks = next(replacements)
            library.commit_document(
                document.id, chunks=chunks, collection_key=collection.key, metadata=metadata
            )

        by_ids = chunks_by_ids_or_scan(library)
        queries = [texts.query() for _ in range(args.queries)]
        query_iter = iter(queries)
        deletable = iter(pick.sample(documents, args.repeats))

        print(describe("commit_document (100)", timed(commit_prepared, args.repeats)))
        print(
            describe(
                "chunk_texts",
                timed(lambda: library.chunk_texts(pick.choice(documents).id), args.repeats),
            )
        )
        print(
            describe(
                "document_chunk_ids",
                timed(lambda: library.document_chunk_ids(pick.choice(documents).id), args.repeats),
            )
        )
        print(
            describe(
                "chunks_by_ids (20 ids)",
                timed(lambda: by_ids(pick.sample(all_chunk_ids, 20)), args.repeats),
            )
        )
        print(
            describe(
                f"KeywordIndex.search (k={args.k})",
                timed(lambda: index.search(collection.key, next(query_iter), args.k), args.queries),
            )
        )
        print(
            describe(
                "delete_document",
                timed(lambda: library.delete_document(next(deletable).id), args.repeats),
            )
        )
        db.close()


if __name__ == "__main__":
    main()
