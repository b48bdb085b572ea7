"""The reader beside the chat: a cited page with the passage highlighted, and its tools.

Paged documents (PDF, EPUB, XPS, ...) show one page at a time, drawn off the GUI
thread by the ``ReaderController`` at the screen's pixel density; documents
without pages (Word, Markdown, HTML, text) show as text. Either way the cited
passage is highlighted and scrolled into view. Tools: page navigation, zoom
(fit width, fit page, percent), find, copy, previous/next citation of the
answer, open in the system viewer at the page, show in folder.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QEvent, QRectF, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QGuiApplication,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QShortcut,
    QTextCharFormat,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QTextBrowser,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from allma_desktop.gui.controllers.reader_controller import (
    OpenedDocument,
    PageImage,
    PageRequest,
    ReaderController,
    ReaderTarget,
    ZoomMode,
)
from allma_desktop.gui.theme import PAGE_FOUND, PAGE_HIGHLIGHT, current_colors, is_dark
from allma_desktop.records import Box

ZOOMS: tuple[tuple[str, ZoomMode, int], ...] = (
    ("Fit width", "fit-width", 100),
    ("Fit page", "fit-page", 100),
    ("50%", "percent", 50),
    ("75%", "percent", 75),
    ("100%", "percent", 100),
    ("125%", "percent", 125),
    ("150%", "percent", 150),
    ("200%", "percent", 200),
)
PAGE_MARGIN = 16  # logical pixels around the page in its scroll area
RESIZE_SETTLE_MS = 120


def launch_detached(argv: Sequence[str]) -> bool:
    """Start a viewer that outlives nothing of ours; False when it cannot be started."""
    try:
        subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        return False
    return True


class PageCanvas(QWidget):
    """One drawn page, with the cited passage and find hits painted over it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("readerPage")
        self.image: PageImage | None = None
        self.highlight: tuple[Box, ...] = ()
        self.found: tuple[Box, ...] = ()
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    def show_page(self, image: PageImage) -> None:
        self.image = image
        self.setFixedSize(self.sizeHint())
        self.update()

    def clear(self) -> None:
        self.image = None
        self.highlight = self.found = ()
        self.update()

    @property
    def zoom(self) -> float:
        return self.image.zoom if self.image is not None else 1.0

    def sizeHint(self) -> QSize:
        if self.image is None:
            return QSize(0, 0)
        ratio = self.image.image.devicePixelRatio() or 1.0
        return QSize(
            round(self.image.image.width() / ratio), round(self.image.image.height() / ratio)
        )

    def rect_of(self, box: Box) -> QRectF:
        """Where a box in points is on this widget, in logical pixels."""
        zoom = self.zoom
        width, height = (box.x1 - box.x0) * zoom, (box.y1 - box.y0) * zoom
        return QRectF(box.x0 * zoom, box.y0 * zoom, width, height)

    def highlight_rects(self) -> list[QRectF]:
        return [self.rect_of(box) for box in self.highlight]

    def paintEvent(self, event: QPaintEvent) -> None:
        if self.image is None:
            return
        painter = QPainter(self)
        painter.drawImage(0, 0, self.image.image)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(PAGE_HIGHLIGHT))
        for rect in self.highlight_rects():
            painter.drawRect(rect.adjusted(-1, -1, 1, 1))
        painter.setBrush(QColor(PAGE_FOUND))
        for box in self.found:
            painter.drawRect(self.rect_of(box))
        painter.end()


