"""Parsing and chunking in a separate process that can be stopped.

A parser library can hang on a pathological file or crash the whole process
(a segfault in native code). Here each file is read by a worker process under a
per-file time limit: a worker that runs over its limit is killed, one that dies
is noticed, and either way that file fails with a clear reason and the next file
gets a fresh worker.

The pool is small (one worker by default), started lazily on the first file,
reused across files and replaced when it dies or is killed. Requests are queued to
the worker ahead of time (``submit``): it parses the next files while the app is
still busy with the last answer (a vector store write can hold the app's GIL for
tens of milliseconds), and a thread of the app's, not the event loop, reads the
answers. A file's time limit runs from when the worker can start on it; the files
queued behind a file that hangs or crashes go to the replacement worker. Processes use the
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
import itertools
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from allma_desktop.errors import (
    AllmaError,
    CorruptDocument,
    DocumentError,
    DocumentTooLarge,
    ParserCrashed,
    ParseTimeout,
    pack_error,
    unpack_error,
)
from allma_desktop.services.child_process import become_background_child, requests
from allma_desktop.services.documents import ocr
from allma_desktop.services.documents.files import memory_limit_mb
from allma_desktop.services.documents.model import Chunk, DocumentMetadata
from allma_desktop.services.documents.ocr import DEFAULT_LANGUAGES, languages_from_env

logger = logging.getLogger(__name__)
ParseResult = tuple[DocumentMetadata, list[Chunk]]

PARSER_PLUGINS_ENV = "ALLMA_PARSER_PLUGINS"
DEFAULT_TIMEOUT = 120.0  # seconds per file
DEFAULT_WORKERS = 1
DEFAULT_PARSE_AHEAD = 2  # files queued to a worker beyond the one it reads
STARTUP_TIMEOUT = 60.0  # a cold start imports the parser libraries; not charged to a file
_CHUNK_BATCH = 100  # chunks per message: unpickling one holds the GIL, so keep it short
_RECYCLE_AFTER_BYTES = 64 * 1024 * 1024  # a worker that read a file this big returns its memory
_STOP_GRACE = 2.0  # seconds a worker gets to exit on request before it is killed
_CLOSE_TIMEOUT = 10.0  # close() waits this long for the reader threads (a start takes ~1 s)


# --- the worker process -------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    number: int  # echoed on every answer, so answers are matched to requests
    path: str
    document_id: str
    chunk_size: int
    chunk_overlap: int
    ocr: bool
    ocr_languages: str = DEFAULT_LANGUAGES
    ocr_folder: str | None = None  # the app's own folder of added languages


def _load_plugins() -> None:
    from allma_desktop.services.documents.registry import DEFAULT_REGISTRY

    for name in filter(
        None, (n.strip() for n in os.environ.get(PARSER_PLUGINS_ENV, "").split(","))
    ):
        importlib.import_module(name).register(DEFAULT_REGISTRY)


def _limit_memory() -> None:
    """Cap the worker's heap: past it, allocations fail (MemoryError) and the file fails
    as too large, instead of the worker taking the machine's memory. Best effort: where
    the system has no such limit (Windows, macOS), the time limit still applies."""
    try:
        import resource

        limit = memory_limit_mb() * 1024 * 1024
        _soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    except (ImportError, ValueError, OSError, AttributeError) as error:
        logger.info("the parse worker runs without a memory limit: %s", error)


def _parse_and_chunk(request: _Request, on_page: ocr.PageCallback) -> ParseResult:
    from allma_desktop.services.documents.service import DocumentService

    service = DocumentService(chunk_size=request.chunk_size, chunk_overlap=request.chunk_overlap)
    path = Path(request.path)
    try:
        settings = ocr.OcrSettings(
            enabled=request.ocr,
            languages=request.ocr_languages,
            on_page=on_page,
            own_folder=Path(request.ocr_folder) if request.ocr_folder else None,
        )
        with ocr.using(settings):
            parsed = service.parse(path)
        return parsed.metadata, service.chunk(parsed, request.document_id)
    except MemoryError as exc:  # chunking (or OCR) ran out of the worker's memory
        raise DocumentTooLarge(path, memory_limit_mb()) from exc


def _serve(connection: Connection) -> None:
    """The worker's loop: one request in, chunk batches and a final message out.

    Requests queue up in the pipe; they are read one at a time, in order.
    """
    become_background_child()
    _limit_memory()
    # Warm the imports, PyMuPDF's too (most documents are PDFs): a start is not charged
    # to any file's time limit, and the first PDF then waits for its own parsing only.
    import allma_desktop.services.documents.service  # noqa: F401
    from allma_desktop.services.documents import pdf

    pdf.import_pymupdf()
    _load_plugins()
    connection.send(("ready", 0, None))
    for request in requests(connection):
        number = request.number

        def page_to_recognise(page: int, pages: int, number: int = number) -> None:
            # Before OCR reads a page: the app extends the file's time limit and shows it.
            connection.send(("page", number, (page, pages)))

        try:
            metadata, chunks = _parse_and_chunk(request, page_to_recognise)
        except AllmaError as exc:
            connection.send(("error", number, pack_error(exc)))
            continue
        except Exception as exc:  # a bug in chunking must fail the file, not the worker
            logger.exception("reading %s failed", request.path)
            detail = f"{type(exc).__name__}: {exc}"[:200]
            connection.send(("error", number, pack_error(CorruptDocument(request.path, detail))))
            continue
        for start in range(0, len(chunks), _CHUNK_BATCH):
            connection.send(("chunks", number, chunks[start : start + _CHUNK_BATCH]))
        del chunks
        connection.send(("done", number, metadata))


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
        self.bytes_sent = 0  # size of the files it was asked to read

    def receive(self) -> tuple[str, int, Any]:
        try:
            message: tuple[str, int, Any] = self.connection.recv()
        except (EOFError, OSError) as exc:
            raise _WorkerDied from exc
        return message

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(_STOP_GRACE)
        self.connection.close()

    def stop(self) -> None:
        """Ask the worker to exit, kill it if it does not."""
        with contextlib.suppress(OSError, ValueError):
            self.connection.send(None)
        self.process.join(_STOP_GRACE)
        self.kill()


def _start_worker() -> _Worker:
    """A new worker, once it has imported the parsers (a cold start is not charged to a file)."""
    worker = _Worker()
    ready: tuple[str, int, Any] | None = None
    try:
        if worker.connection.poll(STARTUP_TIMEOUT):
            ready = worker.receive()
    except (_WorkerDied, OSError):
        ready = None
    if ready is None or ready[0] != "ready":
        worker.kill()
        raise RuntimeError(f"the parse worker did not start (exit {worker.process.exitcode})")
    return worker


@dataclass(eq=False)
class _Ticket:
    """One file's request and, once answered, its result."""

    request: _Request
    limit: float
    future: concurrent.futures.Future[ParseResult]
    on_page: ocr.PageCallback | None = None  # called on the lane's thread
    chunks: list[Chunk] = field(default_factory=list)
    started: float = 0.0  # when the worker could start on it: its time limit runs from here

    @property
    def path(self) -> Path:
        return Path(self.request.path)

    def settle(self, result: ParseResult | BaseException) -> None:
        # False when the caller gave up on it (cancelled): nobody wants the answer.
        if not self.future.set_running_or_notify_cancel():
            return
        if isinstance(result, BaseException):
            self.future.set_exception(result)
        else:
            self.future.set_result(result)


