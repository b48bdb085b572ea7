"""What a chunk costs to write into Chroma, as the app writes it, and with the knobs
one might turn to make it cheaper.

Row (a) is CPU-bound on two cores and the vector store is its second-largest process;
this isolates the store's work from the pipeline: the PDF corpus's chunks (parsed as
the parse worker does), their instant embeddings (384 dimensions, as the row's
server), written into a fresh Chroma collection in calls of up to ``STORE_CALL_CHUNKS``
as the store stage makes them. CPU counts every thread of this process, Chroma's Rust
threads included.

    python -m bench.store_write_cost [--runs 3] [--folder ../shared/corpus/pdf]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import PDF_CORPUS, Spread, instant_embedder, pdf_files

Metadata = dict[str, str | int]


@dataclass(frozen=True)
class Variant:
    name: str
    hnsw: Mapping[str, Any]
    metadata: Callable[[Any], Metadata]


def corpus_chunks(folder: Path) -> list[Any]:
    """Every chunk of the PDFs the app can read, as the parse worker cuts them."""
    from allma_desktop.errors import AllmaError
    from allma_desktop.services.documents.service import DocumentService

    service = DocumentService()
    chunks: list[Any] = []
    for number, path in enumerate(pdf_files(folder)):
        try:
            parsed = service.parse(path)
        except AllmaError:  # no text layer, encrypted, broken: no chunks, as in the app
            continue
        chunks.extend(service.chunk(parsed, f"doc{number}"))
    return chunks


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def folder_megabytes(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def write_cost(
    variant: Variant, chunks: Sequence[Any], vectors: Any, call_chunks: int
) -> tuple[float, float]:
    """CPU seconds to write ``chunks`` into a fresh collection, in the store's calls, and
    the megabytes the store's folder then holds."""
    import chromadb

    from allma_desktop.services.vectorstore.chroma import _settings

    with tempfile.TemporaryDirectory() as folder:
        client = chromadb.PersistentClient(path=folder, settings=_settings())
        collection = client.get_or_create_collection(
            name="bench_store_cost",
            configuration={"hnsw": dict(variant.hnsw)},  # type: ignore[arg-type]
            embedding_function=None,
        )
        started = process_cpu()
        for start in range(0, len(chunks), call_chunks):
            batch = chunks[start : start + call_chunks]
            collection.upsert(
                ids=[chunk.chunk_id for chunk in batch],
                embeddings=vectors[start : start + call_chunks],
                metadatas=[variant.metadata(chunk) for chunk in batch],
            )
        spent = process_cpu() - started
        close = getattr(client, "close", None)  # chromadb 1.1 and later
        if callable(close):
            close()
        size = folder_megabytes(Path(folder))
    return spent, size


def variants() -> list[Variant]:
    from allma_desktop.services.vectorstore.chroma import (
        _COSINE_CONFIGURATION,
        PACKED_FIELD,
        _metadata_of,
    )

    cosine = dict(_COSINE_CONFIGURATION["hnsw"] or {})
    app = _metadata_of

    def with_text(chunk: Any) -> Metadata:
        """As the app wrote until 2026-11-25: the text packed with the other fields."""
        metadata = _metadata_of(chunk)
        packed = json.loads(str(metadata[PACKED_FIELD]))
        metadata[PACKED_FIELD] = json.dumps(
            {"text": chunk.text, **packed}, ensure_ascii=False, separators=(",", ":")
        )
        return metadata

    def filters_only(chunk: Any) -> Metadata:
        return {"document_id": chunk.document_id, "file_type": chunk.file_type}

    return [
        Variant("as the app writes (no chunk text)", cosine, app),
        Variant("only the fields searches filter on", cosine, filters_only),
        Variant("with the chunk text (until 2026-11-25)", cosine, with_text),
        Variant("HNSW ef_construction 50 (default 100)", {**cosine, "ef_construction": 50}, app),
        Variant("HNSW max_neighbors 8 (default 16)", {**cosine, "max_neighbors": 8}, app),
        Variant(
            "HNSW sync_threshold 100,000 (default 1,000)",
            {**cosine, "sync_threshold": 100_000, "batch_size": 10_000},
            app,
        ),
    ]


def main() -> None:
    import numpy as np

    from allma_desktop.ingest.store import STORE_CALL_CHUNKS

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=PDF_CORPUS)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    chunks = corpus_chunks(args.folder)
    vectors = np.asarray(instant_embedder(384)([c.text for c in chunks]), dtype=np.float32)
    print(f"{len(chunks)} chunks, 384 dimensions, calls of up to {STORE_CALL_CHUNKS} chunks")
    found = {v.name: Spread(()) for v in variants()}
    sizes: dict[str, float] = {}
    for _ in range(args.runs):  # interleaved, so a change in load hits every variant alike
        for variant in variants():
            spent, sizes[variant.name] = write_cost(variant, chunks, vectors, STORE_CALL_CHUNKS)
            found[variant.name] = Spread((*found[variant.name].values, spent / len(chunks) * 1e3))
    for name, spread in found.items():
        print(f"  {name:46s}: {spread.describe('ms CPU a chunk', 3)}, {sizes[name]:.1f} MB")
    print(f"load average (1 min) {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
