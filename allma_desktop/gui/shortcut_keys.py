"""What the quick-ask key is, whichever way the desktop takes it (X11 key grab, Windows
hot key, the Wayland portal): one key with Ctrl, Alt or Super, or an F-key."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

_MODIFIERS = (
    Qt.KeyboardModifier.ControlModifier,
    Qt.KeyboardModifier.AltModifier,
    Qt.KeyboardModifier.MetaModifier,
)
FUNCTION_KEYS = range(Qt.Key.Key_F1.value, Qt.Key.Key_F24.value + 1)


class ShortcutRefused(Exception):
    """The platform would not take this key; the message says why and what to do."""


def shown(sequence: str) -> str:
    """The key as the user reads it on this platform (⌘ on macOS)."""
    return QKeySequence(sequence).toString(QKeySequence.SequenceFormat.NativeText) or sequence


def split_sequence(sequence: str) -> tuple[Qt.Key, Qt.KeyboardModifier]:
    """The one key and its modifiers; refused when it is not one key that can be taken."""
    keys = QKeySequence(sequence)
    if keys.count() != 1:
        raise ShortcutRefused(
            f"“{sequence}” is not one key combination. Press a single combination, "
            "such as Ctrl+Shift+Space."
        )
    combination = keys[0]  # type: ignore[index]  # PySide6's stubs lack __getitem__
    key, modifiers = combination.key(), combination.keyboardModifiers()
    if key.value in FUNCTION_KEYS:
        return key, modifiers
    if not any(modifiers & modifier for modifier in _MODIFIERS):
        raise ShortcutRefused(
            f"{shown(sequence)} has no Ctrl, Alt or Super: taken for the whole desktop it "
            "would stop that key from typing anywhere. Add Ctrl, Alt or Super, or use an "
            "F-key."
        )
    return key, modifiers


__all__ = ["FUNCTION_KEYS", "ShortcutRefused", "shown", "split_sequence"]
