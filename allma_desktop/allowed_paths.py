"""Which folders files may be indexed from when something other than the user picks them.

The local API's ingestion by path (and, later, other automated sources) reads only
inside the folders the user allowed: ``AppConfig.allowed_folders`` (Settings, or
``ALLMA_ALLOWED_FOLDERS``), by default the user's home folder, plus any the caller
adds (the watched folders). System folders are never allowed, whatever the list says:
a token holder must not be able to make ``/etc`` searchable.

Paths are compared after resolving symbolic links, so a link inside an allowed folder
that points outside it does not count as inside. Qt-free and cheap: safe to call per file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig

# Folders of the operating system: never indexed through an automated source.
SYSTEM_FOLDERS: tuple[str, ...] = (
    ("C:\\Windows", "C:\\Program Files", "C:\\Program Files (x86)", "C:\\ProgramData")
    if sys.platform == "win32"
    else (
        "/etc",
        "/proc",
        "/dev",
        "/sys",
        "/boot",
        "/run",
        "/var/run",
        "/var/lib",
        "/var/log",
        "/usr",
        "/bin",
        "/sbin",
        "/lib",
        "/lib64",
        "/System",
        "/private/etc",
        "/private/var",
    )
)


def allowed_folders(config: AppConfig, extra: Iterable[str | Path] = ()) -> list[Path]:
    """The folders files may come from: the configured list (default: home) and ``extra``."""
    configured = [Path(folder).expanduser() for folder in config.allowed_folders]
    return [*(configured or [Path.home()]), *(Path(folder).expanduser() for folder in extra)]


def refusal_reason(path: str | Path, folders: Sequence[str | Path]) -> str | None:
    """Why ``path`` may not be read given the allowed ``folders``; None when it may."""
    resolved = _resolved(path)
    for system in SYSTEM_FOLDERS:
        if _is_within(resolved, _resolved(system)):
            return f"{system} is a system folder"
    if not any(_is_within(resolved, _resolved(folder)) for folder in folders):
        return "it is outside the folders allowed in Settings (Allowed folders)"
    return None


def is_path_allowed(
    path: str | Path, config: AppConfig, extra_folders: Iterable[str | Path] = ()
) -> bool:
    """Whether ``path`` (a file or folder) lies in an allowed folder and in no system folder.

    ``extra_folders``: more folders the caller allows (e.g. the watched folders).
    """
    return refusal_reason(path, allowed_folders(config, extra_folders)) is None


def _resolved(path: str | Path) -> Path:
    try:
        return Path(os.path.realpath(Path(path).expanduser()))
    except (OSError, ValueError, RuntimeError):  # RuntimeError: ``~name``, no such user
        return Path(os.path.abspath(path))


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)
