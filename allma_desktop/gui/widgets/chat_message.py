"""One message in the transcript: body, collapsible thinking, sources, actions.

A streaming message re-renders only itself, at most every ``RENDER_INTERVAL_MS``;
the rest of the transcript is never touched by a token. Within the message, only the
unfinished tail is re-rendered: Markdown blocks that can no longer change are frozen
into views of their own as the answer grows, so the cost of a token stays the same at
token 4,000 as at token 100. The finished answer is rendered whole, once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QGuiApplication, QTextDocument, QTextOption
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from allma_desktop.gui.theme import Colors, current_colors, is_dark
from allma_desktop.gui.widgets.flow_layout import FlowLayout
from allma_desktop.gui.widgets.grounding_view import GroundingLine, mark_unsupported
from allma_desktop.gui.widgets.markdown_render import (
    render_markdown,
    render_plain,
    stable_prefix_end,
    stylesheet,
)
from allma_desktop.records import GroundingReport
from allma_desktop.sources import Source

RENDER_INTERVAL_MS = 50
# Stable text is frozen once this much has gathered: the tail re-rendered on each update
# stays under about this size (plus the block being written), with few frozen views.
FREEZE_AT_CHARS = 400


def chip_label(source: Source) -> str:
    """What a source's chip says: its document, then its page (or heading), and OCR."""
    where = f"p. {source.page}" if source.page else (source.heading_path or ("",))[-1]
    label = f"{source.name} · {where}" if where else source.name
    return f"{label} · OCR" if source.ocr else label


class RichTextView(QTextBrowser):
    """A read-only, auto-height text view that loads nothing and opens no links itself."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.viewport().setAutoFillBackground(False)
        self.setStyleSheet("QTextBrowser { background: transparent; border: none; }")
        self.document().setDocumentMargin(2)
        self.document().documentLayout().documentSizeChanged.connect(self._fit_height)

    def loadResource(self, kind: int, name: QUrl | str) -> object:
        return None  # never fetch images or stylesheets named in model output

    def _fit_height(self) -> None:
        """As tall as the text at the current width: the transcript scrolls, not the message."""
        document = self.document()
        document.setTextWidth(self.viewport().width())
        margins = self.contentsMargins()
        height = math.ceil(document.size().height()) + margins.top() + margins.bottom() + 2
        if height != self.height():
            self.setFixedHeight(height)

    def resizeEvent(self, event: object) -> None:
        super().resizeEvent(event)  # type: ignore[arg-type]
        self._fit_height()

    def sizeHint(self) -> QSize:
        return QSize(400, int(self.document().size().height()) + 4)


class ThinkingSection(QWidget):
    """ "Thinking…" with a disclosure arrow; open while the model thinks, closed after."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._text = ""
        self.toggle = QToolButton(self)
        self.toggle.setObjectName("thinkingToggle")
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setAutoRaise(True)
        self.toggle.toggled.connect(self._set_open)
        self.toggle.setAccessibleName("Show or hide the model's thinking")
        self.body = QLabel(self)
        self.body.setObjectName("thinkingBody")
        self.body.setWordWrap(True)
        self.body.setTextFormat(Qt.TextFormat.PlainText)
        self.body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.body)
        self._finished = False
        self._set_open(False)

    @property
    def text(self) -> str:
        return self._text

    @property
    def is_open(self) -> bool:
        return self.toggle.isChecked()

    def append(self, text: str) -> None:
        """Add streamed thinking; the label shows it at the next ``flush()`` (throttled)."""
        if not self._text:
            self.toggle.setChecked(True)
            self._update_label()
        self._text += text

    def flush(self) -> None:
        """Show the thinking appended so far (a label re-lays out all its text)."""
        shown = self._text.strip()
        if self.body.text() != shown:
            self.body.setText(shown)

    def set_text(self, text: str) -> None:
        self._text = text
        self.body.setText(text.strip())
        self._update_label()

    def finish(self) -> None:
        """The answer has started: fold the thinking away."""
        self.flush()
        self._finished = True
        self.toggle.setChecked(False)
        self._update_label()

    def _set_open(self, open_: bool) -> None:
        self.body.setVisible(open_)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if open_ else Qt.ArrowType.RightArrow)

    def _update_label(self) -> None:
        self.toggle.setText("Thought process" if self._finished else "Thinking…")


