"""A local vector store served by a process of its own.

Chroma's Rust bindings hold the GIL for a whole ``upsert`` (about 8 ms a call plus
about 1 ms a chunk), so in the app's process every write froze the window and
stalled the rest of an ingest. Here the store lives in a child process and the app
talks to it over a pipe: a write costs the app only the pickling of its arguments,
and the store's CPU runs beside the app's on the other core.

The child is started (``spawn``, as the parse worker) on the first call, and again on
the call after it died or was closed. Calls are answered one at a time, in order;
the store itself is not faster at two at once. Errors come back as the same
``AllmaError`` the store raised, and the child's log records go to the app's log.
The child exits when the app closes the store, and also when the app's process dies
(a thread waits on a pipe only the app holds open), so a killed app leaves no
orphan writing to the library.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from allma_desktop.errors import (
    AllmaError,
    StoreCallCancelled,
    StoreNotResponding,
    StoreProcessStopped,
    pack_error,
    unpack_error,
)
from allma_desktop.malloc_arenas import FreeMemoryGiver
from allma_desktop.services.child_process import become_background_child, requests
from allma_desktop.services.documents.model import Chunk
from allma_desktop.services.vectorstore.base import StoreCollection, VectorHit, VectorStore

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig

log = logging.getLogger(__name__)

IN_PROCESS_ENV = "ALLMA_STORE_IN_PROCESS"  # "1": keep the store in the app's process
_ROWS_PER_CONVERSION = 32
_STOP_GRACE = 10.0  # seconds a closing store gets to flush before it is killed
CALL_TIMEOUT_ENV = "ALLMA_STORE_CALL_TIMEOUT"
DEFAULT_CALL_TIMEOUT = 300.0  # seconds one call may take before the child is given up on
_POLL_SLICE = 0.2  # seconds between looks at "cancelled?" while waiting for an answer
_WRITES = frozenset({"add", "delete_document", "delete_chunks", "delete_collection"})


def call_timeout() -> float:
    """The longest wait for one answer from the store's process (``ALLMA_STORE_CALL_TIMEOUT``).

    Bounded, so a store stuck on a full disk (Chroma was seen to hang at 0% CPU in a
    delete) ends in an error instead of a wait without end."""
    try:
        seconds = float(os.environ.get(CALL_TIMEOUT_ENV, "") or DEFAULT_CALL_TIMEOUT)
    except ValueError:
        return DEFAULT_CALL_TIMEOUT
    return seconds if seconds > 0 else DEFAULT_CALL_TIMEOUT


class _NoAnswer(Exception):
    """The wait for the child's answer ended without one: ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "timeout" or "cancelled"


def store_process_wanted() -> bool:
    """Whether local stores run in a process of their own (the default)."""
    return os.environ.get(IN_PROCESS_ENV, "").strip() not in ("1", "true", "yes")


# --- the child process ---------------------------------------------------------------


class _ForwardingHandler(logging.Handler):
    """Sends the child's log records to the app, which logs them as its own."""

    def __init__(self, send: Any) -> None:
        super().__init__()
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            self._send(("log", (record.levelno, record.name, message)))
        except Exception:  # a log record must never break the store
            self.handleError(record)


def _exit_with_app(lifeline: Connection) -> None:
    """Wait for end-of-file on the pipe only the app writes to: the app is gone."""
    with contextlib.suppress(EOFError, OSError):
        lifeline.recv_bytes()
    os._exit(0)


def store_main(
    connection: Connection, lifeline: Connection, config: AppConfig, backend: str, level: int
) -> None:
    """Entry point of the store's process (module level, so ``spawn`` can find it)."""
    become_background_child()
    threading.Thread(target=_exit_with_app, args=(lifeline,), daemon=True).start()
    send_lock = threading.Lock()

    def send(message: tuple[str, Any]) -> None:
        with send_lock:  # chromadb may log from threads of its own
            connection.send(message)

    root = logging.getLogger()
    root.setLevel(level)
    handler = _ForwardingHandler(send)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)

    from allma_desktop.services.vectorstore.backends import open_in_this_process

    store: _Served | None = None
    try:
        for method, args in requests(connection):
            try:
                if store is None:
                    store = _Served(open_in_this_process(config, backend))
                result = store.run(method, args)
            except AllmaError as error:
                send(("error", pack_error(error)))
            except Exception as error:
                log.exception("the vector store failed in %s", method)
                send(("exception", _picklable(error)))
            else:
                send(("ok", result))
    finally:
        if store is not None:
            store.close()


