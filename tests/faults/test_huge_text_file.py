"""A huge text file must not take the machine's memory: the parse worker has a cap.

A 1 GB text file grew the worker past 2.7 GB before the time limit stopped it. With
the cap (``ALLMA_PARSE_MEMORY_MB``) the file fails as too large, saying so, the next
file gets a fresh worker, and the rest of the folder is indexed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from allma_desktop.config import AppConfig
from allma_desktop.events import IngestFinished
from allma_desktop.orchestrator import Orchestrator
from allma_desktop.services.documents.files import MEMORY_LIMIT_ENV

LIMIT_MB = 400
HUGE_MB = 200


def _huge_text(path: Path) -> None:
    paragraph = ("The tide rises and falls twice a day along the harbour wall. " * 8).encode()
    block = (paragraph + b"\n\n") * 2_000
    with open(path, "wb") as handle:
        for _ in range(HUGE_MB * 1024 * 1024 // len(block)):
            handle.write(block)


async def test_a_text_file_too_big_for_the_workers_memory_fails_alone_and_says_why(
    config: AppConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MEMORY_LIMIT_ENV, str(LIMIT_MB))  # read by the worker at its start
    folder = tmp_path / "docs"
    folder.mkdir()
    _huge_text(folder / "a-huge.txt")
    (folder / "b-small.txt").write_text("Otters hold hands while they sleep.", encoding="utf-8")

    engine = Orchestrator(config)
    await engine.open()
    try:
        events = [e async for e in engine.ingest([folder])]
    finally:
        await engine.close()
    finished = events[-1]
    assert isinstance(finished, IngestFinished) and finished.error is None
    results = {Path(r.path).name: r for r in finished.results}
    assert results["a-huge.txt"].status == "failed"
    assert "too large to read into memory" in results["a-huge.txt"].reason
    assert f"{LIMIT_MB:,} MB" in results["a-huge.txt"].reason  # the cap stopped it
    assert "ALLMA_PARSE_MEMORY_MB" in str(results["a-huge.txt"].error)
    assert results["b-small.txt"].status == "indexed"  # the next file got a fresh worker
