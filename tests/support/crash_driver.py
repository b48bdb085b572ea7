"""A process for the crash tests to kill: it ingests a folder or asks one question.

    python -m tests.support.crash_driver ingest FOLDER
    python -m tests.support.crash_driver sync FOLDER     (watch it, and sync it through the indexer)
    python -m tests.support.crash_driver chat QUESTION

Configuration comes from the environment (ALLMA_DATA_DIR, OLLAMA_HOST, ...), as for
the app (``VECTOR_STORE`` picks the backend). It prints ``started`` once the library
is open and the work begins, then one line per step (so the test can tell where the
kill landed, or kill on a given step), then ``finished``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from allma_desktop.config import AppConfig
from allma_desktop.events import (
    AnswerDone,
    ChatStarted,
    EmbedProgress,
    FileFinished,
    FileParsed,
    FileStarted,
    ThinkingChunk,
    TokenChunk,
)
from allma_desktop.orchestrator import Orchestrator


def say(line: str) -> None:
    print(line, flush=True)


async def ingest(orchestrator: Orchestrator, folder: str) -> None:
    async for event in orchestrator.ingest([folder]):
        if isinstance(event, FileStarted):
            say(f"file started {event.path}")
        elif isinstance(event, FileParsed):
            say(f"file parsed {event.path}")
        elif isinstance(event, EmbedProgress):
            # A batch of the file's vectors has just gone to the store: a kill now lands
            # inside the document, between its first vectors and its commit.
            say(f"embedded {event.chunks_done}/{event.chunks_total} {event.path}")
        elif isinstance(event, FileFinished):
            say(f"file {event.status} {event.path}")


async def sync(orchestrator: Orchestrator, folder: str) -> None:
    from allma_desktop.errors import AllmaError
    from allma_desktop.indexer import FileEvent, IndexerEvent

    indexer = orchestrator.indexer

    def tell(event: IndexerEvent) -> None:
        if isinstance(event, FileEvent):
            inner = event.event
            if isinstance(inner, FileParsed):
                say(f"file parsed {inner.path}")
            elif isinstance(inner, EmbedProgress):
                say(f"embedded {inner.chunks_done}/{inner.chunks_total} {inner.path}")
            elif isinstance(inner, FileFinished):
                say(f"file {inner.status} {inner.path}")

    indexer.subscribe(tell)
    await indexer.start(watch=False)  # the queue left by a killed run resumes here
    with contextlib.suppress(AllmaError):  # watched already, by the run that was killed
        await indexer.add_folder(folder)
    await indexer.sync(wait=True)


async def chat(orchestrator: Orchestrator, question: str) -> None:
    async for event in orchestrator.chat(None, question):
        if isinstance(event, ChatStarted):
            say(f"chat {event.conversation_id} {event.assistant_message_id}")
        elif isinstance(event, ThinkingChunk):
            say("thinking")
        elif isinstance(event, TokenChunk):
            say("token")
        elif isinstance(event, AnswerDone):
            say(f"answer {'interrupted' if event.interrupted else 'complete'}")


async def main(mode: str, argument: str) -> None:
    orchestrator = Orchestrator(AppConfig.from_env())
    await orchestrator.open()
    try:
        say("started")
        if mode == "ingest":
            await ingest(orchestrator, argument)
        elif mode == "sync":
            await sync(orchestrator, argument)
        elif mode == "chat":
            await chat(orchestrator, argument)
        else:
            raise SystemExit(f"unknown mode {mode!r}")
        say("finished")
    finally:
        await orchestrator.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
