"""Opening the vector store the configuration names (``VECTOR_STORE``), in the app's
process or, for a store on this machine, in a child process of its own."""

from __future__ import annotations

from allma_desktop.config import AppConfig
from allma_desktop.services.vectorstore.backends import (
    checked_backend,
    local_store_folder,
    open_in_this_process,
)
from allma_desktop.services.vectorstore.base import VectorStore


def create_vector_store(
    config: AppConfig, backend: str | None = None, *, own_process: bool = False
) -> VectorStore:
    """The store ``backend`` (default: ``config.vector_store``) configured from ``config``.

    With ``own_process``, a store on this machine runs in a child process, so its writes
    never hold the caller's GIL (a store on a server is only a client: it stays here).
    Nothing is opened yet: each backend connects on first use, in a worker thread."""
    chosen = checked_backend(config, backend)
    if own_process and local_store_folder(config, chosen) is not None:
        from allma_desktop.services.vectorstore.store_process import ProcessVectorStore

        return ProcessVectorStore(config, chosen)
    return open_in_this_process(config, chosen)
