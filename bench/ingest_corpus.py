"""Ingest a folder (by default ../shared/corpus) and print how each file ended.

Runs the real orchestrator against the Ollama-protocol test server (embeddings
answer at once), in a temporary data folder, and prints per-file outcomes, the
counts by status and reason, and the time taken.

    python -m bench.ingest_corpus [FOLDER ...] [--markdown docs/robustness.md] [--no-ocr]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import tempfile
import time
from pathlib import Path

from allma_desktop.config import AppConfig
from allma_desktop.events import FileFinished, IngestFinished
from allma_desktop.orchestrator import Orchestrator
from tests.support.ollama_server import OllamaTestServer

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


async def ingest(
    paths: list[Path], data_dir: Path, host: str, ocr: bool = True
) -> tuple[IngestFinished, float]:
    config = AppConfig.from_mapping({"ollama_host": host, "data_dir": str(data_dir), "ocr": ocr})
    orchestrator = Orchestrator(config)
    await orchestrator.open()
    started = time.perf_counter()
    finished: IngestFinished | None = None
    try:
        async for event in orchestrator.ingest(paths):
            if isinstance(event, FileFinished):
                print(f"{event.status:<9} {event.chunks:>5} chunks  {event.path}  {event.reason}")
            elif isinstance(event, IngestFinished):
                finished = event
    finally:
        await orchestrator.close()
    assert finished is not None
    return finished, time.perf_counter() - started


def summarise(finished: IngestFinished) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for result in finished.results:
        counts[
            result.status if result.status == "indexed" else f"{result.status}: {result.reason}"
        ] += 1
    return counts


def write_markdown(path: Path, finished: IngestFinished, seconds: float, roots: list[Path]) -> None:
    lines = [
        "# Ingestion over the shared corpus",
        "",
        "Produced by `python -m bench.ingest_corpus --markdown docs/robustness.md` "
        f"over {', '.join(str(r) for r in roots)} "
        f"({len(finished.results)} files, {seconds:.1f} s).",
        "",
        "| outcome | files |",
        "|---|---|",
    ]
    for outcome, count in sorted(summarise(finished).items()):
        lines.append(f"| {outcome} | {count} |")
    lines += ["", "## Every file", "", "| file | status | chunks | reason |", "|---|---|---|---|"]
    for result in finished.results:
        name = str(Path(result.path))
        for root in roots:
            if name.startswith(str(root.resolve())) or name.startswith(str(root)):
                name = str(
                    Path(result.path).relative_to(
                        root.resolve() if name.startswith(str(root.resolve())) else root
                    )
                )
                break
        lines.append(f"| {name} | {result.status} | {result.chunks} | {result.reason} |")
    # Sections written by hand above this one (docs/robustness.md's fault table) stay.
    kept = ""
    if path.exists():
        previous = path.read_text(encoding="utf-8")
        kept = previous.split(lines[0], 1)[0] if lines[0] in previous else previous + "\n"
    path.write_text(kept + "\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folders", nargs="*", type=Path, default=[DEFAULT_CORPUS])
    parser.add_argument("--markdown", type=Path, help="Also write the results as Markdown here.")
    parser.add_argument("--no-ocr", action="store_true", help="Turn OCR off (it is on by default).")
    args = parser.parse_args()
    with OllamaTestServer() as server, tempfile.TemporaryDirectory() as data:
        finished, seconds = asyncio.run(
            ingest(args.folders, Path(data), server.url, ocr=not args.no_ocr)
        )
    print()
    for outcome, count in sorted(summarise(finished).items()):
        print(f"{count:>4}  {outcome}")
    print(f"{len(finished.results)} files in {seconds:.1f} s")
    if args.markdown:
        write_markdown(args.markdown, finished, seconds, args.folders)


if __name__ == "__main__":
    main()
