"""Every way the app ends quits it and leaves the database closed: real processes, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ollama_server import OllamaTestServer

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


@pytest.mark.parametrize("started_app", [(), ("--tray",)], indirect=True, ids=["plain", "tray"])
def test_sigterm_quits_and_leaves_the_database_closed(
    started_app: AppProcess, app_env: dict[str, str]
) -> None:
    started_app.process.send_signal(signal.SIGTERM)

    code = started_app.wait_exit()

    assert code == 0, "\n".join(started_app.lines)
    assert "exit 0" in started_app.lines
    data = Path(app_env["ALLMA_DATA_DIR"])
    assert (data / "allma.sqlite3").exists()
    assert database_leftovers(data) == []


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
