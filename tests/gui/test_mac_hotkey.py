"""The macOS hot key's key tables, its keyboard-layout look-up and its calls to Carbon. The
real Carbon runs on macOS only, and these tests run on Linux: a stand-in for the library
records what is sent to ``RegisterEventHotKey`` and answers as the documentation says
Carbon does; whether macOS takes it is not tested here."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from allma_desktop.gui.mac_hotkey import (
    CMD_KEY,
    CONTROL_KEY,
    EVENT_NOT_HANDLED,
    OPTION_KEY,
    SHIFT_KEY,
    MacHotKey,
    layout_key_codes,
    mac_key_code,
    mac_modifiers,
)
from allma_desktop.gui.shortcut_keys import ShortcutRefused, split_sequence


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


# What each key types on a French AZERTY keyboard, by virtual key code (the US keyboard's
# A is where AZERTY has Q, its Q where AZERTY has A; the digits' row types &é"'(-è_çà).
AZERTY = {
    0x00: "q", 0x0C: "a", 0x0D: "z", 0x06: "w", 0x01: "s", 0x2E: ",", 0x29: "m",
    0x12: "&", 0x13: "é", 0x31: " ",
}  # fmt: skip
RUSSIAN = {0x00: "ф", 0x0C: "й", 0x0D: "ц", 0x28: "л"}


def test_letters_are_found_where_the_keyboard_layout_puts_them() -> None:
    layout = layout_key_codes(lambda code: AZERTY.get(code, ""))

    assert mac_key_code(Qt.Key.Key_A, layout) == 0x0C  # the key marked A on AZERTY
    assert mac_key_code(Qt.Key.Key_Q, layout) == 0x00
    assert mac_key_code(Qt.Key.Key_M, layout) == 0x29
    assert mac_key_code(Qt.Key.Key_1, layout) == 0x12  # typed with Shift there: the US place
    assert mac_key_code(Qt.Key.Key_Space, layout) == 0x31


def test_a_layout_without_latin_letters_keeps_the_us_places() -> None:
    layout = layout_key_codes(lambda code: RUSSIAN.get(code, ""))

    assert mac_key_code(Qt.Key.Key_A, layout) == 0x00
    assert mac_key_code(Qt.Key.Key_K, layout) == 0x28


class Call:
    """A stand-in for one C function: records its arguments, answers ``answer``."""

    def __init__(self, answer: Any) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.answer = answer

    def __call__(self, *args: Any) -> Any:
        self.calls.append(args)
        return self.answer(*args) if callable(self.answer) else self.answer


class FakeCarbon:
    """Carbon's hot-key calls, answering as its documentation says."""

    TARGET = 0xA1
    HOTKEY_REF = 0xB2
    HANDLER_REF = 0xC3

    def __init__(self, register_status: int = 0) -> None:
        self.register_status = register_status
        self.events: dict[int, tuple[int, int]] = {}  # event -> its hot key's (signature, id)
        self.GetApplicationEventTarget = Call(self.TARGET)
        self.InstallEventHandler = Call(self._install)
        self.RegisterEventHotKey = Call(self._register)
        self.UnregisterEventHotKey = Call(0)
        self.GetEventParameter = Call(self._parameter)
        self.RemoveEventHandler = Call(0)

    def _install(self, *args: Any) -> int:
        args[-1]._obj.value = self.HANDLER_REF  # outRef
        return 0

    def _register(self, *args: Any) -> int:
        if self.register_status == 0:
            args[-1]._obj.value = self.HOTKEY_REF  # outRef
        return self.register_status

    def _parameter(self, event: int, *args: Any) -> int:
        signature, number = self.events[event]
        hotkey_id = args[-1]._obj  # outData: an EventHotKeyID
        hotkey_id.signature, hotkey_id.id = signature, number
        return 0


def registered(carbon: FakeCarbon) -> tuple[int, int, int, int, int, int]:
    code, modifiers, hotkey_id, target, options, _out = carbon.RegisterEventHotKey.calls[-1]
    return code, modifiers, hotkey_id.signature, hotkey_id.id, target, options


def test_the_hot_key_is_registered_with_its_key_code_modifiers_and_the_app_s_id() -> None:
    carbon = FakeCarbon()
    hotkey = MacHotKey(carbon=carbon)
    handler_target, _callback, count, spec, _data, _out = carbon.InstallEventHandler.calls[0]
    assert (handler_target, count) == (FakeCarbon.TARGET, 1)
    assert spec._obj.eventClass == int.from_bytes(b"keyb", "big") and spec._obj.eventKind == 5

    hotkey.grab("Ctrl+Shift+Space")

    signature = int.from_bytes(b"ALMA", "big")
    assert registered(carbon) == (0x31, CMD_KEY | SHIFT_KEY, signature, 1, FakeCarbon.TARGET, 0)
    hotkey.grab("Meta+Alt+K")  # a new key: the old one is let go first
    assert [ref.value for (ref,) in carbon.UnregisterEventHotKey.calls] == [FakeCarbon.HOTKEY_REF]
    assert registered(carbon)[:2] == (0x28, CONTROL_KEY | OPTION_KEY)
    hotkey.close()
    assert len(carbon.UnregisterEventHotKey.calls) == 2
    assert [ref.value for (ref,) in carbon.RemoveEventHandler.calls] == [FakeCarbon.HANDLER_REF]


def test_a_key_another_program_holds_is_named_and_said_taken() -> None:
    hotkey = MacHotKey(carbon=FakeCarbon(register_status=-9878))  # eventHotKeyExistsErr

    with pytest.raises(ShortcutRefused, match="Ctrl\\+Shift\\+Space is already taken"):
        hotkey.grab("Ctrl+Shift+Space")
    hotkey.close()
    assert not hotkey._carbon.UnregisterEventHotKey.calls  # type: ignore[attr-defined]


def test_only_the_app_s_hot_key_opens_quick_ask_and_other_events_pass_on(qtbot: QtBot) -> None:
    carbon = FakeCarbon()
    hotkey = MacHotKey(carbon=carbon)
    hotkey.grab("Ctrl+Shift+Space")
    callback: Callable[[Any, int, Any], int] = carbon.InstallEventHandler.calls[0][1]
    carbon.events = {1: (int.from_bytes(b"ALMA", "big"), 1), 2: (int.from_bytes(b"xTRM", "big"), 1)}

    with qtbot.assertNotEmitted(hotkey.pressed):
        assert callback(None, 2, None) == EVENT_NOT_HANDLED  # another's: to the next handler
    with qtbot.waitSignal(hotkey.pressed, timeout=1_000):
        assert callback(None, 1, None) == 0
    hotkey.close()
