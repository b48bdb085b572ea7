"""Which model server answers what: chat and embeddings, each from its own.

``create_llm_service(config)`` gives the engine one ``LLMService``. With both providers
``ollama`` (the default) it is the ``OllamaService`` of ``OLLAMA_HOST``, as always. Else
chat goes to ``LLM_PROVIDER``'s server and embeddings to ``EMBEDDING_PROVIDER``'s, through
``ModelServers``, so chat from LM Studio with embeddings from Ollama is one setup.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from allma_desktop.errors import AllmaError, NeedsOllama
from allma_desktop.records import ModelDetails, ModelInfo, OllamaHealth, PullProgress
from allma_desktop.services.model_server.ollama import (
    ChatMessage,
    ChatOptions,
    LLMDelta,
    LLMService,
    OllamaService,
)
from allma_desktop.services.model_server.openai_compat import OpenAICompatibleService

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig

OLLAMA = "ollama"
OPENAI_COMPATIBLE = "openai-compatible"
PROVIDERS = (OLLAMA, OPENAI_COMPATIBLE)


def create_llm_service(config: AppConfig, *, timeout: float | None = None) -> LLMService:
    """The model server(s) ``config`` names; ``timeout`` overrides the read timeout."""
    chat_uses_ollama = config.llm_provider == OLLAMA
    embeddings_use_ollama = config.embedding_provider == OLLAMA
    if chat_uses_ollama and embeddings_use_ollama:
        return OllamaService.from_config(config, timeout=timeout)
    ollama = (
        OllamaService.from_config(config, timeout=timeout)
        if chat_uses_ollama or embeddings_use_ollama
        else None
    )
    chat: LLMService = (
        ollama
        if chat_uses_ollama and ollama
        else (OpenAICompatibleService.for_chat(config, timeout=timeout))
    )
    embeddings: LLMService = (
        ollama
        if embeddings_use_ollama and ollama
        else (OpenAICompatibleService.for_embeddings(config, timeout=timeout))
    )
    return ModelServers(chat, embeddings)


class OfflineEmbeddings(OllamaService):
    """Ollama for everything but embeddings, which ``embedding`` makes in this process:
    for the self-test, which runs where no model server is."""

    def __init__(self, host: str, embedding: Callable[[str], list[float]]) -> None:
        super().__init__(host, timeout=1.0, connect_timeout=1.0)
        self._embedding = embedding

    async def embed(self, model: str, texts: Sequence[str]) -> list[list[float]]:
        return [self._embedding(text) for text in texts]


class ModelServers:
    """Chat, model details and the model list from ``chat``; embeddings from ``embeddings``."""

    def __init__(self, chat: LLMService, embeddings: LLMService) -> None:
        self.chat = chat
        self.embeddings = embeddings
        self.host = chat.host

    def _servers(self) -> list[LLMService]:
        return [self.chat] if self.chat is self.embeddings else [self.chat, self.embeddings]

    async def close(self) -> None:
        for server in self._servers():
            await server.close()

    def chat_stream(
        self,
        model: str,
        messages: Sequence[ChatMessage],
        *,
        think: bool | None = None,
        options: ChatOptions | Mapping[str, Any] | None = None,
    ) -> AsyncGenerator[LLMDelta, None]:
        return self.chat.chat_stream(model, messages, think=think, options=options)

    async def embed(self, model: str, texts: Sequence[str]) -> list[list[float]]:
        return await self.embeddings.embed(model, texts)

    async def list_models(self) -> list[ModelInfo]:
        """Every model of both servers (the chat server's first), each name once."""
        seen: dict[str, ModelInfo] = {}
        for server in self._servers():
            for model in await server.list_models():
                seen.setdefault(model.name, model)
        return list(seen.values())

    async def show(self, model: str, *, role: str = "chat") -> ModelDetails:
        server = self.embeddings if role == "embedding" else self.chat
        return await server.show(model, role=role)

    async def check_chat_model(self, model: str) -> None:
        await self.chat.check_chat_model(model)

    async def check_embedding_model(self, model: str) -> int:
        return await self.embeddings.check_embedding_model(model)

    def pull(self, name: str) -> AsyncGenerator[PullProgress, None]:
        """Downloads go to whichever server is Ollama; another server says it cannot."""
        for server in self._servers():
            if isinstance(server, OllamaService):
                return server.pull(name)
        return _refuse_pull(name, self.chat.host)

    async def version(self) -> str:
        return await self.chat.version()

    async def health(self, chat_model: str, embedding_model: str) -> OllamaHealth:
        """Both servers' health in one report; never raises."""
        chat = await self.chat.health(chat_model, embedding_model)
        if self.embeddings is self.chat:
            return chat
        embeddings = await self.embeddings.health(chat_model, embedding_model)
        error: AllmaError | None = None
        if not chat.reachable:
            error = chat.error
        elif not embeddings.reachable:
            error = embeddings.error
        elif not chat.chat_model_present:
            error = _missing(self.chat, chat_model, "chat", chat)
        elif not embeddings.embedding_model_present:
            error = _missing(self.embeddings, embedding_model, "embedding", embeddings)
        return OllamaHealth(
            host=chat.host,
            reachable=chat.reachable and embeddings.reachable,
            version=chat.version,
            models=tuple(dict.fromkeys(chat.models + embeddings.models)),
            chat_model=chat_model,
            chat_model_present=chat.chat_model_present,
            embedding_model=embedding_model,
            embedding_model_present=embeddings.embedding_model_present,
            error=error,
            server=chat.server,
            chat_models=chat.chat_models,
            embedding_models=embeddings.embedding_models,
        )


def _missing(server: LLMService, model: str, role: str, health: OllamaHealth) -> AllmaError | None:
    if isinstance(server, OpenAICompatibleService):
        return server.missing(model, role, health.models)
    from allma_desktop.errors import ModelMissing

    return ModelMissing(model, role)


async def _refuse_pull(name: str, host: str) -> AsyncGenerator[PullProgress, None]:
    raise NeedsOllama(f"Downloading '{name}'", host)
    yield PullProgress("", None, None)  # pragma: no cover - makes this a generator
