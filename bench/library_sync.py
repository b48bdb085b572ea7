"""Issue 16's rows: watched folders and the indexer, each against its baseline in the same run.

    python -m bench.library_sync resync [--files 100000]   # re-sync of an unchanged tree
    python -m bench.library_sync latency [--files 50]      # saved file -> searchable, p95
    python -m bench.library_sync first-sync [--files 10000]  # desktop path vs CLI path
    python -m bench.library_sync memory [--files 100000]   # peak RSS of a first sync

The embedding server is the Ollama-protocol test server with an instant embedder in a
process of its own, so what is measured is the app's own work. Files are generated.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.common import Spread, percentile
from bench.ingest_speed import instant_server_url

EMBED_MODEL = "instant:latest"
INSTANT_DIMENSIONS = 384  # bench.ingest_speed's instant embedder
_WORDS = "tide lamp keeper harbour beacon gale chart reef buoy pilot anchor coast".split()


def make_tree(root: Path, files: int, per_folder: int = 500) -> list[Path]:
    """``files`` small text files, ``per_folder`` to a folder, each with its own words."""
    paths = []
    for n in range(files):
        folder = root / f"part-{n // per_folder:04d}"
        if n % per_folder == 0:
            folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"note-{n:06d}.txt"
        words = " ".join(_WORDS[(n + i) % len(_WORDS)] for i in range(30))
        path.write_text(f"Note {n}: {words} number{n}.\n")
        paths.append(path)
    return paths


def bare_walk(root: Path) -> int:
    """The baseline: os.scandir over the tree and one stat per file, nothing else."""
    count = 0
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    entry.stat()
                    count += 1
    return count


def _config(url: str, data_dir: Path) -> Any:
    from allma_desktop.config import AppConfig

    return AppConfig(
        ollama_host=url, ollama_embedding_model=EMBED_MODEL, data_dir=data_dir,
    )  # fmt: skip


class PeakRss:
    """Samples this process's resident memory (and its children's) every 50 ms."""

    def __init__(self, exclude: int | None = None) -> None:
        self.peak = 0
        self.at_peak = {}
        self.peak_after = 0.0  # seconds from the start of sampling to the peak
        self._started = 0.0
        self._exclude = exclude  # a child that is not the app's (the test server)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            excluded = _rss_of(self._exclude) if self._exclude else 0
            total = rss_bytes() - excluded
            if total > self.peak:
                self.peak = total
                self.at_peak = processes_rss(exclude=self._exclude)
                self.peak_after = time.perf_counter() - self._started
            time.sleep(0.05)

    at_peak: dict[str, int] = {}  # noqa: RUF012 - each sampler sets its own
    """Resident memory by process (``processes_rss``) when the peak was sampled."""


def processes_rss(exclude: int | None = None) -> dict[str, int]:
    """This process's resident memory and each child's, named by what it has loaded: the
    vector store (Chroma's HNSW library), a parse worker (MuPDF), or another child."""
    pid = os.getpid()
    found = {"app (window and engine)": _rss_of(pid)}
    for child in _children(pid):
        if child == exclude:
            continue
        name = f"{_process_role(child)} {child}"
        found[name] = _rss_of(child)
    return found


def _process_role(pid: int) -> str:
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return "child"
    if "hnswlib" in maps or "chromadb" in maps or "chroma_hnswlib" in maps:
        return "vector store"
    if "mupdf" in maps or "fitz" in maps:
        return "parse worker"
    return "child"


def rss_bytes(pid: int | None = None) -> int:
    """Resident memory of ``pid`` (this process by default) and its child processes."""
    pid = pid or os.getpid()
    total = _rss_of(pid)
    return total + sum(_rss_of(child) for child in _children(pid))


def _children(pid: int) -> list[int]:
    """The child processes of every thread of ``pid``: the vector store and the parse
    workers are started from worker threads, and a thread's children are listed under
    that thread alone (``/proc/PID/task/TID/children``), not the main one's."""
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for thread in threads:
        try:
            listed = Path(f"/proc/{pid}/task/{thread}/children").read_text()
            found.extend(int(child) for child in listed.split())
        except OSError:
            continue
    return found


def _rss_of(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


async def _with_engine(url: str, data_dir: Path, work: Callable[[Any], Awaitable[Any]]) -> Any:
    from allma_desktop.orchestrator import Orchestrator

    orchestrator = Orchestrator(_config(url, data_dir))
    await orchestrator.open()
    try:
        return await work(orchestrator)
    finally:
        await orchestrator.close()


# --- re-sync of an unchanged tree --------------------------------------------------------


def _fill_library(orchestrator: Any, paths: list[Path]) -> None:
    """Document rows for every file, as a finished first sync leaves them (ready, with
    size and time): the re-sync compares against these."""
    from allma_desktop.services.library.storage import execute_many, utc_now

    now = utc_now()
    rows = []
    for path in paths:
        stat_result = path.stat()
        rows.append(
            (f"d{len(rows)}", 1, str(path), path.name, "text", f"h{len(rows)}",
             stat_result.st_size, stat_result.st_mtime, 1, "ready", now, now)
        )  # fmt: skip
    db = orchestrator.library.db
    with db.atomic():
        execute_many(
            db,
            "INSERT INTO document (id, collection_id, path, title, file_type, content_hash,"
            " size_bytes, mtime, chunk_count, status, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def resync(files: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="allma-resync-") as folder:
        root = Path(folder) / "tree"
        started = time.perf_counter()
        paths = make_tree(root, files)
        print(f"made {files:,} files in {time.perf_counter() - started:.1f} s")
        with instant_server_url(in_process=True) as url:

            async def work(orchestrator: Any) -> tuple[list[float], list[float], int]:
                await asyncio.to_thread(_fill_library, orchestrator, paths)
                indexer = orchestrator.indexer
                await indexer.start(watch=False)
                await indexer.add_folder(root)
                await indexer.sync(wait=True)  # after the first scan add_folder started
                walks: list[float] = []
                syncs: list[float] = []
                peak = 0
                bare_walk(root)  # warm the page cache for both
                for _ in range(rounds):
                    started = time.perf_counter()
                    seen = bare_walk(root)
                    walks.append(time.perf_counter() - started)
                    assert seen == files
                    idle = rss_bytes()
                    with PeakRss() as rss:
                        started = time.perf_counter()
                        (report,) = await indexer.sync(wait=True)
                        syncs.append(time.perf_counter() - started)
                    peak = max(peak, rss.peak - idle)
                    assert report.unchanged == files, report.as_dict()
                    assert not (report.added or report.changed or report.removed)
                return walks, syncs, peak

            walks, syncs, peak = asyncio.run(_with_engine(url, Path(folder) / "data", work))
    walk, sync = Spread(tuple(walks)), Spread(tuple(syncs))
    ratio = sync.median / walk.median
    verdict = "met" if ratio <= 2.0 else "MISSED"
    print(f"bare os.scandir + stat walk : {walk.describe('s', 2)}")
    print(f"allma sync (unchanged tree) : {sync.describe('s', 2)}")
    print(f"memory above the engine during the sync: +{peak / 2**20:.0f} MB")
    print(
        f"ROW | re-sync of {files:,} unchanged files | {sync.median:.2f} s | "
        f"walk {walk.median:.2f} s | {ratio:.2f}x | <= 2x | {verdict}"
    )


# --- saved file -> searchable ------------------------------------------------------------


def latency(files: int) -> None:
    with tempfile.TemporaryDirectory(prefix="allma-latency-") as folder:
        root = Path(folder) / "watched"
        root.mkdir()
        with instant_server_url(in_process=False) as url:

            async def work(orchestrator: Any) -> list[float]:
                indexer = orchestrator.indexer
                await indexer.start(watch=True)
                await indexer.add_folder(root)
                await asyncio.sleep(1.0)  # the watcher is on the folder
                seconds: list[float] = []
                for n in range(files):
                    path = root / f"saved-{n:03d}.txt"
                    started = time.perf_counter()
                    path.write_text(f"Saved note {n}: the {_WORDS[n % len(_WORDS)]} log {n}.\n")
                    while True:
                        record = await asyncio.to_thread(
                            orchestrator.library.document_by_path, 1, path
                        )
                        if record is not None and record.status == "ready":
                            break
                        await asyncio.sleep(0.01)
                    seconds.append(time.perf_counter() - started)
                return seconds

            seconds = asyncio.run(_with_engine(url, Path(folder) / "data", work))
    p50, p95 = percentile(seconds, 0.5), percentile(seconds, 0.95)
    verdict = "met" if p95 <= 2.0 else "MISSED"
    print(f"saved -> searchable over {files} files: p50 {p50:.2f} s, p95 {p95:.2f} s, "
          f"max {max(seconds):.2f} s")  # fmt: skip
    print(f"ROW | saved file searchable | p95 {p95:.2f} s | - | - | <= 2 s | {verdict}")


# --- first sync: the desktop app's path against the CLI's ---------------------------------


def first_sync_cli(root: Path, files: int) -> float:
    """``allma ingest FOLDER``'s path: the orchestrator's ingest, in this process."""

    async def work(orchestrator: Any) -> float:
        started = time.perf_counter()
        done, seconds = 0, 0.0
        async for event in orchestrator.ingest([root]):
            if type(event).__name__ == "FileFinished" and event.status == "indexed":
                done += 1
                seconds = time.perf_counter() - started  # the last one's time counts
        assert done == files, done
        return seconds

    with tempfile.TemporaryDirectory(prefix="allma-cli-") as data, instant_server_url(False) as url:
        return float(asyncio.run(_with_engine(url, Path(data), work)))


class _AllIndexed:
    """Listens to the indexer; set once ``files`` files are indexed, as its listener (the
    window, or a CLI) hears it. Both indexer paths stop the clock here, the CLI path at its
    last ``FileFinished``: the time the files are searchable, not the 0.5 s a run then
    lingers for more files before it reports its batch."""

    def __init__(self, files: int) -> None:
        self.files = files
        self.indexed = 0
        self.done = asyncio.Event()

    def __call__(self, event: Any) -> None:
        inner = getattr(event, "event", None)
        if type(inner).__name__ == "FileFinished" and inner.status == "indexed":
            self.indexed += 1
            if self.indexed == self.files:
                self.done.set()


def first_sync_indexer(root: Path, files: int) -> float:
    """The indexer with no window: ``allma watch add`` + ``allma sync``'s path. Between the
    CLI and the desktop path, it splits the indexer's own cost from the window's."""

    async def work(orchestrator: Any) -> float:
        all_indexed = _AllIndexed(files)
        orchestrator.indexer.subscribe(all_indexed)
        started = time.perf_counter()
        await orchestrator.indexer.start(watch=False)
        await orchestrator.indexer.add_folder(str(root))  # spawns the folder's first sync
        await all_indexed.done.wait()
        seconds = time.perf_counter() - started
        await orchestrator.indexer.wait_idle()
        ready = await asyncio.to_thread(orchestrator.library.list_documents, None, "ready")
        assert len(ready) == files, len(ready)
        return seconds

    with tempfile.TemporaryDirectory(prefix="allma-idx-") as data, instant_server_url(False) as url:
        return float(asyncio.run(_with_engine(url, Path(data), work)))


async def _on_the_library_page(session: Any) -> None:
    """Where a person adds a folder and watches it come in: the table, the folder's line
    and the progress are painted as the files arrive."""
    session.window.show_page("library")
    await asyncio.sleep(0.5)  # shown and laid out before the clock starts


def first_sync_desktop(root: Path, files: int) -> float:
    """The window's path: the real LibraryController in the offscreen app, on the Library
    page, adds the folder (kept in sync) and the engine's indexer indexes it; timed until
    the window has heard of the last file indexed."""
    from bench.gui_session import run_session

    async def work(session: Any) -> float:
        controller = session.window.library_controller
        orchestrator = session.window.host.orchestrator
        finished = asyncio.Event()

        def done(_summary: object) -> None:
            if not orchestrator.indexer.queued():
                finished.set()

        controller.batch_finished.connect(done)
        all_indexed = _AllIndexed(files)
        orchestrator.indexer.subscribe(all_indexed)  # on the GUI loop, as the controller
        await _on_the_library_page(session)
        started = time.perf_counter()
        controller.add_folder(str(root))
        await all_indexed.done.wait()
        seconds = time.perf_counter() - started
        await finished.wait()
        ready = await asyncio.to_thread(orchestrator.library.list_documents, None, "ready")
        assert len(ready) == files, len(ready)
        return seconds

    return float(run_session(work))


def first_sync(files: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="allma-first-sync-") as folder:
        root = Path(folder) / "tree"
        make_tree(root, files)
        cli: list[float] = []
        headless: list[float] = []
        desktop: list[float] = []
        for _ in range(rounds):
            cli.append(files / first_sync_cli(root, files))
            headless.append(files / first_sync_indexer(root, files))
            desktop.append(files / first_sync_desktop(root, files))
    cli_rate, desktop_rate = Spread(tuple(cli)), Spread(tuple(desktop))
    headless_rate = Spread(tuple(headless))
    ratio = desktop_rate.median / cli_rate.median
    verdict = "met" if ratio >= 0.9 else "MISSED"
    print(f"CLI path (allma ingest)        : {cli_rate.describe('files/s')}")
    print(f"indexer, no window (allma sync): {headless_rate.describe('files/s')}")
    print(f"desktop path (controller+queue): {desktop_rate.describe('files/s')}")
    print(
        f"ROW | first sync of {files:,} small files, desktop path | "
        f"{desktop_rate.median:.0f} files/s | CLI {cli_rate.median:.0f} files/s | "
        f"{ratio:.0%} | >= 90% | {verdict}"
    )


# --- memory of a large first sync ----------------------------------------------------------


def memory(files: int) -> None:
    """The desktop app's path, as ``first_sync_desktop``: the window's Library controller
    adds the folder; the app's resident memory (with its parse and store workers) is
    sampled from before the add until the queue is empty, against the same app idle."""
    from bench.gui_session import run_session

    async def work(session: Any) -> tuple[int, int, float, int, dict[str, int], dict[str, int]]:
        controller = session.window.library_controller
        orchestrator = session.window.host.orchestrator
        await orchestrator.search("warm up the search path")
        await _on_the_library_page(session)
        await asyncio.sleep(1.0)
        server = _rss_of(session.server_pid)  # the test server is a child: not the app's
        idle = rss_bytes() - server
        idle_by_process = processes_rss(exclude=session.server_pid)
        finished = asyncio.Event()

        def done(_summary: object) -> None:
            if not orchestrator.indexer.queued():
                finished.set()

        controller.batch_finished.connect(done)
        with PeakRss(exclude=session.server_pid) as rss:
            started = time.perf_counter()
            controller.add_folder(str(root))
            await finished.wait()
            seconds = time.perf_counter() - started
        ready = await asyncio.to_thread(orchestrator.library.list_documents, None, "ready")
        print(f"the peak came {rss.peak_after:.0f} s into the {seconds:.0f} s sync")
        return idle, rss.peak, seconds, len(ready), idle_by_process, rss.at_peak

    with tempfile.TemporaryDirectory(prefix="allma-memory-") as folder:
        root = Path(folder) / "tree"
        make_tree(root, files)
        idle, peak, seconds, ready, idle_by_process, at_peak = run_session(work)
    assert ready == files, ready
    extra = (peak - idle) / 2**20
    verdict = "met" if extra <= 200 else "MISSED"
    rate = files / seconds
    print(f"first sync of {files:,} files in the app in {seconds:.0f} s ({rate:.0f} files/s)")
    print(f"app idle {idle / 2**20:.0f} MB, peak {peak / 2**20:.0f} MB (with its workers)")
    print("by process, idle -> at the peak (MB):")
    for name in sorted(set(idle_by_process) | set(at_peak)):
        before, after = idle_by_process.get(name, 0), at_peak.get(name, 0)
        print(f"  {name:32s} {before / 2**20:6.0f} -> {after / 2**20:6.0f}")
    vectors = files * INSTANT_DIMENSIONS * 4  # one chunk a file: the generated notes are short
    print(f"the vectors alone ({files:,} x {INSTANT_DIMENSIONS} float32): {vectors / 2**20:.0f} MB")
    print(f"ROW | peak memory, {files:,}-file sync, desktop path | +{extra:.0f} MB | idle app "
          f"{idle / 2**20:.0f} MB | - | <= +200 MB | {verdict}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("row", choices=["resync", "latency", "first-sync", "memory"])
    parser.add_argument("--files", type=int)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.row == "resync":
        resync(args.files or 100_000, args.rounds)
    elif args.row == "latency":
        latency(args.files or 50)
    elif args.row == "first-sync":
        first_sync(args.files or 10_000, args.rounds)
    else:
        memory(args.files or 100_000)


if __name__ == "__main__":
    main()
