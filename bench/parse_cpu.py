"""The parse worker's own cost: CPU seconds to parse and chunk the PDF corpus in-process.

Row (a) is bound by CPU on two cores, and the parse worker is its longest process;
this isolates what the worker does for each file (``DocumentService.parse`` and
``chunk``, as ``parse_worker`` calls them) from pipes, scheduling and the other
processes, next to PyMuPDF's own ``page.get_text()`` over the same pages. Also
the CPU and memory that importing PyMuPDF through the app costs a fresh process.

    python -m bench.parse_cpu [--runs 5] [--folder ../shared/corpus/pdf]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import time
from multiprocessing.connection import Connection
from pathlib import Path

from bench.common import PDF_CORPUS, Spread, extract_every_page, pdf_files


def raw_get_text_cpu(files: list[Path]) -> float:
    """CPU seconds for PyMuPDF's ``page.get_text()`` over every page."""
    started = time.process_time()
    extract_every_page(files)
    return time.process_time() - started


def app_parse_cpu(files: list[Path]) -> tuple[float, float, int]:
    """CPU seconds to parse, then to chunk, every file as the worker does; and the chunks."""
    from allma_desktop.errors import DocumentError
    from allma_desktop.services.documents.service import DocumentService

    service = DocumentService()
    parsing = chunking = 0.0
    chunks = 0
    for path in files:
        started = time.process_time()
        try:
            parsed = service.parse(path)
        except DocumentError:  # encrypted, damaged or text-less: the worker stops here too
            parsing += time.process_time() - started
            continue
        parsed_at = time.process_time()
        chunks += len(service.chunk(parsed, "bench"))
        parsing += parsed_at - started
        chunking += time.process_time() - parsed_at
    return parsing, chunking, chunks


def _import_in_child(connection: Connection) -> None:
    started = time.process_time()
    from allma_desktop.services.documents.pdf import import_pymupdf

    import_pymupdf()
    seconds = time.process_time() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    connection.send((seconds, peak_kib / 1024))


def cold_import() -> tuple[float, float]:
    """CPU seconds and peak MB of a fresh process importing PyMuPDF through the app."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_import_in_child, args=(child,))
    process.start()
    seconds, peak_mb = parent.recv()
    process.join()
    return float(seconds), float(peak_mb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--folder", type=Path, default=PDF_CORPUS)
    args = parser.parse_args()
    files = pdf_files(args.folder)
    load_before = os.getloadavg()
    imports = [cold_import() for _ in range(args.runs)]
    raw_get_text_cpu(files)  # a first pass warms the page cache for both
    raw, parse, chunk, both = [], [], [], []
    chunks = 0
    for _ in range(args.runs):
        raw.append(raw_get_text_cpu(files))
        parsing, chunking, chunks = app_parse_cpu(files)
        parse.append(parsing)
        chunk.append(chunking)
        both.append(parsing + chunking)
    load_after = os.getloadavg()
    print(f"{len(files)} PDFs, {chunks} chunks; CPU seconds, in this process:")
    print(f"  raw PyMuPDF get_text : {Spread(tuple(raw)).describe('s', 2)}")
    print(f"  app parse            : {Spread(tuple(parse)).describe('s', 2)}")
    print(f"  app chunk            : {Spread(tuple(chunk)).describe('s', 2)}")
    print(f"  app parse + chunk    : {Spread(tuple(both)).describe('s', 2)}")
    ratio = Spread(tuple(both)).median / Spread(tuple(raw)).median
    print(f"  parse + chunk / raw  : {ratio:.2f}")
    import_cpu = Spread(tuple(seconds for seconds, _ in imports))
    import_mb = Spread(tuple(peak for _, peak in imports))
    print(f"importing PyMuPDF in a fresh process: {import_cpu.describe('s CPU', 2)}")
    print(f"  peak memory of that process       : {import_mb.describe('MB', 0)}")
    print(f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after")


if __name__ == "__main__":
    main()
