"""OCR speed: pages a second the app reads from scans, against raw PyMuPDF OCR, same run.

Scans are made here, from the QA set's PDFs (``../shared/qa``, in the corpus): each
page rendered at 200 dpi (grey) and written back as an image-only PDF, so nothing but
OCR can read them. Then, alternating, over the same pages:

- raw: ``page.get_textpage_ocr(language="eng", dpi=200, full=True, tessdata=...)`` and
  ``page.get_text("blocks", textpage=...)`` in a loop (MuPDF's built-in Tesseract);
- app: ``DocumentService.parse`` and ``chunk`` in this process, as the parse worker
  does it (page checks, OCR, text clean-up, chunks);
- worker: the same through ``ParseWorker`` (a spawned process, chunks sent back).

Target: the app reaches at least 80% of raw's pages per second.

    python -m bench.ocr_speed [--pages 4] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import PDF_CORPUS, QA_DIR, Spread

SCAN_DPI = 200
TARGET_RATIO = 0.80
QA_PDFS = ("test_4751.pdf", "test_3842.pdf", "test-3820.pdf", "mupdf_explored.pdf")


def scanned_copy(source: Path, target: Path, dpi: int = SCAN_DPI, pages: int | None = None) -> int:
    """Write ``target``: ``source``'s pages (the first ``pages``) as pictures only."""
    from allma_desktop.services.documents.pdf import import_pymupdf

    pymupdf = import_pymupdf()
    written = 0
    with pymupdf.open(source) as original, pymupdf.open() as scan:
        for page in original:
            if pages is not None and written >= pages:
                break
            picture = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY)
            copy = scan.new_page(width=page.rect.width, height=page.rect.height)
            copy.insert_image(copy.rect, pixmap=picture)
            written += 1
        scan.save(target, garbage=3, deflate=True)
    return written


def make_scans(folder: Path, pages: int) -> list[Path]:
    """Scanned copies of the QA PDFs, ``pages`` pages in all, spread over the files."""
    scans: list[Path] = []
    per_file = max(1, -(-pages // len(QA_PDFS)))  # rounded up, so ``pages`` in all
    left = pages
    for name in QA_PDFS:
        if left <= 0:
            break
        source = PDF_CORPUS / name
        target = folder / f"scan-{name}"
        left -= scanned_copy(source, target, pages=min(per_file, left))
        scans.append(target)
    return scans


def raw_ocr(scans: Sequence[Path]) -> tuple[float, int]:
    """Seconds and pages for MuPDF's OCR of every page, straight from PyMuPDF."""
    from allma_desktop.services.documents.ocr import find_tessdata
    from allma_desktop.services.documents.pdf import import_pymupdf

    pymupdf = import_pymupdf()
    tessdata = str(find_tessdata())
    pages = 0
    started = time.perf_counter()
    for path in scans:
        with pymupdf.open(path) as document:
            for page in document:
                textpage = page.get_textpage_ocr(
                    language="eng", dpi=SCAN_DPI, full=True, tessdata=tessdata
                )
                page.get_text("blocks", textpage=textpage)
                pages += 1
    return time.perf_counter() - started, pages


def app_in_process(scans: Sequence[Path]) -> tuple[float, int, int]:
    """Seconds, pages and chunks for the app's parse and chunk of every scan."""
    from allma_desktop.services.documents.service import DocumentService

    service = DocumentService()
    pages = chunks = 0
    started = time.perf_counter()
    for path in scans:
        parsed = service.parse(path)
        chunks += len(service.chunk(parsed, "bench"))
        pages += parsed.metadata.page_count or 0
    return time.perf_counter() - started, pages, chunks


async def _through_worker(scans: Sequence[Path]) -> tuple[float, int]:
    from allma_desktop.services.documents.parse_worker import ParseWorker

    worker = ParseWorker()
    try:  # start the process first: its start is not charged to any file
        await worker.parse_and_chunk(scans[0], chunk_size=1000, chunk_overlap=150)
        pages = 0
        started = time.perf_counter()
        for path in scans:
            metadata, _chunks = await worker.parse_and_chunk(
                path, chunk_size=1000, chunk_overlap=150
            )
            pages += metadata.page_count or 0
        return time.perf_counter() - started, pages
    finally:
        await worker.close()


def app_through_worker(scans: Sequence[Path]) -> tuple[float, int]:
    return asyncio.run(_through_worker(scans))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=4, help="scanned pages in all")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    if not QA_DIR.is_dir():
        print(f"no QA set at {QA_DIR}")
        return 1
    with tempfile.TemporaryDirectory(prefix="allma-ocr-bench-") as folder:
        scans = make_scans(Path(folder), args.pages)
        raw_rates: list[float] = []
        app_rates: list[float] = []
        worker_rates: list[float] = []
        ratios: list[float] = []
        for run in range(1, args.runs + 1):
            raw_seconds, pages = raw_ocr(scans)
            app_seconds, app_pages, chunks = app_in_process(scans)
            worker_seconds, worker_pages = app_through_worker(scans)
            assert app_pages == worker_pages == pages, (pages, app_pages, worker_pages)
            raw_rates.append(pages / raw_seconds)
            app_rates.append(pages / app_seconds)
            worker_rates.append(pages / worker_seconds)
            ratios.append(raw_seconds / app_seconds)
            print(
                f"run {run}: {pages} pages; raw {raw_seconds:.1f} s, app {app_seconds:.1f} s "
                f"({chunks} chunks), through the worker {worker_seconds:.1f} s"
            )
    ratio = Spread(tuple(ratios))
    print(f"raw get_textpage_ocr: {Spread(tuple(raw_rates)).describe('pages/s', 2)}")
    print(f"app (parse + chunk):  {Spread(tuple(app_rates)).describe('pages/s', 2)}")
    print(f"app via ParseWorker:  {Spread(tuple(worker_rates)).describe('pages/s', 2)}")
    verdict = "meets" if ratio.median >= TARGET_RATIO else "misses"
    print(
        f"app / raw: {ratio.median:.0%} (min {min(ratios):.0%}, max {max(ratios):.0%}); "
        f"{verdict} the {TARGET_RATIO:.0%} target"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
