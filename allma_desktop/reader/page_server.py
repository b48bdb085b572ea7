"""The reader's PyMuPDF work in a child process of its own.

PyMuPDF holds the GIL while it draws a page: measured on the shared corpus, a page
with a large image took 1.6 s to draw at 3x and the app's GUI thread could not run
for 1.3 s of it, although the drawing was in a worker thread. In a child process
MuPDF takes nothing from the window; a page comes back as its pixels over a pipe
(a few MB, a few ms).

``PageServer.call`` is blocking: call it from one worker thread (requests go one
at a time over one pipe). A child that dies is started again on the next call.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
from collections import OrderedDict
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from allma_desktop.services.child_process import requests

log = logging.getLogger(__name__)

OPEN_DOCUMENTS = 3
STOP_GRACE = 2.0
METHODS = frozenset(
    {"page_count", "page_size", "render", "passage_boxes", "search", "words", "ocr_search"}
)


class PageServerError(Exception):
    """The document could not be read, or the child process died."""


def _serve(connection: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the app to handle
    from allma_desktop.reader.pages import PagedDocument
    from allma_desktop.services.documents.pdf import import_pymupdf

    import_pymupdf().TOOLS.mupdf_display_errors(False)
    documents: OrderedDict[str, PagedDocument] = OrderedDict()
    connection.send(("ready", None))
    for method, path, arguments in requests(connection):
        try:
            document = documents.get(path)
            if document is None:
                document = PagedDocument(path)
                documents[path] = document
                while len(documents) > OPEN_DOCUMENTS:
                    documents.popitem(last=False)[1].close()
            else:
                documents.move_to_end(path)
            if method == "page_count":
                result: Any = document.page_count
            else:
                result = getattr(document, method)(*arguments)
        except Exception as error:  # a damaged file fails its request, not the server
            connection.send(("error", f"{type(error).__name__}: {error}"[:300]))
            continue
        connection.send(("ok", result))


def server_main(connection: Connection) -> None:
    """Entry point of the child (module level, so ``spawn`` finds it)."""
    try:
        _serve(connection)
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass
    finally:
        connection.close()


class PageServer:
    def __init__(self) -> None:
        self._connection: Connection | None = None
        self._process: BaseProcess | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def call(self, method: str, path: str, *arguments: Any) -> Any:
        """``PagedDocument(path).method(*arguments)`` in the child; its result."""
        if method not in METHODS:
            raise ValueError(f"unknown method {method}")
        for attempt in (1, 2):
            connection = self._connection
            if connection is None or not self.running:
                self._stop()
                connection = self._start()
            try:
                connection.send((method, path, arguments))
                status, result = connection.recv()
            except (EOFError, OSError) as error:
                log.warning("the reader's page process stopped (%s); starting it again", error)
                self._stop()
                if attempt == 2:
                    raise PageServerError("The page could not be drawn.") from error
                continue
            if status == "error":
                raise PageServerError(str(result))
            return result
        raise AssertionError("unreachable")

    def start(self) -> None:
        """Start the child now (it takes a moment: Python and PyMuPDF load), if not running."""
        if not self.running:
            self._stop()
            self._start()

    def close(self) -> None:
        self._stop()

    def _start(self) -> Connection:
        context = multiprocessing.get_context("spawn")
        connection, child_end = context.Pipe(duplex=True)
        process = context.Process(
            target=server_main, args=(child_end,), name="allma-page-server", daemon=True
        )
        process.start()
        child_end.close()  # so this side sees end-of-file when the child dies
        try:
            status, _ = connection.recv()
        except (EOFError, OSError) as error:
            process.join(STOP_GRACE)
            raise PageServerError("The page process did not start.") from error
        if status != "ready":
            raise PageServerError("The page process did not start.")
        self._connection, self._process = connection, process
        return connection

    def _stop(self) -> None:
        connection, process = self._connection, self._process
        self._connection = self._process = None
        if connection is not None:
            with contextlib.suppress(OSError, ValueError):
                connection.send(None)
        if process is not None:
            process.join(STOP_GRACE)
            if process.is_alive():
                process.kill()
                process.join(STOP_GRACE)
        if connection is not None:
            connection.close()
