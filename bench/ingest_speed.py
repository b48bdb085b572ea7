"""Row (a): app-side ingest throughput over the PDF corpus vs raw PyMuPDF text extraction.

The app runs end to end (the real orchestrator, Chroma, SQLite FTS5) against the
Ollama-protocol test server whose embeddings answer at once, so the figure is the
app's own work: parse, chunk, store, keyword index. The baseline is PyMuPDF's
``page.get_text()`` over every page of the same files.

    python -m bench.ingest_speed [--runs 3] [--folder ../shared/corpus/pdf]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import PDF_CORPUS, PhaseTimer, Spread, instant_embedder, pdf_files

TARGET_RATIO = 0.60


@dataclass(frozen=True)
class IngestRun:
    seconds: float
    pages: int
    chunks: int
    phases: PhaseTimer


def raw_pymupdf(files: list[Path]) -> tuple[float, int]:
    """Seconds and pages for PyMuPDF's own text extraction of every page."""
    import pymupdf

    pages = 0
    started = time.perf_counter()
    for path in files:
        try:
            with pymupdf.open(path) as document:  # type: ignore[no-untyped-call]
                for page in document:
                    page.get_text()
                    pages += 1
        except Exception:  # a file PyMuPDF cannot open adds no pages
            continue
    return time.perf_counter() - started, pages


async def app_ingest(folder: Path, host: str, data_dir: Path) -> IngestRun:
    from allma_desktop.config import AppConfig
    from allma_desktop.events import FileFinished
    from allma_desktop.orchestrator import Orchestrator

    config = AppConfig.from_mapping(
        {"ollama_host": host, "data_dir": str(data_dir), "ollama_embedding_model": "instant"}
    )
    orchestrator = Orchestrator(config)
    await orchestrator.open()
    phases = PhaseTimer()
    phases.wrap(orchestrator.documents, "parse")
    if hasattr(orchestrator, "_parse_and_chunk"):  # parsing moved to a worker process
        phases.wrap(orchestrator, "_parse_and_chunk", "parse+chunk (worker)")
    phases.wrap(orchestrator.documents, "chunk")
    phases.wrap(orchestrator.documents, "hash_file")
    phases.wrap(orchestrator.store, "add", "vector store add")
    phases.wrap(orchestrator.library, "commit_document", "sqlite commit (FTS5)")
    phases.wrap(orchestrator.llm, "embed", "embed (HTTP)")
    pages = chunks = 0
    started = time.perf_counter()
    try:
        async for event in orchestrator.ingest([folder]):
            if isinstance(event, FileFinished):
                pages += event.pages or 0
                chunks += event.chunks
    finally:
        seconds = time.perf_counter() - started
        await orchestrator.close()
    return IngestRun(seconds, pages, chunks, phases)


def instant_server() -> object:
    from tests.ollama_server import FakeModel, OllamaTestServer

    model = FakeModel("instant:latest", "bert", ("embedding",), embedding_length=384)
    return OllamaTestServer([model], embedder=instant_embedder(384))


def measure(folder: Path, runs: int) -> dict[str, object]:
    files = pdf_files(folder)
    raw_times: list[float] = []
    raw_pages = 0
    app_runs: list[IngestRun] = []
    for _ in range(runs):
        seconds, raw_pages = raw_pymupdf(files)
        raw_times.append(seconds)
        with instant_server() as server, tempfile.TemporaryDirectory() as data:  # type: ignore[attr-defined]
            app_runs.append(asyncio.run(app_ingest(folder, server.url, Path(data))))
    raw_rate = Spread(tuple(raw_pages / t for t in raw_times))
    app_rate = Spread(tuple(raw_pages / run.seconds for run in app_runs))
    return {
        "files": len(files),
        "pages": raw_pages,
        "raw": raw_rate,
        "app": app_rate,
        "ratio": app_rate.median / raw_rate.median,
        "last": app_runs[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=PDF_CORPUS)
    args = parser.parse_args()
    result = measure(args.folder, args.runs)
    last = result["last"]
    assert isinstance(last, IngestRun)
    raw, app = result["raw"], result["app"]
    assert isinstance(raw, Spread) and isinstance(app, Spread)
    ratio = float(result["ratio"])  # type: ignore[arg-type]
    print(f"{result['files']} PDFs, {result['pages']} pages, {last.chunks} chunks")
    print(f"raw PyMuPDF get_text : {raw.describe('pages/s')}")
    print(f"app-side ingest      : {app.describe('pages/s')}")
    verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
    print(f"ratio {ratio:.0%} (target >= {TARGET_RATIO:.0%}): {verdict}")
    print(f"where the time goes (last run, {last.seconds:.1f} s):")
    print(f"  {last.phases.report(last.seconds)}")
    print(
        f"ROW | (a) app-side ingest, {result['pages']} PDF pages | {app.median:.0f} pages/s | "
        f"{raw.median:.0f} pages/s (PyMuPDF get_text) | {ratio:.0%} | >= 60% | {verdict}"
    )


if __name__ == "__main__":
    main()
