"""Talking to an OpenAI-compatible model server: LM Studio, llama.cpp's server, vLLM, Jan,
LocalAI (``LLM_PROVIDER=openai-compatible``, and likewise ``EMBEDDING_PROVIDER``).

The same interface as ``OllamaService`` (``model_server/ollama.py``): streamed chat, embeddings,
the model list and health, with the same results and the same ``AllmaError`` kinds, whose
hints name this server instead of Ollama. Plain ``httpx``: the API is three endpoints
(``/models``, ``/chat/completions`` streamed as server-sent events, ``/embeddings``).

What these servers do not have is said, not failed: no model downloads (``NeedsOllama``),
no ``num_ctx`` (the server's own context is used; its length is read from ``/models``
where the server tells it), and thinking only where the server streams it
(``reasoning_content`` or ``reasoning``, or ``<think>`` tags in the content).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncGenerator, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import httpx
import orjson

from allma_desktop.errors import (
    AllmaError,
    ModelMissing,
    NeedsOllama,
    OllamaError,
    OllamaTimeout,
    OllamaUnreachable,
    StreamInterrupted,
    WrongModelKind,
)
from allma_desktop.records import ModelDetails, ModelInfo, OllamaHealth, PullProgress
from allma_desktop.services.model_server.ollama import (
    ChatMessage,
    ChatOptions,
    LLMDelta,
    ThinkTagSplitter,
    model_capabilities,
)

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig

logger = logging.getLogger(__name__)

SERVER = "the model server"
UNREACHABLE_HINT = (
    "Start your model server (LM Studio: Developer → Start Server; llama.cpp: `llama-server`; "
    "vLLM: `vllm serve`), or set {variable} / the address in Settings to where it runs "
    "(the URL up to /v1, e.g. http://localhost:1234/v1)."
)
# Where servers put a model's context length in /models: vLLM, LM Studio, OpenRouter and
# LocalAI, then llama.cpp's server (under "meta").
_CONTEXT_KEYS = ("max_model_len", "max_context_length", "context_length", "context_window")
_META_CONTEXT_KEYS = ("n_ctx_train", "n_ctx")


def api_base_url(url: str) -> str:
    """The base URL requests go under: as given, or ``<url>/v1`` when it has no path."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = f"http://{url}"
    if not urlsplit(url).path:
        url += "/v1"
    return url


