"""The tray's balloon is readable in both themes, on a real X server with a system tray.

Without a notification service on D-Bus, Qt draws the balloon itself (yellow, with
the app's text colour: pale text on pale yellow in the dark theme). A subprocess shows
it under Xvfb, with a stand-in tray, and reports the colours as painted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.xserver import MISSING, OtherProgram, start_xvfb, x_tools_missing

ROOT = Path(__file__).resolve().parents[2]
MIN_CONTRAST = 4.5  # WCAG AA for body text


def luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.skipif(x_tools_missing(), reason=MISSING)
@pytest.mark.parametrize("theme", ["dark", "light"])
def test_the_tray_balloon_text_stands_out_from_its_background(theme: str, tmp_path: Path) -> None:
    with start_xvfb() as display:
        tray = OtherProgram(display, "A system tray")
        tray.own_selection("_NET_SYSTEM_TRAY_S0")
        try:
            env = {
                **os.environ,
                "DISPLAY": display,
                "QT_QPA_PLATFORM": "xcb",
                "DBUS_SESSION_BUS_ADDRESS": "",  # no notification service: Qt's own balloon
                "HOME": str(tmp_path),
                "XDG_RUNTIME_DIR": str(tmp_path),
            }
            env.pop("WAYLAND_DISPLAY", None)
            probe = subprocess.run(
                [sys.executable, "-m", "tests.support.tray_balloon_probe", theme],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
        finally:
            tray.close()

    assert probe.returncode == 0, probe.stdout + probe.stderr
    shown = json.loads(probe.stdout.strip().splitlines()[-1])
    assert set(shown["texts"]) == {"Allma is still running", "Find it in the tray."}
    for text, colour in shown["texts"].items():
        ratio = contrast(colour, shown["background"])
        assert ratio >= MIN_CONTRAST, f"{text!r}: {colour} on {shown['background']} ({ratio:.1f})"