class _Lane:
    """One worker process, the requests queued for it and the thread that talks to it.

    Only that thread touches the process and ``_sent``; ``submit`` (from any thread)
    appends to ``_waiting`` and wakes it through a pipe, which it waits on together
    with the worker's answers.
    """

    def __init__(self, depth: int) -> None:
        self.depth = depth  # requests in the worker's pipe at once (the one it reads + ahead)
        self.worker: _Worker | None = None
        self._lock = threading.Lock()
        self._waiting: deque[_Ticket] = deque()  # not yet sent, in order
        self._sent: deque[_Ticket] = deque()  # in the worker's pipe, in order
        self._closing = False
        self._woken = False
        self._wake_reader, self._wake_writer = multiprocessing.Pipe(duplex=False)
        self._thread: threading.Thread | None = None
        self.stopped: concurrent.futures.Future[None] = concurrent.futures.Future()

    @property
    def load(self) -> int:
        return len(self._waiting) + len(self._sent)

    def submit(self, ticket: _Ticket) -> None:
        with self._lock:
            if self._closing:
                raise RuntimeError("ParseWorker is closed")
            self._waiting.append(ticket)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="allma-parse-lane", daemon=True
                )
                self._thread.start()
        ticket.future.add_done_callback(self._on_ticket_done)
        self._wake()

    def close(self) -> bool:
        """Ask the thread to stop its worker and end; False when it never started."""
        with self._lock:
            self._closing = True
            started = self._thread is not None
        if started:
            self._wake()
        return started

    def _on_ticket_done(self, future: concurrent.futures.Future[ParseResult]) -> None:
        if future.cancelled():  # a cancel needs the thread: drop the request, or stop the reader
            self._wake()

    def _wake(self) -> None:
        with self._lock:
            if self._woken:
                return
            self._woken = True
            with contextlib.suppress(OSError):
                self._wake_writer.send_bytes(b"")

    def _take_wake(self) -> bool:
        """Clear the wake-up; True when the lane is closing."""
        with self._lock:
            while self._wake_reader.poll():
                self._wake_reader.recv_bytes()
            self._woken = False
            kept = [t for t in self._waiting if not t.future.cancelled()]
            self._waiting = deque(kept)  # dropped: queued requests nobody waits for
            return self._closing

    # --- the thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._take_wake():
                self._step()
        except Exception:  # a bug here must not leave callers waiting for ever
            logger.exception("the parse worker's reader thread failed")
        finally:
            self._shut_down()

    def _step(self) -> None:
        """Send what may be sent, then wait for an answer, a time limit or a wake-up."""
        if self._sent and self._sent[0].future.cancelled():
            # Its caller gave up (a cancelled ingest): stop reading it now.
            self._replace_worker()
            return
        if self._waiting and self.worker is None:
            self._start_worker()
            return
        self._send_waiting()
        worker = self.worker
        if not self._sent:
            if worker is not None and worker.bytes_sent >= _RECYCLE_AFTER_BYTES:
                worker.stop()  # it read big files: return their memory to the system
                self.worker = None
            if not self._waiting:
                multiprocessing.connection.wait([self._wake_reader])
            return
        assert worker is not None
        head = self._sent[0]
        remaining = head.started + head.limit - time.monotonic()
        ready = multiprocessing.connection.wait(
            [self._wake_reader, worker.connection], max(remaining, 0.0)
        )
        if worker.connection in ready:
            self._read_message(worker)
        elif not ready and time.monotonic() >= head.started + head.limit:
            logger.warning("%s: reading took over %g s; stopping the reader", head.path, head.limit)
            self._replace_worker(ParseTimeout(head.path, head.limit))

    def _start_worker(self) -> None:
        try:
            self.worker = _start_worker()
        except RuntimeError as exc:
            # The file is not to blame, but it cannot be read: it fails, the batch goes on.
            logger.error("%s", exc)
            ticket = self._waiting.popleft()
            error = DocumentError(
                ticket.path,
                "could not be read: the reader process did not start",
                "Restart the app; if this persists, report it with the log file.",
            )
            error.__cause__ = exc
            ticket.settle(error)

    def _send_waiting(self) -> None:
        worker = self.worker
        while (
            worker is not None
            and len(self._sent) < self.depth
            and worker.bytes_sent < _RECYCLE_AFTER_BYTES
        ):
            with self._lock:
                if not self._waiting:
                    return
                ticket = self._waiting.popleft()
            with contextlib.suppress(OSError):  # the parser says what is wrong with the file
                worker.bytes_sent += ticket.path.stat().st_size
            if not self._sent:
                ticket.started = time.monotonic()
            self._sent.append(ticket)
            try:
                worker.connection.send(ticket.request)
            except OSError:  # it died: the next read says so and blames the file it was on
                return

    def _read_message(self, worker: _Worker) -> None:
        head = self._sent[0]
        try:
            kind, number, payload = worker.receive()
        except _WorkerDied:
            worker.process.join(_STOP_GRACE)
            logger.warning("%s: the reader died (exit code %s)", head.path, worker.process.exitcode)
            self._replace_worker(ParserCrashed(head.path))
            return
        if number != head.request.number:
            logger.error("%s: the reader answered request %d out of turn", head.path, number)
            self._replace_worker(ParserCrashed(head.path))
            return
        if kind == "chunks":
            head.chunks.extend(payload)
            return
        if kind == "page":  # OCR is about to read a page: it gets time of its own
            head.limit += ocr.SECONDS_PER_OCR_PAGE
            if head.on_page is not None:
                page, pages = payload
                head.on_page(page, pages)
            return
        self._sent.popleft()
        if self._sent:
            self._sent[0].started = time.monotonic()
        if kind == "done":
            head.settle((payload, head.chunks))
        else:
            head.settle(unpack_error(payload))

    def _replace_worker(self, error: DocumentError | None = None) -> None:
        """Kill the worker; the file it was reading fails with ``error`` (or was abandoned),
        and the files queued behind it go to the next worker."""
        if self.worker is not None:
            self.worker.kill()
            self.worker = None
        if not self._sent:
            return
        head = self._sent.popleft()
        if error is not None:
            head.settle(error)
        with self._lock:
            self._waiting.extendleft(reversed(self._sent))
        self._sent.clear()

    def _shut_down(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            if self._sent:
                worker.kill()  # busy: what it reads is no longer wanted
            else:
                worker.stop()
        with self._lock:
            self._closing = True
            left = [*self._sent, *self._waiting]
            self._sent.clear()
            self._waiting.clear()
        for ticket in left:
            ticket.settle(RuntimeError("ParseWorker is closed"))
        self._wake_reader.close()
        self._wake_writer.close()
        self.stopped.set_result(None)


class ParseWorker:
    """Parse and chunk files in worker processes, each file under a time limit.

    Create it anywhere (no process starts until the first file). ``submit`` queues a
    file and returns at once; ``parse_and_chunk`` awaits one. ``await close()`` at the end.
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        workers: int = DEFAULT_WORKERS,
        ocr: bool = True,
        ocr_languages: str | None = None,
        ocr_folder: Path | None = None,
        parse_ahead: int = DEFAULT_PARSE_AHEAD,
    ) -> None:
        """``ocr_languages``: "eng+deu" (default: ``ALLMA_OCR_LANGUAGES``, else English);
        ``ocr_folder``: the app's own folder of added languages (``ocr_languages.py``)."""
        if timeout <= 0 or workers < 1 or parse_ahead < 0:
            raise ValueError("need timeout > 0, workers >= 1 and parse_ahead >= 0")
        self.timeout = timeout
        self.ocr = ocr
        self.ocr_languages = ocr_languages or languages_from_env()
        self.ocr_folder = str(ocr_folder) if ocr_folder is not None else None
        self._lanes = [_Lane(depth=1 + parse_ahead) for _ in range(workers)]
        self._numbers = itertools.count(1)
        self._closed = False

    @property
    def process_ids(self) -> tuple[int, ...]:
        """The worker processes running now (none before the first file)."""
        workers = (lane.worker for lane in self._lanes)
        return tuple(w.process.pid for w in workers if w is not None and w.process.pid)

    def submit(
        self,
        path: Path | str,
        *,
        chunk_size: int,
        chunk_overlap: int,
        timeout: float | None = None,
        document_id: str = "pending",
        on_page: ocr.PageCallback | None = None,
    ) -> concurrent.futures.Future[ParseResult]:
        """Queue a file for reading; its future gives what ``parse_and_chunk`` returns.

        Files queued together are read one after the other with no pause between them.
        Cancelling the future drops the request (or stops the reader if it is on it).
        ``on_page(page, pages)`` is called (on a thread of the worker's) before OCR reads
        a page; each such page adds ``ocr.SECONDS_PER_OCR_PAGE`` to the file's time limit.
        """
        if self._closed:
            raise RuntimeError("ParseWorker is closed")
        limit = self.timeout if timeout is None else timeout
        request = _Request(
            next(self._numbers),
            str(path),
            document_id,
            chunk_size,
            chunk_overlap,
            self.ocr,
            self.ocr_languages,
            self.ocr_folder,
        )
        ticket = _Ticket(request, limit, concurrent.futures.Future(), on_page)
        min(self._lanes, key=lambda lane: lane.load).submit(ticket)
        return ticket.future

    async def parse_and_chunk(
        self,
        path: Path | str,
        *,
        chunk_size: int,
        chunk_overlap: int,
        timeout: float | None = None,
        document_id: str = "pending",
        on_page: ocr.PageCallback | None = None,
    ) -> ParseResult:
        """The file's metadata and chunks, or a ``DocumentError`` saying why not.

        Beyond the parsers' own errors: ``ParseTimeout`` when reading took longer
        than ``timeout`` (default: the worker's, plus time for each page OCR reads),
        ``ParserCrashed`` when the reader process died on the file. ``on_page(page,
        pages)`` is called on this event loop before OCR reads a page.
        """
        threadsafe: ocr.PageCallback | None = None
        if on_page is not None:
            loop = asyncio.get_running_loop()

            def threadsafe(page: int, pages: int) -> None:
                with contextlib.suppress(RuntimeError):  # the loop closed: nobody listens
                    loop.call_soon_threadsafe(on_page, page, pages)

        future = self.submit(
            path,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            timeout=timeout,
            document_id=document_id,
            on_page=threadsafe,
        )
        return await asyncio.wrap_future(future)

    async def close(self) -> None:
        """Stop every worker; waits at most a few seconds."""
        self._closed = True
        stopping = [asyncio.wrap_future(lane.stopped) for lane in self._lanes if lane.close()]
        if stopping:
            await asyncio.wait(stopping, timeout=_CLOSE_TIMEOUT)
