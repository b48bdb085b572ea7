"""Moving a library's vectors from one backend to another without re-embedding.

The copy reads each collection back from the source (``export``) and adds it to the
target, so the embedding model is never called. It is resumable: chunks the target
already holds are skipped, so running it again after a crash finishes the job. It is
verified before anyone switches: per-collection counts and chunk ids must match, and a
sample of queries must find the same nearest chunk in both stores. Switching the
setting is the caller's step, taken only on a verified copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from allma_desktop.cancel import CancelToken
from allma_desktop.errors import AllmaError, LibraryInUse
from allma_desktop.records import CollectionCopy, MigrationProgress, MigrationReport
from allma_desktop.services.documents.model import Chunk
from allma_desktop.services.vectorstore.base import WRITE_PROBE_KEY, VectorStore

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig

SAMPLE_QUERIES_PER_COLLECTION = 5


class ExportableStore(VectorStore, Protocol):
    def export(
        self, key: str, batch_size: int = 1_000
    ) -> Iterator[tuple[list[Chunk], list[list[float]]]]: ...


@runtime_checkable
class _Exportable(ExportableStore, Protocol):
    """``ExportableStore`` checkable with isinstance (by method names only)."""


class MigrationFailed(AllmaError):
    code = "migration_failed"


class MigrationCancelled(AllmaError):
    code = "migration_cancelled"

    def __init__(self) -> None:
        super().__init__(
            "The move was cancelled; the library still uses its current store.",
            "Move it again when you like: the copy resumes where it stopped.",
        )


def migrate_library(
    source: ExportableStore,
    target: VectorStore,
    *,
    batch_size: int = 1_000,
    on_progress: Callable[[MigrationProgress], None] | None = None,
    cancel: CancelToken | None = None,
) -> MigrationReport:
    """Copy every collection of ``source`` into ``target`` and verify the copy.

    Raises ``MigrationFailed`` when the copy does not match, ``MigrationCancelled`` when
    ``cancel`` is set (checked between batches); the source is never changed.
    """
    copies = []
    collections = [c for c in source.list_collections() if c.key != WRITE_PROBE_KEY]
    library_total = sum(collection.count for collection in collections)
    earlier_collections = 0  # chunks of the collections already copied
    for collection in collections:
        _stop_if_cancelled(cancel)
        key = collection.key
        target.ensure_collection(key)
        present = target.chunk_ids(key)
        expected = source.chunk_ids(key)
        stale = sorted(present - expected)  # from a source changed since an earlier run
        if stale:
            target.delete_chunks(key, stale)
        copied = len(present & expected)
        sample: list[np.ndarray] = []
        for chunks, vectors in source.export(key, batch_size):
            _stop_if_cancelled(cancel)
            if len(sample) < 2 * SAMPLE_QUERIES_PER_COLLECTION:
                sample.extend(np.asarray(v, dtype=np.float32) for v in vectors[:2])
            missing = [i for i, chunk in enumerate(chunks) if chunk.chunk_id not in present]
            if missing:
                target.add(key, [chunks[i] for i in missing], [vectors[i] for i in missing])
                copied += len(missing)
            if on_progress is not None:
                on_progress(
                    MigrationProgress(
                        key,
                        copied,
                        len(expected),
                        earlier_collections + copied,
                        max(library_total, earlier_collections + len(expected)),
                    )
                )
        _stop_if_cancelled(cancel)  # a cancel during the last batch still counts
        copies.append(_verify(source, target, key, expected, len(present & expected), sample))
        earlier_collections += len(expected)
    return MigrationReport(collections=copies)


def copy_library(
    current: AppConfig,
    destination: AppConfig,
    *,
    on_progress: Callable[[MigrationProgress], None] | None = None,
    cancel: CancelToken | None = None,
) -> MigrationReport:
    """Copy the library from the store ``current`` uses to the one ``destination`` names.

    Holds the library's engine lock meanwhile, so no other Allma changes it under the
    copy; the caller must have closed its own engine. Blocks: run it in a worker thread.
    Switching the setting is the caller's step, taken only on the report this returns.
    """
    from allma_desktop.services.library.open_lock import LibraryOpenLock
    from allma_desktop.services.vectorstore.factory import create_vector_store

    if destination.vector_store == current.vector_store:
        raise AllmaError(f"The library already uses the {current.vector_store} vector store.")
    current.data_dir.mkdir(parents=True, exist_ok=True)
    lock = LibraryOpenLock(current.data_dir)
    source: VectorStore | None = None
    target: VectorStore | None = None
    try:
        if not lock.acquire():
            # The library must not change while it is being copied.
            raise LibraryInUse(current.data_dir, "move the library to another vector store")
        source = create_vector_store(current)
        target = create_vector_store(destination)
        if not isinstance(source, _Exportable):
            raise AllmaError(f"The {current.vector_store} store cannot read its vectors back.")
        return migrate_library(source, target, on_progress=on_progress, cancel=cancel)
    finally:
        for opened in (source, target):
            if opened is not None:
                opened.close()
        lock.release()


def _stop_if_cancelled(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.cancelled:
        raise MigrationCancelled()


def _verify(
    source: VectorStore,
    target: VectorStore,
    key: str,
    expected: set[str],
    already_there: int,
    sample: Sequence[np.ndarray],
) -> CollectionCopy:
    target_ids = target.chunk_ids(key)
    if target_ids != expected or target.count(key) != len(expected):
        raise MigrationFailed(
            f"The copy of collection {key} holds {len(target_ids)} chunks, "
            f"the original {len(expected)}.",
            "Run the migration again: it resumes where it stopped. Your current store "
            "is unchanged and still in use.",
        )
    queries = _sample_queries(sample)
    for query in queries:
        before = source.query(key, query, k=1)
        after = target.query(key, query, k=1)
        if [hit.chunk_id for hit in before] != [hit.chunk_id for hit in after]:
            raise MigrationFailed(
                f"A search in the copy of collection {key} found another chunk than the "
                "original store.",
                "Run the migration again; if it fails the same way, report it with the log. "
                "Your current store is unchanged and still in use.",
            )
    return CollectionCopy(key, len(expected), len(target_ids), already_there, len(queries))


def _sample_queries(vectors: Sequence[np.ndarray]) -> list[list[float]]:
    """Midpoints of pairs of stored vectors: near the data like real questions, yet
    never exactly a stored vector, so the comparison exercises the search."""
    queries = []
    for first, second in zip(vectors[0::2], vectors[1::2], strict=False):
        midpoint = first + 0.25 * (second - first)  # nearer ``first``: a clear winner
        queries.append([float(x) for x in midpoint])
    return queries[:SAMPLE_QUERIES_PER_COLLECTION]
