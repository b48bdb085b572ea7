"""What the indexer tells its front ends: plain dataclasses, as every stream of the engine."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime

from allma_desktop.errors import AllmaError
from allma_desktop.events import IngestEvent
from allma_desktop.indexer.rules import IgnoreRules

FolderStatus = str  # "watching", "scanning", "paused", "offline"


@dataclass(frozen=True)
class WatchedFolderRecord:
    id: int
    collection_id: int
    path: str
    ignore: tuple[str, ...]
    max_file_mb: float | None
    paused: bool
    offline: bool
    last_sync: datetime | None

    @property
    def rules(self) -> IgnoreRules:
        return IgnoreRules.of(self.ignore, self.max_file_mb)

    def holds(self, path: str) -> bool:
        """Whether ``path`` lies inside this folder (or is it)."""
        return path == self.path or is_inside(path, self.path)


def is_inside(path: str, folder: str) -> bool:
    """Whether ``path`` lies below ``folder`` (not ``/a/bc`` for ``/a/b``)."""
    return path.startswith(folder.rstrip(os.sep) + os.sep)


@dataclass(frozen=True)
class FileEvent:
    """An event of the ingest run of one collection (``FileStarted``, ``FileFinished``...)."""

    collection_id: int
    event: IngestEvent


@dataclass(frozen=True)
class QueueChanged:
    """The queue's shape: how many files wait, whether it runs or is paused."""

    pending: int  # waiting, not counting the files being indexed now
    in_flight: int  # taken by the running batch and not finished yet
    paused: bool
    running: bool
    pause_reason: AllmaError | None = None  # why it paused itself (None: by the user)


@dataclass(frozen=True)
class FolderState:
    folder: WatchedFolderRecord
    status: FolderStatus
    pending: int  # its files in the queue
    problems: tuple[tuple[str, str], ...] = ()  # (path, what is wrong) from its last scan


@dataclass(frozen=True)
class FoldersChanged:
    folders: tuple[FolderState, ...]


@dataclass(frozen=True)
class DocumentsChanged:
    """Documents were removed or moved without an ingest (a watched file went or moved)."""

    collection_ids: frozenset[int]


@dataclass(frozen=True)
class BatchFinished:
    """The queue ran dry (or stopped): what it did since it last started."""

    indexed: int
    unchanged: int
    failed: int  # could not be read (not the files stopped by Cancel)
    skipped: int
    cancelled: bool
    seconds: float
    error: AllmaError | None = None  # what stopped it early (Ollama went away)
    files_cancelled: int = 0  # stopped by Cancel before they were read


@dataclass
class SyncReport:
    """One rescan of one watched folder."""

    folder: str
    collection_id: int
    offline: bool = False
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)  # (from, to)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    problems: list[tuple[str, str]] = field(default_factory=list)
    too_large: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "folder": self.folder,
            "collection_id": self.collection_id,
            "offline": self.offline,
            "added": self.added,
            "changed": self.changed,
            "moved": [{"from": a, "to": b} for a, b in self.moved],
            "removed": self.removed,
            "unchanged": self.unchanged,
            "failed": [{"path": p, "reason": r} for p, r in self.failed],
            "problems": [{"path": p, "problem": r} for p, r in self.problems],
            "too_large": self.too_large,
        }


IndexerEvent = FileEvent | QueueChanged | FoldersChanged | DocumentsChanged | BatchFinished
