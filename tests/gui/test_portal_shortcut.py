"""The quick-ask key on Wayland, lent by the desktop portal, against a fake portal
(tests/support/fake_portal.py) on a private D-Bus bus: the real messages, the real bus."""

from __future__ import annotations

import queue
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from allma_desktop.gui.app_events import AppEvents
from allma_desktop.gui.controllers.chat_controller import ChatController
from allma_desktop.gui.global_shortcut import GlobalShortcut
from allma_desktop.gui.portal_shortcut import preferred_trigger, wayland_session
from allma_desktop.gui.shortcut_keys import ShortcutRefused

ROOT = Path(__file__).resolve().parents[2]
NO_DBUS = "dbus-daemon is not installed (apt install dbus-daemon; scripts/setup.sh --dev does)"
ANSWER_MS = 5_000


def read_line(process: subprocess.Popen[str], timeout: float = 10.0) -> str:
    """The next line the process prints, or "" when none comes in time."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    return process.stdout.readline().strip() if ready else ""


@pytest.fixture
def bus() -> Iterator[str]:
    if shutil.which("dbus-daemon") is None:
        pytest.skip(NO_DBUS)
    daemon = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        address = read_line(daemon)
        assert address.startswith("unix:"), "dbus-daemon printed no address"
        yield address
    finally:
        daemon.kill()
        daemon.wait()


class Portal:
    def __init__(self, bus: str, *options: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.fake_portal", bus, *options],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        assert self.wait_for("ready"), self.lines

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.strip())

    def wait_for(self, start: str, timeout: float = 10.0) -> str:
        """The next line the portal prints that starts with ``start`` ("" if none)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            self.lines.append(line)
            if line.startswith(start):
                return line
        return ""

    def press(self) -> None:
        self.process.send_signal(signal.SIGUSR1)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def portal(bus: str) -> Iterator[Portal]:
    fake = Portal(bus)
    yield fake
    fake.close()


def test_the_desktop_binds_the_key_and_its_press_opens_the_quick_ask_popup(
    qtbot: QtBot, bus: str, portal: Portal
) -> None:
    from allma_desktop.gui.widgets.quick_ask import QuickAskWindow

    shortcut = GlobalShortcut(portal_bus=bus)
    assert shortcut.available
    qtbot.waitUntil(lambda: shortcut.state.global_, timeout=ANSWER_MS)
    assert portal.wait_for("bound quick-ask") == "bound quick-ask CTRL+SHIFT+space"
    assert shortcut.state.message == "Ctrl+Shift+Space opens quick ask from any program."

    popup = QuickAskWindow(_no_chat, AppEvents())
    qtbot.addWidget(popup)
    shortcut.activated.connect(popup.open_popup)
    portal.press()
    assert portal.wait_for("activated") == "activated quick-ask"
    qtbot.waitUntil(popup.isVisible, timeout=ANSWER_MS)
    shortcut.close()
    assert portal.wait_for("closed ").startswith("closed /org/freedesktop/portal/desktop/session/")


def test_a_new_key_is_asked_for_in_a_new_session(qtbot: QtBot, bus: str, portal: Portal) -> None:
    shortcut = GlobalShortcut(portal_bus=bus)
    qtbot.waitUntil(lambda: shortcut.state.global_, timeout=ANSWER_MS)

    shortcut.set_sequence("Ctrl+Alt+K", remember=False)
    assert not shortcut.state.global_  # until the desktop answers
    qtbot.waitUntil(lambda: shortcut.state.global_, timeout=ANSWER_MS)

    assert portal.wait_for("bound quick-ask") == "bound quick-ask CTRL+SHIFT+space"
    assert portal.wait_for("closed ")
    assert portal.wait_for("bound quick-ask") == "bound quick-ask CTRL+ALT+k"
    assert shortcut.state.sequence == "Ctrl+Alt+K"
    shortcut.close()


