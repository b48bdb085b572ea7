"""The quick-ask shortcut from anywhere on the desktop, not only while an Allma window has focus.

Qt has no global shortcuts, so each platform's own way is used where it has one:
- X11: a key grab on the root window (``XGrabKey`` through ``gui/xlib.py``), on a
  connection of our own whose socket a ``QSocketNotifier`` watches: the key presses
  are read on the GUI thread when they come, no polling and no thread;
- Windows: ``RegisterHotKey`` through ctypes; its ``WM_HOTKEY`` is read by a native
  event filter;
- Wayland (also Qt through XWayland, where an X grab sees only X windows' keys): the
  desktop portal's global shortcuts (``gui/portal_shortcut.py``), where the portal
  offers them; the desktop binds the key, maybe after asking its user;
- macOS: a Carbon hot key (``RegisterEventHotKey``, ``gui/mac_hotkey.py``), written to
  Apple's documentation but not run by the tests, which run on Linux;
- a Wayland desktop without the portal's shortcuts, or a hot key the system refuses: the
  Settings card says how to bind ``allma-desktop --quick-ask`` to a key in the
  desktop's own keyboard settings (which hands off to the running app).

A key another program already holds (X11 answers BadAccess, Windows "already
registered") is a clear message naming the key, and the in-app shortcut keeps working.
The chosen key is kept in QSettings.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractNativeEventFilter,
    QByteArray,
    QCoreApplication,
    QObject,
    QSettings,
    QSocketNotifier,
    Qt,
    Signal,
)
from PySide6.QtGui import QGuiApplication, QKeySequence

from allma_desktop.gui.portal_shortcut import PortalShortcut, PortalUnavailable, wayland_session
from allma_desktop.gui.shortcut_keys import FUNCTION_KEYS as _FUNCTION_KEYS
from allma_desktop.gui.shortcut_keys import ShortcutRefused, shown, split_sequence

if TYPE_CHECKING:
    from allma_desktop.gui.mac_hotkey import MacHotKey

log = logging.getLogger(__name__)

SHORTCUT_KEY = "quick_ask/shortcut"
DEFAULT_SHORTCUT = "Ctrl+Shift+Space"
REPEAT_SECONDS = 0.3  # a held key repeats its press: one opening per press
BIND_COMMAND = "allma-desktop --quick-ask"


# Qt key -> X keysym, for the keys that are not printable ASCII (keysym = Latin-1 code).
_X11_KEYSYMS = {
    Qt.Key.Key_Escape: 0xFF1B, Qt.Key.Key_Tab: 0xFF09, Qt.Key.Key_Backspace: 0xFF08,
    Qt.Key.Key_Return: 0xFF0D, Qt.Key.Key_Enter: 0xFF8D, Qt.Key.Key_Insert: 0xFF63,
    Qt.Key.Key_Delete: 0xFFFF, Qt.Key.Key_Pause: 0xFF13, Qt.Key.Key_Print: 0xFF61,
    Qt.Key.Key_Home: 0xFF50, Qt.Key.Key_End: 0xFF57, Qt.Key.Key_Left: 0xFF51,
    Qt.Key.Key_Up: 0xFF52, Qt.Key.Key_Right: 0xFF53, Qt.Key.Key_Down: 0xFF54,
    Qt.Key.Key_PageUp: 0xFF55, Qt.Key.Key_PageDown: 0xFF56,
}  # fmt: skip
# Qt key -> Windows virtual-key code, for the keys that are not letters or digits.
_WINDOWS_KEYS = {
    Qt.Key.Key_Space: 0x20, Qt.Key.Key_Escape: 0x1B, Qt.Key.Key_Tab: 0x09,
    Qt.Key.Key_Backspace: 0x08, Qt.Key.Key_Return: 0x0D, Qt.Key.Key_Enter: 0x0D,
    Qt.Key.Key_Insert: 0x2D, Qt.Key.Key_Delete: 0x2E, Qt.Key.Key_Pause: 0x13,
    Qt.Key.Key_Print: 0x2C, Qt.Key.Key_Home: 0x24, Qt.Key.Key_End: 0x23,
    Qt.Key.Key_Left: 0x25, Qt.Key.Key_Up: 0x26, Qt.Key.Key_Right: 0x27,
    Qt.Key.Key_Down: 0x28, Qt.Key.Key_PageUp: 0x21, Qt.Key.Key_PageDown: 0x22,
}  # fmt: skip


@dataclass(frozen=True)
class ShortcutState:
    """Whether the key works from anywhere, and what to tell the user about it."""

    sequence: str  # portable text ("Ctrl+Shift+Space"), "" for none
    global_: bool  # True: it opens quick ask from any program
    message: str
    pending: bool = False  # asked of the desktop portal, which has not answered yet


def saved_shortcut() -> str:
    """The quick-ask key as the user left it (the default until they change it)."""
    value = QSettings().value(SHORTCUT_KEY, DEFAULT_SHORTCUT)
    return str(value) if value is not None else DEFAULT_SHORTCUT


# --- X11 --------------------------------------------------------------------------------


def x11_keysym(key: Qt.Key) -> int | None:
    value = key.value
    if 0x20 <= value <= 0x7E:
        return ord(chr(value).lower())
    if value in _FUNCTION_KEYS:
        return 0xFFBE + value - Qt.Key.Key_F1.value
    return _X11_KEYSYMS.get(key)


def x11_modifiers(modifiers: Qt.KeyboardModifier) -> int:
    from allma_desktop.gui import xlib

    mask = 0
    for qt_modifier, x_mask in (
        (Qt.KeyboardModifier.ShiftModifier, xlib.SHIFT_MASK),
        (Qt.KeyboardModifier.ControlModifier, xlib.CONTROL_MASK),
        (Qt.KeyboardModifier.AltModifier, xlib.MOD1_MASK),
        (Qt.KeyboardModifier.MetaModifier, xlib.MOD4_MASK),
    ):
        if modifiers & qt_modifier:
            mask |= x_mask
    return mask


class X11KeyGrab(QObject):
    """One key taken on an X display's root window; ``pressed`` when it is pressed."""

    pressed = Signal()

    def __init__(self, display: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        from allma_desktop.gui.xlib import XConnection

        self._connection = XConnection(display)  # XlibUnavailable: no X here
        self._grabbed: tuple[int, int] | None = None
        self._notifier = QSocketNotifier(self._connection.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._read)

    def grab(self, sequence: str) -> None:
        """Take ``sequence`` (letting go of the key before); ShortcutRefused if refused."""
        from allma_desktop.gui import xlib

        key, modifiers = split_sequence(sequence)
        keysym = x11_keysym(key)
        keycode = self._connection.keycode(keysym) if keysym is not None else 0
        if not keycode:
            raise ShortcutRefused(
                f"{shown(sequence)} is not on this keyboard's layout. Pick a letter, a "
                "digit, Space or an F-key with Ctrl, Alt or Super."
            )
        self.release()
        mask = x11_modifiers(modifiers)
        error = self._connection.grab_key(keycode, mask)
        if error == xlib.BAD_ACCESS:
            raise ShortcutRefused(
                f"{shown(sequence)} is already taken by another program (the X server "
                "refused it). Pick another key here, or free it in that program."
            )
        if error is not None:
            raise ShortcutRefused(
                f"The X server refused {shown(sequence)} (X error {error}). Pick another key."
            )
        self._grabbed = (keycode, mask)
        self._read()  # events queued while the grab was made

    def release(self) -> None:
        if self._grabbed is not None:
            self._connection.ungrab_key(*self._grabbed)
            self._grabbed = None

    def close(self) -> None:
        self._notifier.setEnabled(False)
        self.release()
        self._connection.close()

    def _read(self) -> None:
        for keycode, state in self._connection.key_presses():
            if self._grabbed == (keycode, state):
                self.pressed.emit()


# --- Windows -----------------------------------------------------------------------------

_WM_HOTKEY = 0x0312
_MOD_ALT, _MOD_CONTROL, _MOD_SHIFT, _MOD_WIN, _MOD_NOREPEAT = 0x1, 0x2, 0x4, 0x8, 0x4000
_ERROR_HOTKEY_ALREADY_REGISTERED = 1409
_HOTKEY_ID = 0xA11A


def windows_key(key: Qt.Key) -> int | None:
    value = key.value
    if ord("A") <= value <= ord("Z") or ord("0") <= value <= ord("9"):
        return value
    if value in _FUNCTION_KEYS:
        return 0x70 + value - Qt.Key.Key_F1.value
    return _WINDOWS_KEYS.get(key)


class _HotKeyFilter(QAbstractNativeEventFilter):
    def __init__(self, on_hotkey: Any) -> None:
        super().__init__()
        self._on_hotkey = on_hotkey

    def nativeEventFilter(
        self, event_type: QByteArray | bytes | bytearray | memoryview, message: int, /
    ) -> Any:
        if QByteArray(event_type).data() == b"windows_generic_MSG":
            from ctypes import wintypes

            msg = ctypes.cast(int(message), ctypes.POINTER(wintypes.MSG)).contents
            if msg.message == _WM_HOTKEY and msg.wParam == _HOTKEY_ID:
                self._on_hotkey()
                return True, 0
        return False, 0


class WindowsHotKey(QObject):
    """A hot key registered with Windows for this thread; ``pressed`` when it is pressed."""

    pressed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._user32: Any = ctypes.WinDLL("user32", use_last_error=True)  # type: ignore[attr-defined]
        self._registered = False
        self._filter = _HotKeyFilter(self.pressed.emit)
        app = QCoreApplication.instance()
        if app is not None:
            app.installNativeEventFilter(self._filter)

    def grab(self, sequence: str) -> None:
        key, modifiers = split_sequence(sequence)
        code = windows_key(key)
        if code is None:
            raise ShortcutRefused(
                f"{shown(sequence)} cannot be a global key on Windows. Pick a letter, a "
                "digit, Space or an F-key with Ctrl, Alt or Win."
            )
        flags = _MOD_NOREPEAT
        for qt_modifier, flag in (
            (Qt.KeyboardModifier.ShiftModifier, _MOD_SHIFT),
            (Qt.KeyboardModifier.ControlModifier, _MOD_CONTROL),
            (Qt.KeyboardModifier.AltModifier, _MOD_ALT),
            (Qt.KeyboardModifier.MetaModifier, _MOD_WIN),
        ):
            if modifiers & qt_modifier:
                flags |= flag
        self.release()
        if not self._user32.RegisterHotKey(None, _HOTKEY_ID, flags, code):
            error = ctypes.get_last_error()  # type: ignore[attr-defined]
            if error == _ERROR_HOTKEY_ALREADY_REGISTERED:
                raise ShortcutRefused(
                    f"{shown(sequence)} is already taken by another program. Pick another "
                    "key here, or free it in that program."
                )
            raise ShortcutRefused(
                f"Windows refused {shown(sequence)} (error {error}). Pick another key."
            )
        self._registered = True

    def release(self) -> None:
        if self._registered:
            self._user32.UnregisterHotKey(None, _HOTKEY_ID)
            self._registered = False

    def close(self) -> None:
        self.release()
        app = QCoreApplication.instance()
        if app is not None:
            app.removeNativeEventFilter(self._filter)


# --- the shortcut the app uses --------------------------------------------------------------


def platform_note(platform: str, system: str = sys.platform) -> str:
    """Why this desktop has no global key for apps, and how to bind quick ask instead."""
    bind = f"bind the command `{BIND_COMMAND}` to a key"
    if system == "darwin":
        return (
            "macOS would not give Allma a key for the whole desktop here. To open quick "
            f"ask from anywhere, {bind}: in the Shortcuts app, make a shortcut that runs "
            "it as a shell script and give it a keyboard shortcut."
        )
    if platform.startswith("wayland"):
        return (
            "On Wayland, apps cannot take a key for the whole desktop, and this desktop's "
            "portal lends none (no GlobalShortcuts). To open quick ask "
            f"from anywhere, {bind} in your desktop's keyboard settings (GNOME: Settings › "
            "Keyboard › Custom Shortcuts; KDE: System Settings › Shortcuts)."
        )
    return (
        f"Here ({platform}) Allma cannot take a key for the whole desktop. To open quick "
        f"ask from anywhere, {bind} in your desktop's keyboard settings."
    )


def same_key(description: str, sequence: str) -> bool:
    """Whether a desktop's words for a key ("CTRL+SHIFT+space", "Ctrl+Shift+Space",
    "Super+Q") name the key ``sequence`` is."""

    def parts(text: str) -> frozenset[str]:
        words = text.lower().replace(" ", "").split("+")
        aliases = {"control": "ctrl", "logo": "meta", "super": "meta", "win": "meta"}
        return frozenset(aliases.get(word, word) for word in words if word)

    portable = QKeySequence(sequence).toString(QKeySequence.SequenceFormat.PortableText)
    return parts(description) in (parts(portable), parts(shown(sequence)))


class GlobalShortcut(QObject):
    """The quick-ask key for the whole desktop, where the platform allows one.

    ``activated`` when it is pressed in any program; ``state_changed`` with a
    ``ShortcutState`` whenever the key or whether it is taken changes.
    """

    activated = Signal()
    state_changed = Signal(object)  # ShortcutState

    def __init__(
        self,
        parent: QObject | None = None,
        display: str | None = None,
        portal_bus: str | None = None,
    ) -> None:
        """``display``: an X display to grab the key on; ``portal_bus``: the D-Bus address
        whose desktop portal lends the key (both for tests; by default, this session's)."""
        super().__init__(parent)
        self._last_press = 0.0
        self._grab: X11KeyGrab | WindowsHotKey | MacHotKey | PortalShortcut | None = None
        self._unavailable = ""
        platform = QGuiApplication.platformName()
        on_screen = platform not in ("offscreen", "minimal")
        if portal_bus is not None or (display is None and on_screen and wayland_session()):
            platform = "wayland"  # XWayland too: an X grab would see only X windows' keys
            try:
                self._grab = PortalShortcut(portal_bus, self)
            except PortalUnavailable as error:
                log.info("no portal shortcut: %s", error)
            else:
                self._grab.bound.connect(self._on_bound)
        try:
            if self._grab is not None or platform.startswith("wayland"):
                pass
            elif platform == "xcb" or display is not None:
                self._grab = X11KeyGrab(display, self)
            elif sys.platform == "win32" and platform == "windows":
                self._grab = WindowsHotKey(self)
            elif sys.platform == "darwin" and platform == "cocoa":
                from allma_desktop.gui.mac_hotkey import MacHotKey

                self._grab = MacHotKey(self)
        except Exception as error:  # no libX11, no display: said in Settings, not fatal
            log.warning("no global shortcut: %s", error)
            self._unavailable = (
                f"The global shortcut could not be set up ({error}). To open quick ask "
                f"from anywhere, bind the command `{BIND_COMMAND}` to a key in your "
                "desktop's keyboard settings."
            )
        else:
            if self._grab is None:
                self._unavailable = platform_note(platform)
        if self._grab is not None:
            self._grab.pressed.connect(self._on_pressed)
        self._state = ShortcutState("", False, "")
        self.set_sequence(saved_shortcut(), remember=False)

    @property
    def state(self) -> ShortcutState:
        return self._state

    @property
    def sequence(self) -> str:
        return self._state.sequence

    @property
    def available(self) -> bool:
        """Whether this platform can take a key for the whole desktop."""
        return self._grab is not None

    def set_sequence(self, sequence: str, remember: bool = True) -> ShortcutState:
        """Use ``sequence`` ("" for none) from now on; remembered unless ``remember`` is False.

        A key another program holds is still remembered (it works inside Allma): the
        state says it is not global, and why.
        """
        text = QKeySequence(sequence).toString(QKeySequence.SequenceFormat.PortableText)
        if remember:
            settings = QSettings()
            settings.setValue(SHORTCUT_KEY, text)
            settings.sync()
        self._state = self._take(text)
        self.state_changed.emit(self._state)
        return self._state

    def close(self) -> None:
        """Let go of the key (the app is quitting)."""
        if self._grab is not None:
            self._grab.close()
            self._grab = None

    def _take(self, text: str) -> ShortcutState:
        if not text:
            if self._grab is not None:
                self._grab.release()
            return ShortcutState(
                "", False, f"No shortcut. The tray menu and `{BIND_COMMAND}` open quick ask."
            )
        if self._grab is None:
            return ShortcutState(
                text, False, f"{shown(text)} works while an Allma window has focus. "
                + self._unavailable,
            )  # fmt: skip
        try:
            self._grab.grab(text)
        except ShortcutRefused as refused:
            self._grab.release()
            log.info("global shortcut %s refused: %s", text, refused)
            return ShortcutState(text, False, str(refused))
        if isinstance(self._grab, PortalShortcut):  # the desktop answers later: _on_bound
            return ShortcutState(
                text,
                False,
                f"Asking your desktop to bind {shown(text)}; it may ask you first.",
                pending=True,
            )
        return ShortcutState(text, True, f"{shown(text)} opens quick ask from any program.")

    def _on_bound(self, ok: bool, detail: str) -> None:
        """The desktop portal's answer to the key asked for."""
        text = self._state.sequence
        if ok:
            if not detail or same_key(detail, text):
                message = f"{shown(text)} opens quick ask from any program."
            else:
                message = (
                    f"{detail} opens quick ask from any program (your desktop bound it "
                    f"instead of {shown(text)}; change it in the desktop's settings)."
                )
            self._state = ShortcutState(text, True, message)
        else:
            self._state = ShortcutState(
                text,
                False,
                f"{detail} {shown(text)} works while an Allma window has focus; to open quick "
                f"ask from anywhere, bind `{BIND_COMMAND}` in your desktop's keyboard settings.",
            )
        self.state_changed.emit(self._state)

    def _on_pressed(self) -> None:
        now = time.monotonic()
        if now - self._last_press < REPEAT_SECONDS:
            return
        self._last_press = now
        self.activated.emit()


__all__ = [
    "DEFAULT_SHORTCUT",
    "SHORTCUT_KEY",
    "GlobalShortcut",
    "ShortcutRefused",
    "ShortcutState",
    "X11KeyGrab",
    "platform_note",
    "saved_shortcut",
    "split_sequence",
]
