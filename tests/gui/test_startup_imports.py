"""The window is built without the heavy libraries that only some actions need.

PyMuPDF (with its OCR models) and FastAPI together cost over a second of start-up
and about 100 MB of idle memory (bench/gui_startup.py, bench/gui_memory.py); they
load when a file is parsed or the local API is turned on, never to paint the window.
The Library and Settings pages (most of the window's widgets, so most of the cost of
building and styling it) are built when first shown: their modules are not imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

BUILD_WINDOW = """
import json, sys
from PySide6.QtWidgets import QApplication
from allma_desktop.config import AppConfig
from allma_desktop.gui.orchestrator_host import OrchestratorHost
from allma_desktop.gui.main_window import MainWindow

app = QApplication([])
window = MainWindow(OrchestratorHost(AppConfig.from_env()))
window.show()
app.processEvents()
heavy = (
    "pymupdf", "fitz", "fastapi", "uvicorn", "chromadb", "markdown", "httpx", "ollama", "numpy"
)
pages = ("allma_desktop.gui.widgets.library_pane", "allma_desktop.gui.widgets.settings.page")
print(json.dumps({
    "heavy": sorted(name for name in heavy if name in sys.modules),
    "pages": sorted(name for name in pages if name in sys.modules),
}))
"""


@pytest.fixture(scope="module")
def imported_by_the_window(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """What a fresh process has imported once the main window is built and shown."""
    tmp_path = tmp_path_factory.mktemp("startup")
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "ALLMA_DATA_DIR": str(tmp_path / "data"),
        "ALLMA_CONFIG_DIR": str(tmp_path / "config"),
        "ALLMA_LOG_DIR": str(tmp_path / "logs"),
        "OLLAMA_HOST": "http://127.0.0.1:9",
    }
    result = subprocess.run(
        [sys.executable, "-c", BUILD_WINDOW],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    found: dict[str, list[str]] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def test_building_the_main_window_imports_no_heavy_library(
    imported_by_the_window: dict[str, list[str]],
) -> None:
    assert imported_by_the_window["heavy"] == []


def test_building_the_main_window_leaves_library_and_settings_unbuilt(
    imported_by_the_window: dict[str, list[str]],
) -> None:
    assert imported_by_the_window["pages"] == []
