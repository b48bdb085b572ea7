"""The quick-ask key on Wayland, through the desktop portal's global shortcuts.

Wayland lets no app grab a key for the whole desktop; the desktop lends one through
``org.freedesktop.portal.GlobalShortcuts`` (GNOME 48+, KDE Plasma 5.27+, Hyprland):
``CreateSession``, then ``BindShortcuts`` with the key we would like, and the desktop
sends ``Activated`` whenever its user presses the key it bound (the desktop may ask its
user first, and may pick another key: the Settings card shows the one it bound).

As the portal's documentation asks of an app that runs outside a sandbox, the connection
first registers the app's id (``org.freedesktop.host.portal.Registry.Register``, the name
of its .desktop file), so the desktop files the key under Allma even when the app was
started from a terminal; a portal without the registry, or without the installed .desktop
file, refuses that and the app goes on unregistered. Each request follows the portal's
Request pattern: its ``Response`` is awaited on the path made from our ``handle_token``,
or on the one the portal's reply names if an older portal chose another; an error reply
ends the request with the portal's reason. The desktop may change the key later
(``ShortcutsChanged``) or end the session (``Session.Closed``): both show in Settings.

The D-Bus messages go through jeepney on a connection of our own whose socket a
``QSocketNotifier`` watches, as ``X11KeyGrab`` does with its X connection: replies and
signals are read on the GUI thread when they come, no thread and no polling. (Not
QtDBus: PySide6 cannot write ``BindShortcuts``' ``a(sa{sv})`` argument, which needs a C++
type registered with QtDBus; writing it from Python aborts the process.)

``PortalShortcut(...)`` raises ``PortalUnavailable`` when there is no session bus or the
portal does not offer the interface: the caller then says how to bind
``allma-desktop --quick-ask`` in the desktop's keyboard settings.
"""

from __future__ import annotations

import logging
import os
import secrets
from typing import Any

from PySide6.QtCore import QObject, QSocketNotifier, Qt, Signal

from allma_desktop.gui.shortcut_keys import ShortcutRefused, shown, split_sequence

log = logging.getLogger(__name__)

PORTAL_NAME = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SHORTCUTS_INTERFACE = "org.freedesktop.portal.GlobalShortcuts"
REQUEST_INTERFACE = "org.freedesktop.portal.Request"
SESSION_INTERFACE = "org.freedesktop.portal.Session"
REGISTRY_INTERFACE = "org.freedesktop.host.portal.Registry"
APP_ID = "allma-desktop"  # packaging/linux/allma-desktop.desktop; app.py's desktopFileName
SHORTCUT_ID = "quick-ask"
DESCRIPTION = "Open Allma's quick ask"
CONNECT_TIMEOUT = 2.0  # seconds for the bus to answer at start-up (it answers in ms)

# Qt key -> the key's name in the XDG shortcuts format (xkb keysym names).
_KEY_NAMES = {
    Qt.Key.Key_Space: "space", Qt.Key.Key_Escape: "Escape", Qt.Key.Key_Tab: "Tab",
    Qt.Key.Key_Backspace: "BackSpace", Qt.Key.Key_Return: "Return", Qt.Key.Key_Enter: "KP_Enter",
    Qt.Key.Key_Insert: "Insert", Qt.Key.Key_Delete: "Delete", Qt.Key.Key_Pause: "Pause",
    Qt.Key.Key_Print: "Print", Qt.Key.Key_Home: "Home", Qt.Key.Key_End: "End",
    Qt.Key.Key_Left: "Left", Qt.Key.Key_Up: "Up", Qt.Key.Key_Right: "Right",
    Qt.Key.Key_Down: "Down", Qt.Key.Key_PageUp: "Page_Up", Qt.Key.Key_PageDown: "Page_Down",
}  # fmt: skip
_MODIFIER_NAMES = (
    (Qt.KeyboardModifier.ControlModifier, "CTRL"),
    (Qt.KeyboardModifier.AltModifier, "ALT"),
    (Qt.KeyboardModifier.ShiftModifier, "SHIFT"),
    (Qt.KeyboardModifier.MetaModifier, "LOGO"),
)


