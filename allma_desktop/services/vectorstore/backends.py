"""The vector store backends and where each keeps its files (``VECTOR_STORE``).

Each local backend has a folder of its own beside the others, so a library can be
copied from one to another (``allma store migrate``) without either overwriting the other.
This module opens a backend in the calling process; ``factory`` decides whether that
process is the app's or the store's own child (``store_process``), which imports this
module and not the factory, so neither imports the other.
"""

from __future__ import annotations

from pathlib import Path

from allma_desktop.config import VECTOR_STORES, AppConfig
from allma_desktop.errors import AllmaError
from allma_desktop.services.vectorstore.base import VectorStore

_PACKAGE_FOR_BACKEND = {
    "faiss": ("faiss", "faiss-cpu"),
    "qdrant": ("qdrant_client", "qdrant-client"),
}


def store_folder(config: AppConfig, backend: str) -> Path:
    """Where ``backend`` keeps its files: Chroma in the configured vectors folder (as
    always), FAISS and local Qdrant in ``<vectors folder>-faiss`` / ``-qdrant``."""
    if backend in ("chroma", "chroma-http"):
        return config.vectors_path
    base = config.vectors_path
    return base.with_name(f"{base.name}-{backend}")


def local_store_folder(config: AppConfig, backend: str | None = None) -> Path | None:
    """The folder of ``backend`` (default: the one in use), or None for a store on a server."""
    chosen = backend or config.vector_store
    if chosen == "chroma-http" or (chosen == "qdrant" and config.qdrant_url):
        return None
    return store_folder(config, chosen)


def open_in_this_process(config: AppConfig, backend: str | None = None) -> VectorStore:
    """The store ``backend`` (default: ``config.vector_store``), served by this process.

    Nothing is opened yet: each backend connects on first use, in a worker thread."""
    chosen = checked_backend(config, backend)
    if chosen == "chroma":
        from allma_desktop.services.vectorstore.chroma import ChromaVectorStore

        return ChromaVectorStore(store_folder(config, chosen))
    if chosen == "chroma-http":
        from allma_desktop.services.vectorstore.chroma_http import ChromaHttpVectorStore

        return ChromaHttpVectorStore(
            config.chroma_host, config.chroma_port, config.chroma_ssl, config.chroma_token
        )
    if chosen == "faiss":
        from allma_desktop.services.vectorstore.faiss_store import FaissVectorStore

        return FaissVectorStore(store_folder(config, chosen))
    from allma_desktop.services.vectorstore.qdrant_store import QdrantVectorStore

    if config.qdrant_url:
        return QdrantVectorStore(url=config.qdrant_url, api_key=config.qdrant_api_key)
    return QdrantVectorStore(path=store_folder(config, chosen))


def checked_backend(config: AppConfig, backend: str | None) -> str:
    """``backend`` (default: the configured one), known and with its package installed."""
    chosen = backend or config.vector_store
    if chosen not in VECTOR_STORES:
        raise AllmaError(
            f"There is no vector store called {chosen!r}.",
            f"Pick one of: {', '.join(VECTOR_STORES)}.",
        )
    _require_package(chosen)
    return chosen


def missing_package(backend: str) -> str | None:
    """The pip package ``backend`` needs and cannot find (``"faiss-cpu"``), or None when
    nothing is missing. Only looks the module up: importing FAISS or Qdrant would cost
    the caller (the Settings page) seconds and memory for a mere check."""
    if backend not in _PACKAGE_FOR_BACKEND:
        return None
    import importlib.util

    module, package = _PACKAGE_FOR_BACKEND[backend]
    return package if importlib.util.find_spec(module) is None else None


def _require_package(backend: str) -> None:
    """An optional backend's package missing is a setup step, not a crash."""
    package = missing_package(backend)
    if package is not None:
        raise AllmaError(
            f"The {backend} vector store needs the {package} package, which is not installed.",
            f"Install it with `pip install allma-desktop[{backend}]` (or `pip install {package}`), "
            "or set VECTOR_STORE / the vector store in Settings back to chroma.",
        )