class OpenAICompatibleService:
    """Async access to one OpenAI-compatible server; ``role`` names its use in messages.

    ``variable`` is the setting that holds its address (``LLM_BASE_URL`` or
    ``EMBEDDING_BASE_URL``), named in hints.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str = "",
        timeout: float = 120.0,
        connect_timeout: float = 5.0,
        variable: str = "LLM_BASE_URL",
        key_variable: str = "LLM_API_KEY",
    ) -> None:
        self.host = api_base_url(base_url)
        self._timeout = timeout
        self._variable = variable
        self._key_variable = key_variable
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._headers = headers
        self._http_timeout = httpx.Timeout(timeout, connect=connect_timeout)
        # base_url with a trailing slash, so relative paths keep /v1.
        self._http = httpx.AsyncClient(
            base_url=self.host + "/", timeout=self._http_timeout, headers=headers
        )
        self._blocking_client: httpx.Client | None = None  # for embed(); made on first use
        self._blocking_client_lock = threading.Lock()
        self._models: dict[str, Mapping[str, Any]] | None = None

    @classmethod
    def for_chat(
        cls, config: AppConfig, *, timeout: float | None = None
    ) -> OpenAICompatibleService:
        return cls(
            config.llm_base_url,
            api_key=config.llm_api_key,
            timeout=config.request_timeout if timeout is None else timeout,
            connect_timeout=config.ollama_connect_timeout,
        )

    @classmethod
    def for_embeddings(
        cls, config: AppConfig, *, timeout: float | None = None
    ) -> OpenAICompatibleService:
        return cls(
            config.embedding_base_url,
            api_key=config.embedding_api_key,
            timeout=config.request_timeout if timeout is None else timeout,
            connect_timeout=config.ollama_connect_timeout,
            variable="EMBEDDING_BASE_URL",
            key_variable="EMBEDDING_API_KEY",
        )

    async def close(self) -> None:
        await self._http.aclose()
        with self._blocking_client_lock:
            blocking, self._blocking_client = self._blocking_client, None
        if blocking is not None:
            blocking.close()

    # -- chat --

    async def chat_stream(
        self,
        model: str,
        messages: Sequence[ChatMessage],
        *,
        think: bool | None = None,
        options: ChatOptions | Mapping[str, Any] | None = None,
    ) -> AsyncGenerator[LLMDelta, None]:
        """Stream the answer (server-sent events); ``aclose()`` closes the HTTP stream.

        ``think`` is not sent: no OpenAI-compatible request asks for it. A server that
        thinks anyway streams it as ``reasoning_content`` (or in ``<think>`` tags).
        """
        payload: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            **_sampling(options),
        }
        splitter = ThinkTagSplitter()
        finish_reason: str | None = None
        usage: Mapping[str, Any] = {}
        streamed_anything = False
        with self._translated_errors(model, "chat", streaming=True):
            async with self._http.stream("POST", "chat/completions", json=payload) as response:
                if response.is_error:
                    await response.aread()
                    self._raise_for_answer(response, model, "chat")
                async for data in _sse_data(response.aiter_lines()):
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    if not isinstance(chunk, dict):
                        continue
                    if "error" in chunk:
                        message = _error_message(chunk) or "an error"
                        if streamed_anything:
                            raise StreamInterrupted(f"the model server reported “{message}”")
                        raise OllamaError(
                            f"The model server reported an error: {message}",
                            "Check the model server's log for details, then try again.",
                        )
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or ():
                        delta = choice.get("delta") or {}
                        reasoning = delta.get("reasoning_content") or delta.get("reasoning") or ""
                        thinking, content = splitter.feed(delta.get("content") or "")
                        thinking = str(reasoning) + thinking
                        if thinking or content:
                            streamed_anything = True
                            yield LLMDelta(content=content, thinking=thinking)
                        finish_reason = choice.get("finish_reason") or finish_reason
                else:
                    if finish_reason is None:
                        raise StreamInterrupted("the model server stopped before finishing")
        rest_thinking, rest_content = splitter.flush()
        if rest_thinking or rest_content:
            yield LLMDelta(content=rest_content, thinking=rest_thinking)
        yield LLMDelta(
            done=True,
            done_reason=finish_reason,
            prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
            completion_tokens=_int_or_none(usage.get("completion_tokens")),
        )

    # -- embeddings --

    async def embed(self, model: str, texts: Sequence[str]) -> list[list[float]]:
        """Vectors for *texts*, in order, from ONE request (in a worker thread, as Ollama's)."""
        if not texts:
            return []
        return await asyncio.to_thread(self._embed_blocking, model, list(texts))

    def _embed_blocking(self, model: str, texts: list[str]) -> list[list[float]]:
        with self._translated_errors(model, "embedding"):
            response = self._embedding_client().post(
                "embeddings", json={"model": model, "input": texts}
            )
            if response.is_error:
                self._raise_for_answer(response, model, "embedding")
            vectors = _decode_embeddings(response.content)
        if len(vectors) != len(texts):
            raise OllamaError(
                f"The model server returned {len(vectors)} embeddings for {len(texts)} texts.",
                "Check that the embedding model is an embedding model.",
            )
        return vectors

    def _embedding_client(self) -> httpx.Client:
        with self._blocking_client_lock:
            if self._blocking_client is None:
                self._blocking_client = httpx.Client(
                    base_url=self.host + "/", timeout=self._http_timeout, headers=self._headers
                )
            return self._blocking_client

    # -- models --

    async def _model_entries(self) -> dict[str, Mapping[str, Any]]:
        with self._translated_errors(None, "chat"):
            response = await self._http.get("models")
            if response.is_error:
                self._raise_for_answer(response, None, "chat")
            answer = response.json()
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list):
            raise OllamaError(
                f"{self.host}/models did not list models.",
                f"Is {self.host} an OpenAI-compatible server? The address ends in /v1 "
                "for most of them.",
            )
        entries: dict[str, Mapping[str, Any]] = {
            str(e["id"]): e for e in data if isinstance(e, dict) and e.get("id")
        }
        self._models = entries
        return entries

    async def list_models(self) -> list[ModelInfo]:
        """The server's models; what each can do is guessed from its name (the OpenAI
        API does not say), as for an Ollama too old to tell."""
        return [
            ModelInfo(
                name=name,
                size_bytes=0,
                family=None,
                parameter_size=None,
                modified_at=_created(entry.get("created")),
                capabilities=model_capabilities(None, name),
            )
            for name, entry in (await self._model_entries()).items()
        ]

    async def check_chat_model(self, model: str) -> None:
        """Raise ``ModelMissing`` when the server does not list ``model``, and
        ``WrongModelKind`` when its name says it is an embedding model."""
        entries = await self._model_entries()
        if model not in entries:
            raise self.missing(model, "chat", tuple(entries))
        if "completion" not in model_capabilities(None, model):
            raise WrongModelKind(model, "chat")

    async def check_embedding_model(self, model: str) -> int:
        """Make one real embedding with ``model``; its vector size."""
        vectors = await self.embed(model, ["Allma checks that this model makes embeddings."])
        if not vectors or not vectors[0]:
            raise OllamaError(
                f"{model} answered with an empty embedding.",
                "Pick an embedding model that the server lists.",
            )
        return len(vectors[0])

    async def show(self, model: str, *, role: str = "chat") -> ModelDetails:
        """What the server tells of *model*: its context length where it gives one.

        A model missing from ``/models`` is not an error here: several servers answer
        to any name with the model they have loaded; the request itself says if not.
        """
        entries = self._models if self._models is not None else await self._model_entries()
        entry = entries.get(model, {})
        capabilities = ("embedding",) if role == "embedding" else ("completion",)
        return ModelDetails(
            name=model,
            capabilities=capabilities,
            context_length=_context_length(entry),
            family=None,
        )

    async def pull(self, name: str) -> AsyncGenerator[PullProgress, None]:
        raise NeedsOllama(f"Downloading '{name}'", self.host)
        yield PullProgress("", None, None)  # pragma: no cover - makes this a generator

    # -- server --

    async def version(self) -> str:
        await self._model_entries()
        return ""  # the OpenAI API has no version; answering /models is what counts

    async def health(self, chat_model: str, embedding_model: str) -> OllamaHealth:
        """Whether the server answers and lists both models; never raises."""
        models: list[ModelInfo] = []
        error: AllmaError | None = None
        reachable = False
        try:
            models = await self.list_models()
            reachable = True
        except AllmaError as failure:
            error = failure
        names = tuple(model.name for model in models)
        chat_present = chat_model in names
        embedding_present = embedding_model in names
        if error is None and not chat_present:
            error = self.missing(chat_model, "chat", names)
        elif error is None and not embedding_present:
            error = self.missing(embedding_model, "embedding", names)
        return OllamaHealth(
            host=self.host,
            reachable=reachable,
            version=None,
            models=names,
            chat_model=chat_model,
            chat_model_present=chat_present,
            embedding_model=embedding_model,
            embedding_model_present=embedding_present,
            error=error,
            server="Model server",
            chat_models=tuple(model.name for model in models if model.can_chat),
            embedding_models=tuple(model.name for model in models if model.can_embed),
        )

    def missing(self, model: str, role: str, names: Sequence[str] = ()) -> ModelMissing:
        listed = f" It lists: {', '.join(names)}." if names else ""
        return ModelMissing(
            model,
            role,
            server=f"the model server at {self.host}",
            hint=f"Load '{model}' in that server, or pick one of its models in Settings.{listed}",
        )

    # -- errors --

    def _raise_for_answer(self, response: httpx.Response, model: str | None, role: str) -> NoReturn:
        """The AllmaError for an error answer (OpenAI's ``{"error": {...}}`` body)."""
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        message = _error_message(body) or response.text.strip()[:300] or response.reason_phrase
        code = (
            body.get("error", {}).get("code")
            if isinstance(body, dict) and isinstance(body.get("error"), dict)
            else None
        )
        status = response.status_code
        if status in (401, 403):
            raise OllamaError(
                f"The model server at {self.host} refused the request (HTTP {status}): {message}",
                f"Set the server's API key in Settings or {self._key_variable}.",
            )
        if model and (code == "model_not_found" or (status == 404 and "model" in message.lower())):
            raise self.missing(model, role)
        if status == 404:
            raise OllamaError(
                f"{self.host} has no OpenAI API here (HTTP 404: {message}).",
                f"Set {self._variable} to the server's URL up to /v1, e.g. "
                "http://localhost:1234/v1.",
            )
        raise OllamaError(
            f"The model server reported an error (HTTP {status}): {message}",
            "Check the model server's log for details, then try again.",
        )

    @contextlib.contextmanager
    def _translated_errors(
        self, model: str | None, role: str, *, streaming: bool = False
    ) -> Iterator[None]:
        try:
            yield
        except AllmaError:
            raise
        except httpx.ConnectTimeout as error:
            raise self._unreachable("connecting timed out") from error
        except httpx.TimeoutException as error:
            raise OllamaTimeout(self.host, self._timeout, server="The model server") from error
        except (httpx.ConnectError, ConnectionError) as error:
            raise self._unreachable() from error
        except (json.JSONDecodeError, orjson.JSONDecodeError) as error:
            if streaming:
                raise StreamInterrupted("the model server sent data that is not JSON") from error
            raise OllamaError(
                f"{self.host} answered with something that is not JSON.", ""
            ) from error
        except httpx.TransportError as error:
            if streaming:
                raise StreamInterrupted(
                    f"the connection to the model server broke ({error})"
                ) from error
            raise self._unreachable(str(error)) from error
        except httpx.HTTPError as error:
            raise OllamaError(
                f"Unexpected answer from the model server: {error}", "Try again."
            ) from error

    def _unreachable(self, detail: str = "") -> OllamaUnreachable:
        return OllamaUnreachable(
            self.host,
            detail,
            server="The model server",
            hint=UNREACHABLE_HINT.format(variable=self._variable),
        )


