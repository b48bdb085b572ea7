"""A process for the kill tests to kill in the middle of a library operation.

    python -m tests.support.op_driver remove
    python -m tests.support.op_driver reembed
    python -m tests.support.op_driver force FOLDER

Configured by the environment, as the app. Prints ``started`` once the library is open,
a line per step, then ``finished``.
"""

from __future__ import annotations

import asyncio
import sys

from allma_desktop.config import AppConfig
from allma_desktop.events import EmbedProgress, FileFinished
from allma_desktop.orchestrator import Orchestrator


def say(line: str) -> None:
    print(line, flush=True)


async def main(mode: str, argument: str | None) -> None:
    orchestrator = Orchestrator(AppConfig.from_env())
    await orchestrator.open()
    try:
        say("started")
        if mode == "remove":
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
        say("finished")
    finally:
        await orchestrator.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
