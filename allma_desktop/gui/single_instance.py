"""One app per user and data folder: a second launch hands its files to the first and exits.

The first instance listens on a ``QLocalServer`` named after the user and the data
folder; a second launch connects, sends ``{"paths": [...]}`` as one JSON line, and
the first brings its window forward and ingests them. ``allma-desktop --quick-ask``
sends ``{"quick_ask": true}`` instead, and the first opens the quick-ask popup: any
desktop can bind that command to a key, a global shortcut on every platform.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_MS = 500


def instance_key(data_dir: Path) -> str:
    """A socket name unique to this user and data folder (short: sun_path is ~100 bytes)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    digest = hashlib.sha256(f"{user}\0{Path(data_dir).expanduser().resolve()}".encode())
    return f"allma-desktop-{digest.hexdigest()[:16]}"


def hand_off(key: str, paths: list[str], *, quick_ask: bool = False) -> bool:
    """Send ``paths`` (and, with ``quick_ask``, "open quick ask") to a running instance;
    False when none is running."""
    socket = QLocalSocket()
    socket.connectToServer(key)
    if not socket.waitForConnected(CONNECT_TIMEOUT_MS):
        return False
    message: dict[str, object] = {"paths": paths}
    if quick_ask:
        message["quick_ask"] = True
    socket.write(json.dumps(message).encode("utf-8") + b"\n")
    socket.flush()
    socket.waitForBytesWritten(CONNECT_TIMEOUT_MS)
    socket.disconnectFromServer()
    if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState:
        socket.waitForDisconnected(CONNECT_TIMEOUT_MS)
    return True


class InstanceServer(QObject):
    """Listens for later launches; ``activated`` carries the paths they were given."""

    activated = Signal(list)  # list[str]
    quick_ask_requested = Signal()  # `allma-desktop --quick-ask` was run

    def __init__(self, key: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._accept)
        self._buffers: dict[QLocalSocket, bytes] = {}

    def listen(self) -> bool:
        if self._server.listen(self.key):
            return True
        # A socket file left by a crashed instance (nobody answered hand_off): take it over.
        QLocalServer.removeServer(self.key)
        listening = self._server.listen(self.key)
        if not listening:
            log.warning("single-instance server unavailable: %s", self._server.errorString())
        return listening

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            self._buffers[socket] = b""
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(lambda s=socket: self._finish(s))

    def _read(self, socket: QLocalSocket) -> None:
        self._buffers[socket] = self._buffers.get(socket, b"") + bytes(socket.readAll().data())
        if self._buffers[socket].endswith(b"\n"):
            self._finish(socket)

    def _finish(self, socket: QLocalSocket) -> None:
        data = self._buffers.pop(socket, None)
        if data is None:
            return
        data += bytes(socket.readAll().data())
        # Qt may still be inside this socket's signal: let it unwind before deleting or acting.
        socket.readyRead.disconnect()
        socket.disconnected.disconnect()
        socket.disconnected.connect(socket.deleteLater)
        if socket.state() == QLocalSocket.LocalSocketState.UnconnectedState:
            socket.deleteLater()
        QTimer.singleShot(0, self, lambda: self._deliver(data))

    def _deliver(self, data: bytes) -> None:
        try:
            message = json.loads(data.decode("utf-8") or "{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            log.warning("ignored a malformed message from a second launch")
            return
        if not isinstance(message, dict):
            return
        if message.get("quick_ask") is True:
            self.quick_ask_requested.emit()
            return
        raw_paths = message.get("paths", [])
        self.activated.emit([str(p) for p in raw_paths if isinstance(p, str)])
