"""Ingest one file in a fresh process and print, as JSON, how it ended and its peak memory.

    python -m tests.support.ingest_memory_driver FILE DATA_DIR OLLAMA_URL

Peak resident memory comes from ``getrusage`` (Linux: KiB): the app process's growth
from just before the ingest, and the peak of its reaped children (the parse worker).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path

from allma_desktop.config import AppConfig
from allma_desktop.events import FileFinished
from allma_desktop.orchestrator import Orchestrator


def _peak_bytes(who: int) -> int:
    return resource.getrusage(who).ru_maxrss * 1024


async def _ingest(path: Path, data_dir: Path, host: str) -> dict[str, object]:
    config = AppConfig.from_mapping({"ollama_host": host, "data_dir": str(data_dir)})
    orchestrator = Orchestrator(config)
    await orchestrator.open()
    baseline = _peak_bytes(resource.RUSAGE_SELF)
    started = time.perf_counter()
    result: FileFinished | None = None
    try:
        async for event in orchestrator.ingest([path]):
            if isinstance(event, FileFinished):
                result = event
    finally:
        await orchestrator.close()
    assert result is not None
    return {
        "status": result.status,
        "reason": result.reason,
        "chunks": result.chunks,
        "seconds": round(time.perf_counter() - started, 1),
        "app_growth_bytes": _peak_bytes(resource.RUSAGE_SELF) - baseline,
        "worker_peak_bytes": _peak_bytes(resource.RUSAGE_CHILDREN),
    }


def main() -> None:
    path, data_dir, host = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    print(json.dumps(asyncio.run(_ingest(path, data_dir, host))))


if __name__ == "__main__":
    main()
