"""The macOS hot key's key tables. The Carbon calls themselves run on macOS only, and these
tests run on Linux: they check what is sent to ``RegisterEventHotKey``, not that macOS
takes it."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import Qt

from allma_desktop.gui.mac_hotkey import (
    CMD_KEY,
    CONTROL_KEY,
    OPTION_KEY,
    SHIFT_KEY,
    MacHotKey,
    mac_key_code,
    mac_modifiers,
)
from allma_desktop.gui.shortcut_keys import split_sequence


@pytest.mark.parametrize(
    ("sequence", "code", "modifiers"),
    [
        ("Ctrl+Shift+Space", 0x31, CMD_KEY | SHIFT_KEY),  # Qt's Ctrl is ⌘ on macOS
        ("Meta+Alt+A", 0x00, CONTROL_KEY | OPTION_KEY),
        ("Ctrl+K", 0x28, CMD_KEY),
        ("Ctrl+T", 0x11, CMD_KEY),
        ("Ctrl+5", 0x17, CMD_KEY),
        ("F1", 0x7A, 0),
        ("F13", 0x69, 0),
        ("Ctrl+Left", 0x7B, CMD_KEY),
    ],
)
def test_keys_are_registered_with_the_ansi_key_code_and_carbon_modifiers(
    sequence: str, code: int, modifiers: int
) -> None:
    key, qt_modifiers = split_sequence(sequence)

    assert mac_key_code(key) == code
    assert mac_modifiers(qt_modifiers) == modifiers


def test_a_key_the_keyboard_has_not_gets_no_code() -> None:
    assert mac_key_code(Qt.Key.Key_F24) is None
    assert mac_key_code(Qt.Key.Key_Eacute) is None


@pytest.mark.skipif(sys.platform == "darwin", reason="on macOS the hot key is real")
def test_elsewhere_the_carbon_hot_key_is_not_attempted() -> None:
    with pytest.raises(OSError, match="macOS only"):
        MacHotKey()