class _Served:
    """The store in the child, plus reading a collection back batch by batch."""

    def __init__(self, store: VectorStore) -> None:
        self.store = store
        self._exports: dict[int, Iterator[tuple[list[Chunk], list[list[float]]]]] = {}
        self._memory = FreeMemoryGiver()

    def run(self, method: str, args: tuple[Any, ...]) -> Any:
        if method == "export_next":
            return self._export_next(*args)
        if method == "export_end":
            self._exports.pop(args[0], None)
            return None
        result = getattr(self.store, method)(*args)
        if method in _WRITES:
            # Each write frees what it was sent and Chroma's working copies; every few
            # seconds of a sync the heaps' free pages go back to the system.
            self._memory.maybe()
        return result

    def _export_next(
        self, token: int, key: str, batch_size: int
    ) -> tuple[list[Chunk], list[list[float]]] | None:
        batches = self._exports.get(token)
        if batches is None:
            batches = self._exports[token] = self.store.export(key, batch_size)  # type: ignore[attr-defined]
        batch = next(batches, None)
        if batch is None:
            del self._exports[token]
        return batch

    def close(self) -> None:
        self._exports.clear()
        self.store.close()


def _picklable(error: Exception) -> Exception:
    import pickle

    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


# --- the app side --------------------------------------------------------------------


class _Child:
    def __init__(self, config: AppConfig, backend: str) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self.connection, child_end = context.Pipe(duplex=True)
        lifeline_end, self._lifeline = context.Pipe(duplex=False)
        self.process: BaseProcess = context.Process(
            target=store_main,
            args=(child_end, lifeline_end, config, backend, logging.getLogger().level),
            name="allma-vector-store",
            daemon=True,
        )
        self.process.start()
        child_end.close()  # so the app sees end-of-file when the child dies
        lifeline_end.close()

    def call(
        self, method: str, args: tuple[Any, ...], deadline: float, cancelled: threading.Event
    ) -> tuple[str, Any]:
        """Send one call and wait for its answer until ``deadline`` (``time.monotonic``) or
        until ``cancelled`` is set, never longer: raises ``_NoAnswer``."""
        self.connection.send((method, args))
        while True:
            while not self.connection.poll(_POLL_SLICE):
                if cancelled.is_set():
                    raise _NoAnswer("cancelled")
                if time.monotonic() >= deadline:
                    raise _NoAnswer("timeout")
                if not self.process.is_alive() and not self.connection.poll(0):
                    raise EOFError("the store's process ended")
            kind, payload = self.connection.recv()
            if kind != "log":
                return kind, payload
            level, name, message = payload
            logging.getLogger(name).log(level, "%s", message)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.send(None)
        self.process.join(_STOP_GRACE)
        self.kill()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
            self.process.join(_STOP_GRACE)
        self.connection.close()
        self._lifeline.close()


