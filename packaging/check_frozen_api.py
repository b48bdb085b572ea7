"""Check that a build's desktop app starts its local API: the one thing a build can lose
(FastAPI, uvicorn and their lazily imported parts) that ``--self-test`` does not touch.

    python packaging/check_frozen_api.py dist/allma/allma

Starts the app headless (Qt's offscreen platform unless a display is set) with fresh,
empty folders, the API turned on in its settings, a free port and an Ollama address
where nothing listens; then asks ``/health`` (no token), ``/openapi.json`` and
``/documents`` (with the token the app wrote), stops the app with SIGTERM and prints
one line. Exit 0 when all three answered 200 and the app exited within 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

STARTUP_TIMEOUT = 90.0
EXIT_TIMEOUT = 30.0
# Where the GUI keeps "API on" (QSettings: organization "Allma", application "Allma Desktop").
SETTINGS_FILE = Path("Allma") / "Allma Desktop.conf"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_for_health(base: str, app: subprocess.Popen[bytes]) -> tuple[int, bytes]:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if app.poll() is not None:
            raise SystemExit(f"the app exited ({app.returncode}) before its API answered")
        try:
            return get(f"{base}/health")
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.5)  # polling a port: there is no signal to wait on from outside
    raise SystemExit(f"the API did not answer within {STARTUP_TIMEOUT:.0f} s")


def check(binary: str, folder: Path) -> int:
    port = free_port()
    env = dict(os.environ)
    env.update(
        HOME=str(folder / "home"),
        XDG_CONFIG_HOME=str(folder / "xdg-config"),
        ALLMA_DATA_DIR=str(folder / "data"),
        ALLMA_CONFIG_DIR=str(folder / "config"),
        ALLMA_LOG_DIR=str(folder / "log"),
        API_HOST="127.0.0.1",
        API_PORT=str(port),
        OLLAMA_HOST=f"http://127.0.0.1:{free_port()}",  # nothing there: Ollama is not needed
    )
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    settings = folder / "xdg-config" / SETTINGS_FILE
    settings.parent.mkdir(parents=True)
    settings.write_text("[api]\nenabled=true\n", encoding="utf-8")
    log = (folder / "app-output.txt").open("wb")
    app = subprocess.Popen([binary], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        health_status, health_body = wait_for_health(base, app)
        token = (folder / "config" / "api-token").read_text(encoding="utf-8").strip()
        openapi_status, openapi_body = get(f"{base}/openapi.json", token)
        documents_status, _ = get(f"{base}/documents", token)
    finally:
        app.send_signal(signal.SIGTERM)
        try:
            exit_code: int | None = app.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            app.kill()
            exit_code = None
        log.close()
    paths = len(json.loads(openapi_body).get("paths", {})) if openapi_status == 200 else 0
    version = json.loads(health_body).get("version") if health_status == 200 else None
    passed = (health_status, openapi_status, documents_status) == (200, 200, 200)
    passed = passed and exit_code is not None
    print(
        f"API check {'passed' if passed else 'FAILED'}: /health {health_status} "
        f"(version {version}), /openapi.json {openapi_status} ({paths} paths), "
        f"/documents {documents_status}; app exited "
        f"{'with ' + str(exit_code) if exit_code is not None else 'only when killed'}"
    )
    if not passed:
        sys.stdout.write((folder / "app-output.txt").read_text(errors="replace")[-4000:])
    return 0 if passed else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary", help="the built app, e.g. dist/allma/allma")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="allma-api-check-") as folder:
        return check(str(Path(options.binary).resolve()), Path(folder))


if __name__ == "__main__":
    sys.exit(main())