CHIP_MAX_WIDTH = 320  # px; a chip's text past it is elided (the tooltip has it whole)


class SourcesStrip(QWidget):
    """Numbered source chips under an answer; a click shows the cited passage and an Open button."""

    open_requested = Signal(object)  # Source
    source_clicked = Signal(object)  # Source: a chip or an inline [n] was clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sources: list[Source] = []
        self.chips: list[QPushButton] = []
        self._shown: Source | None = None
        # The chips flow onto new lines: in a row, five of them were wider than the column.
        self._chip_row = FlowLayout(spacing=6)
        self.caption = QLabel("Sources", self)
        self.caption.setObjectName("sourcesCaption")
        self._chip_row.addWidget(self.caption)
        self.snippet_panel = QFrame(self)
        self.snippet_panel.setObjectName("snippetPanel")
        panel = QVBoxLayout(self.snippet_panel)
        panel.setContentsMargins(10, 8, 10, 8)
        self.snippet_title = QLabel(self.snippet_panel)
        self.snippet_title.setObjectName("snippetTitle")
        self.snippet_text = QLabel(self.snippet_panel)
        self.snippet_text.setWordWrap(True)
        self.snippet_text.setTextFormat(Qt.TextFormat.PlainText)
        self.snippet_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton("Open file", self.snippet_panel)
        self.open_button.setObjectName("openSourceButton")
        self.open_button.clicked.connect(self._open_shown)
        panel.addWidget(self.snippet_title)
        panel.addWidget(self.snippet_text)
        panel.addWidget(self.open_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.snippet_panel.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(self._chip_row)
        layout.addWidget(self.snippet_panel)
        self.hide()

    def set_sources(self, sources: Sequence[Source]) -> None:
        for chip in self.chips:
            chip.deleteLater()
        self.chips = []
        self.sources = list(sources)
        for source in self.sources:
            label = chip_label(source)
            chip = QPushButton(f"[{source.number}]  {label}", self)
            chip.setObjectName("sourceChip")
            chip.setCursor(Qt.CursorShape.PointingHandCursor)
            section = f"\n{source.section}" if source.section and source.page else ""
            chip.setToolTip(f"{label}{section}\n{source.path}\nClick to see the passage")
            chip.setAccessibleName(f"Source {source.number}: {label}")
            chip.setCheckable(True)
            chip.clicked.connect(lambda _=False, s=source: self.toggle_snippet(s))
            chip.setMaximumWidth(CHIP_MAX_WIDTH)  # a long title is elided, in full on hover
            chip.setText(
                chip.fontMetrics().elidedText(
                    chip.text(), Qt.TextElideMode.ElideRight, CHIP_MAX_WIDTH - 28
                )
            )
            self._chip_row.addWidget(chip)
            self.chips.append(chip)
        self.setVisible(bool(self.sources))

    def show_source(self, number: int) -> bool:
        for source in self.sources:
            if source.number == number:
                self._show(source)
                return True
        return False

    def toggle_snippet(self, source: Source) -> None:
        if self._shown == source and self.snippet_panel.isVisible():
            self._shown = None
            self.snippet_panel.hide()
            self._sync_chips()
        else:
            self._show(source)

    def _show(self, source: Source) -> None:
        self._shown = source
        where = f" — page {source.page}" if source.page else ""
        where += f" — {source.section}" if source.section else ""
        self.snippet_title.setText(f"[{source.number}] {source.name}{where}")
        self.snippet_text.setText(source.snippet.strip() or "(no passage stored)")
        self.open_button.setText(f"Open at page {source.page}" if source.page else "Open file")
        self.open_button.setEnabled(bool(source.path))
        self.snippet_panel.show()
        self._sync_chips()
        self.source_clicked.emit(source)

    def _sync_chips(self) -> None:
        for chip, source in zip(self.chips, self.sources, strict=True):
            chip.setChecked(source == self._shown and self.snippet_panel.isVisible())

    def _open_shown(self) -> None:
        if self._shown is not None:
            self.open_requested.emit(self._shown)


class MessageWidget(QFrame):
    """A user question or an assistant answer; answers can stream into it."""

    link_clicked = Signal(QUrl)
    copy_requested = Signal()
    regenerate_requested = Signal()
    edit_requested = Signal()
    open_source = Signal(object)  # Source
    cite_clicked = Signal(object)  # Source: open it in the reader

    def __init__(self, role: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role
        self.message_id: int | None = None
        self.text = ""
        self.streaming = False
        self.render_count = 0  # how often the body was rendered (tests check the throttle)
        self._dark: bool | None = None
        # While streaming: text[:_frozen_chars] is shown by _frozen_views, the rest by body.
        self._frozen_chars = 0
        self._frozen_views: list[RichTextView] = []
        self.setObjectName("userMessage" if role == "user" else "assistantMessage")
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

        self.author = QLabel("You" if role == "user" else "Allma", self)
        self.author.setObjectName("messageAuthor")
        self.thinking = ThinkingSection(self)
        self.thinking.hide()
        self.body = RichTextView(self)
        self.body.setObjectName("messageBody")
        self.body.setAccessibleName("Your message" if role == "user" else "Answer")
        self.body.anchorClicked.connect(self._on_anchor)
        self.status = QLabel(self)
        self.status.setObjectName("messageStatus")
        self.status.setWordWrap(True)
        self.status.hide()
        self.sources = SourcesStrip(self)
        self.sources.open_requested.connect(self.open_source)
        self.sources.source_clicked.connect(self.cite_clicked)
        self.grounding = GroundingLine(self)

        self.copy_button = _action_button("Copy", "Copy this message", self)
        self.copy_button.clicked.connect(self.copy_to_clipboard)
        self.regenerate_button = _action_button("Regenerate", "Answer the question again", self)
        self.regenerate_button.clicked.connect(self.regenerate_requested)
        self.edit_button = _action_button("Edit", "Edit this question and send it again", self)
        self.edit_button.clicked.connect(self.edit_requested)
        actions = QHBoxLayout()
        actions.setContentsMargins(0, 0, 0, 0)
        actions.setSpacing(2)
        actions.addWidget(self.copy_button)
        actions.addWidget(self.edit_button)
        actions.addWidget(self.regenerate_button)
        actions.addStretch(1)
        self.action_bar = QWidget(self)
        self.action_bar.setLayout(actions)
        self.edit_button.setVisible(False)
        self.regenerate_button.setVisible(False)

        layout = QVBoxLayout(self)
        self._layout = layout
        layout.setContentsMargins(14, 10, 14, 8)
        layout.setSpacing(4)
        layout.addWidget(self.author)
        layout.addWidget(self.thinking)
        layout.addWidget(self.body)
        layout.addWidget(self.status)
        layout.addWidget(self.grounding)
        layout.addWidget(self.sources)
        layout.addWidget(self.action_bar)

        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(RENDER_INTERVAL_MS)
        self._render_timer.timeout.connect(self._render_stream)
        self.render_body()

    # --- content ------------------------------------------------------------------

    def set_text(self, text: str) -> None:
        self.text = text
        self.render_body()

    def start_streaming(self) -> None:
        self._drop_frozen()
        self.streaming = True
        self.action_bar.hide()
        self.set_status("Thinking…" if self.role == "assistant" else "")

    def append_thinking(self, text: str) -> None:
        self.thinking.show()
        self.thinking.append(text)
        if not self._render_timer.isActive():
            self._render_timer.start()

    def append_token(self, text: str) -> None:
        if not self.text and self.thinking.isVisible():
            self.thinking.finish()
        if not self.text:
            self.set_status("")
        self.text += text
        if not self._render_timer.isActive():
            self._render_timer.start()

    def finish(self, text: str, thinking: str, sources: Sequence[Source], note: str = "") -> None:
        self.streaming = False
        self._render_timer.stop()
        self._drop_frozen()
        self.text = text
        if thinking:
            self.thinking.show()
            self.thinking.set_text(thinking)
            self.thinking.finish()
        self.render_body()
        self.sources.set_sources(sources)
        self.set_status(note)
        self.action_bar.show()

    def show_grounding(self, report: GroundingReport | None) -> None:
        """The answer checked against its sources: a line under it, marks in it."""
        self.grounding.show_report(report)
        self.render_body()

    def set_status(self, note: str, error: bool = False) -> None:
        self.status.setText(note)
        self.status.setProperty("error", error)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)
        self.status.setVisible(bool(note))

    def render_body(self) -> None:
        self.render_count += 1
        dark = is_dark()
        if dark != self._dark:
            self._drop_frozen()  # frozen views carry the old colours: render them again
            self._dark = dark
        colors = current_colors()
        self.body.document().setDefaultStyleSheet(stylesheet(colors))
        if self.role == "user":
            self.body.setHtml(render_plain(self.text))
        elif self.streaming:
            self._freeze_stable_blocks(colors)
            tail = self.text[self._frozen_chars :]
            self.body.setHtml(render_markdown(tail, colors, streaming=True))
        else:
            self._drop_frozen()
            self.body.setHtml(render_markdown(self.text, colors))
            mark_unsupported(self.body, self.grounding.report)
        self.body.setVisible(bool(self.text) or self.role == "user")

    def _render_stream(self) -> None:
        self.thinking.flush()
        if self.text or not self.thinking.text:
            self.render_body()

    def _freeze_stable_blocks(self, colors: Colors) -> None:
        """Move finished blocks out of the tail into a view rendered once and kept."""
        boundary = stable_prefix_end(self.text, self._frozen_chars)
        if boundary - self._frozen_chars < FREEZE_AT_CHARS:
            return
        view = RichTextView(self)
        view.setObjectName("messageBody")
        view.setAccessibleName(self.body.accessibleName())
        view.anchorClicked.connect(self._on_anchor)
        document: QTextDocument = view.document()
        document.setDefaultStyleSheet(stylesheet(colors))
        view.setHtml(render_markdown(self.text[self._frozen_chars : boundary], colors))
        self._layout.insertWidget(self._layout.indexOf(self.body), view)
        self._frozen_views.append(view)
        self._frozen_chars = boundary

    def _drop_frozen(self) -> None:
        for view in self._frozen_views:
            view.hide()
            view.deleteLater()
        self._frozen_views = []
        self._frozen_chars = 0

    def copy_to_clipboard(self) -> None:
        QGuiApplication.clipboard().setText(self.text)

    def changeEvent(self, event: object) -> None:
        super().changeEvent(event)  # type: ignore[arg-type]
        from PySide6.QtCore import QEvent

        # A window hears of a new theme as ApplicationPaletteChange, a child widget (an
        # answer in the transcript) as PaletteChange.
        changes = (QEvent.Type.ApplicationPaletteChange, QEvent.Type.PaletteChange)
        if isinstance(event, QEvent) and event.type() in changes and is_dark() != self._dark:
            self.render_body()  # light/dark switch: code colours follow

    def _on_anchor(self, url: QUrl) -> None:
        if url.scheme() == "cite":
            self.sources.show_source(int(url.path() or 0))
            return
        self.link_clicked.emit(url)


def _action_button(text: str, tooltip: str, parent: QWidget) -> QToolButton:
    button = QToolButton(parent)
    button.setText(text)
    button.setToolTip(tooltip)
    button.setAccessibleName(tooltip)
    button.setAutoRaise(True)
    button.setObjectName("messageAction")
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    return button
