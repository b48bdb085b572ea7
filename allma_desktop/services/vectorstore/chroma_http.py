"""The VectorStore contract on a Chroma server that a team shares (``chromadb.HttpClient``).

Everything but opening the connection and explaining failures is the embedded
backend's: the server speaks the same collection API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from allma_desktop.errors import AllmaError
from allma_desktop.services.vectorstore.base import VectorStore
from allma_desktop.services.vectorstore.chroma import ChromaVectorStore, _settings

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

_UNREACHABLE_SIGNS = ("connect", "connection", "timed out", "timeout", "name or service")
_REFUSED_SIGNS = ("401", "403", "unauthorized", "forbidden", "authentication")


class ChromaHttpVectorStore(ChromaVectorStore):
    """Collections on the Chroma server at ``host``:``port``; ``token`` (when given) is
    sent as ``Authorization: Bearer <token>``, what Chroma's token auth and most
    authenticating proxies expect."""

    def __init__(self, host: str, port: int, ssl: bool = False, token: str = "") -> None:
        self._host = host
        self._port = port
        self._ssl = ssl
        self._token = token
        super().__init__(path=_url(host, port, ssl))  # type: ignore[arg-type]  # shown in messages

    @property
    def url(self) -> str:
        return _url(self._host, self._port, self._ssl)

    def _open_client(self) -> ClientAPI:
        import chromadb

        settings = _settings()
        settings.chroma_api_impl = "chromadb.api.fastapi.FastAPI"
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else None
        with self._reporting_failures("connect to the Chroma server"):
            client = chromadb.HttpClient(
                host=self._host, port=self._port, ssl=self._ssl, headers=headers, settings=settings
            )
            client.heartbeat()  # fail here, with a clear message, rather than on first use
            self._batch_size = client.get_max_batch_size()
        return client

    def _translate(self, error: Exception, action: str) -> AllmaError:
        detail = str(error) or type(error).__name__
        lowered = detail.lower()
        if any(sign in lowered for sign in _REFUSED_SIGNS):
            return AllmaError(
                f"The Chroma server at {self.url} refused the connection's token ({detail}).",
                "Check CHROMA_TOKEN / the token in Settings with whoever runs the server.",
            )
        if any(sign in lowered for sign in _UNREACHABLE_SIGNS):
            return AllmaError(
                f"The Chroma server at {self.url} is not reachable ({detail}).",
                "Check that it is running (`chroma run --path FOLDER --port PORT`), and that "
                "CHROMA_HOST, CHROMA_PORT and CHROMA_SSL (or the server in Settings) match it.",
            )
        return super()._translate(error, action)


def _url(host: str, port: int, ssl: bool) -> str:
    return f"{'https' if ssl else 'http'}://{host}:{port}"


if TYPE_CHECKING:
    _contract_check: type[VectorStore] = ChromaHttpVectorStore