def test_the_key_the_desktop_picked_instead_is_the_one_shown(qtbot: QtBot, bus: str) -> None:
    portal = Portal(bus, "--trigger", "Super+Q")
    try:
        shortcut = GlobalShortcut(portal_bus=bus)
        qtbot.waitUntil(lambda: shortcut.state.global_, timeout=ANSWER_MS)
        assert shortcut.state.message.startswith("Super+Q opens quick ask from any program")
        assert "instead of" in shortcut.state.message
        shortcut.close()
    finally:
        portal.close()


def test_a_binding_the_user_cancels_says_how_to_bind_the_command(qtbot: QtBot, bus: str) -> None:
    portal = Portal(bus, "--refuse")
    try:
        shortcut = GlobalShortcut(portal_bus=bus)
        with qtbot.waitSignal(shortcut.state_changed, timeout=ANSWER_MS):
            pass
        assert not shortcut.state.global_
        assert "cancelled" in shortcut.state.message
        assert "allma-desktop --quick-ask" in shortcut.state.message
        shortcut.close()
    finally:
        portal.close()


def test_a_portal_without_global_shortcuts_gets_the_command_to_bind(bus: str) -> None:
    portal = Portal(bus, "--without-shortcuts")
    try:
        shortcut = GlobalShortcut(portal_bus=bus)

        assert not shortcut.available
        assert "allma-desktop --quick-ask" in shortcut.state.message
        assert "Custom Shortcuts" in shortcut.state.message
    finally:
        portal.close()


def test_no_portal_on_the_bus_gets_the_command_to_bind(bus: str) -> None:
    shortcut = GlobalShortcut(portal_bus=bus)  # nobody owns org.freedesktop.portal.Desktop

    assert not shortcut.available
    assert "allma-desktop --quick-ask" in shortcut.state.message


@pytest.mark.parametrize(
    ("sequence", "trigger"),
    [
        ("Ctrl+Shift+Space", "CTRL+SHIFT+space"),
        ("Meta+Alt+A", "ALT+LOGO+a"),
        ("F9", "F9"),
        ("Ctrl+PgDown", "CTRL+Page_Down"),
    ],
)
def test_keys_are_asked_for_in_the_portal_s_words(sequence: str, trigger: str) -> None:
    assert preferred_trigger(sequence) == trigger


def test_a_key_that_would_stop_typing_is_not_asked_for() -> None:
    with pytest.raises(ShortcutRefused, match="has no Ctrl, Alt or Super"):
        preferred_trigger("Shift+A")


def test_the_session_type_decides_whether_the_portal_is_tried() -> None:
    assert wayland_session({"WAYLAND_DISPLAY": "wayland-0"})
    assert wayland_session({"XDG_SESSION_TYPE": "wayland", "DISPLAY": ":0"})
    assert not wayland_session({"XDG_SESSION_TYPE": "x11", "DISPLAY": ":0"})
    assert not wayland_session({})


def _no_chat() -> ChatController:
    raise AssertionError("opening the popup asks nothing")


def test_settings_shows_the_key_being_asked_for_and_then_bound(
    qtbot: QtBot, bus: str, portal: Portal
) -> None:
    from allma_desktop.gui.widgets.settings.quick_ask import QuickAskCard

    shortcut = GlobalShortcut(portal_bus=bus)
    card = QuickAskCard(shortcut)
    qtbot.addWidget(card)
    assert card.state_label.text().startswith("Asking your desktop to bind")
    assert card.state_label.objectName() == "fieldHint"  # not an error: the desktop answers

    qtbot.waitUntil(
        lambda: "opens quick ask from any program" in card.state_label.text(), timeout=ANSWER_MS
    )
    assert card.state_label.objectName() == "fieldHint"
    shortcut.close()