class ProcessVectorStore:
    """The ``backend`` store of ``config``, run in a child process.

    Thread-safe: calls from several threads take turns. ``close`` stops the child;
    using the store after that starts a new one.
    """

    def __init__(self, config: AppConfig, backend: str) -> None:
        self._config = config
        self._backend = backend
        self._child: _Child | None = None
        self._lock = threading.Lock()
        self._export_tokens = itertools.count(1)
        self._cancelled = threading.Event()  # set by ``abort``: stop waiting, stop the child

    @property
    def process_id(self) -> int | None:
        """The child's process id, or None while none runs."""
        child = self._child
        return child.process.pid if child is not None else None

    def _call(self, method: str, *args: Any) -> Any:
        timeout = call_timeout()
        deadline = time.monotonic() + timeout
        self._take_turn(deadline)
        try:
            if self._child is None:
                self._child = _Child(self._config, self._backend)
            child = self._child
            try:
                kind, payload = child.call(method, args, deadline, self._cancelled)
            except (EOFError, OSError) as failure:
                self._child = None
                child.kill()
                exit_code = child.process.exitcode
                log.error("the vector store's process stopped (exit code %s)", exit_code)
                raise StoreProcessStopped(exit_code) from failure
            except _NoAnswer as stopped:
                # Its state is unknown: stop it (what it did not commit is not kept);
                # the next call starts a new one.
                self._child = None
                child.kill()
                log.error("gave up on the vector store's %s: %s", method, stopped.reason)
                if stopped.reason == "timeout":
                    raise StoreNotResponding(method, timeout) from None
                raise StoreCallCancelled(method) from None
        finally:
            self._lock.release()
        if kind == "ok":
            return payload
        if kind == "error":
            raise unpack_error(payload)
        raise payload

    def _take_turn(self, deadline: float) -> None:
        """The lock for one call, waited for no longer than ``deadline`` or a cancel."""
        while not self._lock.acquire(timeout=_POLL_SLICE):
            if self._cancelled.is_set():
                raise StoreCallCancelled("wait")
            if time.monotonic() >= deadline:
                raise StoreNotResponding("wait", call_timeout())

    def abort(self) -> None:
        """Stop waiting for any call in flight (it raises ``StoreCallCancelled``) and stop
        the child: for shutting down while the store may be stuck. Later calls start anew."""
        self._cancelled.set()
        try:
            with self._lock:
                child, self._child = self._child, None
        finally:
            self._cancelled.clear()
        if child is not None:
            child.stop()

    # --- the VectorStore contract ----------------------------------------------------

    def ensure_collection(self, key: str) -> None:
        self._call("ensure_collection", key)

    def delete_collection(self, key: str) -> None:
        self._call("delete_collection", key)

    def list_collections(self) -> list[StoreCollection]:
        collections: list[StoreCollection] = self._call("list_collections")
        return collections

    def add(self, key: str, chunks: Sequence[Chunk], embeddings: Sequence[Sequence[float]]) -> None:
        if len(chunks) != len(embeddings):
            raise ValueError(f"{len(chunks)} chunks but {len(embeddings)} embeddings")
        self._call("add", key, list(chunks), _as_array(embeddings))

    def delete_document(self, key: str, document_id: str) -> None:
        self._call("delete_document", key, document_id)

    def delete_chunks(self, key: str, chunk_ids: Sequence[str]) -> None:
        self._call("delete_chunks", key, list(chunk_ids))

    def query(
        self,
        key: str,
        embedding: Sequence[float],
        k: int,
        document_ids: Sequence[str] | None = None,
        file_types: Sequence[str] | None = None,
    ) -> list[VectorHit]:
        hits: list[VectorHit] = self._call(
            "query",
            key,
            list(embedding),
            k,
            None if document_ids is None else list(document_ids),
            None if file_types is None else list(file_types),
        )
        return hits

    def similarities(
        self, key: str, embedding: Sequence[float], chunk_ids: Sequence[str]
    ) -> dict[str, float]:
        found: dict[str, float] = self._call("similarities", key, list(embedding), list(chunk_ids))
        return found

    def count(self, key: str, document_id: str | None = None) -> int:
        counted: int = self._call("count", key, document_id)
        return counted

    def chunk_ids(self, key: str, document_id: str | None = None) -> set[str]:
        ids: set[str] = self._call("chunk_ids", key, document_id)
        return ids

    def export(
        self, key: str, batch_size: int = 1_000
    ) -> Iterator[tuple[list[Chunk], list[list[float]]]]:
        """Every chunk of ``key`` with its vector, in batches (for ``allma store migrate``)."""
        token = next(self._export_tokens)
        finished = False
        try:
            while True:
                batch: tuple[list[Chunk], list[list[float]]] | None = self._call(
                    "export_next", token, key, batch_size
                )
                if batch is None:
                    finished = True
                    return
                yield batch
        finally:
            if not finished:  # the reader stopped early: the child drops its cursor
                with contextlib.suppress(AllmaError):
                    self._call("export_end", token)

    def close(self) -> None:
        with self._lock:
            child, self._child = self._child, None
        if child is not None:
            child.stop()


def _as_array(embeddings: Sequence[Sequence[float]]) -> Any:
    """float32 rows: a quarter of the bytes of pickled Python floats, and one copy.

    Converted a slice at a time: one conversion of a whole write (300k floats) is a
    single C call that would hold the GIL, and so the window, for about 10 ms."""
    import numpy as np

    if isinstance(embeddings, np.ndarray):
        return embeddings.astype(np.float32, copy=False)
    rows = np.empty((len(embeddings), len(embeddings[0]) if embeddings else 0), np.float32)
    for start in range(0, len(embeddings), _ROWS_PER_CONVERSION):
        rows[start : start + _ROWS_PER_CONVERSION] = embeddings[
            start : start + _ROWS_PER_CONVERSION
        ]
    return rows


if TYPE_CHECKING:
    _contract_check: type[VectorStore] = ProcessVectorStore
