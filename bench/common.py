"""Shared pieces of the benchmarks: paths, statistics, timing probes, instant embeddings."""

from __future__ import annotations

import functools
import os
import statistics
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar


def _shared_folder() -> Path:
    """``shared/`` beside the checkout (``../shared``); from a git worktree one level
    deeper (``wt/issueN``) the same folder one level up (``../../shared``).
    ``ALLMA_SHARED`` names it outright."""
    named = os.environ.get("ALLMA_SHARED")
    if named:
        return Path(named)
    checkout = Path(__file__).resolve().parents[1]
    for parent in checkout.parents[:2]:
        if (parent / "shared" / "qa").is_dir():
            return parent / "shared"
    return checkout.parent / "shared"


SHARED = _shared_folder()
PDF_CORPUS = SHARED / "corpus" / "pdf"
QA_DIR = SHARED / "qa"

T = TypeVar("T")


@dataclass(frozen=True)
class Spread:
    """Median and range of repeated measurements."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def describe(self, unit: str, digits: int = 1) -> str:
        low, high = min(self.values), max(self.values)
        return (
            f"{self.median:.{digits}f} {unit} (min {low:.{digits}f}, max {high:.{digits}f}, "
            f"n={len(self.values)})"
        )


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p95: fraction=0.95)."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def pdf_files(folder: Path = PDF_CORPUS) -> list[Path]:
    return sorted(folder.glob("*.pdf"))


def extract_every_page(files: Sequence[Path]) -> int:
    """PyMuPDF's own text extraction, ``page.get_text()``, of every page of ``files``
    (the raw baseline of row (a)); the pages read. A file it cannot open adds none."""
    from allma_desktop.services.documents.pdf import import_pymupdf

    pymupdf = import_pymupdf()
    pymupdf.TOOLS.mupdf_display_errors(False)  # as the app does: repairs are not news here
    pages = 0
    for path in files:
        try:
            with pymupdf.open(path) as document:
                for page in document:
                    page.get_text()
                    pages += 1
        except Exception:
            continue
    return pages


def instant_embedder(dimensions: int = 384) -> Callable[[list[str]], list[list[float]]]:
    """An embedding "model" that answers at once: a fixed unit vector per text's checksum.

    Stands in for an embedding server with no cost, so an ingest run measures the app's
    own work (parse, chunk, store, index) only.
    """
    import numpy as np

    def embed(texts: list[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            rng = np.random.default_rng(zlib.crc32(text.encode("utf-8", "replace")))
            vector = rng.standard_normal(dimensions)
            vectors.append((vector / np.linalg.norm(vector)).tolist())
        return vectors

    return embed


@dataclass
class PhaseTimer:
    """Wall time spent inside wrapped calls, by phase name (thread-safe)."""

    seconds: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                self.seconds[name] = self.seconds.get(name, 0.0) + elapsed
                self.calls[name] = self.calls.get(name, 0) + 1

    def wrap(self, owner: Any, attribute: str, name: str | None = None) -> None:
        """Replace ``owner.attribute`` (a sync or async callable) by a timed version."""
        original = getattr(owner, attribute)
        label = name or attribute
        import inspect

        if inspect.iscoroutinefunction(original):

            @functools.wraps(original)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                with self.phase(label):
                    return await original(*args, **kwargs)

            setattr(owner, attribute, timed_async)
        else:

            @functools.wraps(original)
            def timed(*args: Any, **kwargs: Any) -> Any:
                with self.phase(label):
                    return original(*args, **kwargs)

            setattr(owner, attribute, timed)

    def report(self, total: float) -> str:
        parts = [
            f"{name} {seconds:.2f} s ({100 * seconds / total:.0f}%)"
            for name, seconds in sorted(self.seconds.items(), key=lambda item: -item[1])
        ]
        return ", ".join(parts)


def row(name: str, value: str, baseline: str, ratio: str, target: str, verdict: str) -> str:
    return f"| {name} | {value} | {baseline} | {ratio} | {target} | {verdict} |"


TABLE_HEADER = "| row | app | baseline | ratio | target | met |\n|---|---|---|---|---|---|"
