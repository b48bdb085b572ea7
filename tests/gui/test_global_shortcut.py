"""The quick-ask key from any program, on a real X server (Xvfb) with real key presses (xdotool).

The key is pressed through XTEST, as a keyboard would, while a window of another program
has the focus: only a grab on the root window can see it then.
"""

from __future__ import annotations

import os
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
from tests.support.xserver import (
    MISSING,
    OtherProgram,
    focused_window_name,
    start_xvfb,
    x_tools_missing,
    xdotool,
)

needs_x = pytest.mark.skipif(x_tools_missing(), reason=MISSING)
PRESS_TIMEOUT_MS = 5_000


@pytest.fixture
def x_display() -> Iterator[str]:
    with start_xvfb() as display:
        yield display


@pytest.fixture
def other_program(x_display: str) -> Iterator[OtherProgram]:
    other = OtherProgram(x_display)
    try:
        yield other
    finally:
        other.close()


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
        other_program.focus()
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
    compositor = OtherProgram(x_display, "A compositor")
    compositor.own_selection("_NET_WM_CM_S0")
    try:
        assert compositor_running(x_display)
    finally:
        compositor.close()
