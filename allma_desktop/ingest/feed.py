"""Where an ingest run takes its files from: a fixed list, or a stream that grows as it runs.

``allma ingest`` hands the pipeline a closed list. The indexer hands it a feed that it
keeps topping up from its durable queue, so one long run serves files that arrive while
it works: batches fill across all of them and the parser reads ahead across the queue.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class FeedItem:
    """One file for the run; ``force`` re-indexes it even when unchanged."""

    path: Path
    force: bool = False


class FileSource(Protocol):
    """What the prepare stage takes files from."""

    def poll(self) -> FeedItem | None:
        """The next file if one is ready now; never waits."""

    async def next(self) -> FeedItem | None:
        """The next file, waiting for one; None once no more will come."""


class FileFeed:
    """A FIFO of files that can be added to while a run takes from it, until closed."""

    def __init__(self, items: Iterable[FeedItem] = ()) -> None:
        self._items: deque[FeedItem] = deque(items)
        self._closed = False
        self._changed = asyncio.Event()

    @classmethod
    def of(cls, paths: Iterable[Path], force: bool = False) -> FileFeed:
        """A closed feed of these files (one ``allma ingest`` run)."""
        feed = cls(FeedItem(path, force) for path in paths)
        feed.close()
        return feed

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: FeedItem) -> None:
        if self._closed:
            raise RuntimeError("this feed is closed")
        self._items.append(item)
        self._changed.set()

    def close(self) -> None:
        self._closed = True
        self._changed.set()

    def poll(self) -> FeedItem | None:
        return self._items.popleft() if self._items else None

    async def next(self) -> FeedItem | None:
        while not self._items and not self._closed:
            self._changed.clear()
            await self._changed.wait()
        return self.poll()
