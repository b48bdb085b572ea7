"""``allma-desktop`` without a display says so in our words and exits, instead of Qt's abort."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from allma_desktop.gui.display import NO_DISPLAY_EXIT, missing_display_reason

ROOT = Path(__file__).resolve().parents[2]


def run_app(tmp_path: Path, **display: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    env.update(display, ALLMA_DATA_DIR=str(tmp_path / "data"), HOME=str(tmp_path / "home"))
    return subprocess.run(
        [sys.executable, "-m", "allma_desktop"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland only")
def test_without_a_display_the_app_says_so_and_points_to_the_cli(tmp_path: Path) -> None:
    result = run_app(tmp_path)

    assert result.returncode == NO_DISPLAY_EXIT, result.stderr
    assert "needs a graphical display, and none was found" in result.stderr
    assert "allma serve" in result.stderr and "allma ask" in result.stderr
    assert "xcb" not in result.stderr  # not Qt's advice about platform plugins


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland only")
def test_a_display_that_does_not_answer_is_named(tmp_path: Path) -> None:
    result = run_app(tmp_path, DISPLAY=":87", XDG_RUNTIME_DIR=str(tmp_path))

    assert result.returncode == NO_DISPLAY_EXIT, result.stderr
    assert "DISPLAY=:87 does not answer" in result.stderr


def test_headless_qt_platforms_need_no_display() -> None:
    assert missing_display_reason({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None


def test_windows_and_macos_always_have_a_display() -> None:
    assert missing_display_reason({}, "win32") is None
    assert missing_display_reason({}, "darwin") is None


def test_a_wayland_socket_that_answers_is_a_display(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "wayland-9"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(1)
        env = {"WAYLAND_DISPLAY": "wayland-9", "XDG_RUNTIME_DIR": str(tmp_path)}
        assert missing_display_reason(env, "linux") is None
    assert missing_display_reason(env, "linux") == "WAYLAND_DISPLAY=wayland-9 does not answer"
