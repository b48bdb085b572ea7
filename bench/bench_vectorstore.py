"""How fast each vector store backend adds and searches chunks.

Builds a fresh store of N random 768-dimensional chunks (as nomic-embed-text gives),
then times 200 nearest-neighbour queries; repeats that 3 times and prints the median.
``--all`` runs every backend (chroma, chroma-http against a ``chroma run`` server it
starts, faiss, qdrant local), each in a process of its own so its peak memory is its own,
and prints a Markdown table.

Run from the repository root:

    python -m bench.bench_vectorstore                       # Chroma, 10,000 chunks
    python -m bench.bench_vectorstore --backend faiss --n 100000
    python -m bench.bench_vectorstore --all --n 10000 --runs 1
    nice -n 15 python -m bench.bench_vectorstore --backends faiss --n 1000000 --runs 1 --progress

``--backends`` (a comma-separated list) runs those in the table mode of ``--all``. Vectors
and chunks are generated one ``add`` batch at a time, so the benchmark itself holds no
copy of the library (at 1M chunks that would be 3 GB of vectors).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from allma_desktop.services.documents.model import Chunk
from allma_desktop.services.vectorstore.base import VectorStore

BACKENDS = ("chroma", "chroma-http", "faiss", "qdrant")

KEY = "c_bench"
CHUNKS_PER_DOCUMENT = 50
FILE_TYPES = ("pdf", "docx", "markdown", "text")


@dataclass(frozen=True)
class RunFigures:
    chunks_per_second: float
    build_seconds: float  # adding everything until the index is ready to search
    query_p50_ms: float
    query_p95_ms: float
    filtered_query_p50_ms: float


def unit_vectors(count: int, dimension: int, rng: np.random.Generator) -> np.ndarray:
    vectors = rng.normal(size=(count, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)  # in place: no second copy
    return vectors


def make_chunks(first: int, count: int) -> list[Chunk]:
    """Chunks number ``first`` to ``first + count - 1`` of the benchmark's library."""
    chunks = []
    for index in range(first, first + count):
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
    # Vectors and chunks are made one add() batch at a time and dropped after it: at a
    # million chunks a whole copy would be 3 GB of vectors beside the store's own.
    library_rng = np.random.default_rng(seed)
    query_rng = np.random.default_rng([seed, 1])
    queries = unit_vectors(args.queries, args.dim, query_rng)
    document_count = max(1, args.n // CHUNKS_PER_DOCUMENT)

    with tempfile.TemporaryDirectory(prefix="allma-bench-", dir=args.tmp_dir) as folder:
        store = open_store(args, Path(folder))
        store.ensure_collection(KEY)
        adding = 0.0
        for start in range(0, args.n, args.add_batch):
            count = min(args.add_batch, args.n - start)
            chunks = make_chunks(start, count)
            # Callers hand over lists of floats (as the Ollama client returns them).
            batch_vectors = unit_vectors(count, args.dim, library_rng).tolist()
            began = time.perf_counter()
            store.add(KEY, chunks, batch_vectors)
            adding += time.perf_counter() - began
            if args.progress and (start // args.add_batch) % 200 == 0:
                print(f"  added {start + count:,} in {adding:.0f} s", file=sys.stderr)
        began = time.perf_counter()
        wait = getattr(store, "wait_for_background_work", None)
        if wait is not None:
            wait()  # FAISS builds its approximate index in the background
        build_seconds = adding + time.perf_counter() - began

        plain: list[float] = []
        for query in queries:
            embedding = query.tolist()
            began = time.perf_counter()
            store.query(KEY, embedding, k=args.k)
            plain.append(time.perf_counter() - began)

        filtered: list[float] = []
        for query in queries:
            embedding = query.tolist()
            some_documents = [f"doc-{n}" for n in query_rng.choice(document_count, size=5)]
            began = time.perf_counter()
            store.query(KEY, embedding, k=args.k, document_ids=some_documents)
            filtered.append(time.perf_counter() - began)

        if store.count(KEY) != args.n:
            raise SystemExit(f"expected {args.n} chunks in the store, found {store.count(KEY)}")
        store.delete_collection(KEY)  # a shared server outlives the run
        store.close()

    return RunFigures(
        chunks_per_second=args.n / adding,
        build_seconds=build_seconds,
        query_p50_ms=percentile_ms(plain, 50),
        query_p95_ms=percentile_ms(plain, 95),
        filtered_query_p50_ms=percentile_ms(filtered, 50),
    )


def open_store(args: argparse.Namespace, folder: Path) -> VectorStore:
    if args.backend == "chroma":
        from allma_desktop.services.vectorstore.chroma import ChromaVectorStore

        return ChromaVectorStore(folder / "vectors")
    if args.backend == "chroma-http":
        from allma_desktop.services.vectorstore.chroma_http import ChromaHttpVectorStore

        return ChromaHttpVectorStore("127.0.0.1", args.chroma_port)
    if args.backend == "faiss":
        from allma_desktop.services.vectorstore.faiss_store import FaissVectorStore

        return FaissVectorStore(folder / "vectors-faiss")
    from allma_desktop.services.vectorstore.qdrant_store import QdrantVectorStore

    return QdrantVectorStore(path=folder / "vectors-qdrant")


def peak_memory_mb(pid: int | None = None) -> float:
    """Peak resident memory of this process (or of ``pid``, read from /proc)."""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def chroma_server() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    executable = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    with tempfile.TemporaryDirectory(prefix="allma-bench-server-") as folder:
        process = subprocess.Popen(
            [executable, "run", "--path", folder, "--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            yield port, process
        finally:
            process.terminate()
            process.wait()


def run_all(args: argparse.Namespace) -> None:
    """Each backend in a child process; the table goes to stdout."""
    rows = []
    for backend in args.backends.split(","):
        command = [sys.executable, "-m", "bench.bench_vectorstore", "--backend", backend]
        command += ["--n", str(args.n), "--dim", str(args.dim), "--queries", str(args.queries)]
        command += ["--runs", str(args.runs), "--k", str(args.k), "--json"]
        command += ["--add-batch", str(args.add_batch)]
        command += ["--progress"] if args.progress else []
        command += ["--tmp-dir", args.tmp_dir] if args.tmp_dir else []
        server_memory = 0.0
        if backend == "chroma-http":
            with chroma_server() as (port, server):
                output = subprocess.run(
                    [*command, "--chroma-port", str(port)], check=True, stdout=subprocess.PIPE
                ).stdout
                server_memory = peak_memory_mb(server.pid)
        else:
            # stderr passes through: per-run lines and --progress show while it works.
            output = subprocess.run(command, check=True, stdout=subprocess.PIPE).stdout
        result = json.loads(output.decode().strip().splitlines()[-1])
        result["peak_memory_mb"] += server_memory
        rows.append(result)
        print(f"{backend}: {result}", file=sys.stderr)
    print(
        "| backend | chunks | build (s) | add (chunks/s) | search p50 (ms) | search p95 (ms) "
        "| filtered p50 (ms) | peak memory (MB) |\n|---|---|---|---|---|---|---|---|"
    )
    for row in rows:
        print(
            f"| {row['backend']} | {row['n']:,} | {row['build_seconds']:.1f} "
            f"| {row['chunks_per_second']:,.0f} | {row['query_p50_ms']:.2f} "
            f"| {row['query_p95_ms']:.2f} | {row['filtered_query_p50_ms']:.2f} "
            f"| {row['peak_memory_mb']:,.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=BACKENDS, default="chroma")
    parser.add_argument("--all", action="store_true", help="every backend, as a table")
    parser.add_argument(
        "--backends", help="comma-separated backends, each in a process of its own, as a table"
    )
    parser.add_argument("--chroma-port", type=int, help="chroma-http: a running server's port")
    parser.add_argument("--json", action="store_true", help="print the median figures as JSON")
    parser.add_argument("--n", type=int, default=10_000, help="chunks in the store")
    parser.add_argument("--dim", type=int, default=768, help="embedding dimension")
    parser.add_argument("--queries", type=int, default=200, help="queries timed per run")
    parser.add_argument("--runs", type=int, default=3, help="runs; the median is reported")
    parser.add_argument("--k", type=int, default=10, help="hits per query")
    parser.add_argument("--add-batch", type=int, default=500, help="chunks per add() call")
    parser.add_argument("--progress", action="store_true", help="report adding every 200 batches")
    parser.add_argument("--tmp-dir", help="where the stores are made (default: the system's)")
    args = parser.parse_args()
    if args.all or args.backends:
        args.backends = args.backends or ",".join(BACKENDS)
        run_all(args)
        return
    if args.backend == "chroma-http" and args.chroma_port is None:
        with chroma_server() as (port, _):
            args.chroma_port = port
            report(args)
    else:
        report(args)


def report(args: argparse.Namespace) -> None:
    runs = []
    for run in range(args.runs):
        figures = run_once(args, seed=run)
        runs.append(figures)
        print(
            f"run {run + 1}: add {figures.chunks_per_second:,.0f} chunks/s, "
            f"build {figures.build_seconds:.1f} s, "
            f"query p50 {figures.query_p50_ms:.2f} ms, p95 {figures.query_p95_ms:.2f} ms, "
            f"filtered p50 {figures.filtered_query_p50_ms:.2f} ms",
            file=sys.stderr if args.json else sys.stdout,
        )

    def median(field: str) -> float:
        return float(statistics.median(getattr(figures, field) for figures in runs))

    if args.json:
        medians = {name: median(name) for name in asdict(runs[0])}
        medians.update(backend=args.backend, n=args.n, peak_memory_mb=peak_memory_mb())
        print(json.dumps(medians))
        return
    print(
        f"\n{args.backend}: {args.n:,} chunks x {args.dim} dims, k={args.k}, "
        f"{args.queries} queries, median of {args.runs} runs:\n"
        f"  add throughput      {median('chunks_per_second'):,.0f} chunks/s\n"
        f"  build (until ready) {median('build_seconds'):.1f} s\n"
        f"  query p50           {median('query_p50_ms'):.2f} ms\n"
        f"  query p95           {median('query_p95_ms'):.2f} ms\n"
        f"  query p50, filtered {median('filtered_query_p50_ms'):.2f} ms "
        "(5 documents named)\n"
        f"  peak memory         {peak_memory_mb():,.0f} MB"
    )


if __name__ == "__main__":
    main()
