"""Logging to a rotating file in the user's log folder, level from LOG_LEVEL.

Document text and prompts are logged only at DEBUG, by the modules that handle them.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys

from allma_desktop.config import default_log_dir
from allma_desktop.pathnames import DISPLAY_ERRORS

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO", *, console: bool = False) -> None:
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        if getattr(handler, "_allma", False):
            root.removeHandler(handler)
    handlers: list[logging.Handler] = []
    try:
        log_dir = default_log_dir()
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                log_dir / "allma.log",
                maxBytes=2_000_000,
                backupCount=3,
                encoding="utf-8",
                errors=DISPLAY_ERRORS,  # a file name that is not UTF-8 is logged as \\xNN
            )
        )
    except OSError:
        console = True  # no log folder: better on stderr than nowhere
    if console:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler._allma = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    # Third-party libraries are chatty at INFO (every HTTP request); keep them quiet.
    for noisy in ("httpx", "httpcore", "chromadb", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
