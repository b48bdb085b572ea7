"""A friendly panel instead of error dialogs: what to do when Ollama or a model is
missing, or the library's stores are in trouble.

It follows each ``HealthReport``; the main window hides it once everything works. A
damaged vector store gets a "Rebuild the index" button: the vectors are made again from
the texts stored in the library, with progress here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, Qt, QUrl, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from allma_desktop.errors import AllmaError
    from allma_desktop.records import DoctorReport, HealthReport

OLLAMA_DOWNLOAD_URL = "https://ollama.com/download"
CARD_WIDTH = 560  # with its margins, fits beside the sidebar in an 800 px window
STEP_TEXT_WIDTH = CARD_WIDTH - 2 * 32 - 26 - 12  # card margins, badge, spacing
VECTORS_DAMAGED = "vector_store_damaged"  # VectorStoreDamaged.code


class ModelRow(QWidget):
    """One model to download: name, what it is for, a Download button, and progress."""

    pull_requested = Signal(str)

    def __init__(self, role: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role
        self.model = ""
        self.name = QLabel(self)
        self.name.setObjectName("modelName")
        self.purpose = QLabel(
            "answers your questions" if role == "chat" else "reads your documents for search",
            self,
        )
        self.purpose.setObjectName("mutedLabel")
        self.button = QPushButton("Download", self)
        self.button.setObjectName("pullButton")
        self.button.clicked.connect(lambda: self.pull_requested.emit(self.model))
        self.progress = QProgressBar(self)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(6)
        self.progress.hide()
        self.state = QLabel(self)
        self.state.setObjectName("mutedLabel")
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 4, 0, 4)
        grid.setVerticalSpacing(2)  # name and purpose read as one item
        grid.addWidget(self.name, 0, 0)
        grid.addWidget(self.button, 0, 1, 2, 1, Qt.AlignmentFlag.AlignVCenter)
        grid.addWidget(self.purpose, 1, 0)
        grid.addWidget(self.progress, 2, 0, 1, 2)
        grid.addWidget(self.state, 3, 0, 1, 2)
        grid.setColumnStretch(0, 1)

    def set_model(self, model: str, present: bool) -> None:
        self.model = model
        self.name.setText(model)
        self.button.setAccessibleName(f"Download {model}")
        if present:
            self.button.setText("Installed ✓")
            self.button.setEnabled(False)
            self.progress.hide()
            self.state.hide()
        elif not self.progress.isVisible():
            self.button.setText("Download")
            self.button.setEnabled(True)

    def show_progress(self, status: str, fraction: float) -> None:
        self.button.setEnabled(False)
        self.button.setText("Downloading…")
        self.progress.show()
        if fraction < 0:
            self.progress.setRange(0, 0)  # busy indicator while Ollama gives no size
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(fraction * 1000))
        self.state.setText(status.capitalize())
        self.state.show()

    def show_finished(self) -> None:
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000)
        self.button.setText("Installed ✓")
        self.state.setText("Downloaded")

    def show_failed(self, error: AllmaError) -> None:
        self.progress.hide()
        self.button.setText("Try again")
        self.button.setEnabled(True)
        self.state.setText(f"{error.message} {error.hint}".strip())
        self.state.show()


class FirstRunPanel(QFrame):
    """Step-by-step help; emits what the user asked for, the main window does it."""

    check_requested = Signal()
    pull_requested = Signal(str)
    rebuild_requested = Signal()
    settings_requested = Signal()
    open_url = Signal(QUrl)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstRunPanel")
        self.card = QFrame(self)
        self.card.setObjectName("firstRunCard")
        self.card.setFixedWidth(
            CARD_WIDTH
        )  # a fixed width lets the wrapped labels size their height
        self.headline = QLabel(self.card)
        self.headline.setObjectName("firstRunHeadline")
        self.headline.setWordWrap(True)
        self.explanation = QLabel(self.card)
        self.explanation.setObjectName("firstRunText")
        self.explanation.setWordWrap(True)
        self.explanation.setTextFormat(Qt.TextFormat.RichText)
        self.explanation.setOpenExternalLinks(False)
        self.explanation.linkActivated.connect(lambda link: self.open_url.emit(QUrl(link)))

        self.install_steps = QWidget(self.card)
        steps = QVBoxLayout(self.install_steps)
        steps.setContentsMargins(0, 0, 0, 0)
        steps.setSpacing(10)
        self.get_ollama = QPushButton("Get Ollama", self.install_steps)
        self.get_ollama.setObjectName("primaryButton")
        self.get_ollama.setToolTip(OLLAMA_DOWNLOAD_URL)
        self.get_ollama.clicked.connect(lambda: self.open_url.emit(QUrl(OLLAMA_DOWNLOAD_URL)))
        self.step_labels: list[QLabel] = []
        steps.addWidget(
            _step(
                1,
                "Install Ollama from ollama.com (free, runs on this computer).",
                self.install_steps,
                self.step_labels,
            )
        )
        steps.addWidget(
            _step(
                2,
                "Start it: open the Ollama app, or run <code>ollama serve</code> in a terminal.",
                self.install_steps,
                self.step_labels,
            )
        )
        steps.addWidget(
            _step(
                3,
                "That's it: Allma checks every few seconds, then this page goes away.",
                self.install_steps,
                self.step_labels,
            )
        )

        self.model_rows = {
            "chat": ModelRow("chat", self.card),
            "embedding": ModelRow("embedding", self.card),
        }
        for row in self.model_rows.values():
            row.pull_requested.connect(self.pull_requested)

        self.check_button = QPushButton("Check again", self.card)
        self.check_button.setObjectName("checkAgainButton")
        self.check_button.clicked.connect(self.check_requested)
        self.settings_button = QPushButton("Open Settings", self.card)
        self.settings_button.setObjectName("secondaryButton")
        self.settings_button.setToolTip("Change the Ollama address or the models")
        self.settings_button.clicked.connect(self.settings_requested)
        self.rebuild_button = QPushButton("Rebuild the index", self.card)
        self.rebuild_button.setObjectName("primaryButton")
        self.rebuild_button.setToolTip(
            "Make every vector again from the texts stored in the library"
        )
        self.rebuild_button.clicked.connect(self._on_rebuild_clicked)
        self.rebuild_progress = QProgressBar(self.card)
        self.rebuild_progress.setTextVisible(False)
        self.rebuild_progress.setFixedHeight(6)
        self.rebuild_state = QLabel(self.card)
        self.rebuild_state.setObjectName("mutedLabel")
        self.rebuild_state.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.get_ollama)
        buttons.addWidget(self.rebuild_button)
        buttons.addWidget(self.check_button)
        buttons.addStretch(1)
        buttons.addWidget(self.settings_button)
        self.hint = QLabel(self.card)
        self.hint.setObjectName("mutedLabel")
        self.hint.setWordWrap(True)

        self.card_layout = card = QVBoxLayout(self.card)
        card.setContentsMargins(32, 28, 32, 28)
        card.setSpacing(14)
        card.addWidget(self.headline)
        card.addWidget(self.explanation)
        card.addWidget(self.install_steps)
        for row in self.model_rows.values():
            card.addWidget(row)
        card.addWidget(self.rebuild_progress)
        card.addWidget(self.rebuild_state)
        card.addLayout(buttons)
        card.addWidget(self.hint)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 24, 24, 24)
        outer.addStretch(1)
        outer.addWidget(self.card, 0, Qt.AlignmentFlag.AlignHCenter)
        outer.addStretch(2)
        self.problem = ""
        self.rebuilding = False
        self.show_waiting()

    def show_waiting(self) -> None:
        self.problem = "starting"
        self.headline.setText("Starting Allma…")
        self.explanation.setText("Opening your library and looking for Ollama.")
        self._show_parts(install=False, models=False)

    def show_report(self, report: HealthReport) -> None:
        ollama = report.ollama
        if report.store_error is not None:
            self.show_error(report.store_error)
        elif ollama.server != "Ollama" and not ollama.ok:
            # Another model server (LLM_PROVIDER): Ollama's install and download steps do
            # not apply; its own error says what to start or load.
            self.problem = "models_missing" if ollama.reachable else "ollama_unreachable"
            self.headline.setText("Allma cannot use its model server yet")
            error = ollama.error
            self.explanation.setText(
                f"{_escape(error.message)}<br><br>{_escape(error.hint)}"
                if error is not None
                else f"Allma looked for the models at <b>{ollama.host}</b>."
            )
            self._show_parts(install=False, models=False)
        elif not ollama.reachable:
            self.problem = "ollama_unreachable"
            self.headline.setText("Allma needs Ollama to answer")
            self.explanation.setText(
                "Ollama runs the language models on your own computer, so your documents "
                f"never leave it. Allma looked for it at <b>{ollama.host}</b> and found nothing."
            )
            self._show_parts(install=True, models=False)
            self.hint.setText(
                "Ollama runs on another computer or port? Change the address in Settings."
            )
        elif not ollama.ok:
            self.problem = "models_missing"
            self.headline.setText("Download the models")
            self.explanation.setText(
                f"Ollama {ollama.version or ''} is running. Allma needs two models; download "
                "each with one click (a few GB in total, once)."
            )
            self.model_rows["chat"].set_model(ollama.chat_model, ollama.chat_model_present)
            self.model_rows["embedding"].set_model(
                ollama.embedding_model, ollama.embedding_model_present
            )
            self._show_parts(install=False, models=True)
            self.hint.setText("Prefer other models? Pick them in Settings.")
        elif report.vectors_error is not None and report.vectors_error.code == VECTORS_DAMAGED:
            self.problem = "vectors_damaged"
            self.headline.setText("The search index needs rebuilding")
            self.explanation.setText(
                f"{_escape(report.vectors_error.message)}<br><br>Allma can make it again "
                "from the texts stored in your library: your files are not read again, and "
                "your documents and chats stay as they are. Until then, search finds "
                "keyword matches only."
            )
            self._show_parts(install=False, models=False)
        elif report.database_error is not None or report.vectors_error is not None:
            error = report.database_error or report.vectors_error
            assert error is not None
            self.problem = "store"
            self.headline.setText("Allma cannot write to its library")
            self.explanation.setText(f"{_escape(error.message)}<br><br>{_escape(error.hint)}")
            self._show_parts(install=False, models=False)
            self.hint.setText("")
        else:
            self.problem = ""

    # --- rebuilding a damaged index ----------------------------------------------------

    def _on_rebuild_clicked(self) -> None:
        self.show_rebuild_progress(0, 0, "")
        self.rebuild_requested.emit()

    def show_rebuild_progress(self, done: int, total: int, path: str) -> None:
        self.rebuilding = True
        self.rebuild_button.setEnabled(False)
        self.rebuild_button.setText("Rebuilding…")
        self.rebuild_progress.show()
        if total <= 0:
            self.rebuild_progress.setRange(0, 0)  # busy: setting the damaged folder aside
            self.rebuild_state.setText("Setting the damaged index aside…")
        else:
            self.rebuild_progress.setRange(0, total)
            self.rebuild_progress.setValue(done)
            name = path.replace("\\", "/").rsplit("/", 1)[-1]
            self.rebuild_state.setText(f"Rebuilt {done} of {total} documents · {name}")
        self.rebuild_state.show()
        self.fit_card()

    def show_rebuild_finished(self, report: DoctorReport) -> None:
        self.rebuilding = False
        self.rebuild_progress.setRange(0, 1)
        self.rebuild_progress.setValue(1)
        self.rebuild_button.setText("Rebuild the index")
        self.rebuild_button.setEnabled(True)
        self.rebuild_state.setText(rebuild_summary(report))
        self.rebuild_state.show()
        self.fit_card()

    def show_rebuild_failed(self, error: AllmaError) -> None:
        self.rebuilding = False
        self.rebuild_progress.hide()
        self.rebuild_button.setText("Try again")
        self.rebuild_button.setEnabled(True)
        self.rebuild_state.setText(f"The rebuild stopped: {error.message} {error.hint}".strip())
        self.rebuild_state.show()
        self.fit_card()

    def show_error(self, error: AllmaError) -> None:
        self.problem = "error"
        self.headline.setText("Allma cannot open its library")
        self.explanation.setText(f"{_escape(error.message)}<br><br>{_escape(error.hint)}")
        self._show_parts(install=False, models=False)
        self.hint.setText("")

    def row_for(self, model: str) -> ModelRow | None:
        for row in self.model_rows.values():
            if row.model == model:
                return row
        return None

    def _show_parts(self, install: bool, models: bool) -> None:
        self.install_steps.setVisible(install)
        self.get_ollama.setVisible(install)
        for row in self.model_rows.values():
            row.setVisible(models)
        damaged = self.problem == "vectors_damaged"
        self.rebuild_button.setVisible(damaged)
        self.rebuild_progress.setVisible(damaged and self.rebuilding)
        self.rebuild_state.setVisible(damaged and bool(self.rebuild_state.text()))
        self.check_button.setVisible(self.problem not in {"starting"})
        self.settings_button.setVisible(self.problem not in {"starting"})
        self.hint.setVisible(install or models)
        if self.isVisible():  # else showEvent fits it: hidden behind the chat at start-up
            self.fit_card()

    def fit_card(self) -> None:
        """Give the card the height its wrapped text needs at its fixed width.

        A centred widget gets its size hint, and a wrapped label's hint is measured at
        some other width, so the card came out too short and clipped its last rows.
        Measured with the current font, so it is redone when the theme changes.
        """
        for label in self.step_labels:
            label.ensurePolished()
            label.setMinimumHeight(max(26, label.heightForWidth(STEP_TEXT_WIDTH)))
        self.card_layout.invalidate()
        self.card.setFixedHeight(self.card_layout.totalHeightForWidth(CARD_WIDTH))

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        built = hasattr(self, "problem")  # a style change can arrive during __init__
        if (
            built
            and self.isVisible()
            and event.type() in (QEvent.Type.StyleChange, QEvent.Type.FontChange)
        ):
            self.fit_card()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.fit_card()


def _step(number: int, text: str, parent: QWidget, labels: list[QLabel]) -> QWidget:
    row = QWidget(parent)
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(12)
    badge = QLabel(str(number), row)
    badge.setObjectName("stepNumber")
    badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
    badge.setFixedSize(26, 26)
    label = QLabel(text, row)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setObjectName("stepText")
    label.setMinimumHeight(badge.height())
    layout.addWidget(badge, 0, Qt.AlignmentFlag.AlignTop)
    layout.addWidget(label, 1, Qt.AlignmentFlag.AlignVCenter)
    labels.append(label)
    return row


def rebuild_summary(report: DoctorReport) -> str:
    """What a rebuild did, in one line for the panel and the status bar."""
    if not report.ok:
        left = "; ".join(problem.description for problem in report.remaining)
        return f"The index was rebuilt in part: {left}"
    return (
        "The index is rebuilt from the stored texts. Every document is searchable again; "
        "the damaged folder was kept aside."
    )


def _escape(text: str) -> str:
    import html

    return html.escape(text)
