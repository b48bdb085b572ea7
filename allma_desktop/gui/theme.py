"""The app-wide look: Fusion style, a light or dark palette, and one stylesheet.

``apply_theme(app, "system" | "light" | "dark")`` sets all three. ``LIGHT`` and ``DARK``
are the app's only colour palettes: the chat shell's stylesheet
(``widgets/chat_style.py``) and rendered answers (``widgets/markdown_render.py``) take
theirs from here too, so every page reads as one app: calm neutrals, one blue accent,
rounded inputs and generous padding.

Also home of the app icon: ``app_icon()`` for windows and the tray, and
``render_icon_pngs()`` which draws the hicolor PNGs that packaging installs
(``python -m allma_desktop.gui.theme`` re-renders them from the SVG).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFontInfo,
    QGuiApplication,
    QIcon,
    QImage,
    QPainter,
    QPalette,
    QPixmap,
)
from PySide6.QtWidgets import QAbstractSpinBox, QApplication

from allma_desktop.bundle import resources_dir

THEMES = ("system", "light", "dark")
THEME_LABELS = {"system": "Follow the system", "light": "Light", "dark": "Dark"}
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
RESOURCES_DIR = resources_dir()
ICONS_DIR = RESOURCES_DIR / "icons"
APP_ICON_SVG = ICONS_DIR / "allma.svg"
CHEVRON_SVG = ICONS_DIR / "chevron-down.svg"
CHEVRON_UP_SVG = ICONS_DIR / "chevron-up.svg"


@dataclass(frozen=True)
class Colors:
    window: str
    surface: str
    raised: str
    border: str
    text: str
    muted: str
    accent: str
    accent_hover: str
    accent_text: str
    hover: str
    selection: str
    danger: str
    success: str
    warning: str
    # The chat shell
    sidebar: str
    divider: str  # hairlines between the shell's parts: fainter than an input's border
    chip: str  # source chips, the model pickers, secondary buttons
    user_bubble: str
    # Rendered answers: links and citations, code blocks, tables, syntax colours
    link: str
    code_background: str
    code_border: str
    inline_code_background: str
    table_border: str
    code_keyword: str
    code_string: str
    code_comment: str
    code_number: str
    code_function: str
    # The reader: the cited passage in the page's text (#AARRGGBB: it lets the text show)
    passage_highlight: str
    # The status bar's dot: Ollama reachable, needs attention, failing, not checked yet
    status_ok: str
    status_warning: str
    status_error: str
    status_idle: str


LIGHT = Colors(
    window="#ffffff",
    surface="#ffffff",
    raised="#f6f7f9",
    border="#dfe3e8",
    text="#1f2328",
    muted="#6b7280",
    accent="#2563eb",
    accent_hover="#1d4ed8",
    accent_text="#ffffff",
    hover="#eceef2",
    selection="#dbe7fd",
    danger="#c62828",
    success="#15803d",
    warning="#b45309",
    sidebar="#f6f7f9",
    divider="#e3e6ea",
    chip="#f1f3f6",
    user_bubble="#eef3fb",
    link="#0a66c2",
    code_background="#f4f5f7",
    code_border="#e1e4e8",
    inline_code_background="#eef0f3",
    table_border="#d0d7de",
    code_keyword="#cf222e",
    code_string="#0a3069",
    code_comment="#6e7781",
    code_number="#0550ae",
    code_function="#8250df",
    passage_highlight="#5affc800",
    status_ok="#2da44e",
    status_warning="#d4a72c",
    status_error="#cf222e",
    status_idle="#8c959f",
)
DARK = Colors(
    window="#1a1c20",
    surface="#202329",
    raised="#272b33",  # lighter than the cards, so buttons look raised, not punched in
    border="#343841",
    text="#e6e8eb",
    muted="#9aa1ab",
    accent="#4f8cff",
    accent_hover="#6b9fff",
    accent_text="#0b1530",  # white on this light blue is below 4.5:1; dark navy reads well
    hover="#2a2e36",
    selection="#2a3a5c",
    danger="#ff6b6b",
    success="#4ade80",
    warning="#fbbf24",
    sidebar="#15171a",
    divider="#2f333a",
    chip="#272b33",
    user_bubble="#243049",
    link="#58a6ff",
    code_background="#161b22",
    code_border="#30363d",
    inline_code_background="#262c36",
    table_border="#3d444d",
    code_keyword="#ff7b72",
    code_string="#a5d6ff",
    code_comment="#8b949e",
    code_number="#79c0ff",
    code_function="#d2a8ff",
    passage_highlight="#6effc800",  # a little stronger, to show on dark text's background
    # The light theme's dots: saturated enough to read on the dark status bar too.
    status_ok="#2da44e",
    status_warning="#d4a72c",
    status_error="#cf222e",
    status_idle="#8c959f",
)

# Marks drawn on a page's image in the reader: the cited passage, and what a search
# found. The same in both themes, since the page itself is paper-white in both.
PAGE_HIGHLIGHT = "#5affc800"
PAGE_FOUND = "#6eff7800"
# The quick-ask popup's drop shadow: black in both themes, so the card lifts off any
# desktop behind it (the effect's blur and offset make it soft).
POPUP_SHADOW = "#000000"


def resolve_theme(theme: str) -> str:
    """``light`` or ``dark``: "system" follows the desktop's colour scheme."""
    if theme in ("light", "dark"):
        return theme
    hints = QGuiApplication.styleHints()
    return "dark" if hints.colorScheme() == Qt.ColorScheme.Dark else "light"


