"""The indexer: one durable queue of files to index and the watched folders that feed it.

Qt-free, beside the orchestrator. The window, the CLI and the local API add files and
folders to it, pause, resume and cancel it, and subscribe to its typed events
(``events``). It feeds the orchestrator's ingest pipeline one long stream of files.

- ``indexer``: ``Indexer``, the queue and the work on it;
- ``state``: the queue and the watched folders in the library's database;
- ``scan``: one pass over a folder against the library (size and time, no hashing);
- ``watch``: following folders as they change (``watchfiles``), settled;
- ``rules``: which files of a folder are left out;
- ``lock``: one indexer per library.
"""

from typing import TYPE_CHECKING

from allma_desktop.indexer.events import (
    BatchFinished,
    DocumentsChanged,
    FileEvent,
    FoldersChanged,
    FolderState,
    IndexerEvent,
    QueueChanged,
    SyncReport,
    WatchedFolderRecord,
)
from allma_desktop.indexer.rules import DEFAULT_IGNORES, IgnoreRules
from allma_desktop.indexer.state import QueueItem

if TYPE_CHECKING:
    from allma_desktop.indexer.indexer import AddResult, Indexer


def __getattr__(name: str) -> object:
    # The Indexer imports the ingest pipeline and through it the Ollama client: a window
    # that only listens to the events needs neither until the engine opens.
    if name in ("AddResult", "Indexer"):
        from allma_desktop.indexer import indexer

        return getattr(indexer, name)
    raise AttributeError(name)


__all__ = [
    "DEFAULT_IGNORES",
    "AddResult",
    "BatchFinished",
    "DocumentsChanged",
    "FileEvent",
    "FolderState",
    "FoldersChanged",
    "IgnoreRules",
    "Indexer",
    "IndexerEvent",
    "QueueChanged",
    "QueueItem",
    "SyncReport",
    "WatchedFolderRecord",
]
