"""Parsing and chunking in a separate process that can be stopped.

A parser library can hang on a pathological file or crash the whole process
(a segfault in native code). Here each file is read by a worker process under a
per-file time limit: a worker that runs over its limit is killed, one that dies
is noticed, and either way that file fails with a clear reason and the next file
gets a fresh worker.

The pool is small (one worker by default), started lazily on the first file,
reused across files and replaced when it dies or is killed. Processes use the
``spawn`` start method, so the same code works on every platform and in a frozen
(PyInstaller) app. A frozen app's entry point must call
``multiprocessing.freeze_support()`` first thing under ``if __name__ == "__main__":``,
or each spawned worker would start another copy of the app.

The worker sends the chunks back in batches and never the parsed text, so the
app holds the file's chunks once and never a second copy of the whole document.

Tests (and anyone adding a format) can make the worker import extra parser
modules: ``ALLMA_PARSER_PLUGINS`` names modules, comma separated, each with a
``register(registry: ParserRegistry)`` function that the worker calls on its
default registry at start.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, TypeVar

from allma_desktop.errors import (
    AllmaError,
    CorruptDocument,
    DocumentError,
    NoTextLayer,
    ParserCrashed,
    ParseTimeout,
)
from allma_desktop.services.documents.model import Chunk, DocumentMetadata

logger = logging.getLogger(__name__)
T = TypeVar("T")

PARSER_PLUGINS_ENV = "ALLMA_PARSER_PLUGINS"
DEFAULT_TIMEOUT = 120.0  # seconds per file
DEFAULT_WORKERS = 1
STARTUP_TIMEOUT = 60.0  # a cold start imports the parser libraries; not charged to a file
_CHUNK_BATCH = 500  # chunks per message: bounds the size of one pickled message
_RECYCLE_AFTER_BYTES = 64 * 1024 * 1024  # a worker that read a file this big returns its memory
_STOP_GRACE = 2.0  # seconds a worker gets to exit on request before it is killed


# --- errors across the process boundary -------------------------------------------
#
# AllmaError subclasses take other constructor arguments than Exception.args holds,
# so default pickling cannot rebuild them. They cross as (class, args, attributes).

ErrorState = tuple[type[AllmaError], tuple[Any, ...], dict[str, Any]]


def pack_error(error: AllmaError) -> ErrorState:
    return type(error), error.args, dict(error.__dict__)


def unpack_error(state: ErrorState) -> AllmaError:
    error_type, args, attributes = state
    error = error_type.__new__(error_type)
    Exception.__init__(error, *args)
    error.__dict__.update(attributes)
    return error


# --- the worker process -------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    path: str
    document_id: str
    chunk_size: int
    chunk_overlap: int
    ocr: bool


def _load_plugins() -> None:
    from allma_desktop.services.documents.registry import DEFAULT_REGISTRY

    for name in filter(
        None, (n.strip() for n in os.environ.get(PARSER_PLUGINS_ENV, "").split(","))
    ):
        importlib.import_module(name).register(DEFAULT_REGISTRY)


def _parse_and_chunk(request: _Request) -> tuple[DocumentMetadata, list[Chunk]]:
    from allma_desktop.services.documents.service import DocumentService

    service = DocumentService(chunk_size=request.chunk_size, chunk_overlap=request.chunk_overlap)
    path = Path(request.path)
    try:
        parsed = service.parse(path)
    except NoTextLayer:
        if not (request.ocr and service.registry.file_type_for(path) == "pdf"):
            raise
        from allma_desktop.services.documents.ocr import parse_pdf_with_ocr, tesseract_available

        if not tesseract_available():
            raise
        parsed = parse_pdf_with_ocr(path)
    return parsed.metadata, service.chunk(parsed, request.document_id)


def _serve(connection: Connection) -> None:
    """The worker's loop: one request in, chunk batches and a final message out."""
    # Ctrl-C in a terminal reaches the whole process group; the app decides, not the worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import allma_desktop.services.documents.service  # noqa: F401 - warm the imports

    _load_plugins()
    connection.send(("ready", None))
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return
        if request is None:
            return
        try:
            metadata, chunks = _parse_and_chunk(request)
        except AllmaError as exc:
            connection.send(("error", pack_error(exc)))
            continue
        except Exception as exc:  # a bug in chunking must fail the file, not the worker
            logger.exception("reading %s failed", request.path)
            detail = f"{type(exc).__name__}: {exc}"[:200]
            connection.send(("error", pack_error(CorruptDocument(request.path, detail))))
            continue
        for start in range(0, len(chunks), _CHUNK_BATCH):
            connection.send(("chunks", chunks[start : start + _CHUNK_BATCH]))
        del chunks
        connection.send(("done", metadata))


def worker_main(connection: Connection) -> None:
    """Entry point of a worker process (module level, so ``spawn`` can find it)."""
    try:
        _serve(connection)
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass  # the app went away or stopped this worker
    finally:
        connection.close()


# --- the app side -------------------------------------------------------------------


class _WorkerDied(Exception):
    pass


