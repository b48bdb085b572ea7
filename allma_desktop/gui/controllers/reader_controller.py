"""Loads what the reader pane shows, off the GUI thread.

A citation is resolved through the library (the chunk's page, text and span, the
document's file), then the document is opened, the passage located on its page
(``reader/pages.py``) and pages drawn by PyMuPDF in a child process
(``reader/page_server.py``: MuPDF holds the GIL while it draws), asked from one
worker thread of the reader's own. Results come back as signals on the GUI thread.
A few documents stay open there and the last pages drawn are cached here, so paging
back and forth and stepping through citations draws nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from PySide6.QtCore import QCoreApplication, QObject, Signal
from PySide6.QtGui import QImage

from allma_desktop.errors import AllmaError
from allma_desktop.gui.ops import background
from allma_desktop.reader.page_server import PageServer
from allma_desktop.reader.pages import OcrReading, RenderedPage, is_paged, text_span
from allma_desktop.records import Box

if TYPE_CHECKING:
    from allma_desktop.gui.orchestrator_host import OrchestratorHost
    from allma_desktop.reader.viewers import ViewerPlan
    from allma_desktop.sources import Source

log = logging.getLogger(__name__)

T = TypeVar("T")
ZoomMode = Literal["fit-width", "fit-page", "percent"]
CACHED_PAGES = 12
MAX_SCALE = 8.0


@dataclass(frozen=True)
class ReaderTarget:
    """What to show: a document, a page, and (for a citation) the cited chunk."""

    document_id: str
    page: int | None = None
    chunk_id: str = ""
    number: int | None = None  # the citation's [n], when opened from an answer
    path: str = ""
    title: str = ""
    passage: str = ""  # shown and copied when the chunk is no longer in the library
    span: tuple[int, int] = (0, 0)  # the passage in the document's text, as it was cited
    ocr: bool = False  # the passage was read by OCR: it is found on the page's picture

    @classmethod
    def citing(cls, source: Source) -> ReaderTarget:
        """The reader's target for a source of an answer, live or reopened from history."""
        return cls(
            document_id=source.document_id,
            page=source.page,
            chunk_id=source.chunk_id,
            number=source.number,
            path=source.path,
            title=source.title,
            passage=source.snippet,
            span=source.span,
            ocr=source.ocr,
        )


@dataclass(frozen=True)
class OpenedDocument:
    """A document ready to show, at ``page``, with the cited passage located."""

    target: ReaderTarget
    path: str
    title: str
    paged: bool
    page_count: int
    page: int
    highlight: tuple[Box, ...] = ()  # on ``page``, in points
    passage: str = ""
    text: str = ""  # the whole text, for documents shown as text
    span: tuple[int, int] = (0, 0)  # the passage in ``text``
    note: str = ""  # e.g. "the passage was not found on this page"


@dataclass(frozen=True)
class PageRequest:
    path: str
    page: int
    mode: ZoomMode
    percent: int  # for mode "percent"
    viewport: tuple[int, int]  # logical pixels available
    device_pixel_ratio: float


@dataclass(frozen=True)
class PageImage:
    request: PageRequest
    image: QImage = field(compare=False)
    zoom: float  # logical pixels per point


