"""Where each file dialog opens: the folder last used for the same purpose, across restarts.

Adding documents, adding a folder, exporting a chat and backups each remember their own
folder in QSettings (``file_dialogs/<purpose>``). A remembered folder that is gone
(an unplugged drive, a deleted folder) falls back to its nearest parent that exists,
then to the home folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from PySide6.QtCore import QSettings

Purpose = Literal["add_documents", "add_folder", "export_chat", "backups"]
SETTINGS_GROUP = "file_dialogs"


def start_folder(purpose: Purpose) -> Path:
    """The folder the dialog for ``purpose`` opens in."""
    value = QSettings().value(f"{SETTINGS_GROUP}/{purpose}", "")
    folder = Path(str(value)) if value else None
    while folder is not None and not folder.is_dir():
        folder = folder.parent if folder.parent != folder else None
    return folder if folder is not None else Path.home()


def start_path(purpose: Purpose, file_name: str = "") -> str:
    """``start_folder`` as the dialogs take it, with a suggested file name in it."""
    folder = start_folder(purpose)
    return str(folder / file_name) if file_name else str(folder)


def remember(purpose: Purpose, chosen: str | Path) -> None:
    """Remember where the user went: the folder chosen, or the folder of the file chosen."""
    path = Path(chosen)
    folder = path if path.is_dir() else path.parent
    settings = QSettings()
    settings.setValue(f"{SETTINGS_GROUP}/{purpose}", str(folder))
    settings.sync()


__all__ = ["Purpose", "remember", "start_folder", "start_path"]