def colors_for(theme: str) -> Colors:
    return DARK if resolve_theme(theme) == "dark" else LIGHT


def current_colors() -> Colors:
    """The colours in use now, read from the application palette (for custom painting)."""
    return DARK if is_dark() else LIGHT


def is_dark() -> bool:
    """Whether the app's theme is dark (the application palette: stylesheets don't touch it)."""
    return QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


class _SystemSchemeFollower(QObject):
    """Re-applies "system" when the desktop switches between light and dark."""

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self.theme = "system"
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._on_change)

    def _on_change(self, _scheme: Qt.ColorScheme) -> None:
        app = QApplication.instance()
        if self.theme == "system" and isinstance(app, QApplication):
            _apply(app, colors_for("system"))


_follower: _SystemSchemeFollower | None = None


def apply_theme(app: QApplication, theme: str) -> None:
    """Style the whole app; unknown names fall back to "system"."""
    global _follower
    if theme not in THEMES:
        theme = "system"
    if _follower is None:
        _follower = _SystemSchemeFollower(app)
    _follower.theme = theme
    _apply(app, colors_for(theme))


DESIGN_TEXT_PX = 13  # the body text the style sheets' sizes were drawn for (10 pt at 96 dpi)
_FONT_SIZE = re.compile(r"font-size:\s*(\d+(?:\.\d+)?)px")


def text_scale() -> float:
    """How much larger than the design's body text the desktop asks text to be: its font
    as it reaches the app (a larger font, or GNOME's Large Text and KDE's forced font DPI,
    which raise the dots per inch), over 13 px; never below 1.

    The style sheets size text in pixels, which a larger desktop font does not change:
    without this, text stayed at 13 px for a user who asked the desktop for large text.
    """
    if QGuiApplication.instance() is None:
        return 1.0
    return max(1.0, QFontInfo(QGuiApplication.font()).pixelSize() / DESIGN_TEXT_PX)


def scaled_text(stylesheet: str, scale: float | None = None) -> str:
    """``stylesheet`` with each ``font-size: Npx`` times ``scale`` (by default
    ``text_scale()``), so every page's text grows with the desktop's."""
    factor = text_scale() if scale is None else scale
    if factor == 1.0:
        return stylesheet
    return _FONT_SIZE.sub(lambda m: f"font-size: {round(float(m[1]) * factor)}px", stylesheet)


def _apply(app: QApplication, colors: Colors) -> None:
    app.setStyle("Fusion")
    app.setPalette(palette_for(colors))
    app.setStyleSheet(scaled_text(stylesheet_for(colors)))
    if app.windowIcon().isNull():
        app.setWindowIcon(app_icon())


SPINBOX_TEXT_INSET = 7  # plus the edit field's own 2px: the 9px padding of the other inputs


def inset_spin_box_text(box: QAbstractSpinBox) -> None:
    """Give a spin box's text the left padding the other inputs have.

    Qt's style sheets ignore ``padding-left`` on a spin box's edit field (top and right
    are honoured), so without this the text touches the border.
    """
    box.lineEdit().setTextMargins(SPINBOX_TEXT_INSET, 0, 0, 0)


