"""The API's bearer token file: created on first use, kept next to the settings file.

Free of FastAPI on purpose: Settings shows the token while the window is built, and
importing FastAPI there would cost the app's start a few tenths of a second.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from allma_desktop.config import default_config_dir

TOKEN_FILE_NAME = "api-token"


def token_path(config_dir: Path | None = None) -> Path:
    return (config_dir or default_config_dir()) / TOKEN_FILE_NAME


def api_token(config_dir: Path | None = None) -> str:
    """The token clients must send; created (0600) on first call. Settings shows this."""
    path = token_path(config_dir)
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    return _create_token(path)


def _create_token(path: Path) -> str:
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    # Created 0600 from the start: the token is never readable by others, not even briefly.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return token
