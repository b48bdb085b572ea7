"""The quick-ask key from any program, on a real X server (Xvfb) with real key presses (xdotool).

The key is pressed through XTEST, as a keyboard would, while a window of another program
has the focus: only a grab on the root window can see it then.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtGui import QKeySequence
from pytestqt.qtbot import QtBot

from allma_desktop.gui.global_shortcut import (
    GlobalShortcut,
    ShortcutRefused,
    X11KeyGrab,
    platform_note,
    split_sequence,
)
from allma_desktop.gui.widgets.settings.quick_ask import QuickAskCard
from tests.gui.test_exit_paths import AppProcess

XVFB = shutil.which("Xvfb")
XDOTOOL = shutil.which("xdotool")
needs_x = pytest.mark.skipif(
    XVFB is None or XDOTOOL is None or ctypes.util.find_library("X11") is None,
    reason="needs Xvfb, xdotool and libX11 (apt install xvfb xdotool; "
    "`bash scripts/setup.sh --dev` installs them)",
)
START_TIMEOUT = 30.0
PRESS_TIMEOUT_MS = 5_000


@pytest.fixture
def x_display() -> Iterator[str]:
    """A fresh Xvfb on a display number it picks itself (no clash with other runs)."""
    assert XVFB is not None
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        [XVFB, "-displayfd", str(write_end), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], START_TIMEOUT)
        assert ready, "Xvfb did not start"
        number = os.read(read_end, 64).decode().strip()
        assert number.isdigit(), f"Xvfb said {number!r}"
        yield f":{number}"
    finally:
        os.close(read_end)
        server.terminate()
        server.wait(10)


class OtherProgram:
    """A plain X window of another client, mapped and given the keyboard focus."""

    def __init__(self, display: str) -> None:
        lib = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
        lib.XOpenDisplay.restype = ctypes.c_void_p
        lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
        lib.XDefaultRootWindow.restype = ctypes.c_ulong
        lib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        lib.XCreateSimpleWindow.restype = ctypes.c_ulong
        lib.XCreateSimpleWindow.argtypes = (
            [ctypes.c_void_p, ctypes.c_ulong]
            + [ctypes.c_int] * 4
            + [
                ctypes.c_uint,
                ctypes.c_ulong,
                ctypes.c_ulong,
            ]
        )
        lib.XStoreName.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_char_p]
        lib.XMapRaised.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        lib.XSetInputFocus.argtypes = [
            ctypes.c_void_p,
            ctypes.c_ulong,
            ctypes.c_int,
            ctypes.c_ulong,
        ]
        lib.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self.lib = lib
        self.handle = lib.XOpenDisplay(display.encode())
        assert self.handle, f"cannot open {display}"
        root = lib.XDefaultRootWindow(self.handle)
        self.window = lib.XCreateSimpleWindow(self.handle, root, 10, 10, 400, 300, 0, 0, 0xFFFFFF)
        lib.XStoreName(self.handle, self.window, b"Another program")
        lib.XMapRaised(self.handle, self.window)
        lib.XSync(self.handle, 0)
        lib.XSetInputFocus(self.handle, self.window, 2, 0)  # RevertToParent, CurrentTime
        lib.XSync(self.handle, 0)

    def close(self) -> None:
        self.lib.XCloseDisplay(self.handle)


@pytest.fixture
def other_program(x_display: str) -> Iterator[OtherProgram]:
    other = OtherProgram(x_display)
    try:
        yield other
    finally:
        other.close()


def xdotool(display: str, *arguments: str) -> str:
    assert XDOTOOL is not None
    done = subprocess.run(
        [XDOTOOL, *arguments],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return done.stdout.strip()


def focused_window_name(display: str) -> str:
    return xdotool(display, "getwindowfocus", "getwindowname")


@needs_x
def test_the_key_pressed_in_another_program_opens_quick_ask(
    qtbot: QtBot, x_display: str, other_program: OtherProgram
) -> None:
    shortcut = GlobalShortcut(display=x_display)
    assert shortcut.state.global_, shortcut.state.message
    assert focused_window_name(x_display) == "Another program"

    with qtbot.waitSignal(shortcut.activated, timeout=PRESS_TIMEOUT_MS):
        xdotool(x_display, "key", "ctrl+shift+space")
    shortcut.close()


@needs_x
def test_the_key_is_not_taken_without_its_modifiers(
    qtbot: QtBot, x_display: str, other_program: OtherProgram
) -> None:
    shortcut = GlobalShortcut(display=x_display)
    presses: list[None] = []
    shortcut.activated.connect(lambda: presses.append(None))

    xdotool(x_display, "key", "space", "shift+space")
    with qtbot.waitSignal(shortcut.activated, timeout=PRESS_TIMEOUT_MS):
        xdotool(x_display, "key", "ctrl+shift+space")  # the marker that the others were read
    assert len(presses) == 1
    shortcut.close()


@needs_x
def test_a_key_another_program_holds_is_named_and_said_taken(qtbot: QtBot, x_display: str) -> None:
    holder = X11KeyGrab(x_display)  # another client of the X server
    holder.grab("Ctrl+Shift+Space")

    shortcut = GlobalShortcut(display=x_display)

    assert not shortcut.state.global_
    assert "Ctrl+Shift+Space is already taken by another program" in shortcut.state.message
    card = QuickAskCard(shortcut)
    qtbot.addWidget(card)
    assert "Ctrl+Shift+Space is already taken" in card.state_label.text()
    assert card.state_label.objectName() == "fieldError"
    holder.close()
    shortcut.close()


@needs_x
def test_a_key_chosen_in_settings_works_at_once_and_is_remembered(
    qtbot: QtBot, x_display: str, other_program: OtherProgram
) -> None:
    shortcut = GlobalShortcut(display=x_display)
    card = QuickAskCard(shortcut)
    qtbot.addWidget(card)

    card.key_edit.setKeySequence(QKeySequence("Ctrl+Alt+K"))
    card.key_edit.editingFinished.emit()

    assert shortcut.state.global_, shortcut.state.message
    assert "Ctrl+Alt+K opens quick ask from any program" in card.state_label.text()
    with qtbot.waitSignal(shortcut.activated, timeout=PRESS_TIMEOUT_MS):
        xdotool(x_display, "key", "ctrl+alt+k")
    shortcut.close()
    # The old key went back to the desktop, and the new one is what the next start takes.
    again = GlobalShortcut(display=x_display)
    assert again.sequence == "Ctrl+Alt+K" and again.state.global_
    other = X11KeyGrab(x_display)
    other.grab("Ctrl+Shift+Space")  # free again: another program may take it
    other.close()
    again.close()


@needs_x
def test_in_the_running_app_the_key_opens_the_popup_over_another_program(
    x_display: str, other_program: OtherProgram, tmp_path: Path
) -> None:
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM="xcb",
        DISPLAY=x_display,
        OLLAMA_HOST="http://127.0.0.1:9",  # no Ollama needed to open quick ask
        ALLMA_DATA_DIR=str(tmp_path / "data"),
        ALLMA_CONFIG_DIR=str(tmp_path / "config"),
        ALLMA_LOG_DIR=str(tmp_path / "logs"),
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "home" / ".config"),
        XDG_RUNTIME_DIR=str(tmp_path / "runtime"),
    )
    env.pop("WAYLAND_DISPLAY", None)
    (tmp_path / "runtime").mkdir(mode=0o700)
    app = AppProcess(env)
    try:
        app.wait_ready()
        assert any("opens quick ask from any program" in line for line in app.lines), app.lines
        # The app's window took the focus when it opened: give it back to the other program.
        other_program.lib.XSetInputFocus(other_program.handle, other_program.window, 2, 0)
        other_program.lib.XSync(other_program.handle, 0)
        assert focused_window_name(x_display) == "Another program"

        xdotool(x_display, "key", "ctrl+shift+space")

        assert app.wait_for("quick ask open"), "\n".join(app.lines)
        assert app.process.poll() is None
    finally:
        app.kill()


def test_without_a_global_key_settings_says_how_to_bind_the_command(qtbot: QtBot) -> None:
    shortcut = GlobalShortcut()  # the offscreen platform lets no app take a key

    card = QuickAskCard(shortcut)
    qtbot.addWidget(card)

    assert not shortcut.available
    assert "allma-desktop --quick-ask" in card.state_label.text()
    assert "works while an Allma window has focus" in card.state_label.text()
    assert card.state_label.objectName() == "fieldHint"


def test_wayland_and_macos_get_the_desktop_s_own_way_to_bind_the_command() -> None:
    wayland = platform_note("wayland", system="linux")
    mac = platform_note("cocoa", system="darwin")

    assert "Wayland" in wayland and "allma-desktop --quick-ask" in wayland
    assert "Custom Shortcuts" in wayland
    assert "Shortcuts app" in mac and "allma-desktop --quick-ask" in mac


@pytest.mark.parametrize(
    ("sequence", "said"),
    [("Space", "has no Ctrl, Alt or Super"), ("Shift+A", "has no Ctrl, Alt or Super")],
)
def test_a_key_that_would_stop_typing_is_refused(sequence: str, said: str) -> None:
    with pytest.raises(ShortcutRefused, match=said):
        split_sequence(sequence)


def test_a_function_key_alone_may_be_global() -> None:
    key, _modifiers = split_sequence("F12")

    assert QKeySequence(key).toString() == "F12"


@needs_x
def test_the_compositor_check_asks_the_x_server(x_display: str) -> None:
    from allma_desktop.gui.xlib import compositor_running

    assert not compositor_running(x_display)  # a bare Xvfb: see-through would be black
    compositor = OtherProgram(x_display)  # stands in for one: it owns _NET_WM_CM_S0
    lib = compositor.lib
    lib.XInternAtom.restype = ctypes.c_ulong
    lib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    lib.XSetSelectionOwner.argtypes = [
        ctypes.c_void_p,
        ctypes.c_ulong,
        ctypes.c_ulong,
        ctypes.c_ulong,
    ]
    atom = lib.XInternAtom(compositor.handle, b"_NET_WM_CM_S0", 0)
    lib.XSetSelectionOwner(compositor.handle, atom, compositor.window, 0)
    lib.XSync(compositor.handle, 0)
    try:
        assert compositor_running(x_display)
    finally:
        compositor.close()
