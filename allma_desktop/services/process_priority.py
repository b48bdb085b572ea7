"""Background processes give way to the window.

The parse worker and the vector store's process are CPU-bound during an ingest. On a
machine with few cores they, the app and Ollama all want a core at once, and the
scheduler's fair share then makes the GUI thread wait for one: the window stutters
although its own thread has little to do. A niceness of a few steps gives the
background work a third of the weight of the app's threads when they compete, and
changes nothing when the app is idle, so an ingest alone runs as fast as before.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

BACKGROUND_NICENESS = 5


def lower_this_process_priority(steps: int = BACKGROUND_NICENESS) -> None:
    """Make the calling process ``steps`` nicer (Unix; a no-op elsewhere)."""
    nice = getattr(os, "nice", None)
    if nice is None:
        return
    try:
        nice(steps)
    except OSError as error:  # a sandbox may forbid it; the process works as before
        log.debug("could not lower the process priority: %s", error)
