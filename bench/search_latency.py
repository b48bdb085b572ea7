"""Row (e): hybrid search latency at 100k chunks, query embedding excluded.

Builds (once, cached under the temp folder) a library of N chunks: real passage
texts cut from the PDF corpus, repeated across documents to reach N, with
768-dimensional vectors (nomic-embed-text's size) in Chroma and the texts in the
SQLite FTS5 index, exactly as the app stores them. Then times the app's
``RAGService.retrieve_with_embedding`` (vector search + BM25 + fusion + rerank)
for the question set's questions with random query vectors and the relevance
floor off, so every candidate is fused and reranked (the worst case). The baseline is a vector-only
Chroma query of the same k (what a plain vector store answers in).

    python -m bench.search_latency [--n 100000] [--rounds 5] [--rebuild] [--parts]

``--parts`` also times the three parts of a search one after another (keyword
search, vector query of ``candidates`` hits, fusion + rerank) to show where the
time goes; the hybrid figure runs the first two side by side, as the app does.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import PDF_CORPUS, pdf_files, percentile
from bench.qa_set import load_questions

TARGET_P95_MS = 25.0
DIMENSIONS = 768
CHUNKS_PER_DOCUMENT = 100
CACHE_ROOT = Path(tempfile.gettempdir()) / "allma-bench"


def corpus_passages(limit_files: int = 60) -> list[str]:
    from allma_desktop.services.documents.service import DocumentService

    service = DocumentService()
    passages: list[str] = []
    for path in pdf_files(PDF_CORPUS)[:limit_files]:
        try:
            parsed = service.parse(path)
        except Exception:  # files without text add nothing
            continue
        passages.extend(chunk.text for chunk in service.chunk(parsed, "x"))
    return passages


def build_library(folder: Path, count: int) -> None:
    from allma_desktop.services.documents.model import Chunk, DocumentMetadata
    from allma_desktop.services.library.catalog import LibraryService
    from allma_desktop.services.library.storage import open_database
    from allma_desktop.services.vectorstore.chroma import ChromaVectorStore

    passages = corpus_passages()
    rng = np.random.default_rng(7)
    db = open_database(folder / "allma.sqlite3")
    library = LibraryService(db)
    collection = library.default_collection()
    store = ChromaVectorStore(folder / "vectors")
    store.ensure_collection(collection.key)
    # Resumable: documents are written in order, and re-writing one is idempotent.
    done = sum(1 for record in library.list_documents() if record.status == "ready")
    for first in range(done * CHUNKS_PER_DOCUMENT, count, CHUNKS_PER_DOCUMENT):
        number = first // CHUNKS_PER_DOCUMENT
        path = f"/library/doc-{number}.pdf"
        record = library.start_document(collection.id, path, title=f"Doc {number}")
        chunks = []
        for index in range(min(CHUNKS_PER_DOCUMENT, count - first)):
            text = passages[(first + index) % len(passages)]
            chunks.append(
                Chunk(
                    chunk_id=f"{record.id}:{index}",
                    document_id=record.id,
                    index=index,
                    text=text,
                    path=f"/library/doc-{number}.pdf",
                    title=f"Doc {number}",
                    page=index // 3 + 1,
                    heading_path=(),
                    char_start=0,
                    char_end=len(text),
                    file_type="pdf",
                )
            )
        vectors = rng.standard_normal((len(chunks), DIMENSIONS)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store.add(collection.key, chunks, vectors.tolist())
        library.commit_document(
            record.id,
            chunks=chunks,
            collection_key=collection.key,
            metadata=DocumentMetadata(title=f"Doc {number}", file_type="pdf", page_count=34),
        )
    store.close()
    db.close()
    (folder / "complete").write_text(str(count))


def measure(
    count: int, rounds: int, rebuild: bool, parts: dict[str, list[float]] | None = None
) -> tuple[list[float], list[float]]:
    """Latencies in ms of (hybrid retrieval, vector-only query); with ``parts``, also
    of each part of a search on its own, by name."""
    from allma_desktop.services.library.catalog import LibraryService
    from allma_desktop.services.library.storage import open_database
    from allma_desktop.services.model_server.ollama import OllamaService
    from allma_desktop.services.retrieval.keyword_index import KeywordIndex
    from allma_desktop.services.retrieval.rag import RAGService, RetrievalSettings, fuse, rerank
    from allma_desktop.services.vectorstore.chroma import ChromaVectorStore

    folder = CACHE_ROOT / f"hybrid-{count}"
    if rebuild or not (folder / "complete").exists():
        if rebuild:
            shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        build_library(folder, count)
        print(f"built a library of {count:,} chunks in {time.perf_counter() - started:.0f} s")
    db = open_database(folder / "allma.sqlite3")
    library = LibraryService(db)
    key = library.default_collection().key
    store = ChromaVectorStore(folder / "vectors")
    keywords = KeywordIndex(db)
    rag = RAGService(OllamaService("http://127.0.0.1:9"), store, keywords, "bench")
    # No relevance floor: every vector candidate goes through fusion and rerank, the
    # most work a query can cost (random vectors would otherwise fall under the floor).
    settings = RetrievalSettings(min_similarity=-1.0)
    rng = np.random.default_rng(11)
    questions = [q.question for q in load_questions()]
    hybrid: list[float] = []
    vector_only: list[float] = []
    for _ in range(rounds):
        for question in questions:
            query = rng.standard_normal(DIMENSIONS)
            query /= np.linalg.norm(query)
            embedding = query.tolist()
            began = time.perf_counter()
            rag.retrieve_with_embedding(question, embedding, key, settings)
            hybrid.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            store.query(key, embedding, settings.k)
            vector_only.append((time.perf_counter() - began) * 1000)
            if parts is not None:
                began = time.perf_counter()
                keyword_hits = keywords.search(key, question, settings.candidates)
                searched = time.perf_counter()
                vector_hits = store.query(key, embedding, settings.candidates)
                queried = time.perf_counter()
                fused = fuse(
                    vector_hits,
                    keyword_hits,
                    settings.min_similarity,
                    vector_weight=settings.vector_weight,
                    keyword_weight=settings.keyword_weight,
                )
                rerank(question, fused)
                done = time.perf_counter()
                for name, took in (
                    ("keyword search", searched - began),
                    (f"vector query ({settings.candidates} hits)", queried - searched),
                    ("fusion + rerank", done - queried),
                ):
                    parts.setdefault(name, []).append(took * 1000)
    store.close()
    db.close()
    return hybrid, vector_only


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--parts", action="store_true", help="also time each part alone")
    args = parser.parse_args()
    parts: dict[str, list[float]] | None = {} if args.parts else None
    hybrid, vector_only = measure(args.n, args.rounds, args.rebuild, parts)
    # The first round warms caches (HNSW index load, SQLite pages); report the rest.
    warm = len(hybrid) // args.rounds if args.rounds > 1 else 0
    hybrid, vector_only = hybrid[warm:], vector_only[warm:]
    p95 = percentile(hybrid, 0.95)
    print(
        f"{args.n:,} chunks, {len(hybrid)} queries: hybrid p50 {percentile(hybrid, 0.5):.1f} ms, "
        f"p95 {p95:.1f} ms; vector-only p50 {percentile(vector_only, 0.5):.1f} ms, "
        f"p95 {percentile(vector_only, 0.95):.1f} ms"
    )
    for name, took in (parts or {}).items():
        took = took[warm:]
        print(f"  {name}: p50 {percentile(took, 0.5):.1f} ms, p95 {percentile(took, 0.95):.1f} ms")
    verdict = "met" if p95 <= TARGET_P95_MS else "MISSED"
    print(f"hybrid p95 {p95:.1f} ms (target <= {TARGET_P95_MS:.0f} ms): {verdict}")
    vector_p95 = percentile(vector_only, 0.95)
    print(
        f"ROW | (e) hybrid search p95 at {args.n // 1000}k chunks | {p95:.1f} ms | "
        f"{vector_p95:.1f} ms (Chroma vector-only) | {p95 / vector_p95:.1f}x | <= 25 ms | {verdict}"
    )


if __name__ == "__main__":
    main()
