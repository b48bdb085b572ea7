"""What the app's child processes (the parse worker, the vector store's process) share.

They serve requests from the app over a pipe, and they are background work:

* Ctrl-C in a terminal reaches the whole process group; the app decides, not a child.
* During an ingest the children are CPU-bound. On a machine with few cores they, the
  app and Ollama all want a core at once, and the scheduler's fair share then makes the
  GUI thread wait for one: the window stutters although its own thread has little to
  do. A niceness of a few steps gives the children a third of the weight of the app's
  threads when they compete, and changes nothing when the app is idle.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger(__name__)

BACKGROUND_NICENESS = 5


def become_background_child() -> None:
    """Call first thing in a child: leave Ctrl-C to the app, give way to the window."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    nice = getattr(os, "nice", None)  # Unix only
    if nice is None:
        return
    try:
        nice(BACKGROUND_NICENESS)
    except OSError as error:  # a sandbox may forbid it; the process works as before
        log.debug("could not lower the process priority: %s", error)


def requests(connection: Connection) -> Iterator[Any]:
    """The app's requests, in order, until it sends ``None`` or closes its end."""
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return
        if request is None:
            return
        yield request