def test_quitting_after_the_bus_went_away_is_quiet(qtbot: QtBot, bus: str, portal: Portal) -> None:
    shortcut = GlobalShortcut(portal_bus=bus)
    qtbot.waitUntil(lambda: shortcut.state.global_, timeout=ANSWER_MS)
    grab = shortcut._grab  # type: ignore[attr-defined]
    grab._connection.sock.shutdown(socket.SHUT_RDWR)  # as when the session bus stops

    qtbot.waitUntil(lambda: not shortcut.state.global_, timeout=ANSWER_MS)
    assert "allma-desktop --quick-ask" in shortcut.state.message
    shortcut.close()  # sends Session.Close on a dead socket: no exception


def test_the_app_registers_its_id_before_any_portal_call(
    qtbot: QtBot, bus: str, portal: Portal
) -> None:
    shortcut = GlobalShortcut(portal_bus=bus)
    qtbot.waitUntil(lambda: shortcut.state.global_, timeout=ANSWER_MS)

    # The fake refuses a Register after a portal call, as xdg-desktop-portal does.
    assert portal.wait_for("registered") == "registered allma-desktop"
    assert portal.wait_for("session ").startswith("session ")
    shortcut.close()


@pytest.mark.parametrize(
    "option", ["--without-registry", "--legacy-handles"], ids=["no registry", "own paths"]
)
def test_an_older_portal_binds_the_key_too(qtbot: QtBot, bus: str, option: str) -> None:
    portal = Portal(bus, option)
    try:
        shortcut = GlobalShortcut(portal_bus=bus)
        qtbot.waitUntil(lambda: shortcut.state.global_, timeout=ANSWER_MS)
        assert shortcut.state.message == "Ctrl+Shift+Space opens quick ask from any program."

        pressed: list[bool] = []
        shortcut.activated.connect(lambda: pressed.append(True))
        portal.press()
        qtbot.waitUntil(lambda: bool(pressed), timeout=ANSWER_MS)
        shortcut.close()
    finally:
        portal.close()


def test_a_binding_the_portal_answers_with_an_error_says_why_and_how_to_bind_the_command(
    qtbot: QtBot, bus: str
) -> None:
    portal = Portal(bus, "--fail-bind")
    try:
        shortcut = GlobalShortcut(portal_bus=bus)
        assert shortcut.state.pending
        qtbot.waitUntil(lambda: not shortcut.state.pending, timeout=ANSWER_MS)

        assert not shortcut.state.global_
        assert "would not bind the key: Portal operation not allowed" in shortcut.state.message
        assert "AccessDenied" in shortcut.state.message
        assert "allma-desktop --quick-ask" in shortcut.state.message
        shortcut.close()
    finally:
        portal.close()


def test_a_key_changed_in_the_desktop_s_settings_is_the_one_shown(
    qtbot: QtBot, bus: str, portal: Portal
) -> None:
    shortcut = GlobalShortcut(portal_bus=bus)
    qtbot.waitUntil(lambda: shortcut.state.global_, timeout=ANSWER_MS)

    portal.process.send_signal(signal.SIGUSR2)  # the user picks Ctrl+Alt+J in the desktop

    assert portal.wait_for("changed") == "changed quick-ask CTRL+ALT+j"
    qtbot.waitUntil(
        lambda: "CTRL+ALT+j opens quick ask" in shortcut.state.message, timeout=ANSWER_MS
    )
    assert shortcut.state.global_
    shortcut.close()


def test_a_session_the_desktop_ends_says_the_key_no_longer_works_from_anywhere(
    qtbot: QtBot, bus: str, portal: Portal
) -> None:
    shortcut = GlobalShortcut(portal_bus=bus)
    qtbot.waitUntil(lambda: shortcut.state.global_, timeout=ANSWER_MS)

    portal.process.send_signal(signal.SIGHUP)

    assert portal.wait_for("ended ")
    qtbot.waitUntil(lambda: not shortcut.state.global_, timeout=ANSWER_MS)
    assert "ended Allma's shortcut session" in shortcut.state.message
    assert "allma-desktop --quick-ask" in shortcut.state.message
    shortcut.close()
