"""The Library page: a drop zone when empty, the document table, progress, collections."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPoint, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QDesktopServices,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDropEvent,
    QKeySequence,
    QResizeEvent,
    QShortcut,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QStyle,
    QStyleOptionViewItem,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from allma_desktop.gui.controllers.library_controller import (
    BatchSummary,
    LibraryController,
    LibraryRow,
    OverallProgress,
)
from allma_desktop.gui.recent_folders import remember, start_path
from allma_desktop.gui.theme import app_icon
from allma_desktop.gui.widgets.elided_label import ElidedLabel
from allma_desktop.gui.widgets.library_filter import DocumentFilterProxy
from allma_desktop.gui.widgets.library_model import (
    ADDED,
    CHUNKS,
    FILE,
    NAME,
    PAGES,
    ROW_ROLE,
    SIZE,
    STATUS,
    TYPE,
    DocumentCellDelegate,
    DocumentTableModel,
    type_label,
)
from allma_desktop.gui.widgets.watched_folders import KeepInSyncDialog, WatchedFoldersCard

if TYPE_CHECKING:
    from allma_desktop.errors import AllmaError
    from allma_desktop.records import CollectionRecord

COLLECT_AFTER_ROWS = 20_000
HAYSTACK_SLICE = 2_000  # rows whose filter text is made per idle slice (about 2 ms)
SUMMARY_INTERVAL_MS = 250  # row updates refresh the page's counts at most 4 times a second
# Column widths; Status takes the spare width and keeps at least STATUS_MIN_WIDTH. Type
# is widened to its longest label in the library (``LibraryPane.fit_type_column``).
COLUMN_WIDTHS = {
    NAME: 220, FILE: 170, TYPE: 56, PAGES: 60, CHUNKS: 70, SIZE: 80, ADDED: 116,
}  # fmt: skip
# The widest text each of these columns usually shows: they are fitted to it in the
# font in use (``LibraryPane.fit_number_columns``).
NUMBER_COLUMN_SAMPLES = {
    PAGES: ["9,999"], CHUNKS: ["99,999"], SIZE: ["999.9 MB"], ADDED: ["Today 23:59", "30 Sep 2026"],
}  # fmt: skip
NAME_MIN_WIDTH = 140  # the title shrinks (ending in "…", whole on hover) down to this
STATUS_MIN_WIDTH = 180  # room for "Failed: damaged …" and a progress bar
# In a narrow window these columns give way, first to last, so Status stays on screen.
COLUMNS_GIVING_WAY = (FILE, CHUNKS, SIZE, PAGES, ADDED, TYPE)
FILE_FILTER = (
    "Documents (*.pdf *.docx *.md *.markdown *.txt *.text *.html *.htm *.rst *.csv);;All files (*)"
)


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "estimating time left…"
    if seconds < 60:
        return "less than a minute left"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min left"
    return f"about {minutes // 60} h {minutes % 60:02d} min left"


def set_without_repaint(bar: QProgressBar, value: int) -> None:
    """Set ``bar``'s value, painted with the window's next frame. ``setValue`` repaints
    the bar at once, through its styled parents (6 ms a time here): several times a
    second while files come in, on the thread the indexer shares the interpreter with."""
    if bar.value() == value:
        return
    bar.setUpdatesEnabled(False)  # the synchronous repaint becomes a no-op...
    bar.setValue(value)
    bar.setUpdatesEnabled(True)  # ...and this schedules one, merged into the next frame
    bar.update()


def progress_line(progress: OverallProgress, waiting: int, busy: bool) -> str:
    """The progress card's line: the count and the time left first, so that a long file
    name, cut at the card's width, never hides them."""
    done, total = progress.files_done, progress.files_total
    if progress.paused:
        if busy and progress.current:
            return f"Pausing after {progress.current}…"
        return f"Paused · {waiting:,} waiting"
    if progress.current:
        eta = format_eta(progress.eta_seconds)
        return f"{done + 1:,} of {total:,} · {eta} · indexing {progress.current}"
    return f"Preparing {total:,} file{'s' if total != 1 else ''}…"


