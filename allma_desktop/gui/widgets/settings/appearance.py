"""The Settings card "Appearance": the theme, which applies as soon as it is picked, and
whether closing the window keeps Allma in the tray."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QCheckBox, QComboBox, QWidget

from allma_desktop.gui.theme import THEME_LABELS, THEMES
from allma_desktop.gui.widgets.settings.card import SettingsCard

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig
    from allma_desktop.gui.controllers.settings_controller import SettingsController


class AppearanceCard(SettingsCard):
    def __init__(self, controller: SettingsController, parent: QWidget | None = None) -> None:
        super().__init__("Appearance", "", parent)
        self.controller = controller
        self.theme_box = QComboBox(self)
        for theme in THEMES:
            self.theme_box.addItem(THEME_LABELS[theme], theme)
        self.theme_box.setAccessibleName("Theme")
        self.form.addRow("Theme", self.theme_box)
        self.tray_check = QCheckBox("Keep Allma in the tray when the window is closed", self)
        self.form.addRow("Tray", self.tray_check)
        # The theme applies as soon as it is picked (a GUI preference; no Save needed).
        self.theme_box.activated.connect(lambda _index: controller.use_theme(self.theme))

    @property
    def theme(self) -> str:
        return str(self.theme_box.currentData())

    @property
    def close_to_tray(self) -> bool:
        return self.tray_check.isChecked()

    def load(self, config: AppConfig) -> None:
        # Preferences of this window, kept apart from the engine's settings file.
        self.theme_box.setCurrentIndex(max(0, self.theme_box.findData(self.controller.theme)))
        self.tray_check.setChecked(self.controller.close_to_tray)
