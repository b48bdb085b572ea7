"""Screenshots of the Library page's watched folders and paused queue (issue 16), in light
and dark, for docs/screenshots/:

    DISPLAY=:96 QT_QPA_PLATFORM=xcb .venv/bin/python bench/screenshots_folders.py [out_dir]

(under Xvfb with a window manager; QT_QPA_PLATFORM=offscreen works too). Runs the real app
window over the Ollama test server in a throw-away data folder: a folder of sample
documents is watched, then moved away (offline), then the queue pauses itself because
the embedding model went missing.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from screenshots import (  # type: ignore[import-not-found]
    apply_theme,
    close_window,
    open_window,
    run_capture,
    save,
    settle,
    wait_until,
)

from allma_desktop.config import AppConfig
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import make_sample_library


async def both_themes(app: QApplication, window: object, out: Path, name: str) -> None:
    for theme, suffix in (("light", ""), ("dark", "-dark")):
        apply_theme(app, theme)
        await settle(app, 0.6)
        save(window, out, name + suffix)  # type: ignore[arg-type]
    apply_theme(app, "light")


async def capture(app: QApplication, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="allma-shots-") as folder, OllamaTestServer() as server:
        data = Path(folder)
        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        for settings_format in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
            QSettings.setPath(settings_format, QSettings.Scope.UserScope, str(data / "qsettings"))
        apply_theme(app, "light")
        config = AppConfig(ollama_host=server.url, data_dir=data / "data")
        window = await open_window(app, config)
        library = window.library_controller
        window.show_page("library")
        pane = window.library_page
        drive = data / "USB drive"
        sample = make_sample_library(drive / "Lighthouse manuals")
        watched = str(sample.folder.resolve())
        library.add_folder(watched)
        await wait_until(lambda: any(s.status == "watching" for s in library.folders), 60)
        await wait_until(lambda: not library.busy and not library.pending, 120)
        await settle(app, 1.0)
        await both_themes(app, window, out, "library-watched-folder")

        shutil.move(str(drive), str(data / "unplugged"))
        await wait_until(lambda: any(s.status == "offline" for s in library.folders), 60)
        await settle(app, 1.0)
        await both_themes(app, window, out, "library-folder-offline")

        shutil.move(str(data / "unplugged"), str(drive))
        await wait_until(lambda: all(s.status != "offline" for s in library.folders), 60)
        server.faults.missing_models.add(config.ollama_embedding_model)
        extra = data / "Inbox"
        extra.mkdir()
        for number in range(12):
            (extra / f"harbour-log-{number:02d}.txt").write_text(
                f"Harbour log {number}: the tide rose at dawn, the lamp was cleaned.\n", "utf-8"
            )
        library.add_paths([str(extra)])
        await wait_until(lambda: library.paused and library.pause_reason is not None, 60)
        await wait_until(lambda: not library.busy, 60)
        await settle(app, 1.0)
        assert pane is not None
        await both_themes(app, window, out, "library-paused")
        server.faults.missing_models.clear()
        library.cancel()
        await wait_until(lambda: not library.busy, 60)
        await close_window(window)


def main() -> int:
    return run_capture(capture)


if __name__ == "__main__":
    sys.exit(main())