class _Worker:
    """One worker process and the app's end of its pipe."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child_end = context.Pipe(duplex=True)
        self.process: BaseProcess = context.Process(
            target=worker_main, args=(child_end,), name="allma-parse-worker", daemon=True
        )
        self.process.start()
        child_end.close()  # so the app sees end-of-file when the worker dies
        self.bytes_read = 0

    def receive(self, timeout: float) -> tuple[str, Any] | None:
        """The next message, or None when none came within ``timeout`` seconds."""
        try:
            if not self.connection.poll(max(timeout, 0.0)):
                return None
            message: tuple[str, Any] = self.connection.recv()
        except (EOFError, OSError) as exc:
            raise _WorkerDied from exc
        return message

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(_STOP_GRACE)

    def close_connection(self) -> None:
        self.connection.close()

    def stop(self) -> None:
        """Ask the worker to exit, kill it if it does not."""
        with contextlib.suppress(OSError, ValueError):
            self.connection.send(None)
        self.process.join(_STOP_GRACE)
        self.kill()
        self.close_connection()


def _start_worker() -> _Worker:
    """A new worker, once it has imported the parsers (a cold start is not charged to a file)."""
    worker = _Worker()
    try:
        ready = worker.receive(STARTUP_TIMEOUT)
    except _WorkerDied:
        ready = None
    if ready is None or ready[0] != "ready":
        worker.kill()
        worker.close_connection()
        raise RuntimeError(f"the parse worker did not start (exit {worker.process.exitcode})")
    return worker


def _stop_started_worker(starting: concurrent.futures.Future[_Worker]) -> None:
    if not starting.cancelled() and starting.exception() is None:
        starting.result().stop()


def _exchange(
    worker: _Worker, request: _Request, limit: float
) -> tuple[DocumentMetadata, list[Chunk]]:
    """Send one request and collect its answer, within ``limit`` seconds in all."""
    path = Path(request.path)
    with contextlib.suppress(OSError):  # the parser says what is wrong with the file
        worker.bytes_read += path.stat().st_size
    deadline = time.monotonic() + limit
    chunks: list[Chunk] = []
    try:
        worker.connection.send(request)
        while True:
            message = worker.receive(deadline - time.monotonic())
            if message is None:
                logger.warning("%s: reading took over %g s; stopping the reader", path, limit)
                worker.kill()
                raise ParseTimeout(path, limit)
            kind, payload = message
            if kind == "chunks":
                chunks.extend(payload)
            elif kind == "done":
                return payload, chunks
            else:
                raise unpack_error(payload)
    except (_WorkerDied, BrokenPipeError) as exc:
        worker.kill()
        logger.warning("%s: the reader died (exit code %s)", path, worker.process.exitcode)
        raise ParserCrashed(path) from exc


def _stop_after(exchange: concurrent.futures.Future[Any], worker: _Worker) -> None:
    """Stop a killed worker once its exchange has ended (so nothing reads its pipe)."""
    concurrent.futures.wait([exchange])
    worker.stop()


class ParseWorker:
    """Parse and chunk files in worker processes, each file under a time limit.

    Create it anywhere (no process starts until the first file), call
    ``parse_and_chunk`` from the event loop, ``await close()`` at the end.
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        workers: int = DEFAULT_WORKERS,
        ocr: bool = False,
    ) -> None:
        if timeout <= 0 or workers < 1:
            raise ValueError("need timeout > 0 and workers >= 1")
        self.timeout = timeout
        self.ocr = ocr
        self._workers = workers
        self._idle: list[_Worker] = []
        self._slots: asyncio.Semaphore | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._retiring: set[concurrent.futures.Future[None]] = set()
        self._closed = False

    async def parse_and_chunk(
        self,
        path: Path | str,
        *,
        chunk_size: int,
        chunk_overlap: int,
        timeout: float | None = None,
        document_id: str = "pending",
    ) -> tuple[DocumentMetadata, list[Chunk]]:
        """The file's metadata and chunks, or a ``DocumentError`` saying why not.

        Beyond the parsers' own errors: ``ParseTimeout`` when reading took longer
        than ``timeout`` (default: the worker's), ``ParserCrashed`` when the
        reader process died on the file.
        """
        if self._closed:
            raise RuntimeError("ParseWorker is closed")
        limit = self.timeout if timeout is None else timeout
        request = _Request(str(path), document_id, chunk_size, chunk_overlap, self.ocr)
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._workers)
        async with self._slots:
            worker = self._idle.pop() if self._idle else await self._start_worker(path)
            keep = False
            exchange = self._submit(lambda: _exchange(worker, request, limit))
            try:
                result = await asyncio.wrap_future(exchange)
                keep = worker.bytes_read < _RECYCLE_AFTER_BYTES
                return result
            except DocumentError as exc:
                keep = not isinstance(exc, ParseTimeout | ParserCrashed)
                raise
            finally:
                if keep and not self._closed:
                    self._idle.append(worker)
                else:
                    # Killing ends the wait of an abandoned (cancelled) exchange too; the
                    # pipe is closed only once nothing reads it any more.
                    worker.process.kill()
                    retiring = self._submit(lambda: _stop_after(exchange, worker))
                    self._retiring.add(retiring)
                    retiring.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        """Stop every worker; waits at most a few seconds."""
        self._closed = True
        idle, self._idle = self._idle, []
        for worker in idle:
            await asyncio.wrap_future(self._submit(worker.stop))
        for retiring in list(self._retiring):
            await asyncio.wrap_future(retiring)
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    def _submit(self, function: Callable[[], T]) -> concurrent.futures.Future[T]:
        # A private thread pool: a wait on a worker must not take a thread that the
        # event loop's default pool needs for SQLite or the vector store.
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=self._workers + 2, thread_name_prefix="allma-parse"
            )
        return self._executor.submit(function)

    async def _start_worker(self, path: Path | str) -> _Worker:
        starting = self._submit(_start_worker)
        try:
            return await asyncio.wrap_future(starting)
        except asyncio.CancelledError:
            starting.add_done_callback(_stop_started_worker)
            raise
        except RuntimeError as exc:
            # The file is not to blame, but it cannot be read: it fails, the batch goes on.
            logger.error("%s", exc)
            raise DocumentError(
                path,
                "could not be read: the reader process did not start",
                "Restart the app; if this persists, report it with the log file.",
            ) from exc