class ReaderController(QObject):
    opened = Signal(object)  # OpenedDocument
    page_ready = Signal(object)  # PageImage
    found = Signal(int, object)  # page (0: nowhere), tuple[Box, ...]
    failed = Signal(str)

    def __init__(self, host: OrchestratorHost, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._host = host
        self._worker: ThreadPoolExecutor | None = None  # started on first use
        self._server = PageServer()
        self._pages: OrderedDict[tuple[str, int, float], QImage] = OrderedDict()
        self._open_generation = 0
        self._page_generation = 0
        self.render_count = 0  # pages actually drawn (the cache's hits are not)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.close)

    # --- requests -----------------------------------------------------------------

    def open(self, target: ReaderTarget) -> None:
        """Resolve and open ``target``; ``opened`` or ``failed`` follows. Works before the
        library is open too, from the target's own path."""
        self._open_generation += 1
        generation = self._open_generation
        background(
            self._host, lambda: self._resolve(target), description="Showing this document"
        ).success(lambda opened: self._on_opened(generation, opened)).failure(
            lambda error: self.failed.emit(str(error))
        ).run()

    def _on_opened(self, generation: int, opened: OpenedDocument) -> None:
        if generation == self._open_generation:
            self.opened.emit(opened)

    def render(self, request: PageRequest) -> None:
        self._page_generation += 1
        self._host.run(self._render(request, self._page_generation))

    def find(
        self,
        path: str,
        text: str,
        start_page: int,
        backwards: bool = False,
        document_id: str = "",
    ) -> None:
        """Find ``text`` from ``start_page`` on (wrapping around); ``found`` follows. The
        pages of ``document_id`` that OCR read (a scan: no text layer) are searched too."""
        self._host.run(self._find(path, text, start_page, backwards, document_id))

    def warm_up(self) -> None:
        """Start the page process before it is needed (an answer with sources arrived)."""
        self._host.run(self._warm_up())

    async def _warm_up(self) -> None:
        try:
            await self._in_worker(self._server.start)
        except Exception:
            log.warning("the reader's page process did not start", exc_info=True)

    def close(self) -> None:
        """Close the open documents and stop the worker (at quit); opening again restarts it."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.submit(self._close_all)
            worker.shutdown(wait=True)  # MuPDF's objects go in their own thread, not at exit

    # --- work ---------------------------------------------------------------------

    async def _in_worker(self, function: Callable[[], T]) -> T:
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reader")
        return await asyncio.get_running_loop().run_in_executor(self._worker, function)

    async def _resolve(self, target: ReaderTarget) -> OpenedDocument:
        orchestrator = self._host.orchestrator
        path, title, file_type = target.path, target.title, ""
        passage, page, span = target.passage, target.page, target.span
        if orchestrator is not None:
            chunk = await self._host.in_worker(orchestrator.chunk, target.chunk_id)
            if chunk is not None:
                path, title, file_type = chunk.path, chunk.title, chunk.file_type
                passage, page = chunk.text, chunk.page or page
                span = (chunk.char_start, chunk.char_end)
            elif target.document_id:
                try:
                    document = await self._host.in_worker(orchestrator.document, target.document_id)
                    path, title, file_type = document.path, document.title, document.file_type
                except AllmaError:
                    if not path:
                        raise
        if not path or not Path(path).is_file():
            raise AllmaError(
                f"{path or 'The document'} is not on this computer any more.",
                "It may have been moved or deleted; add it to the library again.",
            )
        title = title or Path(path).name
        # A damaged file raises what its reader raised: the op says so, never a traceback.
        if is_paged(file_type, path):
            reading = self._ocr_reading() if target.ocr else None
            return await self._in_worker(
                lambda: self._open_paged(target, path, title, page or 1, passage, reading)
            )
        return await asyncio.to_thread(_open_text, target, path, title, passage, span)

    def _ocr_reading(self) -> OcrReading:
        """How the library's OCR reads pages: its languages and its folder of added ones."""
        from allma_desktop.orchestrator import ocr_languages_folder

        config = self._host.config
        return config.ocr_languages, str(ocr_languages_folder(config))

    def _open_paged(
        self,
        target: ReaderTarget,
        path: str,
        title: str,
        page: int,
        passage: str,
        reading: OcrReading | None = None,
    ) -> OpenedDocument:
        page_count = int(self._server.call("page_count", path))
        page = min(max(1, page), page_count)
        boxes = self._server.call("passage_boxes", path, page, passage, reading) if passage else []
        note = "" if boxes or not passage else "The passage could not be located on this page."
        return OpenedDocument(
            target, path, title, True, page_count, page, tuple(boxes), passage, note=note
        )

    async def _render(self, request: PageRequest, generation: int) -> None:
        try:
            image = await self._in_worker(lambda: self._draw(request))
        except Exception as error:
            log.warning("reader could not draw page %d of %s", request.page, request.path)
            self.failed.emit(f"Page {request.page} cannot be shown: {error}")
            return
        if generation == self._page_generation:
            self.page_ready.emit(image)

    def _draw(self, request: PageRequest) -> PageImage:
        """Draw (or take from the cache) one page at the scale its zoom asks for."""
        width, height = self._server.call("page_size", request.path, request.page)
        view_width, view_height = request.viewport
        if request.mode == "fit-width":
            zoom = view_width / width
        elif request.mode == "fit-page":
            zoom = min(view_width / width, view_height / height)
        else:
            zoom = request.percent / 100 * 96 / 72  # 100%: a point is 1/72 inch on a 96 dpi screen
        zoom = max(0.1, zoom)
        scale = min(MAX_SCALE, round(zoom * request.device_pixel_ratio, 3))
        key = (request.path, request.page, scale)
        image = self._pages.get(key)
        if image is None:
            rendered: RenderedPage = self._server.call("render", request.path, request.page, scale)
            self.render_count += 1
            image = QImage(
                rendered.samples,
                rendered.width,
                rendered.height,
                rendered.stride,
                QImage.Format.Format_RGB888,
            ).copy()  # own the pixels: the bytes object goes away
            self._pages[key] = image
            while len(self._pages) > CACHED_PAGES:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(key)
        image.setDevicePixelRatio(request.device_pixel_ratio)
        return PageImage(request, image, scale / request.device_pixel_ratio)

    async def _find(
        self, path: str, text: str, start_page: int, backwards: bool, document_id: str
    ) -> None:
        try:
            page, boxes = await self._in_worker(
                lambda: self._server.call("search", path, text, start_page, backwards)
            )
            if not page and document_id:
                page, boxes = await self._find_on_pictures(
                    path, text, start_page, backwards, document_id
                )
        except Exception:
            log.warning("reader search failed in %s", path, exc_info=True)
            page, boxes = 0, []
        self.found.emit(page, tuple(boxes))

    async def _find_on_pictures(
        self, path: str, text: str, start_page: int, backwards: bool, document_id: str
    ) -> tuple[int, list[Box]]:
        """The first page from ``start_page`` whose OCR'd text (as the library holds it)
        has ``text``, with the boxes of its words on the page's picture (read again: a
        few seconds, for that page only)."""
        orchestrator = self._host.orchestrator
        if orchestrator is None:
            return 0, []
        pages = await orchestrator.ocr_pages_with(document_id, text)
        if not pages:
            return 0, []
        if backwards:
            ordered = [p for p in reversed(pages) if p <= start_page] + [
                p for p in reversed(pages) if p > start_page
            ]
        else:
            ordered = [p for p in pages if p >= start_page] + [p for p in pages if p < start_page]
        page = ordered[0]
        reading = self._ocr_reading()
        boxes = await self._in_worker(
            lambda: self._server.call("ocr_search", path, page, text, reading)
        )
        return page, list(boxes)

    # --- the system viewer -------------------------------------------------------------

    def plan_opening(self, path: str, page: int | None) -> ViewerPlan:
        """How this machine's PDF viewer opens ``path`` at ``page``; the desktop's default
        app when no viewer here can, or for a file that is not a PDF."""
        from allma_desktop.reader.viewers import plan_opening, windows_candidates

        return plan_opening(path, page, extra_candidates=windows_candidates())

    @staticmethod
    def no_viewer_message(path: str) -> str:
        """What to say when nothing on this desktop opens ``path``."""
        from allma_desktop.reader.viewers import NO_VIEWER_MESSAGE

        return NO_VIEWER_MESSAGE.format(name=Path(path).name)

    def _close_all(self) -> None:
        self._server.close()
        self._pages.clear()


def _open_text(
    target: ReaderTarget, path: str, title: str, passage: str, span: tuple[int, int]
) -> OpenedDocument:
    """A text document as its parsed text, with the passage's place in it."""
    from allma_desktop.orchestrator import file_text

    text = file_text(Path(path))
    start, end = text_span(text, passage, *span)
    note = "" if end or not passage else "The passage is no longer in this file."
    return OpenedDocument(
        target, path, title, False, 1, 1, (), passage, text=text, span=(start, end), note=note
    )