async def _sse_data(lines: AsyncGenerator[str, None] | Any) -> AsyncGenerator[str, None]:
    """The data of each server-sent event (lines ``data: ...``, events end at a blank line)."""
    parts: list[str] = []
    async for line in lines:
        if line == "":
            if parts:
                yield "\n".join(parts)
                parts = []
            continue
        if line.startswith(":"):
            continue  # a comment (keep-alive)
        name, _, value = line.partition(":")
        if name == "data":
            parts.append(value[1:] if value.startswith(" ") else value)
    if parts:
        yield "\n".join(parts)


def _sampling(options: ChatOptions | Mapping[str, Any] | None) -> dict[str, Any]:
    """OpenAI's names for the options that have one (``num_ctx`` has none)."""
    if options is None:
        return {}
    if isinstance(options, ChatOptions):
        options = options.to_ollama()
    sampling: dict[str, Any] = {}
    if options.get("temperature") is not None:
        sampling["temperature"] = options["temperature"]
    if options.get("num_predict") is not None:
        sampling["max_tokens"] = options["num_predict"]
    if options.get("stop"):
        sampling["stop"] = list(options["stop"])[:4]  # OpenAI takes up to 4
    return sampling


def _decode_embeddings(body: bytes) -> list[list[float]]:
    answer = orjson.loads(body)
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list) or not all(
        isinstance(item, dict) and isinstance(item.get("embedding"), list) for item in data
    ):
        raise OllamaError(
            "The model server's answer holds no list of embeddings.",
            "Check that the embedding model is an embedding model.",
        )
    ordered = sorted(data, key=lambda item: int(item.get("index", 0)))
    return [[float(x) for x in item["embedding"]] for item in ordered]


def _error_message(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or "")
    return str(error or body.get("message") or "")


def _context_length(entry: Mapping[str, Any]) -> int | None:
    for key in _CONTEXT_KEYS:
        value = entry.get(key)
        if isinstance(value, int) and value > 0:
            return value
    meta = entry.get("meta")
    if isinstance(meta, Mapping):
        for key in _META_CONTEXT_KEYS:
            value = meta.get(key)
            if isinstance(value, int) and value > 0:
                return value
    return None


def _created(value: Any) -> str | None:
    if isinstance(value, int) and value > 0:
        return datetime.fromtimestamp(value, UTC).isoformat()
    return None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) else None
