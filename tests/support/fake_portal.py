"""A desktop portal offering global shortcuts, on a private D-Bus bus, for the tests.

    python -m tests.support.fake_portal BUS_ADDRESS [--without-shortcuts] [--refuse]
        [--trigger TEXT] [--without-registry] [--legacy-handles] [--fail-bind]
        [--changed-trigger TEXT]

Owns ``org.freedesktop.portal.Desktop`` and answers as xdg-desktop-portal does:
``org.freedesktop.host.portal.Registry.Register`` (once per connection, before any portal
call, as the real one insists), ``Properties.Get(GlobalShortcuts, version)``,
``CreateSession`` and ``BindShortcuts`` (each replies with a request path, then sends
``Response`` on it) and ``Session.Close``. On SIGUSR1 it sends ``Activated`` for every
shortcut bound, as if its user pressed the key; on SIGUSR2 ``ShortcutsChanged`` with
``--changed-trigger`` (its user changed the key in the desktop's settings); on SIGHUP
``Session.Closed`` for every session (the desktop ended them).

``--without-shortcuts``: a portal without the interface (Get answers UnknownInterface).
``--refuse``: the user cancels the binding (Response 1). ``--trigger``: the key the
desktop says it bound (by default the one asked for). ``--without-registry``: a portal
older than 1.19 (Register answers UnknownMethod). ``--legacy-handles``: an older portal
that makes request paths of its own, not from ``handle_token``. ``--fail-bind``:
BindShortcuts answers an error (AccessDenied), as the real portal does for a call it
does not allow.

It prints one line per event, for the test to read: ``ready``, ``registered APP_ID``,
``session PATH``, ``bound ID PREFERRED_TRIGGER``, ``closed PATH``, ``activated ID``,
``changed ID TRIGGER``, ``ended PATH``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any

from jeepney import (
    DBusAddress,
    HeaderFields,
    MessageType,
    new_error,
    new_method_return,
    new_signal,
)
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, open_dbus_connection

NAME = "org.freedesktop.portal.Desktop"
PATH = "/org/freedesktop/portal/desktop"
SHORTCUTS = "org.freedesktop.portal.GlobalShortcuts"
REGISTRY = "org.freedesktop.host.portal.Registry"


def say(line: str) -> None:
    print(line, flush=True)


class FakePortal:
    def __init__(self, connection: DBusConnection, args: argparse.Namespace) -> None:
        self.connection = connection
        self.args = args
        self.sessions: dict[str, str] = {}  # session path -> the client's unique name
        self.bound: dict[str, list[str]] = {}  # session path -> shortcut ids
        self.pressed = False
        self.changed = False
        self.ended = False
        self.called: set[str] = set()  # clients that made a portal call
        self.registered: set[str] = set()
        self.legacy_requests = 0

    def respond(self, client: str, token: str, code: int, results: dict[str, Any]) -> str:
        path = f"{PATH}/request/{client.lstrip(':').replace('.', '_')}/{token}"
        if self.args.legacy_handles:
            self.legacy_requests += 1
            path = f"{PATH}/request/legacy{self.legacy_requests}"
        response = new_signal(
            DBusAddress(path, interface="org.freedesktop.portal.Request"),
            "Response",
            "ua{sv}",
            (code, results),
        )
        response.header.fields[HeaderFields.destination] = client
        self.request_replies.append(response)
        return path

    def handle(self, message: Any) -> None:
        fields = message.header.fields
        if message.header.message_type != MessageType.method_call:
            return
        self.request_replies: list[Any] = []
        client = fields.get(HeaderFields.sender, "")
        member = fields.get(HeaderFields.member)
        interface = fields.get(HeaderFields.interface)
        if interface == REGISTRY and member == "Register":
            if self.args.without_registry:
                self.fail(message, "org.freedesktop.DBus.Error.UnknownMethod", f"No “{REGISTRY}”")
            elif client in self.called or client in self.registered:
                already = "Connection already associated with an application ID"
                self.fail(message, "org.freedesktop.portal.Error.Failed", already)
            else:
                self.registered.add(client)
                say(f"registered {message.body[0]}")
                self.send(new_method_return(message))
            return
        if interface == SHORTCUTS:
            self.called.add(client)
        if interface == "org.freedesktop.DBus.Properties" and member == "Get":
            if self.args.without_shortcuts or message.body[0] != SHORTCUTS:
                self.send(
                    new_error(
                        message,
                        "org.freedesktop.DBus.Error.UnknownInterface",
                        "s",
                        (f"No such interface “{message.body[0]}”",),
                    )
                )
            else:
                self.send(new_method_return(message, "v", (("u", 1),)))
            return
        if interface == SHORTCUTS and member == "CreateSession":
            options = message.body[0]
            session = f"{PATH}/session/{client.lstrip(':').replace('.', '_')}/"
            session += options["session_handle_token"][1]
            self.sessions[session] = client
            say(f"session {session}")
            path = self.respond(
                client, options["handle_token"][1], 0, {"session_handle": ("s", session)}
            )
        elif interface == SHORTCUTS and member == "BindShortcuts" and self.args.fail_bind:
            denied = "Portal operation not allowed: Unable to open /proc/1/root"
            self.fail(message, "org.freedesktop.DBus.Error.AccessDenied", denied)
            return
        elif interface == SHORTCUTS and member == "BindShortcuts":
            session, shortcuts, _parent, options = message.body
            results: dict[str, Any] = {}
            for shortcut_id, details in shortcuts:
                preferred = details.get("preferred_trigger", ("s", ""))[1]
                say(f"bound {shortcut_id} {preferred}")
            code = 1 if self.args.refuse else 0
            if not self.args.refuse:
                self.bound[session] = [shortcut_id for shortcut_id, _ in shortcuts]
                results["shortcuts"] = (
                    "a(sa{sv})",
                    [
                        (
                            shortcut_id,
                            {
                                "description": details["description"],
                                "trigger_description": (
                                    "s",
                                    self.args.trigger or details["preferred_trigger"][1],
                                ),
                            },
                        )
                        for shortcut_id, details in shortcuts
                    ],
                )
            path = self.respond(client, options["handle_token"][1], code, results)
        elif interface == "org.freedesktop.portal.Session" and member == "Close":
            session = fields.get(HeaderFields.path, "")
            self.sessions.pop(session, None)
            self.bound.pop(session, None)
            say(f"closed {session}")
            self.send(new_method_return(message))
            return
        else:
            self.send(
                new_error(message, "org.freedesktop.DBus.Error.UnknownMethod", "s", (member,))
            )
            return
        self.send(new_method_return(message, "o", (path,)))
        for response in self.request_replies:
            self.send(response)

    def activate(self) -> None:
        for session, ids in self.bound.items():
            for shortcut_id in ids:
                activated = new_signal(
                    DBusAddress(PATH, interface=SHORTCUTS),
                    "Activated",
                    "osta{sv}",
                    (session, shortcut_id, int(time.time() * 1000), {}),
                )
                self.send(activated)
                say(f"activated {shortcut_id}")

    def change(self) -> None:
        for session, ids in self.bound.items():
            changed = [
                (
                    i,
                    {
                        "description": ("s", i),
                        "trigger_description": ("s", self.args.changed_trigger),
                    },
                )
                for i in ids
            ]
            self.send(new_signal(DBusAddress(PATH, interface=SHORTCUTS), "ShortcutsChanged",
                                 "oa(sa{sv})", (session, changed)))  # fmt: skip
            for shortcut_id in ids:
                say(f"changed {shortcut_id} {self.args.changed_trigger}")

    def end(self) -> None:
        for session in list(self.sessions):
            self.send(new_signal(DBusAddress(session, interface="org.freedesktop.portal.Session"),
                                 "Closed", "a{sv}", ({},)))  # fmt: skip
            self.sessions.pop(session)
            self.bound.pop(session, None)
            say(f"ended {session}")

    def fail(self, call: Any, name: str, text: str) -> None:
        self.send(new_error(call, name, "s", (text,)))

    def send(self, message: Any) -> None:
        self.connection.send(message)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("bus")
    parser.add_argument("--without-shortcuts", action="store_true")
    parser.add_argument("--refuse", action="store_true")
    parser.add_argument("--trigger", default="")
    parser.add_argument("--without-registry", action="store_true")
    parser.add_argument("--legacy-handles", action="store_true")
    parser.add_argument("--fail-bind", action="store_true")
    parser.add_argument("--changed-trigger", default="CTRL+ALT+j")
    args = parser.parse_args()
    connection = open_dbus_connection(bus=args.bus)
    reply = connection.send_and_get_reply(message_bus.RequestName(NAME, 4), timeout=5)
    if reply.body != (1,):
        say(f"could not own {NAME}: {reply.body}")
        return 1
    portal = FakePortal(connection, args)

    def pressed(_signum: int, _frame: Any) -> None:
        portal.pressed = True

    def changed(_signum: int, _frame: Any) -> None:
        portal.changed = True

    def ended(_signum: int, _frame: Any) -> None:
        portal.ended = True

    signal.signal(signal.SIGUSR1, pressed)
    signal.signal(signal.SIGUSR2, changed)
    signal.signal(signal.SIGHUP, ended)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    say("ready")
    while True:
        if portal.pressed:
            portal.pressed = False
            portal.activate()
        if portal.changed:
            portal.changed = False
            portal.change()
        if portal.ended:
            portal.ended = False
            portal.end()
        try:
            message = connection.receive(timeout=0.05)
        except TimeoutError:
            continue
        except InterruptedError:
            continue
        portal.handle(message)


if __name__ == "__main__":
    sys.exit(main())
