"""Row (b): end-to-end ingest with a real embedding model vs that model's own throughput.

The app ingests the PDF corpus into a fresh library with all-MiniLM-L6-v2 behind
the Ollama protocol; every embedding request's texts are recorded. The baseline
then embeds exactly those texts, in the same batches (32, the app's
``embed_batch_size``), calling the model directly. Ratio = model-alone time /
app time: 100% means parsing, chunking and storing cost nothing on top of the
embedding (they overlap, or are free).

    ../bench-venv/bin/python -m bench.ingest_real [--runs 1] [--source corpus|book]
                                                  [--via cli|indexer] [--no-ocr]

``--via indexer`` takes the desktop app's path: the folder (or the book's folder) is
added as a watched folder and the engine's indexer indexes it, as the Library page does;
``--via cli`` (the default) is ``allma ingest``'s path. ``--source book`` is one long
book, ``mupdf_explored.pdf`` (285 pages), instead of the whole PDF corpus. ``--no-ocr``
turns the app's OCR of scanned pages off (on by default, as in the app), to tell its cost
from the rest of the app's.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.common import PDF_CORPUS, PhaseTimer, Spread

TARGET_RATIO = 0.90


BOOK = PDF_CORPUS / "mupdf_explored.pdf"


async def _ingest(
    host: str, data_dir: Path, phases: PhaseTimer, source: Path, via: str, ocr: bool
) -> tuple[int, float]:
    """(chunks, the clock when the last file was indexed: searchable from then on; both
    paths stop there, not after closing, nor after the indexer's run lingers for more)."""
    from allma_desktop.config import AppConfig
    from allma_desktop.events import FileFinished
    from allma_desktop.orchestrator import Orchestrator
    from bench.real_models import EMBED_BATCH_SIZE, EMBEDDING_MODEL_NAME

    config = AppConfig.from_mapping(
        {
            "ollama_host": host,
            "data_dir": str(data_dir),
            "ollama_embedding_model": EMBEDDING_MODEL_NAME,
            "embed_batch_size": EMBED_BATCH_SIZE,
            "ocr": ocr,
        }
    )
    orchestrator = Orchestrator(config)
    await orchestrator.open()
    phases.wrap(orchestrator.documents, "parse")
    if hasattr(orchestrator, "_parse_and_chunk"):  # parsing moved to a worker process
        phases.wrap(orchestrator, "_parse_and_chunk", "parse+chunk (worker)")
    phases.wrap(orchestrator.documents, "chunk")
    phases.wrap(orchestrator.store, "add", "vector store add")
    phases.wrap(orchestrator.library, "commit_document", "sqlite commit (FTS5)")
    phases.wrap(orchestrator.llm, "embed", "embed (HTTP round trip)")
    chunks, finished_at = 0, 0.0
    try:
        if via == "indexer":
            chunks, finished_at = await _through_the_indexer(orchestrator, source)
        else:
            async for event in orchestrator.ingest([source]):
                if isinstance(event, FileFinished):
                    chunks += event.chunks
                    finished_at = time.perf_counter()
    finally:
        await orchestrator.close()
    return chunks, finished_at


async def _through_the_indexer(orchestrator: object, source: Path) -> tuple[int, float]:
    """The desktop path: a watched folder, indexed by the engine's indexer queue."""
    import shutil
    import tempfile as temp

    from allma_desktop.events import FileFinished
    from allma_desktop.indexer import FileEvent, IndexerEvent

    chunks = [0]
    finished_at = [0.0]

    def count(event: IndexerEvent) -> None:
        if isinstance(event, FileEvent) and isinstance(event.event, FileFinished):
            chunks[0] += event.event.chunks
            finished_at[0] = time.perf_counter()

    indexer = orchestrator.indexer  # type: ignore[attr-defined]
    indexer.subscribe(count)
    await indexer.start(watch=True)
    if source.is_dir():
        await indexer.add_folder(source)
        await indexer.sync(wait=True)
        return chunks[0], finished_at[0]
    with temp.TemporaryDirectory() as folder:  # a watched folder holding just the book
        # With its own time, as a file already in a person's folder has: one written a
        # moment ago waits for the watcher to see it hold still, on purpose.
        shutil.copy2(source, folder)
        await indexer.add_folder(folder)
        await indexer.sync(wait=True)
    return chunks[0], finished_at[0]


def run_once(
    source: Path = PDF_CORPUS, via: str = "cli", ocr: bool = True
) -> tuple[float, float, int, PhaseTimer]:
    """(app seconds, model-alone seconds, chunks, app phases)."""
    from bench.real_models import EMBED_BATCH_SIZE, load_minilm, minilm_embedder, real_model_server

    requests: list[list[str]] = []
    phases = PhaseTimer()
    embedder = minilm_embedder(requests)
    embedder(["warm up the model"])
    requests.clear()
    with real_model_server(embedder) as server, tempfile.TemporaryDirectory() as data:
        started = time.perf_counter()
        chunks, finished_at = asyncio.run(_ingest(server.url, Path(data), phases, source, via, ocr))
        app_seconds = finished_at - started
    model = load_minilm()
    started = time.perf_counter()
    for texts in requests:
        model.encode(texts, batch_size=EMBED_BATCH_SIZE, normalize_embeddings=True)
    return app_seconds, time.perf_counter() - started, chunks, phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--source", choices=["corpus", "book"], default="corpus")
    parser.add_argument("--via", choices=["cli", "indexer"], default="cli")
    parser.add_argument("--no-ocr", action="store_true", help="scanned pages are not read")
    args = parser.parse_args()
    source = BOOK if args.source == "book" else PDF_CORPUS
    app_rates: list[float] = []
    model_rates: list[float] = []
    last: tuple[float, float, int, PhaseTimer] | None = None
    for _ in range(args.runs):
        last = run_once(source, args.via, ocr=not args.no_ocr)
        app_seconds, model_seconds, chunks, _phases = last
        app_rates.append(chunks / app_seconds)
        model_rates.append(chunks / model_seconds)
    assert last is not None
    app, model = Spread(tuple(app_rates)), Spread(tuple(model_rates))
    ratio = app.median / model.median
    what = "the book mupdf_explored.pdf" if args.source == "book" else "the PDF corpus"
    ocr = "OCR off" if args.no_ocr else "OCR on"
    print(f"{last[2]} chunks of {what} via {args.via} ({ocr}), all-MiniLM-L6-v2, batches of 32")
    print(f"embedding model alone : {model.describe('chunks/s')}")
    print(f"app end-to-end ingest : {app.describe('chunks/s')}")
    verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
    print(f"ratio {ratio:.0%} (target >= {TARGET_RATIO:.0%}): {verdict}")
    print(f"where the app's time goes (last run, {last[0]:.1f} s): {last[3].report(last[0])}")
    print(
        f"ROW | (b) end-to-end ingest, real embedder, {args.source} via {args.via}, {ocr} | "
        f"{app.median:.1f} chunks/s | "
        f"{model.median:.1f} chunks/s | {ratio:.0%} | >= 90% | {verdict}"
    )


if __name__ == "__main__":
    main()
