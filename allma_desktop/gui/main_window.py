"""The main window: sidebar on the left; Chat, Library and Settings pages on the right."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QEvent, QSettings, Qt, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDropEvent,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from allma_desktop.config import AppConfig
from allma_desktop.gui.controllers.chat_controller import ChatController
from allma_desktop.gui.controllers.conversations_controller import ConversationsController
from allma_desktop.gui.controllers.health_controller import HealthController
from allma_desktop.gui.controllers.reader_controller import ReaderController, ReaderTarget
from allma_desktop.gui.quitting import quit_application
from allma_desktop.gui.theme import current_colors, is_dark, scaled_text
from allma_desktop.gui.widgets.chat_style import shell_stylesheet
from allma_desktop.gui.widgets.chat_view import ChatView
from allma_desktop.gui.widgets.first_run_panel import FirstRunPanel, rebuild_summary
from allma_desktop.gui.widgets.reader_pane import ReaderPane
from allma_desktop.gui.widgets.sidebar import Sidebar
from allma_desktop.gui.widgets.status_bar import AppStatusBar
from allma_desktop.privacy import acknowledge_remote_host, remote_host_notice

if TYPE_CHECKING:
    from collections.abc import Sequence

    from allma_desktop.errors import AllmaError
    from allma_desktop.events import AnswerDone
    from allma_desktop.gui.controllers.api_controller import ApiController
    from allma_desktop.gui.global_shortcut import GlobalShortcut
    from allma_desktop.gui.orchestrator_host import OrchestratorHost
    from allma_desktop.orchestrator import HealthReport
    from allma_desktop.records import DoctorReport
    from allma_desktop.sources import Source

log = logging.getLogger(__name__)

SIDEBAR_MIN_WIDTH = 180  # px
REBUILT_MESSAGE_MS = 20_000
DROP_CUE = "Drop to add these files to your library"
SETTINGS_ORGANIZATION = "Allma"
SETTINGS_APPLICATION = "Allma Desktop"


def gui_settings() -> QSettings:
    """GUI-only preferences (geometry, splitter, theme), separate from the engine's config."""
    return QSettings(SETTINGS_ORGANIZATION, SETTINGS_APPLICATION)