class ReaderPane(QFrame):
    """The reader. ``show_target`` opens a document at a page; ``show_citations`` opens one
    of an answer's sources and lets the user step through the others."""

    closed = Signal()

    def __init__(self, controller: ReaderController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._dark: bool | None = None  # the shade the page's desk was styled for
        self.setObjectName("readerPane")
        self.setMinimumWidth(320)
        self.controller = controller
        self.document: OpenedDocument | None = None
        self.page = 1
        self.citations: list[ReaderTarget] = []
        self.citation_index = -1
        self._find_text = ""
        self._found_page = 0
        # Injected by tests: how the system viewer is started and how files are opened.
        self.launch: Callable[[Sequence[str]], bool] = launch_detached
        self.open_url: Callable[[QUrl], bool] = QDesktopServices.openUrl
        self.plan_opening = controller.plan_opening

        self._build()
        controller.opened.connect(self._on_opened)
        controller.page_ready.connect(self._on_page)
        controller.found.connect(self._on_found)
        controller.failed.connect(self.show_note)
        self._resize_timer = QTimer(self)
        self._resize_timer.setSingleShot(True)
        self._resize_timer.setInterval(RESIZE_SETTLE_MS)
        self._resize_timer.timeout.connect(self._request_page)
        self.hide()

    # --- building ----------------------------------------------------------------------

    def _build(self) -> None:
        self.title = QLabel(self)
        self.title.setObjectName("readerTitle")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.previous_citation = _tool("‹", "Previous citation of this answer", self)
        self.previous_citation.clicked.connect(lambda: self.step_citation(-1))
        self.citation_label = QLabel(self)
        self.citation_label.setObjectName("mutedLabel")
        self.next_citation = _tool("›", "Next citation of this answer", self)
        self.next_citation.clicked.connect(lambda: self.step_citation(1))
        self.close_button = _tool("✕", "Close the reader", self)
        self.close_button.clicked.connect(self.close_reader)
        header = QHBoxLayout()
        header.setSpacing(4)
        header.addWidget(self.title, 1)
        header.addWidget(self.previous_citation)
        header.addWidget(self.citation_label)
        header.addWidget(self.next_citation)
        header.addWidget(self.close_button)

        self.previous_page = _tool("▲", "Previous page (Page Up)", self)
        self.previous_page.clicked.connect(lambda: self.go_to_page(self.page - 1))
        self.page_box = QSpinBox(self)
        self.page_box.setAccessibleName("Page number")
        self.page_box.setMinimum(1)
        self.page_box.setKeyboardTracking(False)
        self.page_box.valueChanged.connect(self.go_to_page)
        self.page_count = QLabel(self)
        self.page_count.setObjectName("mutedLabel")
        self.next_page = _tool("▼", "Next page (Page Down)", self)
        self.next_page.clicked.connect(lambda: self.go_to_page(self.page + 1))
        self.zoom_box = QComboBox(self)
        self.zoom_box.setAccessibleName("Zoom")
        self.zoom_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for label, mode, percent in ZOOMS:
            self.zoom_box.addItem(label, (mode, percent))
        self.zoom_box.currentIndexChanged.connect(lambda _index: self._request_page())
        self.find_box = QLineEdit(self)
        self.find_box.setMinimumWidth(120)
        self.find_box.setPlaceholderText("Find in document…")
        self.find_box.setAccessibleName("Find in document")
        self.find_box.setClearButtonEnabled(True)
        self.find_box.returnPressed.connect(self.find_next)
        tools = QHBoxLayout()
        tools.setSpacing(4)
        tools.addWidget(self.previous_page)
        tools.addWidget(self.page_box)
        tools.addWidget(self.page_count)
        tools.addWidget(self.next_page)
        tools.addWidget(self.zoom_box)
        tools.addStretch(1)

        self.copy_button = _tool("Copy", "Copy the cited passage", self)
        self.copy_button.clicked.connect(self.copy_passage)
        self.viewer_button = _tool("Open in viewer", "Open in your PDF viewer at this page", self)
        self.viewer_button.clicked.connect(self.open_in_viewer)
        self.folder_button = _tool("Show in folder", "Show the file in its folder", self)
        self.folder_button.clicked.connect(self.show_in_folder)
        actions = QHBoxLayout()
        actions.setSpacing(4)
        actions.addWidget(self.find_box, 1)
        actions.addWidget(self.copy_button)
        actions.addWidget(self.viewer_button)
        actions.addWidget(self.folder_button)

        self.note = QLabel(self)
        self.note.setObjectName("readerNote")
        self.note.setWordWrap(True)
        self.note.hide()

        self.canvas = PageCanvas()
        self.page_scroll = QScrollArea(self)
        self.page_scroll.setObjectName("readerScroll")
        self.page_scroll.setAccessibleName("Page")
        self.page_scroll.setWidget(self.canvas)
        self.page_scroll.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.page_scroll.setWidgetResizable(False)
        self._style_page_background()
        self.text_view = QTextBrowser(self)
        self.text_view.setObjectName("readerText")
        self.text_view.setOpenLinks(False)
        self.text_view.setAccessibleName("Document text")
        self.loading = QLabel("Opening…", self)
        self.loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.loading.setObjectName("mutedLabel")
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.loading)
        self.stack.addWidget(self.page_scroll)
        self.stack.addWidget(self.text_view)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        layout.addLayout(header)
        layout.addLayout(tools)
        layout.addLayout(actions)
        layout.addWidget(self.note)
        layout.addWidget(self.stack, 1)

        for keys, handler in (
            (QKeySequence.StandardKey.MoveToPreviousPage, lambda: self.go_to_page(self.page - 1)),
            (QKeySequence.StandardKey.MoveToNextPage, lambda: self.go_to_page(self.page + 1)),
            (QKeySequence.StandardKey.Find, self.find_box.setFocus),
        ):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(handler)
        self._sync_tools()

    # --- opening -----------------------------------------------------------------------

    def show_target(self, target: ReaderTarget) -> None:
        """Open a document (from the Library, or one citation) without citation stepping."""
        self.citations, self.citation_index = [target], 0
        self._open(target)

    def show_citations(self, citations: Sequence[ReaderTarget], index: int) -> None:
        """Open citation ``index`` of an answer's ``citations``; the arrows step through them."""
        self.citations = list(citations)
        self.citation_index = max(0, min(index, len(self.citations) - 1))
        self._open(self.citations[self.citation_index])

    def step_citation(self, step: int) -> None:
        index = self.citation_index + step
        if 0 <= index < len(self.citations):
            self.citation_index = index
            self._open(self.citations[index])

    def _open(self, target: ReaderTarget) -> None:
        self.show()
        self.note.hide()
        self.title.setText(target.title or Path(target.path).name)
        self.stack.setCurrentWidget(self.loading)
        self.loading.setText("Opening…")
        self._sync_citation_label()
        self.controller.open(target)

    def _on_opened(self, document: OpenedDocument) -> None:
        self.document = document
        self.title.setText(document.title)
        self.title.setToolTip(document.path)
        self._find_text, self._found_page = "", 0
        if document.note:
            self.show_note(document.note)
        if document.paged:
            self.page_box.blockSignals(True)
            self.page_box.setMaximum(document.page_count)
            self.page_box.setValue(document.page)
            self.page_box.blockSignals(False)
            self.page_count.setText(f"of {document.page_count}")
            self.page = document.page
            self.canvas.clear()
            self.canvas.highlight = document.highlight
            self._request_page()
        else:
            self._show_text(document)
        self._sync_tools()

    def _show_text(self, document: OpenedDocument) -> None:
        self.text_view.setPlainText(document.text)
        self.stack.setCurrentWidget(self.text_view)
        start, end = document.span
        selections: list[QTextEdit.ExtraSelection] = []
        if end > start:
            cursor = QTextCursor(self.text_view.document())
            cursor.setPosition(start)
            cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
            selection = QTextEdit.ExtraSelection()
            selection.cursor = cursor
            char_format = QTextCharFormat()
            char_format.setBackground(QColor(current_colors().passage_highlight))
            selection.format = char_format
            selections.append(selection)
            self.text_view.setExtraSelections(selections)
            at_start = QTextCursor(self.text_view.document())
            at_start.setPosition(end)
            self.text_view.setTextCursor(at_start)
            self.text_view.ensureCursorVisible()
            at_start.setPosition(start)
            self.text_view.setTextCursor(at_start)
            self.text_view.ensureCursorVisible()
        else:
            self.text_view.setExtraSelections(selections)

    def highlighted_text(self) -> str:
        """The text the text view highlights (for documents shown as text)."""
        selections = self.text_view.extraSelections()
        if not selections:
            return ""
        cursor: QTextCursor = selections[0].cursor
        return cursor.selectedText().replace("\u2029", "\n")

    # --- pages -------------------------------------------------------------------------

    def go_to_page(self, page: int) -> None:
        document = self.document
        if document is None or not document.paged:
            return
        page = max(1, min(page, document.page_count))
        if page == self.page and self.canvas.image is not None:
            return
        self.page = page
        self.page_box.blockSignals(True)
        self.page_box.setValue(page)
        self.page_box.blockSignals(False)
        self.canvas.highlight = document.highlight if page == document.page else ()
        self.canvas.found = ()
        self._request_page()
        self._sync_tools()

    def zoom_mode(self) -> tuple[ZoomMode, int]:
        mode, percent = self.zoom_box.currentData()
        return mode, percent

    def _request_page(self) -> None:
        document = self.document
        if document is None or not document.paged:
            return
        mode, percent = self.zoom_mode()
        # The room for the page whether or not a scroll bar shows (so showing one does
        # not change the zoom and draw the page again).
        # The stack's size: the scroll area is hidden (and unsized) until a first page shows.
        frame = 2 * self.page_scroll.frameWidth()
        scrollbar = self.page_scroll.verticalScrollBar().sizeHint().width()
        width = self.stack.width() - frame - scrollbar - 2 * PAGE_MARGIN
        height = self.stack.height() - frame - 2 * PAGE_MARGIN
        self.controller.render(
            PageRequest(
                document.path,
                self.page,
                mode,
                percent,
                (max(100, width), max(100, height)),
                self.devicePixelRatioF(),
            )
        )

    def _on_page(self, image: PageImage) -> None:
        document = self.document
        if document is None or image.request.path != document.path:
            return
        if image.request.page != self.page:
            return
        self.canvas.show_page(image)
        self.stack.setCurrentWidget(self.page_scroll)
        self._scroll_to_marks()

    def _scroll_to_marks(self) -> None:
        marks = self.canvas.found or self.canvas.highlight
        if not marks:
            self.page_scroll.verticalScrollBar().setValue(0)
            return
        first = self.canvas.rect_of(marks[0])
        self.page_scroll.ensureVisible(
            int(first.center().x()), int(first.top()), 40, self.page_scroll.viewport().height() // 3
        )

    def _style_page_background(self) -> None:
        """A grey desk under the page, so a white page shows its edges (light and dark)."""
        self._dark = is_dark()
        desk = current_colors().border
        self.page_scroll.setStyleSheet(
            f"QScrollArea#readerScroll {{ background: {desk}; border: none; }}"
            f"QScrollArea#readerScroll > QWidget {{ background: {desk}; }}"
        )

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        changes = (QEvent.Type.ApplicationPaletteChange, QEvent.Type.PaletteChange)
        if event.type() in changes and is_dark() != self._dark:
            self._style_page_background()
            if self.document is not None and not self.document.paged:
                self._show_text(self.document)  # the highlight's shade follows

    @property
    def resizing(self) -> bool:
        """A resize is settling: the page will be drawn again at the new size."""
        return self._resize_timer.isActive()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.document is not None and self.zoom_mode()[0] != "percent":
            self._resize_timer.start()

    # --- find, copy, open ----------------------------------------------------------------

    def find_next(self) -> None:
        text = self.find_box.text().strip()
        document = self.document
        if not text or document is None:
            return
        if not document.paged:
            if not self.text_view.find(text):
                self.text_view.moveCursor(QTextCursor.MoveOperation.Start)
                if not self.text_view.find(text):
                    self.show_note(f"“{text}” is not in this document.")
            return
        start = self.page
        if text == self._find_text and self._found_page:
            start = self._found_page % document.page_count + 1
        self._find_text = text
        self.controller.find(document.path, text, start, document_id=document.target.document_id)

    def _on_found(self, page: int, boxes: tuple[Box, ...]) -> None:
        self._found_page = page
        if not page:
            self.canvas.found = ()  # the last find's marks are not this text's
            self.canvas.update()
            self.show_note(f"“{self._find_text}” is not in this document.")
            return
        self.note.hide()
        self.go_to_page(page)
        self.canvas.found = boxes
        self.canvas.update()
        if self.canvas.image is not None and self.canvas.image.request.page == page:
            self._scroll_to_marks()

    def copy_passage(self) -> None:
        document = self.document
        if document is None:
            return
        if not document.paged and self.text_view.textCursor().hasSelection():
            text = self.text_view.textCursor().selectedText().replace("\u2029", "\n")
        else:
            text = document.passage
        QGuiApplication.clipboard().setText(text)

    def open_in_viewer(self) -> None:
        """The file in the user's own viewer, at this page where the viewer can be told."""
        document = self.document
        if document is not None:
            self.open_file_in_viewer(document.path, self.page if document.paged else None)

    def open_file_in_viewer(self, path: str, page: int | None) -> str:
        """Open ``path`` in the system viewer at ``page``; what happened, also shown here."""
        plan = self.plan_opening(path, page)
        if plan.argv and self.launch(plan.argv):
            message = f"Opened in {plan.viewer} at page {page}."
        elif not self.open_url(QUrl.fromLocalFile(path)):
            message = self.controller.no_viewer_message(path)
        else:
            message = f"{plan.note}." if plan.note else ""
        if message:
            self.show_note(message)
        return message

    def show_in_folder(self) -> None:
        document = self.document
        if document is not None:
            folder = Path(document.path).parent
            if not self.open_url(QUrl.fromLocalFile(str(folder))):
                self.show_note(f"The folder {folder} cannot be opened on this desktop.")

    def show_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.show()
        if self.stack.currentWidget() is self.loading:
            self.loading.setText("")

    def close_reader(self) -> None:
        self.hide()
        self.closed.emit()

    # --- state -----------------------------------------------------------------------

    def _sync_citation_label(self) -> None:
        stepping = len(self.citations) > 1
        for widget in (self.previous_citation, self.citation_label, self.next_citation):
            widget.setVisible(stepping)
        if stepping:
            current = self.citations[self.citation_index]
            number = f"[{current.number}]" if current.number is not None else ""
            self.citation_label.setText(f"{number} {self.citation_index + 1}/{len(self.citations)}")
            self.previous_citation.setEnabled(self.citation_index > 0)
            self.next_citation.setEnabled(self.citation_index < len(self.citations) - 1)

    def _sync_tools(self) -> None:
        document = self.document
        paged = document is not None and document.paged
        for widget in (self.previous_page, self.page_box, self.page_count, self.next_page):
            widget.setVisible(paged)
        self.zoom_box.setVisible(paged)
        if document is not None and paged:
            self.previous_page.setEnabled(self.page > 1)
            self.next_page.setEnabled(self.page < document.page_count)
        for button in (self.copy_button, self.viewer_button, self.folder_button):
            button.setEnabled(document is not None)


def _tool(text: str, tooltip: str, parent: QWidget) -> QToolButton:
    button = QToolButton(parent)
    button.setText(text)
    button.setToolTip(tooltip)
    button.setAccessibleName(tooltip)
    button.setAutoRaise(True)
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    return button
