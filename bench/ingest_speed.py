"""Row (a): app-side ingest throughput over the PDF corpus vs raw PyMuPDF text extraction.

The app runs end to end (the real orchestrator, Chroma, SQLite FTS5) against the
Ollama-protocol test server whose embeddings answer at once, so the figure is the
app's own work: parse, chunk, store, keyword index. The server runs in a process of
its own, as Ollama does: in the app's process its JSON encoding would take the app's
GIL, which no real embedding server does (``--server-in-process`` measures that way).
The baseline is PyMuPDF's ``page.get_text()`` over every page of the same files.

OCR is off for the row: the baseline reads text layers only, and with OCR on (the app's
default) the pages without usable text are rendered and recognised, which is row (a)'s
work plus issue 20's (``bench.ocr_speed`` measures OCR against raw Tesseract). ``--ocr``
runs the ingest as the app's default does, for the cost of the scanned pages.

    python -m bench.ingest_speed [--runs 3] [--folder ../shared/corpus/pdf] [--ocr]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.common import (
    PDF_CORPUS,
    PhaseTimer,
    Spread,
    extract_every_page,
    instant_embedder,
    pdf_files,
)

TARGET_RATIO = 0.60


@dataclass(frozen=True)
class IngestRun:
    seconds: float
    pages: int
    chunks: int
    phases: PhaseTimer
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by process
    app_threads: dict[str, float] = field(default_factory=dict)  # the app's, by thread kind


def raw_pymupdf(files: list[Path]) -> tuple[float, int]:
    """Seconds and pages for PyMuPDF's own text extraction of every page."""
    started = time.perf_counter()
    pages = extract_every_page(files)
    return time.perf_counter() - started, pages


async def app_ingest(
    folder: Path, host: str, data_dir: Path, vector_store: str = "chroma", ocr: bool = False
) -> IngestRun:
    from allma_desktop.config import AppConfig
    from allma_desktop.events import FileFinished
    from allma_desktop.orchestrator import Orchestrator

    config = AppConfig.from_mapping(
        {
            "ollama_host": host,
            "data_dir": str(data_dir),
            "ollama_embedding_model": "instant",
            "vector_store": vector_store,
            "ocr": ocr,
        }
    )
    orchestrator = Orchestrator(config)
    await orchestrator.open()
    await warm_up(orchestrator, data_dir)
    phases = PhaseTimer()
    phases.wrap(orchestrator.documents, "parse")
    pipeline = getattr(orchestrator, "ingest_pipeline", None)
    if pipeline is not None:  # parsing runs in a worker process, stages overlap
        phases.wrap(pipeline, "parse_and_chunk", "parse+chunk (worker)")
    elif hasattr(orchestrator, "_parse_and_chunk"):
        phases.wrap(orchestrator, "_parse_and_chunk", "parse+chunk (worker)")
    phases.wrap(orchestrator.documents, "chunk")
    phases.wrap(orchestrator.documents, "hash_file")
    phases.wrap(orchestrator.store, "add", "vector store add")
    phases.wrap(orchestrator.library, "commit_document", "sqlite commit (FTS5)")
    phases.wrap(orchestrator.llm, "embed", "embed (HTTP)")
    pages = chunks = 0
    cpu_before = cpu_by_process(orchestrator)
    threads_before = cpu_by_app_thread()
    started = time.perf_counter()
    try:
        async for event in orchestrator.ingest([folder]):
            if isinstance(event, FileFinished):
                pages += event.pages or 0
                chunks += event.chunks
    finally:
        seconds = time.perf_counter() - started
        cpu_after = cpu_by_process(orchestrator)
        threads_after = cpu_by_app_thread()
        await orchestrator.close()
    cpu = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
    threads = {name: threads_after[name] - threads_before.get(name, 0.0) for name in threads_after}
    return IngestRun(seconds, pages, chunks, phases, cpu, threads)


def cpu_by_process(orchestrator: Any) -> dict[str, float]:
    """CPU seconds so far of the app's process and each process it and this bench started
    (Linux /proc; empty elsewhere): where the two cores went, not only the app's share."""
    if not Path("/proc/self/stat").exists():
        return {}
    store_pid = getattr(orchestrator.store, "process_id", None)
    parse_pids = set(orchestrator.parse_worker.process_ids)
    totals: dict[str, float] = {"app": _cpu_seconds(os.getpid())}
    for pid in _children(os.getpid()):
        name = (
            "vector store"
            if pid == store_pid
            else "parse worker"
            if pid in parse_pids
            else "test server and others"
        )
        totals[name] = totals.get(name, 0.0) + _cpu_seconds(pid)
    return totals


def cpu_by_app_thread() -> dict[str, float]:
    """CPU seconds so far of each live thread of this process, by kind (Linux only):
    which of the app's threads the app's share goes to."""
    import threading

    kinds = {thread.native_id: _thread_kind(thread.name) for thread in threading.enumerate()}
    totals: dict[str, float] = {}
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        kind = kinds.get(int(task.name), "native (no Python thread)")
        totals[kind] = totals.get(kind, 0.0) + _cpu_seconds(os.getpid(), int(task.name))
    return totals


