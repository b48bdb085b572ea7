"""GUI row (i): the app's resident memory idle, and its peak while ingesting a generated
2,000-page PDF.

    python -m bench.gui_memory [--runs 2] [--pages 2000]

The real app window (``bench.gui_session``: MainWindow and its controllers, engine open
in fresh data folders, the test server embedding at once) is left idle for 3 s, then
the PDF is dropped on the library (``ingest_requested``, as a drop does). How it is
counted: a thread samples every 50 ms the RSS of the app process plus the RSS of all
its descendant processes (the parse worker) and keeps the largest sum; "idle" is the
same sum after the idle wait, once the engine (chromadb, pymupdf, the ollama client) is
loaded. The test server (standing in for Ollama) runs in a process of its own and is
not counted. Shared pages between the app and its worker are counted twice (RSS, not PSS),
so the figure errs high. Each run is a fresh process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import Spread
from bench.gui_session import Session, run_session, wait_for_signal, write_big_pdf

IDLE_TARGET_MB = 250
PEAK_ABOVE_IDLE_TARGET_MB = 400
MB = 1024 * 1024


def tree_rss(exclude: int) -> int:
    """Bytes resident in this process and all its descendants but ``exclude`` (the test
    server, standing in for Ollama)."""
    import psutil  # type: ignore[import-untyped]

    me = psutil.Process()
    total: int = me.memory_info().rss
    for child in me.children(recursive=True):
        if child.pid == exclude:
            continue
        try:
            total += child.memory_info().rss
        except psutil.Error:
            continue  # ended between listing and reading
    return total


class PeakSampler:
    def __init__(self, exclude: int, interval: float = 0.05) -> None:
        self.peak = 0
        self._exclude = exclude
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, tree_rss(self._exclude))

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


async def memory_run(session: Session, pdf: Path) -> dict[str, Any]:
    await asyncio.sleep(3.0)
    idle = tree_rss(session.server_pid)
    window = session.window
    started = time.perf_counter()
    with PeakSampler(session.server_pid) as sampler:
        finished = wait_for_signal(window.library_controller.batch_finished)
        window.events.ingest_requested.emit([str(pdf)])
        (summary,) = await finished
    return {
        "idle_mb": idle / MB,
        "peak_mb": sampler.peak / MB,
        "seconds": time.perf_counter() - started,
        "indexed": summary.indexed,
        "failed": summary.failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--single", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        print(json.dumps(run_session(lambda s: memory_run(s, args.single))), flush=True)
        os._exit(0)  # skip teardown: PySide6 can crash while finalizing
    results = []
    with tempfile.TemporaryDirectory(prefix="allma-bench-pdf-") as folder:
        pdf = write_big_pdf(Path(folder) / "lighthouse-big.pdf", args.pages)
        for run in range(1, args.runs + 1):
            command = [sys.executable, "-m", "bench.gui_memory", "--single", str(pdf)]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            if not lines:
                raise SystemExit(f"run failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
            result = json.loads(lines[-1])
            results.append(result)
            print(
                f"(i) run {run}: idle {result['idle_mb']:.0f} MB, peak {result['peak_mb']:.0f} MB "
                f"during the {args.pages}-page ingest ({result['seconds']:.0f} s, "
                f"{result['indexed']} indexed, {result['failed']} failed)",
                flush=True,
            )
    idle = Spread(tuple(r["idle_mb"] for r in results))
    peak = Spread(tuple(r["peak_mb"] for r in results))
    above = Spread(tuple(r["peak_mb"] - r["idle_mb"] for r in results))
    print(f"idle app (app + workers RSS) : {idle.describe('MB', 0)}")
    print(f"peak during ingest           : {peak.describe('MB', 0)}")
    print(f"peak above idle              : {above.describe('MB', 0)}")
    idle_verdict = "met" if idle.median <= IDLE_TARGET_MB else "MISSED"
    peak_verdict = "met" if above.median <= PEAK_ABOVE_IDLE_TARGET_MB else "MISSED"
    print(
        f"ROW | (i) memory, idle app | {idle.median:.0f} MB | - | - | "
        f"<= {IDLE_TARGET_MB} MB | {idle_verdict}"
    )
    print(
        f"ROW | (i) memory, peak during {args.pages}-page ingest | {peak.median:.0f} MB | "
        f"{idle.median:.0f} MB (same app idle) | +{above.median:.0f} MB | "
        f"<= +{PEAK_ABOVE_IDLE_TARGET_MB} MB | {peak_verdict}"
    )


if __name__ == "__main__":
    main()
