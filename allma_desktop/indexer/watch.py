"""Following watched folders as they change, with ``watchfiles``.

``watchfiles`` wraps the Rust ``notify`` crate: inotify, FSEvents and
ReadDirectoryChangesW behind one async iterator that already groups a burst of changes
into one batch. On top of it, a file is only reported once it has stopped changing (a
download or a copy still being written is left alone until its size and time hold for
``SETTLE_SECONDS``), and a vanished file waits ``REMOVAL_SETTLE_SECONDS`` so that a move
shows up as its new path before its old one is reported gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import watchfiles

log = logging.getLogger(__name__)

SETTLE_SECONDS = 0.75  # a pause in writing longer than this counts as done
REMOVAL_SETTLE_SECONDS = 1.0
CHECK_SECONDS = 0.1
BATCH_STEP_MS = 50  # a batch is sent after this long without a new change...
BATCH_MAX_MS = 400  # ...or after this long in all
RETRY_SECONDS = 1.0  # after the watch failed (a folder went away under it)

_DELETED = 3  # watchfiles.Change.deleted, without importing it at start-up

ChangesCallback = Callable[[set[str], set[str], set[str]], None]
"""(files written and settled, paths gone, folders that appeared)."""


class FolderWatcher:
    def __init__(self, on_changes: ChangesCallback) -> None:
        self._on_changes = on_changes
        self._restart = asyncio.Event()
        self._stopped = False
        self._files: dict[str, tuple[int, float, float]] = {}  # path -> (size, mtime, due)
        self._gone: dict[str, float] = {}  # path -> due
        self._folders: set[str] = set()
        self._settler: asyncio.Task[None] | None = None

    def refresh(self) -> None:
        """The set of folders changed: watch again."""
        self._restart.set()

    def settle(self, files: list[tuple[str, int, float]]) -> None:
        """Report these (path, size, mtime) once they stop changing: files a rescan found
        still being written."""
        due = time.monotonic() + SETTLE_SECONDS
        for path, size, mtime in files:
            self._files[path] = (size, mtime, due)
        if files and (self._settler is None or self._settler.done()):
            self._settler = asyncio.ensure_future(self._settle())

    def settling(self, paths: Iterable[str]) -> bool:
        """Whether any of ``paths`` is still being written (reported once it holds still)."""
        return any(path in self._files for path in paths)

    def stop(self) -> None:
        self._stopped = True
        self._restart.set()
        if self._settler is not None:
            self._settler.cancel()

    async def run(self, roots: Callable[[], list[str]]) -> None:
        import watchfiles  # here, not at start-up: only a running indexer watches

        while not self._stopped:
            self._restart.clear()
            watched = [root for root in roots() if os.path.isdir(root)]
            if not watched:
                await self._restart.wait()
                continue
            try:
                async for changes in watchfiles.awatch(
                    *watched,
                    watch_filter=None,
                    stop_event=self._restart,
                    debounce=BATCH_MAX_MS,
                    step=BATCH_STEP_MS,
                    ignore_permission_denied=True,
                ):
                    self._take(changes)
            except (OSError, RuntimeError) as error:
                # A watched folder vanished or cannot be read: the indexer's folder check
                # marks it offline; watch the others again in a moment.
                log.warning("watching %s stopped: %s", ", ".join(watched), error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._restart.wait(), RETRY_SECONDS)

    def _take(self, changes: set[tuple[watchfiles.Change, str]]) -> None:
        now = time.monotonic()
        for change, path in changes:
            if change == _DELETED:
                self._files.pop(path, None)
                self._gone[path] = now + REMOVAL_SETTLE_SECONDS
                continue
            try:
                stat_result = os.stat(path)
            except OSError:
                self._gone[path] = now + REMOVAL_SETTLE_SECONDS
                continue
            self._gone.pop(path, None)
            if os.path.isdir(path):
                self._folders.add(path)
            else:
                self._files[path] = (
                    stat_result.st_size,
                    stat_result.st_mtime,
                    now + SETTLE_SECONDS,
                )
        if self._settler is None or self._settler.done():
            self._settler = asyncio.ensure_future(self._settle())

    async def _settle(self) -> None:
        while self._files or self._gone or self._folders:
            await asyncio.sleep(CHECK_SECONDS)
            now = time.monotonic()
            ready: set[str] = set()
            for path, (size, mtime, due) in list(self._files.items()):
                if due > now:
                    continue
                try:
                    stat_result = os.stat(path)
                except OSError:
                    del self._files[path]
                    self._gone[path] = now + REMOVAL_SETTLE_SECONDS
                    continue
                if (stat_result.st_size, stat_result.st_mtime) != (size, mtime):
                    # Still being written: look again once it has been left alone.
                    self._files[path] = (
                        stat_result.st_size, stat_result.st_mtime, now + SETTLE_SECONDS
                    )  # fmt: skip
                    continue
                del self._files[path]
                ready.add(path)
            gone = {path for path, due in self._gone.items() if due <= now}
            for path in gone:
                del self._gone[path]
            gone = {path for path in gone if not os.path.exists(path)}
            folders, self._folders = self._folders, set()
            if ready or gone or folders:
                self._on_changes(ready, gone, folders)