def palette_for(c: Colors) -> QPalette:
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: c.window,
        QPalette.ColorRole.WindowText: c.text,
        QPalette.ColorRole.Base: c.surface,
        QPalette.ColorRole.AlternateBase: c.raised,
        QPalette.ColorRole.ToolTipBase: c.surface,
        QPalette.ColorRole.ToolTipText: c.text,
        QPalette.ColorRole.PlaceholderText: c.muted,
        QPalette.ColorRole.Text: c.text,
        QPalette.ColorRole.Button: c.raised,
        QPalette.ColorRole.ButtonText: c.text,
        QPalette.ColorRole.BrightText: c.danger,
        QPalette.ColorRole.Highlight: c.accent,
        QPalette.ColorRole.HighlightedText: c.accent_text,
        QPalette.ColorRole.Link: c.accent,
        QPalette.ColorRole.Mid: c.border,
        QPalette.ColorRole.Midlight: c.hover,
        QPalette.ColorRole.Dark: c.border,
        QPalette.ColorRole.Light: c.surface,
        QPalette.ColorRole.Shadow: "#000000",
    }
    for role, color in roles.items():
        palette.setColor(role, QColor(color))
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.ButtonText,
    ):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(c.muted))
    return palette


def stylesheet_for(c: Colors) -> str:
    """App-wide rules; pages add their own touches keyed on object names."""
    chevron = CHEVRON_SVG.as_posix()
    chevron_up = CHEVRON_UP_SVG.as_posix()
    return f"""
    QWidget {{ font-size: 13px; }}
    QToolTip {{
        background: {c.surface}; color: {c.text}; border: 1px solid {c.border};
        border-radius: 6px; padding: 5px 8px;
    }}
    QBalloonTip {{ background-color: {c.surface}; color: {c.text}; }}
    QBalloonTip QLabel {{ color: {c.text}; background: transparent; }}
    QLineEdit, QPlainTextEdit, QTextEdit, QSpinBox, QDoubleSpinBox, QComboBox {{
        background: {c.surface}; color: {c.text}; border: 1px solid {c.border};
        border-radius: 8px; padding: 6px 9px; selection-background-color: {c.accent};
        selection-color: {c.accent_text};
    }}
    QLineEdit:focus, QPlainTextEdit:focus, QTextEdit:focus, QSpinBox:focus,
    QDoubleSpinBox:focus, QComboBox:focus {{ border: 1px solid {c.accent}; }}
    QLineEdit[invalid="true"], QComboBox[invalid="true"], QSpinBox[invalid="true"],
    QDoubleSpinBox[invalid="true"] {{ border: 1px solid {c.danger}; }}
    QComboBox {{ padding: 4px 9px; min-height: 24px; }}
    QComboBox::drop-down {{ border: none; width: 24px; }}
    QComboBox::down-arrow {{ image: url({chevron}); width: 12px; height: 12px; }}
    QToolButton::menu-indicator {{ image: none; width: 0; }}
    QComboBox QAbstractItemView {{
        background: {c.surface}; color: {c.text}; border: 1px solid {c.border};
        selection-background-color: {c.selection}; selection-color: {c.text}; outline: none;
    }}
    /* A drop-down list's entries are drawn as the combo box's menu items, which take the
       box's own selection colours (the accent, meant for selected text while typing), not
       the list's: this gives the highlighted entry the selection of the other lists. Only
       colours: a background here makes Qt lay the entry out itself, shifting its text. */
    QComboBox::item {{ selection-background-color: {c.selection}; selection-color: {c.text}; }}
    /* A list entry that cannot be picked (a vector store not installed) is greyed. The
       list's entries are drawn as the combo box's items, so the rule names QComboBox. */
    QComboBox::item:disabled {{ color: {c.muted}; }}
    /* An editable box (the model pickers) lists its entries in a plain list, which has
       no padding of its own: rows as roomy as the other drop-downs'. (The other boxes draw
       their entries as menu items, which this rule does not touch.) Not a selector on
       the editable property: it is read when the list is made, before setEditable. */
    QComboBox QAbstractItemView::item {{ padding: 5px 9px; }}
    /* Spin boxes: once styled, Qt drops the text padding and the native arrows, so both
       are given back here: room on the left, and two chevron buttons on the right. */
    QSpinBox, QDoubleSpinBox {{ padding: 4px 26px 4px 9px; }}
    QSpinBox::up-button, QDoubleSpinBox::up-button {{
        subcontrol-origin: border; subcontrol-position: top right; width: 22px;
        border: none; border-left: 1px solid {c.border}; border-top-right-radius: 8px;
        background: {c.surface}; margin: 1px 1px 0 0;
    }}
    QSpinBox::down-button, QDoubleSpinBox::down-button {{
        subcontrol-origin: border; subcontrol-position: bottom right; width: 22px;
        border: none; border-left: 1px solid {c.border}; border-bottom-right-radius: 8px;
        background: {c.surface}; margin: 0 1px 1px 0;
    }}
    QSpinBox::up-button:hover, QSpinBox::down-button:hover, QDoubleSpinBox::up-button:hover,
    QDoubleSpinBox::down-button:hover {{ background: {c.hover}; }}
    QSpinBox::up-arrow, QDoubleSpinBox::up-arrow {{
        image: url({chevron_up}); width: 10px; height: 10px;
    }}
    QSpinBox::down-arrow, QDoubleSpinBox::down-arrow {{
        image: url({chevron}); width: 10px; height: 10px;
    }}
    QSpinBox::up-arrow:disabled, QSpinBox::up-arrow:off, QDoubleSpinBox::up-arrow:disabled,
    QDoubleSpinBox::up-arrow:off, QSpinBox::down-arrow:disabled, QSpinBox::down-arrow:off,
    QDoubleSpinBox::down-arrow:disabled, QDoubleSpinBox::down-arrow:off {{ image: none; }}
    QPushButton {{
        background: {c.raised}; color: {c.text}; border: 1px solid {c.border};
        border-radius: 8px; padding: 6px 14px;
    }}
    QPushButton:hover {{ border-color: {c.accent}; }}
    QPushButton:pressed {{ background: {c.hover}; }}
    QPushButton:disabled {{ color: {c.muted}; border-color: {c.border}; }}
    QPushButton#accentButton {{
        background: {c.accent}; color: {c.accent_text}; border: 1px solid {c.accent};
        font-weight: 600;
    }}
    QPushButton#accentButton:hover {{ background: {c.accent_hover}; }}
    QPushButton#accentButton:disabled {{
        background: {c.hover}; color: {c.muted}; border-color: {c.border};
    }}
    QPushButton#dangerButton {{ color: {c.danger}; }}
    QPushButton#dangerButton:hover {{ border-color: {c.danger}; }}
    QPushButton#linkButton {{
        background: transparent; border: none; color: {c.accent}; padding: 4px 6px;
    }}
    QPushButton#linkButton:hover {{ text-decoration: underline; }}
    QToolButton {{ border: none; border-radius: 6px; padding: 4px; }}
    QToolButton:hover {{ background: {c.hover}; }}
    QCheckBox {{ spacing: 8px; }}
    QCheckBox::indicator {{
        width: 16px; height: 16px; border: 1px solid {c.border}; border-radius: 4px;
        background: {c.surface};
    }}
    QCheckBox::indicator:checked {{ background: {c.accent}; border-color: {c.accent}; }}
    /* Settings > OCR: a list of languages to tick, ticked like the check boxes */
    QListView#ocrLanguages {{ background: transparent; }}
    QListView#ocrLanguages::item {{ padding: 2px 0; border: none; }}
    QListView#ocrLanguages::indicator {{
        width: 16px; height: 16px; border: 1px solid {c.border}; border-radius: 4px;
        background: {c.surface}; margin-right: 4px;
    }}
    QListView#ocrLanguages::indicator:checked {{
        background: {c.accent}; border-color: {c.accent};
    }}
    QProgressBar {{
        background: {c.hover}; border: none; border-radius: 3px; max-height: 6px;
        color: transparent;
    }}
    QProgressBar::chunk {{ background: {c.accent}; border-radius: 3px; }}
    QMenu {{
        background: {c.surface}; color: {c.text}; border: 1px solid {c.border};
        border-radius: 8px; padding: 4px;
    }}
    QMenu::item {{ padding: 6px 22px 6px 14px; border-radius: 5px; }}
    QMenu::item:selected {{ background: {c.selection}; color: {c.text}; }}
    QMenu::separator {{ height: 1px; background: {c.border}; margin: 4px 8px; }}
    QScrollArea {{ border: none; background: transparent; }}
    QScrollBar:vertical {{ background: transparent; width: 10px; margin: 2px; }}
    QScrollBar::handle:vertical {{ background: {c.border}; border-radius: 4px; min-height: 30px; }}
    QScrollBar:horizontal {{ background: transparent; height: 10px; margin: 2px; }}
    QScrollBar::handle:horizontal {{ background: {c.border}; border-radius: 4px; min-width: 30px; }}
    QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; }}
    QScrollBar::add-page, QScrollBar::sub-page {{ background: transparent; }}
    QHeaderView::section {{
        background: {c.window}; color: {c.muted}; border: none;
        border-bottom: 1px solid {c.border}; padding: 6px 8px; font-weight: 600;
    }}
    QTableView, QTreeView, QListView {{
        background: {c.surface}; color: {c.text}; border: none; outline: none;
        selection-background-color: {c.selection}; selection-color: {c.text};
        alternate-background-color: {c.raised};
    }}
    QTableView::item, QTreeView::item {{ padding: 4px 6px; border: none; }}
    QTableView::item:selected, QTreeView::item:selected {{
        background: {c.selection}; color: {c.text};
    }}

    /* Library and settings pages (engineer B) */
    #libraryPane, #settingsPage, #settingsScroll > QWidget > QWidget {{ background: {c.window}; }}
    #pageTitle {{ font-size: 20px; font-weight: 600; color: {c.text}; }}
    #pageSubtitle, #hintLabel, #fieldHint {{ color: {c.muted}; }}
    #fieldHint {{ font-size: 12px; }}
    #fieldError {{ color: {c.danger}; font-size: 12px; }}
    #fieldSuccess {{ color: {c.success}; font-size: 12px; }}
    #settingsFooter {{ background: {c.window}; border-top: 1px solid {c.border}; }}
    #settingsCard, #progressCard, #watchedFolders {{
        background: {c.surface}; border: 1px solid {c.border}; border-radius: 12px;
    }}
    #cardTitle {{ font-size: 14px; font-weight: 600; color: {c.text}; }}
    #dropZone {{
        background: {c.raised}; border: 2px dashed {c.border}; border-radius: 16px;
    }}
    #dropZone[active="true"] {{ border-color: {c.accent}; background: {c.selection}; }}
    #dropZoneTitle {{ font-size: 18px; font-weight: 600; color: {c.text}; }}
    #dropOverlay {{
        background: {c.selection}; border: 2px dashed {c.accent}; border-radius: 12px;
        color: {c.text}; font-size: 16px; font-weight: 600;
    }}
    #documentTable {{ border: 1px solid {c.border}; border-radius: 10px; }}
    #pauseReason, #folderProblems, #folderState[status="offline"] {{ color: {c.warning}; }}
    #folderState {{ color: {c.muted}; }}
    #folderName {{ font-weight: 600; }}
    #noticeBanner {{
        background: {c.selection}; color: {c.text}; border-radius: 8px; padding: 8px 12px;
    }}

    /* Quick ask popup */
    #quickAskCard {{
        background: {c.surface}; border: 1px solid {c.border}; border-radius: 14px;
    }}
    #quickAskInput {{ font-size: 15px; padding: 9px 12px; border-radius: 10px; }}
    #quickAskAnswer {{ background: transparent; border: none; color: {c.text}; }}
    #quickAskSources {{ color: {c.muted}; font-size: 12px; }}
    """