class DropZone(QFrame):
    """The empty library: a big target that says what to do."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dropZone")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(40, 40, 40, 40)
        layout.setSpacing(10)
        layout.addStretch(1)
        icon = QLabel(self)
        icon.setPixmap(app_icon().pixmap(64, 64))
        icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = QLabel("Drop files or folders here", self)
        title.setObjectName("dropZoneTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint = QLabel(
            "PDF, Word (DOCX), Markdown, HTML and text files. They stay on this computer;\n"
            "Allma reads them so you can ask questions and get answers with page citations.",
            self,
        )
        hint.setObjectName("hintLabel")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint.setWordWrap(True)  # a narrow window wraps it instead of refusing to shrink
        self.choose_button = QPushButton("Choose files…", self)
        self.choose_button.setObjectName("accentButton")
        self.folder_button = QPushButton("Choose a folder…", self)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.choose_button)
        buttons.addWidget(self.folder_button)
        buttons.addStretch(1)
        shortcut = QLabel("or press Ctrl+O", self)
        shortcut.setObjectName("hintLabel")
        shortcut.setAlignment(Qt.AlignmentFlag.AlignCenter)
        for widget in (icon, title, hint):
            layout.addWidget(widget)
        layout.addSpacing(8)
        layout.addLayout(buttons)
        layout.addWidget(shortcut)
        layout.addStretch(1)

    def set_active(self, active: bool) -> None:
        self.setProperty("active", active)
        self.style().unpolish(self)
        self.style().polish(self)


class LibraryPane(QWidget):
    """Shows the current collection; every change goes through the ``LibraryController``."""

    document_open_requested = Signal(str)  # a stored document double-clicked: the reader

    def __init__(self, controller: LibraryController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setObjectName("libraryPane")
        self.setAcceptDrops(True)
        self._shown_collection_id: int | None = None
        self._filter_typed = False  # a filter was typed and is not shown yet
        self.model = DocumentTableModel(self)
        self.proxy = DocumentFilterProxy(self.model, self)
        self._summary_timer = QTimer(self)
        self._summary_timer.setSingleShot(True)
        self._summary_timer.setInterval(SUMMARY_INTERVAL_MS)
        self._summary_timer.timeout.connect(self._update_summary)
        self._haystack_timer = QTimer(self)
        self._haystack_timer.setInterval(0)
        self._haystack_timer.timeout.connect(self._prepare_filter)
        self._build()
        self._wire()
        controller.refresh_collections()
        controller.refresh_rows()
        self._show_progress(controller.overall_progress())

    # --- layout -------------------------------------------------------------------------

    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(28, 22, 28, 18)
        root.setSpacing(14)

        header = QHBoxLayout()
        header.setSpacing(8)
        titles = QVBoxLayout()
        titles.setSpacing(2)
        title = QLabel("Library", self)
        title.setObjectName("pageTitle")
        # The counts end in "…" (whole on hover) when a narrow window has no room for them.
        self.summary_label = ElidedLabel("", self)
        self.summary_label.setObjectName("pageSubtitle")
        self.summary_label.setMinimumWidth(120)
        titles.addWidget(title)
        titles.addWidget(self.summary_label)
        header.addLayout(titles, 1)
        self.collection_box = QComboBox(self)
        self.collection_box.setMinimumWidth(150)
        self.collection_box.setAccessibleName("Collection")
        self.collection_box.setToolTip("The collection shown and the one new files go into")
        self.collection_menu_button = QToolButton(self)
        self.collection_menu_button.setText("⋯")
        self.collection_menu_button.setToolTip("New, rename or delete a collection")
        self.collection_menu_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.collection_menu = QMenu(self)
        self.new_collection_action = self.collection_menu.addAction("New collection…")
        self.rename_collection_action = self.collection_menu.addAction("Rename collection…")
        self.collection_menu.addSeparator()
        self.delete_collection_action = self.collection_menu.addAction("Delete collection…")
        self.collection_menu_button.setMenu(self.collection_menu)
        self.add_folder_button = QPushButton("Add folder…", self)
        self.add_files_button = QPushButton("Add files…", self)
        self.add_files_button.setObjectName("accentButton")
        self.add_files_button.setToolTip("Add documents (Ctrl+O), or drop them onto the window")
        for widget in (
            self.collection_box,
            self.collection_menu_button,
            self.add_folder_button,
            self.add_files_button,
        ):
            header.addWidget(widget, 0, Qt.AlignmentFlag.AlignVCenter)
        root.addLayout(header)

        self.progress_card = QFrame(self)
        self.progress_card.setObjectName("progressCard")
        card = QHBoxLayout(self.progress_card)
        card.setContentsMargins(14, 10, 10, 10)
        card.setSpacing(12)
        texts = QVBoxLayout()
        texts.setSpacing(6)
        # Elided at the card's width, not as wide as its text: the line changes several
        # times a second while files come in, with file names of any length (the count
        # and the time left come first, so a long name never hides them).
        self.progress_label = ElidedLabel("", self.progress_card)
        self.pause_reason_label = QLabel("", self.progress_card)
        self.pause_reason_label.setObjectName("pauseReason")
        self.pause_reason_label.setWordWrap(True)
        self.pause_reason_label.hide()
        self.progress_bar = QProgressBar(self.progress_card)
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        texts.addWidget(self.progress_label)
        texts.addWidget(self.pause_reason_label)
        texts.addWidget(self.progress_bar)
        card.addLayout(texts, 1)
        self.pause_button = QPushButton("Pause", self.progress_card)
        self.pause_button.setToolTip("Finish the current file, keep the rest queued")
        self.cancel_button = QPushButton("Cancel", self.progress_card)
        self.cancel_button.setObjectName("dangerButton")
        self.cancel_button.setToolTip("Stop indexing and empty the queue")
        card.addWidget(self.pause_button)
        card.addWidget(self.cancel_button)
        root.addWidget(self.progress_card)

        self.notice_label = QLabel("", self)
        self.notice_label.setObjectName("noticeBanner")
        self.notice_label.setWordWrap(True)
        self.notice_label.hide()
        root.addWidget(self.notice_label)

        self.folders_card = WatchedFoldersCard(self.controller, self)
        root.addWidget(self.folders_card)

        filter_row = QHBoxLayout()
        filter_row.setSpacing(10)
        self.filter_box = QLineEdit(self)
        self.filter_box.setObjectName("libraryFilter")
        self.filter_box.setPlaceholderText("Filter by title, file name or status")
        self.filter_box.setAccessibleName("Filter documents")
        self.filter_box.setClearButtonEnabled(True)
        self.filter_box.setMaximumWidth(360)
        self.filter_count_label = QLabel("", self)
        self.filter_count_label.setObjectName("hintLabel")
        filter_row.addWidget(self.filter_box, 1)
        filter_row.addWidget(self.filter_count_label)
        filter_row.addStretch(1)
        self.filter_bar = QWidget(self)
        self.filter_bar.setLayout(filter_row)
        filter_row.setContentsMargins(0, 0, 0, 0)
        root.addWidget(self.filter_bar)

        self.drop_zone = DropZone(self)
        self.table = QTableView(self)
        self.table.setObjectName("documentTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(NAME, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(38)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.cells = DocumentCellDelegate(self.proxy.row_at, self.table)
        self.table.setItemDelegate(self.cells)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        header_view = self.table.horizontalHeader()
        header_view.setHighlightSections(False)
        self.column_widths = dict(COLUMN_WIDTHS)  # Type's grows with the labels shown
        self._file_types: set[str] = set()  # the file types the Type column was fitted to
        for column, width in COLUMN_WIDTHS.items():
            header_view.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            header_view.resizeSection(column, width)
        # Status takes the spare width: a failure's reason must stay readable.
        header_view.setSectionResizeMode(STATUS, QHeaderView.ResizeMode.Stretch)
        header_view.setMinimumSectionSize(40)
        self._name_squeezed = False  # the title column was narrowed to fit the window
        self.fit_number_columns()
        self.table.viewport().installEventFilter(self)  # its width decides the columns
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.drop_zone)
        self.stack.addWidget(self.table)
        root.addWidget(self.stack, 1)

        self.drop_overlay = QLabel("Drop to add to the library", self)
        self.drop_overlay.setObjectName("dropOverlay")
        self.drop_overlay.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.drop_overlay.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.drop_overlay.hide()

    def _wire(self) -> None:
        c = self.controller
        c.rows_reset.connect(self._on_rows_reset)
        c.rows_changed.connect(self._on_rows_changed)
        c.row_removed.connect(self._on_row_removed)
        c.collections_changed.connect(self._on_collections)
        c.current_collection_changed.connect(self._select_collection_in_box)
        c.progress.connect(self._show_progress)
        c.paused_changed.connect(self._refresh_progress)
        c.busy_changed.connect(self._refresh_progress)
        c.failed.connect(self._show_error)
        c.notice.connect(self.show_notice)
        c.batch_finished.connect(self._on_batch_finished)
        c.events.add_documents_requested.connect(self.choose_files)
        self.collection_box.activated.connect(self._on_collection_chosen)
        self.new_collection_action.triggered.connect(self.prompt_new_collection)
        self.rename_collection_action.triggered.connect(self.prompt_rename_collection)
        self.delete_collection_action.triggered.connect(self.prompt_delete_collection)
        self.add_files_button.clicked.connect(self.choose_files)
        self.add_folder_button.clicked.connect(self.choose_folder)
        self.filter_box.textChanged.connect(self._on_filter_text)
        self.proxy.filter_applied.connect(self._on_filter_applied)
        self.drop_zone.choose_button.clicked.connect(self.choose_files)
        self.drop_zone.folder_button.clicked.connect(self.choose_folder)
        self.pause_button.clicked.connect(self._toggle_pause)
        self.cancel_button.clicked.connect(c.cancel)
        self.table.customContextMenuRequested.connect(self._show_context_menu)
        self.table.doubleClicked.connect(self._open_index)
        remove = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.table)
        remove.setContext(Qt.ShortcutContext.WidgetShortcut)
        remove.activated.connect(self.remove_selected)

    # --- controller -> view -------------------------------------------------------------

    def _on_rows_reset(self, rows: list[LibraryRow]) -> None:
        self.model.reset(rows)
        if len(rows) >= COLLECT_AFTER_ROWS:
            # The rows are new objects, young to the garbage collector: its next passes
            # would each walk all of them (50-90 ms at 100,000 rows, a full pass 85 ms,
            # in the middle of a scroll or a keystroke). One full pass now, in the
            # reload's own stall, then freeze what is left, as start-up does: later
            # passes skip the rows. They hold no cycles, so the next reload frees them.
            gc.collect()
            gc.freeze()
        self.fit_type_column({row.file_type for row in rows})
        self._update_summary()
        self._haystack_timer.start()

    def _prepare_filter(self) -> None:
        """The filter's text for each row, a slice at a time while the loop is idle."""
        if self.model.prepare_haystacks(HAYSTACK_SLICE):
            self._haystack_timer.stop()

    def _on_rows_changed(self, rows: list[LibraryRow]) -> None:
        self.model.upsert_many(rows)
        types = {row.file_type for row in rows}
        if not types <= self._file_types:
            self.fit_type_column(self._file_types | types)
        self._schedule_summary()

    def _on_row_removed(self, path: str) -> None:
        self.model.remove(path)
        self._schedule_summary()

    def _schedule_summary(self) -> None:
        """Counts over every row: at most a few times a second, not once per row update."""
        if self.stack.currentWidget() is self.drop_zone or self.model.row_count == 0:
            self._update_summary()  # the first row or the last one gone: switch at once
        elif not self._summary_timer.isActive():
            self._summary_timer.start()

    def _update_summary(self) -> None:
        self._summary_timer.stop()
        counts = self.model.counts()
        has_rows = self.model.row_count > 0
        self.stack.setCurrentWidget(self.table if has_rows else self.drop_zone)
        self.filter_bar.setVisible(has_rows)
        self._update_filter_count()
        collection = self.collection_box.currentText()
        self.summary_label.setText(
            (f"{collection} · " if collection else "") + counts.summary()
            if has_rows
            else "Add documents to ask questions about them."
        )
        self.drop_overlay.setText(f"Drop to add to “{collection}”" if collection else "Drop to add")

    def _on_collections(self, collections: list[CollectionRecord]) -> None:
        self.collection_box.blockSignals(True)
        self.collection_box.clear()
        for record in collections:
            self.collection_box.addItem(record.name, record.id)
        self.collection_box.blockSignals(False)
        current = self.controller.current_collection_id
        if current is not None:
            self._select_collection_in_box(current)
        self.delete_collection_action.setEnabled(len(collections) > 1)

    def _select_collection_in_box(self, collection_id: int) -> None:
        position = self.collection_box.findData(collection_id)
        if collection_id != self._shown_collection_id:
            # A message about another collection's files would mislead here.
            self._shown_collection_id = collection_id
            self.show_notice("")
        if position >= 0:
            self.collection_box.setCurrentIndex(position)
        self._update_summary()

    def _refresh_progress(self, _state: bool = False) -> None:
        self._show_progress(self.controller.overall_progress())

    def _show_progress(self, progress: OverallProgress) -> None:
        controller = self.controller
        waiting = controller.pending
        # Paused with nothing waiting still shows: files added or changed now would wait.
        active = controller.busy or waiting > 0 or controller.paused
        self.progress_card.setVisible(active)
        reason = controller.pause_reason if progress.paused else None
        self.pause_reason_label.setVisible(active and reason is not None)
        self.progress_bar.setVisible(not progress.paused)
        if not active:
            return
        if reason is not None:
            self.pause_reason_label.setText(f"{reason.message} {reason.hint}".strip())
        self.progress_label.setText(progress_line(progress, waiting, controller.busy))
        set_without_repaint(self.progress_bar, round(progress.fraction * 1000))
        self.pause_button.setText("Resume" if progress.paused else "Pause")

    def _show_error(self, error: AllmaError) -> None:
        if error is self.controller.pause_reason:
            self._refresh_progress()  # the paused card says it, beside its Resume button
            return
        self.show_notice(f"{error.message} {error.hint}".strip(), error=True)

    def show_notice(self, text: str, error: bool = False) -> None:
        self.notice_label.setText(text)
        self.notice_label.setProperty("error", error)
        self.notice_label.setVisible(bool(text))

    def _on_batch_finished(self, summary: BatchSummary) -> None:
        if summary.error is not None:
            return  # the error itself is already shown
        parts = []
        if summary.indexed:
            parts.append(f"{summary.indexed} indexed")
        if summary.failed:
            parts.append(f"{summary.failed} could not be read (see the Status column)")
        if summary.skipped:
            parts.append(f"{summary.skipped} skipped")
        if summary.files_cancelled:
            parts.append(f"{summary.files_cancelled} cancelled")
        if summary.cancelled:
            parts.insert(0, "Indexing cancelled")
        self.show_notice(" · ".join(parts) if summary.failed or summary.cancelled else "")

    # --- view -> controller ---------------------------------------------------------------

    def _on_collection_chosen(self, position: int) -> None:
        collection_id = self.collection_box.itemData(position)
        if isinstance(collection_id, int):
            self.controller.select_collection(collection_id)

    def _toggle_pause(self) -> None:
        self.controller.set_paused(not self.controller.paused)

    def remove_selected(self) -> None:
        self.controller.remove(self.selected_paths())

    def choose_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Add documents", start_path("add_documents"), FILE_FILTER
        )
        if paths:
            remember("add_documents", paths[0])
            self.controller.add_paths(paths)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder", start_path("add_folder"))
        if folder:
            # Next time the dialog opens beside this folder, ready for its sibling.
            remember("add_folder", Path(folder).parent)
            self.add_folders([folder])

    def add_folders(self, folders: list[str]) -> None:
        """Ask whether to keep them in sync (yes by default), then add them."""
        dialog = KeepInSyncDialog(folders, self.collection_box.currentText(), self)
        if dialog.exec() != KeepInSyncDialog.DialogCode.Accepted:
            return
        if dialog.keep_in_sync:
            for folder in folders:
                self.controller.add_folder(folder)
        else:
            self.controller.add_paths(folders)

    def _on_filter_text(self, text: str) -> None:
        self._filter_typed = True
        self.proxy.set_filter_text(text)  # the count follows when the filter is applied

    def _on_filter_applied(self) -> None:
        """A filter typed is shown: its count, and the current row (kept if still shown)
        in view, or else the first match."""
        self._update_filter_count()
        if not self._filter_typed:
            return  # applied again because rows changed under it: the view stays put
        self._filter_typed = False
        current = self.table.currentIndex()
        if current.isValid():
            self.table.scrollTo(current)
        else:
            self.table.scrollToTop()

    def _update_filter_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.row_count
        filtering = bool(self.proxy.filter_text)
        self.filter_count_label.setText(f"{shown:,} of {total:,}" if filtering else "")

    def prompt_new_collection(self) -> None:
        name, ok = QInputDialog.getText(self, "New collection", "Name of the new collection:")
        if ok and name.strip():
            self.controller.create_collection(name)

    def prompt_rename_collection(self) -> None:
        collection_id = self.controller.current_collection_id
        if collection_id is None:
            return
        name, ok = QInputDialog.getText(
            self, "Rename collection", "New name:", text=self.collection_box.currentText()
        )
        if ok and name.strip():
            self.controller.rename_collection(collection_id, name)

    def prompt_delete_collection(self) -> None:
        collection_id = self.controller.current_collection_id
        if collection_id is None:
            return
        name = self.collection_box.currentText()
        answer = QMessageBox.question(
            self,
            "Delete collection",
            f"Delete “{name}” and its index? The files on your disk are not touched.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.controller.delete_collection(collection_id)

    def selected_rows(self) -> list[LibraryRow]:
        rows = []
        for index in self.table.selectionModel().selectedRows(NAME):
            row = index.data(ROW_ROLE)
            if isinstance(row, LibraryRow):
                rows.append(row)
        return rows

    def selected_paths(self) -> list[str]:
        return [row.path for row in self.selected_rows()]

    def _show_context_menu(self, position: QPoint) -> None:
        rows = self.selected_rows()
        if not rows:
            return
        paths = [row.path for row in rows]
        menu = QMenu(self)
        if len(rows) == 1:
            menu.addAction("Open", lambda: _open_path(rows[0].path))
            menu.addAction("Show in folder", lambda: _reveal(rows[0].path))
            menu.addSeparator()
        menu.addAction("Re-index", lambda: self.controller.reindex(paths))
        move_menu = menu.addMenu("Move to collection")
        for record in self.controller.collections:
            action = QAction(record.name, move_menu)
            action.setEnabled(record.id != self.controller.current_collection_id)
            action.triggered.connect(
                lambda _=False, target=record.id: self.controller.move(paths, target)
            )
            move_menu.addAction(action)
        menu.addSeparator()
        menu.addAction("Remove from library", lambda: self.controller.remove(paths))
        menu.popup(self.table.viewport().mapToGlobal(position))

    def _open_index(self, index: QModelIndex) -> None:
        row = index.data(ROW_ROLE)
        if isinstance(row, LibraryRow) and row.document_id:
            self.document_open_requested.emit(row.document_id)
        elif isinstance(row, LibraryRow):
            _open_path(row.path)

    # --- drops ----------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()
            self._set_drop_highlight(True)

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self._set_drop_highlight(False)

    def dropEvent(self, event: QDropEvent) -> None:
        self._set_drop_highlight(False)
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if not paths:
            return
        event.acceptProposedAction()
        folders = [path for path in paths if Path(path).is_dir()]
        files = [path for path in paths if path not in folders]
        if files:
            self.controller.add_paths(files)
        if folders:
            # After the drop returns: the file manager is not left waiting on the dialog.
            QTimer.singleShot(0, lambda: self.add_folders(folders))

    def _set_drop_highlight(self, active: bool) -> None:
        if self.stack.currentWidget() is self.drop_zone:
            self.drop_zone.set_active(active)
            return
        self.drop_overlay.setGeometry(self.stack.geometry())
        self.drop_overlay.setVisible(active)
        self.drop_overlay.raise_()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.drop_overlay.setGeometry(self.stack.geometry())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.table.viewport() and event.type() == QEvent.Type.Resize:
            self.fit_columns()
        return super().eventFilter(watched, event)

    def fit_columns(self) -> None:
        """Keep Status on screen: the lesser columns give way and the title shrinks as
        the table narrows, and come back as it widens."""
        width = self.table.viewport().width()
        if width <= 0:
            return
        hidden = columns_giving_way(width, self.column_widths)
        for column in COLUMNS_GIVING_WAY:
            if self.table.isColumnHidden(column) != (column in hidden):
                self.table.setColumnHidden(column, column in hidden)
        header = self.table.horizontalHeader()
        others = sum(
            header.sectionSize(column)
            for column in self.column_widths
            if column != NAME and not self.table.isColumnHidden(column)
        )
        room = width - others - STATUS_MIN_WIDTH
        if room < header.sectionSize(NAME) or self._name_squeezed:
            header.resizeSection(NAME, max(NAME_MIN_WIDTH, min(COLUMN_WIDTHS[NAME], room)))
            self._name_squeezed = room < COLUMN_WIDTHS[NAME]

    def fit_type_column(self, file_types: set[str]) -> None:
        """Make the Type column as wide as the longest of these types' labels, so that
        "DOCX" or "EPUB" is never cut to "DO…" (the font and the style's padding decide,
        so it holds at any font size or scale)."""
        self._file_types = set(file_types)
        self._fit_column(TYPE, [type_label(file_type) for file_type in file_types])

    def fit_number_columns(self) -> None:
        """Pages, Chunks, Size and Added as wide as their widest usual text in the font in
        use (the design's widths at the usual font): with large text, "1,024 pages" or
        "12 Dec 2026" must not be cut to "ages" or "12 D…"."""
        for column, samples in NUMBER_COLUMN_SAMPLES.items():
            self._fit_column(column, samples, at_least=COLUMN_WIDTHS[column])

    def _fit_column(self, column: int, texts: list[str], at_least: int = 0) -> None:
        header = self.table.horizontalHeader()
        needed = max(
            [at_least, header.sectionSizeFromContents(column).width()]
            + [self._cell_width(text) for text in texts]
        )
        if needed != self.column_widths[column]:
            self.column_widths[column] = needed
            header.resizeSection(column, needed)
            self.fit_columns()

    def _cell_width(self, text: str) -> int:
        """The width a table cell showing ``text`` asks for, padding included."""
        option = QStyleOptionViewItem()
        option.initFrom(self.table)
        option.widget = self.table
        option.font = self.table.font()
        option.fontMetrics = self.table.fontMetrics()
        option.text = text
        option.features = QStyleOptionViewItem.ViewItemFeature.HasDisplay
        size = self.table.style().sizeFromContents(
            QStyle.ContentsType.CT_ItemViewItem, option, QSize(), self.table
        )
        return size.width()

    def changeEvent(self, event: QEvent) -> None:
        kind = event.type()
        if kind in (QEvent.Type.FontChange, QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            self.cells.style_changed()  # the cells' colours, insets and laid-out texts
        if kind == QEvent.Type.FontChange:
            self.fit_type_column(self._file_types)
            self.fit_number_columns()
        if kind == QEvent.Type.PaletteChange:  # light <-> dark: the table's colours
            self.model.palette_changed()
        super().changeEvent(event)


def columns_giving_way(width: int, widths: dict[int, int] = COLUMN_WIDTHS) -> set[int]:
    """The columns left out of a table ``width`` pixels wide, so that the title (at its
    narrowest) and Status (at its minimum) fit beside the others (``widths``)."""
    hidden: set[int] = set()
    for column in (None, *COLUMNS_GIVING_WAY):
        if column is not None:
            hidden.add(column)
        others = sum(w for c, w in widths.items() if c != NAME and c not in hidden)
        if others + NAME_MIN_WIDTH + STATUS_MIN_WIDTH <= width:
            break
    return hidden


def _open_path(path: str) -> None:
    QDesktopServices.openUrl(QUrl.fromLocalFile(path))


def _reveal(path: str) -> None:
    """Show the file in the file manager (selected where the platform can)."""
    if sys.platform == "darwin":
        subprocess.Popen(["open", "-R", path])
    elif sys.platform == "win32":
        subprocess.Popen(["explorer", "/select,", path])
    else:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(path).parent)))


__all__ = ["DropZone", "LibraryPane", "columns_giving_way", "format_eta"]
