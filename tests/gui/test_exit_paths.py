"""Every way the app ends quits it and leaves the database closed: real processes, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ollama_server import OllamaTestServer
from tests.support.xserver import MISSING, start_xvfb, x_tools_missing

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
EXIT_TIMEOUT = 30.0


class AppProcess:
    """``allma-desktop`` in a child process (through tests/support/gui_app_driver.py)."""

    def __init__(self, env: dict[str, str], *arguments: str) -> None:
        self.lines: list[str] = []
        self._ready = threading.Event()
        self._said = threading.Condition()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.gui_app_driver", *arguments],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._said:
                self.lines.append(line.rstrip("\n"))
                self._said.notify_all()
            if line.strip() == "ready":
                self._ready.set()

    def wait_for(self, line: str) -> bool:
        """Whether the app says ``line`` within the timeout."""
        with self._said:
            return self._said.wait_for(lambda: line in self.lines, EXIT_TIMEOUT)

    def wait_ready(self) -> None:
        assert self._ready.wait(START_TIMEOUT), "\n".join(self.lines)

    def wait_exit(self) -> int | None:
        try:
            return self.process.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def app_env(tmp_path: Path, ollama_server: OllamaTestServer) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        OLLAMA_HOST=ollama_server.url,
        ALLMA_DATA_DIR=str(tmp_path / "data"),
        ALLMA_CONFIG_DIR=str(tmp_path / "config"),
        ALLMA_LOG_DIR=str(tmp_path / "logs"),
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "home" / ".config"),
        XDG_RUNTIME_DIR=str(tmp_path / "runtime"),
    )
    (tmp_path / "runtime").mkdir(mode=0o700)
    return env


@pytest.fixture
def started_app(app_env: dict[str, str], request: pytest.FixtureRequest) -> Iterator[AppProcess]:
    app = AppProcess(app_env, *getattr(request, "param", ()))
    try:
        app.wait_ready()
        yield app
    finally:
        app.kill()


def database_leftovers(data: Path) -> list[str]:
    return sorted(p.name for p in data.glob("allma.sqlite3-*"))


def exit_report(code: int | None, app: AppProcess, env: dict[str, str]) -> str:
    """What to read when an exit left the database open: the exit code (a negative one is
    a signal), what the app printed and the end of its log."""
    logs = sorted(Path(env["ALLMA_LOG_DIR"]).glob("*.log"))
    log_tail = logs[-1].read_text(errors="replace").splitlines()[-15:] if logs else ["no log"]
    return "\n".join([f"exit code {code}", *app.lines, "log:", *log_tail])


@pytest.mark.parametrize("started_app", [(), ("--tray",)], indirect=True, ids=["plain", "tray"])
def test_sigterm_quits_and_leaves_the_database_closed(
    started_app: AppProcess, app_env: dict[str, str]
) -> None:
    started_app.process.send_signal(signal.SIGTERM)

    code = started_app.wait_exit()

    assert code == 0, "\n".join(started_app.lines)
    assert started_app.wait_for("exit 0"), started_app.lines  # read after the exit
    data = Path(app_env["ALLMA_DATA_DIR"])
    assert (data / "allma.sqlite3").exists()
    assert database_leftovers(data) == []


def child_processes(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux's /proc), its children's children too."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, its_parent in parents.items() if its_parent == parent]
        found += children
        frontier += children
    return found


def all_ended(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() for pid in pids):
            return True
        time.sleep(0.1)  # another process's end: nothing to wait on but its /proc entry
    return False


@pytest.mark.skipif(x_tools_missing(), reason=MISSING)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="an X server's session end")
def test_the_end_of_the_desktop_session_quits_and_leaves_the_database_closed(
    app_env: dict[str, str],
) -> None:
    """Logging out ends the display server under the app: Qt then ends the process with
    C's exit(1) from inside its event loop (PySide6's Qt has no XSMP, so no "save
    yourself" comes first). A real X server (Xvfb) ends here as a session's does."""
    data = Path(app_env["ALLMA_DATA_DIR"])
    with start_xvfb() as display:
        app = AppProcess({**app_env, "QT_QPA_PLATFORM": "xcb", "DISPLAY": display}, "--tray")
        try:
            app.wait_ready()
            helpers = child_processes(app.process.pid)
            assert database_leftovers(data) == ["allma.sqlite3-shm", "allma.sqlite3-wal"]
        except BaseException:
            app.kill()
            raise
    # The X server has ended (as the session's does at logout).

    code = app.wait_exit()

    app.kill()
    assert code is not None, "the app outlived its display\n" + "\n".join(app.lines)
    assert any("X11 connection broke" in line or "XIO" in line for line in app.lines), app.lines
    assert (data / "allma.sqlite3").exists()
    assert database_leftovers(data) == [], exit_report(code, app, app_env)
    # Nothing of it goes on (polling Ollama, holding the vector store).
    assert all_ended(helpers, EXIT_TIMEOUT), helpers


@pytest.mark.parametrize(
    "started_app",
    [("--tray", "--display-lost"), ("--tray", "--display-lost-while-quitting")],
    indirect=True,
    ids=["while-running", "while-quitting"],
)
def test_when_qt_ends_its_event_loop_itself_the_database_is_closed_all_the_same(
    started_app: AppProcess, app_env: dict[str, str]
) -> None:
    """Qt's X11 platform, once its connection to the X server broke, ends the event loop
    with exit(1) at every turn: the asynchronous shutdown can never finish (the race the
    session-end test above loses now and then). The driver does the same on purpose, from
    the start, or only once the app has begun to quit (a SIGTERM here)."""
    helpers = child_processes(started_app.process.pid)
    if "--display-lost-while-quitting" in started_app.process.args:  # type: ignore[operator]
        started_app.process.send_signal(signal.SIGTERM)

    code = started_app.wait_exit()

    data = Path(app_env["ALLMA_DATA_DIR"])
    assert code is not None, "the app outlived its event loop\n" + "\n".join(started_app.lines)
    assert any("emulated" in line for line in started_app.lines), started_app.lines
    assert (data / "allma.sqlite3").exists()
    assert database_leftovers(data) == [], exit_report(code, started_app, app_env)
    assert code == 1, exit_report(code, started_app, app_env)  # Qt's status, not a crash
    assert all_ended(helpers, EXIT_TIMEOUT), helpers


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this system")
def test_sighup_when_the_terminal_closes_quits_and_leaves_the_database_closed(
    started_app: AppProcess, app_env: dict[str, str]
) -> None:
    """Started from a terminal, the app gets SIGHUP when the terminal (or the login
    session it belongs to) closes; by default that kills it where it stands."""
    started_app.process.send_signal(signal.SIGHUP)

    code = started_app.wait_exit()

    assert code == 0, "\n".join(started_app.lines)
    assert database_leftovers(Path(app_env["ALLMA_DATA_DIR"])) == []


def test_quick_ask_flag_opens_the_popup_in_the_running_app(
    started_app: AppProcess, app_env: dict[str, str]
) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "allma_desktop", "--quick-ask"],
        cwd=ROOT,
        env=app_env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert second.returncode == 0, second.stderr
    assert started_app.wait_for("quick ask open"), started_app.lines
    assert started_app.process.poll() is None  # the running app stays; no second one