class MainWindow(QMainWindow):
    page_changed = Signal(str)
    # Open the reader at a document's page (document id, page; 0 for the first page):
    # for views that show documents, such as the Library.
    open_document_requested = Signal(str, int)

    def __init__(self, host: OrchestratorHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.events = host.events
        self.setWindowTitle("Allma")
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        self.setMinimumSize(760, 520)
        # The stylesheet goes on before any child exists, and every child is created in
        # its final parent: with a stylesheet in force, each reparenting (and a stylesheet
        # set over finished widgets) re-polishes the whole subtree; this way each widget is
        # polished once, when first shown.
        self._dark: bool | None = None
        self._apply_shell_style()

        self.chat_controller = ChatController(host, self)
        self.conversations = ConversationsController(host, self)
        self.health = HealthController(host, self)
        self.reader_controller = ReaderController(host, self)
        self.api_controller: ApiController | None = None  # created with the B controllers
        # The quick-ask key for the whole desktop: set by the app with the tray (app.py).
        self.quick_ask_shortcut: GlobalShortcut | None = None
        self._built_pages: dict[str, QWidget] = {}
        self._create_b_controllers()

        central = QWidget(self)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, central)
        self.splitter.setObjectName("mainSplitter")
        self.sidebar = Sidebar(self.conversations, self.splitter)
        self.pages = QStackedWidget(self.splitter)
        self.pages.setObjectName("pageStack")
        self.chat_page = QStackedWidget(self.pages)
        self.chat_page.setObjectName("pageStack")
        self.chat_view = ChatView(self.chat_controller, self.conversations, self.chat_page)
        self.first_run = FirstRunPanel(self.chat_page)
        self.chat_page.addWidget(self.chat_view)
        self.chat_page.addWidget(self.first_run)
        # Library and Settings are built when first shown (or first asked for): the first
        # frame shows the chat page, and they are most of the window's widgets.
        self.page_index = {"chat": 0, "library": 1, "settings": 2}
        self._built_pages["chat"] = self.chat_page
        self.pages.addWidget(self.chat_page)
        self.pages.addWidget(QWidget(self.pages))  # Library's stand-in until it is built
        self.pages.addWidget(QWidget(self.pages))  # Settings' stand-in

        self.reader = ReaderPane(self.reader_controller, self.splitter)
        # Wide enough for conversation titles to read at 800x600 ("Wha…" at 133 px).
        self.sidebar.setMinimumWidth(SIDEBAR_MIN_WIDTH)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(self.pages)
        self.splitter.addWidget(self.reader)  # beside the chat (or the library); hidden until used
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setCollapsible(1, False)
        self.splitter.setCollapsible(2, False)
        self.splitter.setHandleWidth(1)
        self.splitter.setSizes([260, 840])
        self.remote_banner = RemoteHostBanner(central)
        self.remote_banner.acknowledged.connect(self._acknowledge_remote_host)
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.remote_banner)
        column.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.status = AppStatusBar(self)
        self.setStatusBar(self.status)

        self._wire()
        self._install_shortcuts()
        self.restore_layout()
        self.show_remote_host_notice(host.config)

    # --- B's pages ----------------------------------------------------------------

    def _create_b_controllers(self) -> None:
        """The Library and Settings controllers (engineer B) live from the start: the
        ingest queue resumes and a remembered local API starts without their pages."""
        try:
            from allma_desktop.gui.controllers.library_controller import LibraryController

            self.library_controller = LibraryController(self.host)
        except ImportError as error:
            log.warning("library controller unavailable: %s", error)
        try:
            from allma_desktop.gui.controllers.api_controller import ApiController
            from allma_desktop.gui.controllers.settings_controller import SettingsController

            self.settings_controller = SettingsController(self.host)
            self.api_controller = ApiController(self.host, self)
        except ImportError as error:
            log.warning("settings controller unavailable: %s", error)
            return
        if self.settings_controller.api_enabled:
            self.settings_controller.when_engine_ready(self._start_api_if_enabled)

    def _start_api_if_enabled(self) -> None:
        # Once built, the Settings page starts the API itself (its switch is on).
        if (
            "settings" not in self._built_pages
            and self.api_controller is not None
            and self.settings_controller.api_enabled
        ):
            self.api_controller.start()

    @property
    def library_page(self) -> QWidget:
        return self._page("library")

    @property
    def settings_page(self) -> QWidget:
        return self._page("settings")

    def _page(self, page: str) -> QWidget:
        """The page's widget, built and put in its place in the stack on first use."""
        built = self._built_pages.get(page)
        if built is None:
            built = self._build_library() if page == "library" else self._build_settings()
            index = self.page_index[page]
            stand_in = self.pages.widget(index)
            self.pages.insertWidget(index, built)
            if stand_in is not None:
                self.pages.removeWidget(stand_in)
                stand_in.deleteLater()
            self._built_pages[page] = built
        return built

    def _build_library(self) -> QWidget:
        if not hasattr(self, "library_controller"):
            return _placeholder("The library is not available in this build.", self.pages)
        try:
            from allma_desktop.gui.widgets.library_pane import LibraryPane
        except ImportError as error:
            log.warning("library page unavailable: %s", error)
            return _placeholder("The library is not available in this build.", self.pages)
        pane = LibraryPane(self.library_controller, self.pages)
        pane.document_open_requested.connect(lambda document: self.open_reader(document))
        return pane

    def _build_settings(self) -> QWidget:
        if not hasattr(self, "settings_controller"):
            return _placeholder("Settings are not available in this build.", self.pages)
        try:
            from allma_desktop.gui.widgets.settings.page import SettingsPage
        except ImportError as error:
            log.warning("settings page unavailable: %s", error)
            return _placeholder("Settings are not available in this build.", self.pages)
        return SettingsPage(
            self.settings_controller, self.pages, self.api_controller, self.quick_ask_shortcut
        )

    # --- wiring -------------------------------------------------------------------

    def _wire(self) -> None:
        self.sidebar.page_requested.connect(self.show_page)
        self.sidebar.new_chat_requested.connect(self.new_chat)
        self.sidebar.conversation_selected.connect(self.open_conversation)
        self.chat_view.conversation_opened.connect(self.sidebar.select_conversation)
        self.chat_view.citation_requested.connect(self.open_citation)
        self.chat_view.viewer_requested.connect(self._open_in_viewer)
        self.chat_controller.finished.connect(self._answer_finished)
        self.open_document_requested.connect(self.open_reader)
        self.events.open_conversation.connect(self.open_conversation)
        self.conversations.deleted.connect(self._forget_deleted_conversation)
        self.events.health_changed.connect(self._on_health)
        self.events.engine_failed.connect(self._on_engine_failed)
        self.events.documents_changed.connect(self.health.recount)  # the library counts
        self.events.settings_changed.connect(self.show_remote_host_notice)
        self.health.checking.connect(self.status.show_checking)
        self.health.pull_progress.connect(self._on_pull_progress)
        self.health.pull_finished.connect(self._on_pull_finished)
        self.health.pull_failed.connect(self._on_pull_failed)
        self.status.reconnect_requested.connect(self.health.check_now)
        self.first_run.check_requested.connect(self.health.check_now)
        self.first_run.pull_requested.connect(self.health.pull)
        self.first_run.rebuild_requested.connect(self.health.rebuild_index)
        self.health.rebuild_progress.connect(self.first_run.show_rebuild_progress)
        self.health.rebuild_finished.connect(self._on_index_rebuilt)
        self.health.rebuild_failed.connect(self.first_run.show_rebuild_failed)
        self.first_run.settings_requested.connect(lambda: self.show_page("settings"))
        self.first_run.open_url.connect(QDesktopServices.openUrl)

    def _install_shortcuts(self) -> None:
        for keys, handler in (
            ("Ctrl+N", self.new_chat),
            ("Ctrl+L", self.focus_input),
            ("Ctrl+K", self.focus_search),
            ("Ctrl+O", self.add_documents),
            ("Ctrl+,", lambda: self.show_page("settings")),
        ):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(handler)
        # Ctrl+Q quits (not "close to the tray"), as in the tray menu.
        self.quit_shortcut = QShortcut(QKeySequence("Ctrl+Q"), self)  # Cmd+Q on macOS
        self.quit_shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        self.quit_shortcut.activated.connect(quit_application)
        QWidget.setTabOrder(self.sidebar.new_chat_button, self.sidebar.search)
        QWidget.setTabOrder(self.sidebar.search, self.sidebar.list)
        QWidget.setTabOrder(self.sidebar.list, self.chat_view.model_box)
        QWidget.setTabOrder(self.chat_view.model_box, self.chat_view.collection_box)
        QWidget.setTabOrder(self.chat_view.collection_box, self.chat_view.input)

    # --- actions ------------------------------------------------------------------

    def show_page(self, page: str) -> None:
        self.pages.setCurrentWidget(self._page(page))
        self.sidebar.set_page(page)
        self.page_changed.emit(page)

    def new_chat(self) -> None:
        self.show_page("chat")
        self.sidebar.select_conversation(None)
        self.chat_view.new_chat()

    def open_conversation(self, conversation_id: int) -> None:
        self.show_page("chat")
        self.sidebar.select_conversation(conversation_id)
        if self.chat_view.conversation_id != conversation_id:
            self.chat_view.show_conversation(conversation_id)

    def open_citation(self, sources: Sequence[Source], index: int) -> None:
        """Open the reader at source ``index`` of an answer; its arrows step through the rest."""
        targets = [ReaderTarget.citing(source) for source in sources]
        if targets:
            self._make_room_for_reader()
            self.reader.show_citations(targets, index)

    def open_reader(self, document_id: str, page: int = 0) -> None:
        """Open the reader at a document's page (from the Library, say)."""
        self._make_room_for_reader()
        self.reader.show_target(ReaderTarget(document_id=document_id, page=page or None))

    def _answer_finished(self, done: AnswerDone) -> None:
        if done.sources:
            self.reader_controller.warm_up()  # its citations may be clicked next

    def _open_in_viewer(self, path: str, page: int) -> None:
        """A source's "Open at page": the system viewer, told the page where it can be."""
        message = self.reader.open_file_in_viewer(path, page or None)
        if message and not self.reader.isVisible():
            self.status.showMessage(message, 10_000)

    def _make_room_for_reader(self) -> None:
        if self.reader.isVisible():
            return
        sizes = self.splitter.sizes()
        total = sum(sizes)
        reader = max(420, (total - sizes[0]) // 2)
        self.reader.show()
        self.splitter.setSizes([sizes[0], max(300, total - sizes[0] - reader), reader])

    def focus_input(self) -> None:
        self.show_page("chat")
        self.chat_view.focus_input()

    def focus_search(self) -> None:
        self.sidebar.focus_search()

    def add_documents(self) -> None:
        self.show_page("library")
        self.events.add_documents_requested.emit()

    def bring_forward(self) -> None:
        """A second launch asked for us: un-minimise, raise and focus."""
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    # --- privacy ------------------------------------------------------------------

    def show_remote_host_notice(self, config: AppConfig) -> None:
        """Say once per host, in a banner that does not block, that Ollama is elsewhere."""
        self.remote_banner.show_notice(remote_host_notice(config))

    def _acknowledge_remote_host(self) -> None:
        acknowledge_remote_host(self.host.config)
        self.remote_banner.hide()

    # --- health -------------------------------------------------------------------

    def _on_health(self, report: HealthReport) -> None:
        self.status.show_report(report)
        if report.ok:
            self.chat_page.setCurrentWidget(self.chat_view)
        else:
            self.first_run.show_report(report)
            self.chat_page.setCurrentWidget(self.first_run)

    def _on_index_rebuilt(self, report: DoctorReport) -> None:
        self.first_run.show_rebuild_finished(report)
        # The panel goes away at the re-check that follows: the outcome stays in view here.
        self.status.showMessage(rebuild_summary(report), REBUILT_MESSAGE_MS)

    def _on_engine_failed(self, error: AllmaError) -> None:
        self.status.show_engine_failed(error)
        self.first_run.show_error(error)
        self.chat_page.setCurrentWidget(self.first_run)

    def _on_pull_progress(self, model: str, status: str, fraction: float) -> None:
        row = self.first_run.row_for(model)
        if row is not None:
            row.show_progress(status, fraction)

    def _on_pull_finished(self, model: str) -> None:
        row = self.first_run.row_for(model)
        if row is not None:
            row.show_finished()

    def _on_pull_failed(self, model: str, error: AllmaError) -> None:
        row = self.first_run.row_for(model)
        if row is not None:
            row.show_failed(error)

    def _forget_deleted_conversation(self, conversation_id: int) -> None:
        if self.chat_view.conversation_id == conversation_id:
            self.chat_view.show_conversation(None)

    # --- drops --------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()
            # The cue, on every page: what letting go will do.
            self.status.showMessage(DROP_CUE)

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        if self.status.currentMessage() == DROP_CUE:
            self.status.clearMessage()
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.request_ingest(paths)

    def request_ingest(self, paths: list[str]) -> None:
        count = len(paths)
        self.status.showMessage(
            f"Adding {count} item{'s' if count != 1 else ''} to the library…", 5000
        )
        self.events.ingest_requested.emit(paths)

    # --- look and layout ----------------------------------------------------------

    def _apply_shell_style(self) -> None:
        # The application palette, not ours: our own stylesheet changes ours.
        dark = is_dark()
        if dark != self._dark:
            self._dark = dark
            self.setStyleSheet(scaled_text(shell_stylesheet(current_colors())))

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.ApplicationPaletteChange, QEvent.Type.PaletteChange):
            self._apply_shell_style()

    def restore_layout(self) -> None:
        settings = gui_settings()
        geometry = settings.value("window/geometry")
        if isinstance(geometry, QByteArray | bytes) and not self.restoreGeometry(geometry):
            log.debug("saved window geometry not usable")
        if not isinstance(geometry, QByteArray | bytes):
            self.resize(1100, 720)
        splitter = settings.value("window/splitter")
        if isinstance(splitter, QByteArray | bytes):
            self.splitter.restoreState(splitter)
        self.reader.hide()  # opens on a citation, not at start

    def save_layout(self) -> None:
        settings = gui_settings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/splitter", self.splitter.saveState())
        settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_layout()
        self.reader_controller.close()  # its page process; started again when needed
        super().closeEvent(event)


class RemoteHostBanner(QFrame):
    """A strip across the top: the privacy notice for a remote Ollama, with "Got it"."""

    acknowledged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("remoteHostBanner")
        self.setAccessibleName("Privacy notice")
        self.text = QLabel(self)
        self.text.setObjectName("remoteHostText")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.ok_button = QPushButton("Got it", self)
        self.ok_button.setObjectName("secondaryButton")
        self.ok_button.setAccessibleName("Dismiss the privacy notice")
        self.ok_button.clicked.connect(self.acknowledged)
        row = QHBoxLayout(self)
        row.setContentsMargins(16, 8, 12, 8)
        row.setSpacing(12)
        row.addWidget(self.text, 1)
        row.addWidget(self.ok_button, 0, Qt.AlignmentFlag.AlignVCenter)
        self.hide()

    def show_notice(self, notice: str | None) -> None:
        if notice is None:
            self.hide()
            return
        self.text.setText(notice)
        self.show()


def _placeholder(text: str, parent: QWidget) -> QWidget:
    label = QLabel(text, parent)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setObjectName("mutedLabel")
    return label


__all__ = ["MainWindow", "RemoteHostBanner", "gui_settings"]
