"""Where the files shipped with the app live: a source checkout, an installed wheel, or a
frozen (PyInstaller) build.

The icons and the self-test's sample documents are package data under
``allma_desktop/resources``. PyInstaller unpacks data under ``sys._MEIPASS`` and the
spec keeps the same relative layout, so one lookup serves every way the app is run.
"""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
RESOURCES_RELATIVE = Path("allma_desktop") / "resources"


def is_frozen() -> bool:
    """True inside a PyInstaller build (one folder or one file)."""
    return bool(getattr(sys, "frozen", False))


def resources_dir() -> Path:
    """The folder holding ``icons/`` and ``samples/``."""
    bundle_root = getattr(sys, "_MEIPASS", None)
    if bundle_root is not None:
        frozen = Path(bundle_root) / RESOURCES_RELATIVE
        if frozen.is_dir():
            return frozen
    return PACKAGE_DIR / "resources"


def resource_path(*parts: str) -> Path:
    """A file or folder shipped with the app, e.g. ``resource_path("icons", "allma.svg")``."""
    return resources_dir().joinpath(*parts)
