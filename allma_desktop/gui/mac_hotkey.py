"""The quick-ask key on macOS: a Carbon hot key (``RegisterEventHotKey``) through ctypes.

Carbon's hot keys still work in Cocoa apps without the Accessibility permission: the
system sends ``kEventHotKeyPressed`` to the application's event target, where a handler
installed with ``InstallEventHandler`` emits ``pressed``. Qt's Cocoa event loop
dispatches those events, so no thread is needed.

A hot key names a key by its virtual key code, a place on the keyboard, not a letter:
the letter is looked up in the keyboard layout in use (``UCKeyTranslate`` over each key),
so Ctrl+A on a French AZERTY keyboard is the key marked A, not the one where A is on a US
keyboard; the US (ANSI) table is the fallback for a letter the layout does not type.

The key tables, the layout look-up given what each key types, and the calls made to
Carbon (through a stand-in for the library) run and are tested on Linux; the real Carbon
library exists on macOS only, and this project's tests have not run it there.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from allma_desktop.gui.shortcut_keys import FUNCTION_KEYS, ShortcutRefused, shown, split_sequence

log = logging.getLogger(__name__)

CARBON = "/System/Library/Frameworks/Carbon.framework/Carbon"
CORE_FOUNDATION = "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation"
ON_MACOS = sys.platform == "darwin"  # a plain flag: mypy, on Linux, still checks the code

# Carbon's modifier bits (Events.h). Qt on macOS calls ⌘ "Ctrl" and ⌃ "Meta".
CMD_KEY, SHIFT_KEY, OPTION_KEY, CONTROL_KEY = 1 << 8, 1 << 9, 1 << 11, 1 << 12
_MODIFIERS = (
    (Qt.KeyboardModifier.ControlModifier, CMD_KEY),
    (Qt.KeyboardModifier.ShiftModifier, SHIFT_KEY),
    (Qt.KeyboardModifier.AltModifier, OPTION_KEY),
    (Qt.KeyboardModifier.MetaModifier, CONTROL_KEY),
)

# Virtual key codes of the ANSI keyboard (HIToolbox/Events.h, kVK_*).
_LETTERS = "ASDFHGZXCV?BQWERYT"  # 0x00-0x11, "?" is 0x0A (ISO section key)
_KEY_CODES: dict[str, int] = {ch: code for code, ch in enumerate(_LETTERS) if ch != "?"}
_KEY_CODES.update({
    "1": 0x12, "2": 0x13, "3": 0x14, "4": 0x15, "6": 0x16, "5": 0x17, "=": 0x18, "9": 0x19,
    "7": 0x1A, "-": 0x1B, "8": 0x1C, "0": 0x1D, "]": 0x1E, "O": 0x1F, "U": 0x20, "[": 0x21,
    "I": 0x22, "P": 0x23, "L": 0x25, "J": 0x26, "'": 0x27, "K": 0x28, ";": 0x29, "\\": 0x2A,
    ",": 0x2B, "/": 0x2C, "N": 0x2D, "M": 0x2E, ".": 0x2F, "`": 0x32,
})  # fmt: skip
_SPECIAL_KEYS = {
    Qt.Key.Key_Space: 0x31, Qt.Key.Key_Return: 0x24, Qt.Key.Key_Enter: 0x4C,
    Qt.Key.Key_Tab: 0x30, Qt.Key.Key_Backspace: 0x33, Qt.Key.Key_Escape: 0x35,
    Qt.Key.Key_Delete: 0x75, Qt.Key.Key_Home: 0x73, Qt.Key.Key_End: 0x77,
    Qt.Key.Key_PageUp: 0x74, Qt.Key.Key_PageDown: 0x79, Qt.Key.Key_Left: 0x7B,
    Qt.Key.Key_Right: 0x7C, Qt.Key.Key_Down: 0x7D, Qt.Key.Key_Up: 0x7E,
}  # fmt: skip
# F1-F20 (kVK_F1 ...): not in order on the keyboard's scan map.
_F_KEYS = (
    0x7A, 0x78, 0x63, 0x76, 0x60, 0x61, 0x62, 0x64, 0x65, 0x6D,
    0x67, 0x6F, 0x69, 0x6B, 0x71, 0x6A, 0x40, 0x4F, 0x50, 0x5A,
)  # fmt: skip

_EVENT_CLASS_KEYBOARD = int.from_bytes(b"keyb", "big")
_EVENT_HOTKEY_PRESSED = 5
_PARAM_DIRECT_OBJECT = int.from_bytes(b"----", "big")
_TYPE_HOTKEY_ID = int.from_bytes(b"hkid", "big")
_SIGNATURE = int.from_bytes(b"ALMA", "big")
_HOTKEY_ID = 1
_HOTKEY_EXISTS = -9878  # eventHotKeyExistsErr: the combination is taken
EVENT_NOT_HANDLED = -9874  # eventNotHandledErr: the event goes on to the next handler
_KEY_ACTION_DISPLAY = 3  # kUCKeyActionDisplay: what the key shows, not what it types now
_NO_DEAD_KEYS = 1  # kUCKeyTranslateNoDeadKeysMask: ´ alone, not waiting for the next key


def layout_key_codes(types: Callable[[int], str]) -> dict[str, int]:
    """Character (upper case) -> the virtual key code that types it in a keyboard layout,
    given ``types(code)``: what the key with that code types, unmodified ("" for none)."""
    codes: dict[str, int] = {}
    for code in range(128):
        text = types(code)
        if len(text) == 1 and text.isprintable() and not text.isspace():
            codes.setdefault(text.upper(), code)  # the first key for it: the main block's
    return codes


def mac_key_code(key: Qt.Key, layout: dict[str, int] | None = None) -> int | None:
    """The virtual key code for ``key``: a character as ``layout`` (from
    ``layout_key_codes``) places it, else as on a US (ANSI) keyboard; None for a key the
    keyboard has not."""
    value = key.value
    if value in FUNCTION_KEYS:
        index = value - Qt.Key.Key_F1.value
        return _F_KEYS[index] if index < len(_F_KEYS) else None
    if key in _SPECIAL_KEYS:
        return _SPECIAL_KEYS[key]
    if 0x20 < value <= 0x7E:
        character = chr(value).upper()
        if layout and character in layout:
            return layout[character]
        return _KEY_CODES.get(character)
    return None


def mac_modifiers(modifiers: Qt.KeyboardModifier) -> int:
    mask = 0
    for qt_modifier, carbon in _MODIFIERS:
        if modifiers & qt_modifier:
            mask |= carbon
    return mask


class _EventHotKeyID(ctypes.Structure):
    _fields_ = [("signature", ctypes.c_uint32), ("id", ctypes.c_uint32)]


class _EventTypeSpec(ctypes.Structure):
    _fields_ = [("eventClass", ctypes.c_uint32), ("eventKind", ctypes.c_uint32)]


_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)


def current_layout_types(carbon: Any, core_foundation: Any) -> Callable[[int], str] | None:
    """What each key of the keyboard layout in use types, unmodified (``UCKeyTranslate``
    over the layout's ``uchr`` data); None when the layout has no such data."""
    carbon.TISCopyCurrentKeyboardLayoutInputSource.restype = ctypes.c_void_p
    carbon.TISGetInputSourceProperty.restype = ctypes.c_void_p
    carbon.TISGetInputSourceProperty.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    carbon.LMGetKbdType.restype = ctypes.c_uint8
    carbon.UCKeyTranslate.argtypes = [
        ctypes.c_void_p, ctypes.c_uint16, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint32,
        ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint32), ctypes.c_ulong,
        ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_uint16),
    ]  # fmt: skip
    core_foundation.CFDataGetBytePtr.restype = ctypes.c_void_p
    core_foundation.CFDataGetBytePtr.argtypes = [ctypes.c_void_p]
    core_foundation.CFRelease.argtypes = [ctypes.c_void_p]
    source = carbon.TISCopyCurrentKeyboardLayoutInputSource()
    if not source:
        return None
    try:
        name = ctypes.c_void_p.in_dll(carbon, "kTISPropertyUnicodeKeyLayoutData")
        data = carbon.TISGetInputSourceProperty(source, name)  # owned by the source
        layout = core_foundation.CFDataGetBytePtr(data) if data else None
        if not layout:
            return None
        keyboard = carbon.LMGetKbdType()
        codes: dict[int, str] = {}
        for code in range(128):
            dead = ctypes.c_uint32(0)
            length = ctypes.c_ulong(0)
            chars = (ctypes.c_uint16 * 4)()
            status = carbon.UCKeyTranslate(
                layout, code, _KEY_ACTION_DISPLAY, 0, keyboard, _NO_DEAD_KEYS,
                ctypes.byref(dead), len(chars), ctypes.byref(length), chars,
            )  # fmt: skip
            if status == 0 and length.value:
                codes[code] = "".join(chr(c) for c in chars[: length.value])
        return lambda code: codes.get(code, "")
    finally:
        core_foundation.CFRelease(source)


