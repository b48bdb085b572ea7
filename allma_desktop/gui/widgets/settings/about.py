"""The Settings card "About Allma": the version, and what the user may do with the app."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from allma_desktop import __version__
from allma_desktop.gui.widgets.settings.card import SettingsCard

# What the user may do with the app they run, said plainly (LICENSE says it in full).
LICENSE_NOTICE = (
    "Allma Desktop's source code is under the MIT License. The packaged app (installers "
    "and the one-folder build) includes PyMuPDF and MuPDF, which are under the GNU "
    "AGPL-3.0, so the packaged app as a whole is distributed under the AGPL-3.0; its "
    "source is the Allma Desktop repository. Qt for Python is under the LGPL-3.0."
)


class AboutCard(SettingsCard):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("About Allma", f"Allma Desktop {__version__}", parent)
        self.license_label = QLabel(LICENSE_NOTICE, self)
        self.license_label.setObjectName("fieldHint")
        self.license_label.setWordWrap(True)
        self.license_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.form.addRow("License", self.license_label)