def _thread_kind(name: str) -> str:
    return re.sub(r"[_-]?\d+$", "", name.split(" (")[0]) or name


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in map(int, children):
            found += [child, *_children(child)]
    return found


def _cpu_seconds(pid: int, thread: int | None = None) -> float:
    stat = Path(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat")
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def warm_up(orchestrator: Any, data_dir: Path) -> None:
    """Start what an open app has already started: the vector store's client and the
    parse worker process (about 1 s together). A throughput figure leaves them out,
    as the baseline leaves out importing PyMuPDF."""
    collection = orchestrator.collection(None)
    await asyncio.to_thread(orchestrator.store.ensure_collection, collection.key)
    probe = data_dir / "warm-up.txt"
    probe.write_text("Warm-up text for the parse worker.\n", encoding="utf-8")
    await orchestrator.parse_worker.parse_and_chunk(probe, chunk_size=1000, chunk_overlap=0)
    probe.unlink()


def instant_server() -> object:
    from tests.support.ollama_server import FakeModel, OllamaTestServer

    model = FakeModel("instant:latest", "bert", ("embedding",), embedding_length=384)
    return OllamaTestServer([model], embedder=instant_embedder(384))


def _serve_instant(connection: Connection) -> None:
    """Entry point of the server process: serve until the parent says stop."""
    with instant_server() as server:  # type: ignore[attr-defined]
        connection.send(server.url)
        connection.recv()


@contextlib.contextmanager
def instant_server_url(in_process: bool) -> Iterator[str]:
    """The URL of an instant embedding server, in this process or (default) its own."""
    if in_process:
        with instant_server() as server:  # type: ignore[attr-defined]
            yield str(server.url)
        return
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve_instant, args=(child,), daemon=True)
    process.start()
    try:
        yield str(parent.recv())
    finally:
        parent.send("stop")
        process.join(10)


def measure(
    folder: Path,
    runs: int,
    server_in_process: bool = False,
    vector_store: str = "chroma",
    ocr: bool = False,
) -> dict[str, object]:
    files = pdf_files(folder)
    raw_times: list[float] = []
    raw_pages = 0
    app_runs: list[IngestRun] = []
    for _ in range(runs):
        seconds, raw_pages = raw_pymupdf(files)
        raw_times.append(seconds)
        with instant_server_url(server_in_process) as url, tempfile.TemporaryDirectory() as data:
            app_runs.append(asyncio.run(app_ingest(folder, url, Path(data), vector_store, ocr)))
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
    parser.add_argument("--server-in-process", action="store_true")
    parser.add_argument(
        "--vector-store",
        default="chroma",
        help="the app's vector store backend (the row is measured with the default, chroma)",
    )
    parser.add_argument(
        "--ocr",
        action="store_true",
        help="recognise pages without usable text, as the app does by default (not the row)",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    result = measure(args.folder, args.runs, args.server_in_process, args.vector_store, args.ocr)
    load_after = os.getloadavg()
    last = result["last"]
    assert isinstance(last, IngestRun)
    raw, app = result["raw"], result["app"]
    assert isinstance(raw, Spread) and isinstance(app, Spread)
    ratio = float(result["ratio"])  # type: ignore[arg-type]
    print(f"{result['files']} PDFs, {result['pages']} pages, {last.chunks} chunks")
    reading = "on, as the app's default" if args.ocr else "off: text layers only, as the baseline"
    print(f"OCR {reading}")
    print(f"raw PyMuPDF get_text : {raw.describe('pages/s')}")
    print(f"app-side ingest      : {app.describe('pages/s')}")
    verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
    print(f"ratio {ratio:.0%} (target >= {TARGET_RATIO:.0%}): {verdict}")
    print(f"where the time goes (last run, {last.seconds:.1f} s):")
    print(f"  {last.phases.report(last.seconds)}")
    calls = ", ".join(f"{name} {count}" for name, count in sorted(last.phases.calls.items()))
    print(f"  calls: {calls}")
    if last.cpu:
        spent = ", ".join(f"{name} {secs:.2f} s" for name, secs in sorted(last.cpu.items()))
        total = sum(last.cpu.values())
        cores = os.cpu_count() or 1
        print(
            f"  CPU during the ingest: {spent}; total {total:.2f} s, "
            f"{total / (cores * last.seconds):.0%} of {cores} cores' {last.seconds:.1f} s"
        )
    if last.app_threads:
        busy = sorted(last.app_threads.items(), key=lambda item: -item[1])
        print("  the app's CPU by thread: " + ", ".join(f"{n} {s:.2f} s" for n, s in busy if s))
    print(
        f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after "
        f"(server {'in the app process' if args.server_in_process else 'in its own process'})"
    )
    store = "" if args.vector_store == "chroma" else f", {args.vector_store} store"
    store += ", OCR on" if args.ocr else ""
    print(
        f"ROW | (a) app-side ingest, {result['pages']} PDF pages{store} | "
        f"{app.median:.0f} pages/s | "
        f"{raw.median:.0f} pages/s (PyMuPDF get_text) | {ratio:.0%} | >= 60% | {verdict}"
    )


if __name__ == "__main__":
    main()
