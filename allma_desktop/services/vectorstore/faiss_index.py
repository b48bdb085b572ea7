"""The FAISS search indexes of the FAISS store: which kind a collection gets, making,
training, searching and saving one. The chunks themselves live in SQLite
(``faiss_records``); an index is a cache of their vectors, keyed by the rows' ids.

Three kinds, by collection size (figures: docs/benchmarks.md, "Vector stores"):

* ``exact`` (``IndexFlatIP`` over normalised vectors: cosine similarity) up to
  ``hnsw_threshold`` chunks: a full scan is fast enough and finds exactly;
* ``hnsw`` (an HNSW graph) up to ``ivf_threshold``: the fastest and most precise
  approximate search, but its build time grows faster than linearly (100k chunks took
  5 minutes on 2 busy cores; 1M would take well over an hour);
* ``ivf`` (IVF-flat: k-means cells, a search scans the cells nearest the query) beyond:
  it builds in about a minute at 1M chunks and searches in a few milliseconds.

HNSW and IVF cannot drop vectors cheaply (IVF under an id map cannot at all), so chunks
deleted from SQLite stay in them as ``stale`` entries that searches skip, until the
next rebuild.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import faiss

IndexKind = Literal["exact", "hnsw", "ivf"]

DEFAULT_HNSW_THRESHOLD = 50_000
DEFAULT_IVF_THRESHOLD = 200_000
_HNSW_NEIGHBOURS = 32  # M: 32 keeps recall@10 above 0.95 on 768-dim text embeddings
_HNSW_BUILD_DEPTH = 80  # efConstruction
_HNSW_MIN_SEARCH_DEPTH = 64  # efSearch floor
_IVF_MIN_CELLS = 16
_IVF_TRAINING_PER_CELL = 50  # k-means wants 39+ points a cell; more only costs time
_IVF_CELLS_SEARCHED = 32  # nprobe: see docs/benchmarks.md for 16/32/64 at 1M chunks


@dataclass
class LiveIndex:
    """A collection's index in memory, with what it knows about its own state."""

    index: faiss.IndexIDMap2
    kind: IndexKind
    dirty: bool  # differs from the index file on disk
    stale: int = 0  # deleted chunks still in the index (see the module's docstring)

    @property
    def approximate(self) -> bool:
        return self.kind != "exact"


@dataclass(frozen=True)
class Thresholds:
    hnsw: int = DEFAULT_HNSW_THRESHOLD
    ivf: int = DEFAULT_IVF_THRESHOLD

    def kind_for(self, count: int, current: IndexKind | None = None) -> IndexKind:
        """The kind of index for ``count`` chunks. Going back to a smaller kind waits
        until the collection is half the boundary, so deleting and re-adding a few
        chunks around a threshold does not rebuild the index every time."""
        wanted: IndexKind = (
            "exact" if count <= self.hnsw else "hnsw" if count <= self.ivf else "ivf"
        )
        order: tuple[IndexKind, ...] = ("exact", "hnsw", "ivf")
        if current is None or order.index(wanted) >= order.index(current):
            return wanted
        boundary = self.hnsw if current == "hnsw" else self.ivf
        return wanted if count <= boundary // 2 else current


def ivf_cells(count: int) -> int:
    """About √count cells: the usual balance of cells scanned against cell size."""
    return max(_IVF_MIN_CELLS, math.isqrt(max(count, 1)))


def ivf_training_size(count: int) -> int:
    return min(count, ivf_cells(count) * _IVF_TRAINING_PER_CELL)


def new_index(dimension: int, kind: IndexKind, count: int) -> faiss.IndexIDMap2:
    """An empty index of ``kind`` for about ``count`` vectors (an IVF one is untrained)."""
    import faiss

    inner: faiss.Index
    if kind == "hnsw":
        hnsw = faiss.IndexHNSWFlat(dimension, _HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = _HNSW_BUILD_DEPTH
        inner = hnsw
    elif kind == "ivf":
        quantizer = faiss.IndexFlatIP(dimension)
        # The Python wrappers keep the quantizer (and below, the inner index) alive
        # with the index that uses it.
        inner = faiss.IndexIVFFlat(
            quantizer, dimension, ivf_cells(count), faiss.METRIC_INNER_PRODUCT
        )
    else:
        inner = faiss.IndexFlatIP(dimension)
    return faiss.IndexIDMap2(inner)


def train(index: faiss.IndexIDMap2, sample: np.ndarray) -> None:
    """Train an IVF index's cells on ``sample`` (nothing to do for the other kinds)."""
    import faiss

    inner = faiss.downcast_index(index.index)
    if isinstance(inner, faiss.IndexIVF) and not inner.is_trained:
        inner.train(sample)
        inner.make_direct_map()  # filtered searches read vectors back by id


def kind_of(index: faiss.IndexIDMap2) -> IndexKind:
    import faiss

    inner = faiss.downcast_index(index.index)
    if isinstance(inner, faiss.IndexHNSW):
        return "hnsw"
    if isinstance(inner, faiss.IndexIVF):
        return "ivf"
    return "exact"


def outgrown(live: LiveIndex) -> bool:
    """An IVF index whose cells hold more than twice what they were made for searches
    ever more slowly: time to make more cells."""
    import faiss

    inner = faiss.downcast_index(live.index.index)
    if not isinstance(inner, faiss.IndexIVF):
        return False
    cells = int(inner.nlist)
    return live.index.ntotal - live.stale > 2 * cells * cells


def indexed_ids(index: faiss.IndexIDMap2) -> np.ndarray:
    import faiss

    ids: np.ndarray = faiss.vector_to_array(index.id_map)
    return ids


def search_parameters(
    kind: IndexKind, selector: faiss.IDSelector | None, depth: int
) -> faiss.SearchParameters:
    import faiss

    # One query is too little work to share: OpenMP's threads cost ten times the search
    # itself on a busy 2-core machine. The setting is per thread (this search's only).
    faiss.omp_set_num_threads(1)

    params: faiss.SearchParameters
    if kind == "hnsw":
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # missing in stubs
        params.efSearch = max(_HNSW_MIN_SEARCH_DEPTH, depth)  # type: ignore[attr-defined]
    elif kind == "ivf":
        params = faiss.SearchParametersIVF()
        params.nprobe = _IVF_CELLS_SEARCHED
    else:
        params = faiss.SearchParameters()
    if selector is not None:
        params.sel = selector
    return params


def read_index(file: Path) -> LiveIndex | None:
    """The index saved in ``file``; None when there is none or it cannot be read."""
    import faiss

    if not file.exists():
        return None
    loaded = faiss.read_index(str(file))  # RuntimeError when unreadable: the caller logs
    # read_index gives the most derived class already; a downcast copy would not own
    # the index, which would be freed with ``loaded``.
    if not isinstance(loaded, faiss.IndexIDMap2):
        return None
    inner = faiss.downcast_index(loaded.index)
    if isinstance(inner, faiss.IndexIVF):
        inner.make_direct_map()  # filtered searches read vectors back by id
    return LiveIndex(loaded, kind_of(loaded), dirty=False)


def write_atomically(index: faiss.IndexIDMap2, target: Path) -> None:
    """Write, fsync, rename, fsync the folder: a crash leaves the old file or the new."""
    import faiss

    temporary = target.with_suffix(".faiss.tmp")
    faiss.write_index(index, str(temporary))
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    _fsync_folder(target.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); Windows cannot open folders for this."""
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