# --- the app icon ------------------------------------------------------------------


def app_icon() -> QIcon:
    """The Allma icon from resources/icons (the SVG, plus PNGs for crisp small sizes)."""
    icon = QIcon()
    for size in ICON_SIZES:
        png = ICONS_DIR / f"allma-{size}.png"
        if png.exists():
            icon.addFile(str(png), QSize(size, size))
    if APP_ICON_SVG.exists():
        icon.addFile(str(APP_ICON_SVG))
    if icon.isNull():
        icon = QIcon(draw_icon(64))
    return icon


def draw_icon(size: int) -> QPixmap:
    """The icon drawn with QPainter, from the SVG when present (used when no file loads)."""
    image = render_icon(size)
    return QPixmap.fromImage(image)


def render_icon(size: int, svg: Path = APP_ICON_SVG) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    if svg.exists():
        from PySide6.QtSvg import QSvgRenderer

        QSvgRenderer(str(svg)).render(painter, QRectF(0, 0, size, size))
    else:
        _paint_fallback_icon(painter, size)
    painter.end()
    return image


def _paint_fallback_icon(painter: QPainter, size: int) -> None:
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(LIGHT.accent))
    painter.drawRoundedRect(QRectF(0, 0, size, size), size * 0.22, size * 0.22)
    painter.setPen(QColor("#ffffff"))
    font = painter.font()
    font.setPixelSize(int(size * 0.6))
    font.setBold(True)
    painter.setFont(font)
    painter.drawText(QRectF(0, 0, size, size), Qt.AlignmentFlag.AlignCenter, "A")


def render_icon_pngs(folder: Path = ICONS_DIR) -> list[Path]:
    """Write ``allma-<size>.png`` for every hicolor size; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for size in ICON_SIZES:
        path = folder / f"allma-{size}.png"
        render_icon(size).save(str(path))
        written.append(path)
    return written


if __name__ == "__main__":
    _app = QGuiApplication(sys.argv[:1])
    for written_path in render_icon_pngs():
        print(written_path)
