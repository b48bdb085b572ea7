"""A process for the kill tests to kill in the middle of a library operation.

    python -m tests.support.op_driver remove
    python -m tests.support.op_driver reembed
    python -m tests.support.op_driver force FOLDER
    python -m tests.support.op_driver backup TARGET
    python -m tests.support.op_driver restore ARCHIVE
    python -m tests.support.op_driver restore-copy AUTOMATIC_BACKUP

Configured by the environment, as the app. Prints ``started`` once the library is open
(for ``restore``, which needs it closed: at once), a line per step, then ``finished``
with the seconds the operation took and the number of renames it made.

``KILL_AT_RENAME=N`` makes the process SIGKILL itself just before its N-th rename
(``os.rename`` / ``os.replace``): the kill tests land exactly between two renames of a
swap, which a timed kill would almost never hit.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from allma_desktop.closed_library import restore_automatic_backup, restore_backup
from allma_desktop.config import AppConfig
from allma_desktop.events import EmbedProgress, FileFinished
from allma_desktop.orchestrator import Orchestrator


def say(line: str) -> None:
    print(line, flush=True)


renames = [0]  # how many the operation made (counted from its start: see arm())
armed = [False]


def count_renames() -> None:
    """Count this process's renames; SIGKILL it before the one ``KILL_AT_RENAME`` names."""
    kill_at = int(os.environ.get("KILL_AT_RENAME") or 0)

    def counted(original):  # type: ignore[no-untyped-def]
        def rename(*args, **kwargs):  # type: ignore[no-untyped-def]
            if armed[0]:
                renames[0] += 1
            if armed[0] and renames[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(*args, **kwargs)

        return rename

    os.rename = counted(os.rename)
    os.replace = counted(os.replace)


def arm() -> float:
    """Start counting renames (the library's opening makes its own): the operation starts."""
    armed[0] = True
    return time.monotonic()


def finished(since: float) -> None:
    say(f"finished {time.monotonic() - since:.3f} {renames[0]}")


async def main(mode: str, argument: str | None) -> None:
    count_renames()
    if mode in ("restore", "restore-copy"):
        say("started")
        say("restoring")
        since = arm()
        restore = restore_backup if mode == "restore" else restore_automatic_backup
        restore(AppConfig.from_env(), Path(argument or ""))
        finished(since)
        return
    orchestrator = Orchestrator(AppConfig.from_env())
    await orchestrator.open()
    try:
        say("started")
        since = time.monotonic()
        if mode == "backup":
            say("backing up")
            since = arm()
            await orchestrator.back_up(Path(argument or ""))
        elif mode == "remove":
            for document in orchestrator.list_documents():
                await orchestrator.remove_document(document.id)
                say(f"removed {document.id}")
        elif mode in ("reembed", "force"):
            events = (
                orchestrator.reembed()
                if mode == "reembed"
                else orchestrator.ingest([argument or ""], force=True)
            )
            async for event in events:
                if isinstance(event, EmbedProgress):
                    say(f"embedded {event.chunks_done}/{event.chunks_total} {event.path}")
                elif isinstance(event, FileFinished):
                    say(f"file {event.status} {event.path}")
        else:
            raise SystemExit(f"unknown mode {mode!r}")
        finished(since)
    finally:
        await orchestrator.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