class PortalUnavailable(Exception):
    """No session bus, or its portal has no global shortcuts."""


def wayland_session(environ: dict[str, str] | None = None) -> bool:
    """Whether the desktop session is Wayland (also when Qt runs through XWayland, where an
    X key grab only sees keys pressed in X windows)."""
    env = os.environ if environ is None else environ
    return bool(env.get("WAYLAND_DISPLAY")) or env.get("XDG_SESSION_TYPE", "") == "wayland"


def preferred_trigger(sequence: str) -> str:
    """``Ctrl+Shift+Space`` as the portal reads it: ``CTRL+SHIFT+space``."""
    key, modifiers = split_sequence(sequence)
    value = key.value
    if 0x20 < value <= 0x7E:
        name = chr(value).lower()
    elif Qt.Key.Key_F1.value <= value <= Qt.Key.Key_F24.value:
        name = f"F{value - Qt.Key.Key_F1.value + 1}"
    elif key in _KEY_NAMES:
        name = _KEY_NAMES[key]
    else:
        raise ShortcutRefused(
            f"{shown(sequence)} cannot be asked of the desktop. Pick a letter, a digit, "
            "Space or an F-key with Ctrl, Alt or Super."
        )
    parts = [label for modifier, label in _MODIFIER_NAMES if modifiers & modifier]
    return "+".join([*parts, name])


def _request_path(unique_name: str, token: str) -> str:
    sender = unique_name.lstrip(":").replace(".", "_")
    return f"{PORTAL_PATH}/request/{sender}/{token}"


