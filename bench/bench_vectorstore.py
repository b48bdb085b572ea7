"""How fast the Chroma vector store adds and searches chunks.

Builds a fresh store of N random 768-dimensional chunks (as nomic-embed-text gives),
then times 200 nearest-neighbour queries; repeats that 3 times and prints the median.

Run from the repository root:

    python -m bench.bench_vectorstore             # 10,000 chunks
    python -m bench.bench_vectorstore --n 100000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from allma_desktop.services.documents.model import Chunk
from allma_desktop.services.vectorstore.chroma import ChromaVectorStore

KEY = "c_bench"
CHUNKS_PER_DOCUMENT = 50
FILE_TYPES = ("pdf", "docx", "markdown", "text")


@dataclass(frozen=True)
class RunFigures:
    chunks_per_second: float
    query_p50_ms: float
    query_p95_ms: float
    filtered_query_p50_ms: float


def unit_vectors(count: int, dimension: int, rng: np.random.Generator) -> np.ndarray:
    vectors = rng.normal(size=(count, dimension)).astype(np.float32)
    normalized: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return normalized


def make_chunks(count: int) -> list[Chunk]:
    chunks = []
    for index in range(count):
        document_number = index // CHUNKS_PER_DOCUMENT
        text = f"Chunk {index} of document {document_number}. " * 20
        chunks.append(
            Chunk(
                chunk_id=f"doc-{document_number}-{index}",
                document_id=f"doc-{document_number}",
                index=index % CHUNKS_PER_DOCUMENT,
                text=text,
                path=f"/library/doc-{document_number}.pdf",
                title=f"Document {document_number}",
                page=index % CHUNKS_PER_DOCUMENT // 3 + 1,
                heading_path=("Part I", f"Section {index % 7}"),
                char_start=0,
                char_end=len(text),
                file_type=FILE_TYPES[document_number % len(FILE_TYPES)],
            )
        )
    return chunks


def percentile_ms(seconds: list[float], percentile: float) -> float:
    return float(np.percentile(np.array(seconds) * 1000, percentile))


def run_once(args: argparse.Namespace, seed: int) -> RunFigures:
    rng = np.random.default_rng(seed)
    vectors = unit_vectors(args.n, args.dim, rng)
    queries = unit_vectors(args.queries, args.dim, rng)
    chunks = make_chunks(args.n)
    document_count = max(1, args.n // CHUNKS_PER_DOCUMENT)

    with tempfile.TemporaryDirectory(prefix="allma-bench-") as folder:
        store = ChromaVectorStore(Path(folder) / "vectors")
        store.ensure_collection(KEY)
        adding = 0.0
        for start in range(0, args.n, args.add_batch):
            # Callers hand over lists of floats (as the Ollama client returns them).
            batch_vectors = vectors[start : start + args.add_batch].tolist()
            began = time.perf_counter()
            store.add(KEY, chunks[start : start + args.add_batch], batch_vectors)
            adding += time.perf_counter() - began

        plain: list[float] = []
        for query in queries:
            embedding = query.tolist()
            began = time.perf_counter()
            store.query(KEY, embedding, k=args.k)
            plain.append(time.perf_counter() - began)

        filtered: list[float] = []
        for query in queries:
            embedding = query.tolist()
            some_documents = [f"doc-{n}" for n in rng.choice(document_count, size=5)]
            began = time.perf_counter()
            store.query(KEY, embedding, k=args.k, document_ids=some_documents)
            filtered.append(time.perf_counter() - began)

        if store.count(KEY) != args.n:
            raise SystemExit(f"expected {args.n} chunks in the store, found {store.count(KEY)}")
        store.close()

    return RunFigures(
        chunks_per_second=args.n / adding,
        query_p50_ms=percentile_ms(plain, 50),
        query_p95_ms=percentile_ms(plain, 95),
        filtered_query_p50_ms=percentile_ms(filtered, 50),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="chunks in the store")
    parser.add_argument("--dim", type=int, default=768, help="embedding dimension")
    parser.add_argument("--queries", type=int, default=200, help="queries timed per run")
    parser.add_argument("--runs", type=int, default=3, help="runs; the median is reported")
    parser.add_argument("--k", type=int, default=10, help="hits per query")
    parser.add_argument("--add-batch", type=int, default=500, help="chunks per add() call")
    args = parser.parse_args()

    runs = []
    for run in range(args.runs):
        figures = run_once(args, seed=run)
        runs.append(figures)
        print(
            f"run {run + 1}: add {figures.chunks_per_second:,.0f} chunks/s, "
            f"query p50 {figures.query_p50_ms:.2f} ms, p95 {figures.query_p95_ms:.2f} ms, "
            f"filtered p50 {figures.filtered_query_p50_ms:.2f} ms"
        )

    def median(field: str) -> float:
        return float(statistics.median(getattr(figures, field) for figures in runs))

    print(
        f"\n{args.n:,} chunks x {args.dim} dims, k={args.k}, {args.queries} queries, "
        f"median of {args.runs} runs:\n"
        f"  add throughput      {median('chunks_per_second'):,.0f} chunks/s\n"
        f"  query p50           {median('query_p50_ms'):.2f} ms\n"
        f"  query p95           {median('query_p95_ms'):.2f} ms\n"
        f"  query p50, filtered {median('filtered_query_p50_ms'):.2f} ms "
        "(5 documents named)"
    )


if __name__ == "__main__":
    main()