class MacHotKey(QObject):
    """A hot key registered with macOS for this app; ``pressed`` when it is pressed.

    ``carbon`` and ``core_foundation``: the libraries to call (by default macOS's own;
    the tests give stand-ins that record the calls).
    """

    pressed = Signal()

    def __init__(
        self,
        parent: QObject | None = None,
        carbon: Any = None,
        core_foundation: Any = None,
    ) -> None:
        super().__init__(parent)
        if carbon is None:
            if not ON_MACOS:
                raise OSError("Carbon hot keys exist on macOS only")
            carbon = ctypes.CDLL(CARBON)
            core_foundation = ctypes.CDLL(CORE_FOUNDATION)
        carbon.GetApplicationEventTarget.restype = ctypes.c_void_p
        carbon.InstallEventHandler.argtypes = [
            ctypes.c_void_p, _HANDLER, ctypes.c_ulong, ctypes.POINTER(_EventTypeSpec),
            ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p),
        ]  # fmt: skip
        carbon.RegisterEventHotKey.argtypes = [
            ctypes.c_uint32, ctypes.c_uint32, _EventHotKeyID, ctypes.c_void_p,
            ctypes.c_uint32, ctypes.POINTER(ctypes.c_void_p),
        ]  # fmt: skip
        carbon.UnregisterEventHotKey.argtypes = [ctypes.c_void_p]
        carbon.GetEventParameter.argtypes = [
            ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p,
            ctypes.c_ulong, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        carbon.RemoveEventHandler.argtypes = [ctypes.c_void_p]
        self._carbon = carbon
        self._target = carbon.GetApplicationEventTarget()
        self._callback = _HANDLER(self._on_event)  # kept: Carbon holds only the pointer
        spec = _EventTypeSpec(_EVENT_CLASS_KEYBOARD, _EVENT_HOTKEY_PRESSED)
        self._handler = ctypes.c_void_p()
        status = carbon.InstallEventHandler(
            self._target, self._callback, 1, ctypes.byref(spec), None, ctypes.byref(self._handler)
        )
        if status != 0:
            raise OSError(f"InstallEventHandler failed (OSStatus {status})")
        self._registered = ctypes.c_void_p()
        self._core_foundation = core_foundation

    def _layout(self) -> dict[str, int] | None:
        """Where the layout in use puts each character (read at each grab: the user may
        have switched layouts since)."""
        if self._core_foundation is None:
            return None
        try:
            types = current_layout_types(self._carbon, self._core_foundation)
        except (OSError, ValueError, AttributeError) as error:  # no such symbol: US table
            log.info("keyboard layout not read (%s); the US layout's key codes are used", error)
            return None
        return layout_key_codes(types) if types is not None else None

    def grab(self, sequence: str) -> None:
        key, modifiers = split_sequence(sequence)
        code = mac_key_code(key, self._layout())
        if code is None:
            raise ShortcutRefused(
                f"{shown(sequence)} cannot be a global key on macOS. Pick a letter, a digit, "
                "Space or an F-key with ⌘, ⌥ or ⌃."
            )
        self.release()
        hotkey_id = _EventHotKeyID(_SIGNATURE, _HOTKEY_ID)
        status = self._carbon.RegisterEventHotKey(
            code, mac_modifiers(modifiers), hotkey_id, self._target, 0,
            ctypes.byref(self._registered),
        )  # fmt: skip
        if status == _HOTKEY_EXISTS:
            raise ShortcutRefused(
                f"{shown(sequence)} is already taken by another program. Pick another key "
                "here, or free it in that program."
            )
        if status != 0:
            raise ShortcutRefused(f"macOS refused {shown(sequence)} (OSStatus {status}).")

    def release(self) -> None:
        if self._registered:
            self._carbon.UnregisterEventHotKey(self._registered)
            self._registered = ctypes.c_void_p()

    def close(self) -> None:
        self.release()
        if self._handler:
            self._carbon.RemoveEventHandler(self._handler)
            self._handler = ctypes.c_void_p()

    def _on_event(self, _call: int, event: int, _data: int) -> int:
        hotkey_id = _EventHotKeyID()
        status = self._carbon.GetEventParameter(
            event, _PARAM_DIRECT_OBJECT, _TYPE_HOTKEY_ID, None,
            ctypes.sizeof(hotkey_id), None, ctypes.byref(hotkey_id),
        )  # fmt: skip
        if status == 0 and hotkey_id.signature == _SIGNATURE and hotkey_id.id == _HOTKEY_ID:
            self.pressed.emit()
            return 0
        return EVENT_NOT_HANDLED  # another hot key of this app's: its own handler's


__all__ = ["MacHotKey", "layout_key_codes", "mac_key_code", "mac_modifiers"]