class PortalShortcut(QObject):
    """The quick-ask key lent by the desktop portal; ``pressed`` when it is pressed.

    ``grab`` asks for a key and returns at once; ``bound`` follows with what the desktop
    did: ``(True, "Ctrl+Shift+Space")`` (the key it bound, in its words) or
    ``(False, reason)``.
    """

    pressed = Signal()
    bound = Signal(bool, str)

    def __init__(
        self,
        bus_address: str | None = None,
        parent: QObject | None = None,
        app_id: str = APP_ID,
    ) -> None:
        super().__init__(parent)
        try:
            from jeepney import DBusAddress, MatchRule, MessageType, Properties, message_bus
            from jeepney.io.blocking import open_dbus_connection
        except ImportError as error:  # pragma: no cover - a dependency on Linux
            raise PortalUnavailable(f"jeepney is not installed ({error})") from error
        self._address = DBusAddress(PORTAL_PATH, bus_name=PORTAL_NAME)
        if bus_address is None and not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
            raise PortalUnavailable("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset)")
        try:
            self._connection = open_dbus_connection(bus=bus_address or "SESSION")
        except (OSError, TimeoutError, ValueError, KeyError) as error:
            raise PortalUnavailable(f"cannot reach the D-Bus session bus ({error})") from error
        try:
            self.registered = self._register(app_id)
            version = self._connection.send_and_get_reply(
                Properties(self._address.with_interface(SHORTCUTS_INTERFACE)).get("version"),
                timeout=CONNECT_TIMEOUT,
            )
            if version.header.message_type == MessageType.error:
                reason = version.body[0] if version.body else "no answer"
                raise PortalUnavailable(f"the desktop portal has no global shortcuts ({reason})")
            for rule in (
                MatchRule(type="signal", interface=REQUEST_INTERFACE, member="Response"),
                *(
                    MatchRule(
                        type="signal",
                        sender=PORTAL_NAME,
                        interface=SHORTCUTS_INTERFACE,
                        member=name,
                    )
                    for name in ("Activated", "ShortcutsChanged")
                ),
                MatchRule(
                    type="signal", sender=PORTAL_NAME, interface=SESSION_INTERFACE, member="Closed"
                ),
            ):
                self._connection.send_and_get_reply(
                    message_bus.AddMatch(rule), timeout=CONNECT_TIMEOUT
                )
        except PortalUnavailable:
            self._connection.close()
            raise
        except (OSError, TimeoutError) as error:
            self._connection.close()
            raise PortalUnavailable(f"the desktop portal did not answer ({error})") from error
        self.version = int(version.body[0][1]) if version.body else 0
        self._session: str | None = None  # the session's object path, once created
        self._creating = False
        self._wanted: str | None = None  # the key to bind once the session is there
        self._requests: dict[str, str] = {}  # request path -> what it answers
        self._calls: dict[int, str] = {}  # serial of a call not yet replied to -> its path
        self._notifier = QSocketNotifier(
            self._connection.sock.fileno(), QSocketNotifier.Type.Read, self
        )
        self._notifier.activated.connect(self._read)

    # --- what GlobalShortcut calls ------------------------------------------------------

    def grab(self, sequence: str) -> None:
        """Ask the desktop to bind ``sequence``; ``bound`` says what it did."""
        preferred_trigger(sequence)  # ShortcutRefused now for a key the desktop cannot take
        self._wanted = sequence
        if self._session is not None:  # a session binds once: a new key, a new session
            self._close_session()
        if not self._creating:
            self._create_session()

    def release(self) -> None:
        self._wanted = None
        self._close_session()

    def close(self) -> None:
        self.release()
        self._notifier.setEnabled(False)
        self._connection.close()

    # --- the conversation with the portal ---------------------------------------------

    def _register(self, app_id: str) -> bool:
        """Tell the portal which app this connection is (before any portal call; once).

        False when the portal will not: it has no registry (older than 1.19), or finds no
        ``{app_id}.desktop`` (a checkout that did not install it). The portal then guesses
        the app from how it was started, as it did before the registry.
        """
        from jeepney import DBusAddress, MessageType, new_method_call

        registry = DBusAddress(PORTAL_PATH, bus_name=PORTAL_NAME, interface=REGISTRY_INTERFACE)
        reply = self._connection.send_and_get_reply(
            new_method_call(registry, "Register", "sa{sv}", (app_id, {})),
            timeout=CONNECT_TIMEOUT,
        )
        if reply.header.message_type == MessageType.error:
            reason = reply.body[0] if reply.body else "no reason given"
            log.info("desktop portal did not register the app as %s: %s", app_id, reason)
            return False
        return True

    def _call(self, method: str, signature: str, body: tuple[Any, ...], answers: str) -> None:
        from jeepney import new_method_call

        token = f"allma_{secrets.token_hex(6)}"
        # The request's path is known before the call: listen before the portal answers.
        path = _request_path(self._connection.unique_name, token)
        self._requests[path] = answers
        options = dict(body[-1])
        options["handle_token"] = ("s", token)
        message = new_method_call(
            self._address.with_interface(SHORTCUTS_INTERFACE),
            method,
            signature,
            (*body[:-1], options),
        )
        serial = next(self._connection.outgoing_serial)
        self._calls[serial] = path
        self._send(message, serial)

    def _create_session(self) -> None:
        self._creating = True
        token = f"allma_session_{secrets.token_hex(6)}"
        self._call("CreateSession", "a{sv}", ({"session_handle_token": ("s", token)},), "session")

    def _bind(self) -> None:
        if self._session is None or self._wanted is None:
            return
        shortcut = (
            SHORTCUT_ID,
            {
                "description": ("s", DESCRIPTION),
                "preferred_trigger": ("s", preferred_trigger(self._wanted)),
            },
        )
        self._call("BindShortcuts", "oa(sa{sv})sa{sv}", (self._session, [shortcut], "", {}), "bind")

    def _close_session(self) -> None:
        if self._session is None:
            return
        from jeepney import DBusAddress, new_method_call

        session = DBusAddress(self._session, bus_name=PORTAL_NAME, interface=SESSION_INTERFACE)
        self._send(new_method_call(session, "Close"))
        self._session = None

    def _send(self, message: Any, serial: int | None = None) -> None:
        try:
            self._connection.send(message, serial=serial)
        except OSError as error:  # the bus went away (logout): nothing left to tell it
            log.info("desktop portal unreachable: %s", error)

    def _read(self) -> None:
        while True:
            try:
                message = self._connection.receive(timeout=0)
            except TimeoutError:
                return
            except (OSError, ValueError) as error:  # the bus went away
                log.warning("desktop portal connection lost: %s", error)
                self._notifier.setEnabled(False)
                self.bound.emit(False, f"The desktop portal went away ({error}).")
                return
            self._handle(message)

    def _handle(self, message: Any) -> None:
        from jeepney import HeaderFields, MessageType

        fields = message.header.fields
        kind = message.header.message_type
        if kind in (MessageType.method_return, MessageType.error):
            self._on_reply(message)
            return
        member = fields.get(HeaderFields.member)
        path = fields.get(HeaderFields.path)
        interface = fields.get(HeaderFields.interface)
        if interface == SHORTCUTS_INTERFACE and member == "Activated":
            session, shortcut_id = message.body[0], message.body[1]
            if session == self._session and shortcut_id == SHORTCUT_ID:
                self.pressed.emit()
        elif interface == SHORTCUTS_INTERFACE and member == "ShortcutsChanged":
            if message.body[0] == self._session:  # the user changed the key in the desktop
                trigger = _trigger_of(message.body[1])
                if trigger is not None:
                    self.bound.emit(True, trigger)
        elif interface == SESSION_INTERFACE and member == "Closed":
            if path is not None and path == self._session:
                self._session = None
                self.bound.emit(False, "The desktop ended Allma's shortcut session.")
        elif member == "Response" and path in self._requests:
            self._on_response(self._requests.pop(path), message.body[0], message.body[1])

    def _on_reply(self, message: Any) -> None:
        """The portal's reply to CreateSession or BindShortcuts: the request's path (which an
        older portal may have made otherwise), or an error that ends the request."""
        from jeepney import HeaderFields, MessageType

        path = self._calls.pop(message.header.fields.get(HeaderFields.reply_serial, -1), None)
        if path is None or path not in self._requests:
            return
        if message.header.message_type == MessageType.error:
            answers = self._requests.pop(path)
            name = message.header.fields.get(HeaderFields.error_name, "")
            reason = message.body[0] if message.body and isinstance(message.body[0], str) else ""
            if answers == "session":
                self._creating = False
            what = "start a shortcut session" if answers == "session" else "bind the key"
            detail = f"{reason} ({name})" if reason else str(name)
            self.bound.emit(False, f"The desktop portal would not {what}: {detail}.")
            return
        handle = str(message.body[0]) if message.body else path
        if handle != path:  # an older portal: its Response comes on the path it named
            self._requests[handle] = self._requests.pop(path)

    def _on_response(self, answers: str, code: int, results: dict[str, Any]) -> None:
        if answers == "session":
            self._creating = False
            if code != 0 or "session_handle" not in results:
                self.bound.emit(False, _refusal("start a shortcut session", code))
                return
            self._session = str(results["session_handle"][1])
            self._bind()
            return
        if code != 0:
            self.bound.emit(False, _refusal("bind the key", code))
            return
        trigger = _trigger_of(results.get("shortcuts", ("", []))[1])
        if trigger is None:
            self.bound.emit(False, "The desktop did not bind the key.")
        else:
            self.bound.emit(True, trigger)


def _trigger_of(shortcuts: list[tuple[str, dict[str, Any]]]) -> str | None:
    """The desktop's words for the quick-ask key in a list of shortcuts ("" when it has no
    words for it); None when the list leaves quick ask out."""
    for shortcut_id, details in shortcuts:
        if shortcut_id == SHORTCUT_ID:
            return str(details.get("trigger_description", ("s", ""))[1])
    return None


def _refusal(what: str, code: int) -> str:
    if code == 1:
        return f"The desktop was asked to {what} and the request was cancelled."
    return f"The desktop portal would not {what} (answer {code})."


__all__ = [
    "PortalShortcut",
    "PortalUnavailable",
    "preferred_trigger",
    "wayland_session",
]
