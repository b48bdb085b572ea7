"""Talking to Ollama: streamed chat, embeddings, the model catalogue and health.

A thin layer over ``ollama.AsyncClient`` that returns dataclasses and turns every
failure into an ``AllmaError`` the user can act on. It also smooths over Ollama
versions: servers before 0.9 sent a thinking model's reasoning inside the content
as ``<think>...</think>``; ``chat_stream`` splits it out, so callers always get
thinking and answer apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar
from urllib.parse import urlsplit

import httpx
import ollama
import pydantic

from allma_desktop.errors import (
    AllmaError,
    ModelMissing,
    OllamaError,
    OllamaRejected,
    OllamaTimeout,
    OllamaUnreachable,
    StreamInterrupted,
    WrongModelKind,
)
from allma_desktop.records import ModelDetails, ModelInfo, OllamaHealth, PullProgress
from allma_desktop.services.model_server.embed_response import decode_embeddings

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_PORT = 11434


# --- Results ------------------------------------------------------------------


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class ChatOptions:
    """The model options of one chat request (Ollama's ``options``); None is Ollama's default."""

    temperature: float | None = None
    num_ctx: int | None = None
    num_predict: int | None = None  # the most tokens to generate
    stop: tuple[str, ...] = ()

    def to_ollama(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            name: value
            for name, value in (
                ("temperature", self.temperature),
                ("num_ctx", self.num_ctx),
                ("num_predict", self.num_predict),
            )
            if value is not None
        }
        if self.stop:
            options["stop"] = list(self.stop)
        return options


@dataclass(frozen=True)
class LLMDelta:
    """One step of a streamed answer; the last one has ``done`` set and the counts."""

    content: str = ""
    thinking: str = ""
    done: bool = False
    done_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_duration_ms: float | None = None


# --- Names and hosts ------------------------------------------------------------


EMBEDDING_FAMILIES = frozenset({"bert", "nomic-bert", "xlm-roberta", "jina-bert-v2"})


def model_capabilities(
    reported: Sequence[str] | None, name: str, family: str | None = None
) -> tuple[str, ...]:
    """What a model can do: as Ollama reports it (0.6.4 and later), else guessed.

    Older servers report nothing; an embedding model is then known by its family
    (BERT-like) or its name ("embed", "minilm"), and everything else is taken to chat.
    """
    if reported:
        return tuple(reported)
    lowered = name.lower()
    if (family or "").lower() in EMBEDDING_FAMILIES or "embed" in lowered or "minilm" in lowered:
        return ("embedding",)
    return ("completion",)


def canonical_model_name(name: str) -> str:
    """Ollama's matching: case-insensitive, and a missing tag means ``latest``."""
    name = name.strip().lower()
    last_part = name.rsplit("/", 1)[-1]
    return name if ":" in last_part else f"{name}:latest"


def same_model(first: str, second: str) -> bool:
    return canonical_model_name(first) == canonical_model_name(second)


def base_url(host: str) -> str:
    """The URL for an OLLAMA_HOST-style value ("localhost", ":11434", "http://h:1234/")."""
    host = host.strip()
    scheme, separator, rest = host.partition("://")
    if not separator:
        scheme, rest, default_port = "http", host, DEFAULT_PORT
    else:
        default_port = 443 if scheme == "https" else 80
    parts = urlsplit(f"{scheme}://{rest}")
    hostname = parts.hostname or "127.0.0.1"
    if ":" in hostname:
        hostname = f"[{hostname}]"
    port = parts.port or default_port
    return f"{scheme}://{hostname}:{port}{parts.path.rstrip('/')}"


# --- Thinking tags in content (old servers) -----------------------------------------


class ThinkTagSplitter:
    """Splits ``<think>...</think>`` out of streamed content, across token boundaries.

    Only a block at the start of the answer counts: once real content has been
    emitted, a literal "<think>" later in the text is left alone.
    """

    OPEN = "<think>"
    CLOSE = "</think>"

    def __init__(self) -> None:
        self._pending = ""
        self._thinking = False
        self._content_started = False
        self._strip_leading_space = False

    def feed(self, text: str) -> tuple[str, str]:
        """(thinking, content) that can be released after *text*."""
        self._pending += text
        thinking, content = "", ""
        while self._pending:
            if self._thinking:
                index = self._pending.find(self.CLOSE)
                if index < 0:
                    ready, self._pending = self._hold_back(self._pending, self.CLOSE)
                    thinking += ready
                    break
                thinking += self._pending[:index]
                self._pending = self._pending[index + len(self.CLOSE) :]
                self._thinking = False
                self._strip_leading_space = True  # "</think>\n\n" precedes the answer
                continue
            if self._content_started:
                content += self._pending
                self._pending = ""
                break
            start = self._pending.lstrip()
            if start.startswith(self.OPEN):
                self._pending = start[len(self.OPEN) :]
                self._thinking = True
                continue
            if self.OPEN.startswith(start):
                break  # only whitespace or a beginning of "<think>" so far: wait for more
            content += self._pending
            self._pending = ""
        return thinking, self._release_content(content)

    def flush(self) -> tuple[str, str]:
        """Whatever is still held back, at the end of the stream."""
        pending, self._pending = self._pending, ""
        if self._thinking:
            return pending, ""
        return "", self._release_content(pending)

    def _release_content(self, content: str) -> str:
        if self._strip_leading_space:
            content = content.lstrip()
            if not content:
                return ""
            self._strip_leading_space = False
        if content.strip():
            self._content_started = True
        return content

    @staticmethod
    def _hold_back(text: str, tag: str) -> tuple[str, str]:
        """Split *text* into what is safe to release and an end that could begin *tag*."""
        for length in range(min(len(text), len(tag) - 1), 0, -1):
            if tag.startswith(text[-length:]):
                return text[:-length], text[-length:]
        return text, ""


# --- The interface -----------------------------------------------------------------


class LLMService(Protocol):
    """What the engine asks of a model server: ``OllamaService`` here, and the
    OpenAI-compatible one (``openai_compat.py``); ``model_servers.py`` picks per config."""

    host: str

    async def close(self) -> None: ...

    def chat_stream(
        self,
        model: str,
        messages: Sequence[ChatMessage],
        *,
        think: bool | None = None,
        options: ChatOptions | Mapping[str, Any] | None = None,
    ) -> AsyncGenerator[LLMDelta, None]: ...

    async def embed(self, model: str, texts: Sequence[str]) -> list[list[float]]: ...

    async def list_models(self) -> list[ModelInfo]: ...

    async def show(self, model: str, *, role: str = "chat") -> ModelDetails: ...

    async def check_chat_model(self, model: str) -> None: ...

    async def check_embedding_model(self, model: str) -> int: ...

    def pull(self, name: str) -> AsyncGenerator[PullProgress, None]: ...

    async def version(self) -> str: ...

    async def health(self, chat_model: str, embedding_model: str) -> OllamaHealth: ...


# --- The service -------------------------------------------------------------------


class OllamaService:
    """Async access to one Ollama server.

    ``connect_timeout`` bounds establishing a connection; ``timeout`` bounds each
    wait for data, which must allow for Ollama loading a model before its first token.
    """

    def __init__(
        self,
        host: str,
        *,
        timeout: float = 120.0,
        connect_timeout: float = 5.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.host = base_url(host)
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        http_timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._client = ollama.AsyncClient(
            host=self.host, timeout=http_timeout, headers=dict(headers or {})
        )
        # The ollama client has no version(); a plain client reads /api/version.
        self._http = httpx.AsyncClient(
            base_url=self.host, timeout=http_timeout, headers=dict(headers or {})
        )
        self._details: dict[str, ModelDetails] = {}
        self._headers = dict(headers or {})
        self._blocking_client: httpx.Client | None = None  # for embed(); made on first use
        self._blocking_client_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: AppConfig, *, timeout: float | None = None) -> OllamaService:
        """The service for ``config``'s Ollama: its address, headers and timeouts.

        ``timeout`` overrides the read timeout (a connection test wants seconds, not minutes).
        """
        return cls(
            config.ollama_host,
            timeout=config.request_timeout if timeout is None else timeout,
            connect_timeout=config.ollama_connect_timeout,
            headers=config.ollama_headers,
        )

    async def close(self) -> None:
        await self._client.close()  # type: ignore[no-untyped-call]  # unannotated upstream
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
        """Stream the answer; ``aclose()`` on it (the user pressed Stop) closes the HTTP stream."""
        payload = [{"role": m.role, "content": m.content} for m in messages]
        if isinstance(options, ChatOptions):
            options = options.to_ollama()
        request_think = think
        while True:
            streamed_anything = False
            try:
                # aclosing: when the caller stops early, the HTTP stream closes now, not at GC.
                deltas = self._chat_once(model, payload, request_think, options)
                async with _closing(deltas):
                    async for delta in deltas:
                        streamed_anything = True
                        yield delta
                return
            except ollama.ResponseError as error:
                if request_think and not streamed_anything and _lacks_thinking(error):
                    logger.info("%s cannot think; asking again without thinking", model)
                    request_think = None
                    continue
                if streamed_anything:
                    # An {"error": ...} line mid-answer: the answer so far is all there is.
                    raise StreamInterrupted(f"Ollama reported “{error.error}”") from error
                _raise_translated(error, self.host, self._timeout, model=model, role="chat")

    async def _chat_once(
        self,
        model: str,
        messages: list[dict[str, str]],
        think: bool | None,
        options: Mapping[str, Any] | None,
    ) -> AsyncGenerator[LLMDelta, None]:
        """One /api/chat stream; ResponseError is left to the caller to decide on."""
        with self._translated_errors(model, "chat", streaming=True, keep_response_errors=True):
            parts = await self._client.chat(
                model=model,
                messages=messages,
                stream=True,
                think=think,
                options=dict(options) if options is not None else None,
            )
            splitter = ThinkTagSplitter()
            async with _closing(parts):
                async for part in parts:
                    thinking, content = splitter.feed(part.message.content or "")
                    thinking = (part.message.thinking or "") + thinking
                    if part.done:
                        rest_thinking, rest_content = splitter.flush()
                        thinking, content = thinking + rest_thinking, content + rest_content
                        if thinking or content:
                            yield LLMDelta(content=content, thinking=thinking)
                        yield _final_delta(part)
                        return
                    if thinking or content:
                        yield LLMDelta(content=content, thinking=thinking)
            raise StreamInterrupted("Ollama stopped before finishing the answer")

    # -- embeddings --

    async def embed(self, model: str, texts: Sequence[str]) -> list[list[float]]:
        """Vectors for *texts*, in order, from ONE request; the caller batches.

        The request runs in a worker thread and its answer (about half a megabyte of JSON
        a batch) is decoded by orjson (``embed_response``): ``json.loads`` held the GIL,
        and so the window, 4-5 ms a batch.
        """
        if not texts:
            return []
        return await asyncio.to_thread(self._embed_blocking, model, list(texts))

    def _embed_blocking(self, model: str, texts: list[str]) -> list[list[float]]:
        with self._translated_errors(model, "embedding"):
            response = self._embedding_client().post(
                "/api/embed", json={"model": model, "input": texts}
            )
            if response.is_error:  # as the ollama client: its error body, its status
                raise ollama.ResponseError(response.text, response.status_code)
            vectors = decode_embeddings(response.content)
        if len(vectors) != len(texts):
            raise OllamaError(
                f"Ollama returned {len(vectors)} embeddings for {len(texts)} texts.",
                "Check that the embedding model is an embedding model.",
            )
        return vectors

    def _embedding_client(self) -> httpx.Client:
        with self._blocking_client_lock:
            if self._blocking_client is None:
                self._blocking_client = httpx.Client(
                    base_url=self.host,
                    timeout=httpx.Timeout(self._timeout, connect=self._connect_timeout),
                    headers={"Accept": "application/json", **self._headers},
                )
            return self._blocking_client

    # -- models --

    async def list_models(self) -> list[ModelInfo]:
        """The installed models, each with what it can do (one /api/show each, cached)."""
        with self._translated_errors(None, "chat"):
            response = await self._client.list()
        listed = [
            ModelInfo(
                name=entry.model or "",
                size_bytes=int(entry.size or 0),
                family=entry.details.family if entry.details else None,
                parameter_size=entry.details.parameter_size if entry.details else None,
                modified_at=entry.modified_at.isoformat() if entry.modified_at else None,
            )
            for entry in response.models
        ]
        reported = await asyncio.gather(
            *(self._reported_capabilities(model.name) for model in listed)
        )
        return [
            replace(model, capabilities=model_capabilities(caps, model.name, model.family))
            for model, caps in zip(listed, reported, strict=True)
        ]

    async def _reported_capabilities(self, name: str) -> tuple[str, ...]:
        """What /api/show says ``name`` can do; nothing when it cannot be asked."""
        try:
            return (await self.show(name)).capabilities
        except AllmaError as error:
            logger.info("cannot read the capabilities of %s: %s", name, error)
            return ()

    async def check_chat_model(self, model: str) -> None:
        """Raise ``WrongModelKind`` when ``model`` cannot chat (an embedding model)."""
        details = await self.show(model, role="chat")
        if "completion" not in model_capabilities(details.capabilities, model, details.family):
            raise WrongModelKind(model, "chat")

    async def check_embedding_model(self, model: str) -> int:
        """Make one real embedding with ``model``; its vector size.

        Raises ``WrongModelKind`` for a chat model (Ollama would embed with it, badly),
        ``ModelMissing`` when it is not installed, and the usual errors otherwise.
        """
        details = await self.show(model, role="embedding")
        if "embedding" not in model_capabilities(details.capabilities, model, details.family):
            raise WrongModelKind(model, "embedding")
        vectors = await self.embed(model, ["Allma checks that this model makes embeddings."])
        if not vectors or not vectors[0]:
            raise OllamaError(
                f"{model} answered with an empty embedding.",
                "Pick another embedding model, such as nomic-embed-text.",
            )
        return len(vectors[0])

    async def show(self, model: str, *, role: str = "chat") -> ModelDetails:
        """Capabilities and context length of *model* (cached per model).

        *role* names the model in the ModelMissing error ("chat" or "embedding").
        """
        key = canonical_model_name(model)
        if key in self._details:
            return self._details[key]
        with self._translated_errors(model, role):
            response = await self._client.show(model)
        info = dict(response.modelinfo or {})
        details = ModelDetails(
            name=key,
            capabilities=tuple(response.capabilities or ()),
            context_length=_context_length(info),
            family=response.details.family if response.details else None,
            parameter_size=response.details.parameter_size if response.details else None,
        )
        self._details[key] = details
        return details

    async def pull(self, name: str) -> AsyncGenerator[PullProgress, None]:
        """Download *name*, reporting progress; ends after Ollama says "success"."""
        self._details.pop(canonical_model_name(name), None)
        with self._translated_errors(name, "chat", streaming=True, keep_response_errors=True):
            try:
                parts = await self._client.pull(name, stream=True)
                async with _closing(parts):
                    async for part in parts:
                        status = part.status or ""
                        yield PullProgress(status, part.completed, part.total)
                        if status == "success":
                            return
            except ollama.ResponseError as error:
                raise OllamaError(
                    f"Could not pull '{name}': {error.error}",
                    "Check the model name on ollama.com/library and your internet connection.",
                ) from error
            raise StreamInterrupted(f"the download of '{name}' stopped before it finished")

    # -- server --

    async def version(self) -> str:
        with self._translated_errors(None, "chat"):
            response = await self._http.get("/api/version")
            if response.is_error:
                raise ollama.ResponseError(response.text, response.status_code)
            version = response.json().get("version")
        if not isinstance(version, str):
            raise OllamaError(f"{self.host} did not report a version.", "Is this an Ollama server?")
        return version

    async def health(self, chat_model: str, embedding_model: str) -> OllamaHealth:
        """Whether Ollama answers and has both models; never raises."""
        version: str | None = None
        models: list[ModelInfo] = []
        error: AllmaError | None = None
        reachable = False
        try:
            version = await self.version()
            reachable = True
            models = await self.list_models()
        except AllmaError as failure:
            error = failure
        names = tuple(model.name for model in models)
        by_name = {canonical_model_name(model.name): model for model in models}
        chat = by_name.get(canonical_model_name(chat_model))
        embedding = by_name.get(canonical_model_name(embedding_model))
        chat_present = chat is not None
        embedding_present = embedding is not None
        if error is None and chat is None:
            error = ModelMissing(chat_model, "chat")
        elif error is None and embedding is None:
            error = ModelMissing(embedding_model, "embedding")
        elif error is None and chat is not None and not chat.can_chat:
            error = WrongModelKind(chat_model, "chat")
        elif error is None and embedding is not None and not embedding.can_embed:
            error = WrongModelKind(embedding_model, "embedding")
        return OllamaHealth(
            host=self.host,
            reachable=reachable,
            version=version,
            models=names,
            chat_model=chat_model,
            chat_model_present=chat_present,
            embedding_model=embedding_model,
            embedding_model_present=embedding_present,
            error=error,
            chat_models=tuple(model.name for model in models if model.can_chat),
            embedding_models=tuple(model.name for model in models if model.can_embed),
        )

    # -- errors --

    @contextlib.contextmanager
    def _translated_errors(
        self,
        model: str | None,
        role: str,
        *,
        streaming: bool = False,
        keep_response_errors: bool = False,
    ) -> Iterator[None]:
        """Turn client and transport failures into AllmaErrors.

        With *keep_response_errors*, Ollama's own error answers pass through untouched
        for the caller to decide on (a retry, or a pull-specific message).
        """
        try:
            yield
        except AllmaError:
            raise
        except ollama.ResponseError as error:
            if keep_response_errors:
                raise
            _raise_translated(error, self.host, self._timeout, model=model, role=role)
        except (
            httpx.HTTPError,
            ConnectionError,
            json.JSONDecodeError,
            pydantic.ValidationError,
        ) as e:
            _raise_translated(
                e, self.host, self._timeout, model=model, role=role, streaming=streaming
            )


@contextlib.asynccontextmanager
async def _closing(stream: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """Like contextlib.aclosing, for iterators typed as AsyncIterator (ollama's are generators)."""
    try:
        yield stream
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def _lacks_thinking(error: ollama.ResponseError) -> bool:
    return error.status_code == 400 and "does not support thinking" in str(error.error)


def _raise_translated(
    error: BaseException,
    host: str,
    timeout: float,
    *,
    model: str | None,
    role: str,
    streaming: bool = False,
) -> NoReturn:
    """Raise the AllmaError that tells the user what *error* means for them."""
    if isinstance(error, ollama.ResponseError):
        text = str(error.error)
        # Ollama says `model "x" not found, try pulling it first` (or `model 'x' not found`);
        # a bare "404 page not found" means the address points at something else.
        if error.status_code == 404 and "model" in text and "not found" in text and model:
            raise ModelMissing(model, role) from error
        # `"all-minilm" does not support chat` (or generate): an embedding model asked to chat.
        if error.status_code == 400 and model and "does not support" in text:
            if any(job in text for job in ("chat", "generate", "completion")):
                raise WrongModelKind(model, "chat") from error
            if "embed" in text:
                raise WrongModelKind(model, "embedding") from error
        status = f" (HTTP {error.status_code})" if error.status_code > 0 else ""
        if 400 <= error.status_code < 500:  # the request was refused: not Ollama failing
            raise OllamaRejected(
                f"Ollama refused the request{status}: {text}",
                "Check the model and the options asked for, then try again.",
            ) from error
        raise OllamaError(
            f"Ollama reported an error{status}: {text}",
            "Check the Ollama log (`ollama serve` output) for details, then try again.",
        ) from error
    if isinstance(error, httpx.ConnectTimeout):
        raise OllamaUnreachable(host, "connecting timed out") from error
    if isinstance(error, httpx.TimeoutException):
        raise OllamaTimeout(host, timeout) from error
    if isinstance(error, (httpx.ConnectError, ConnectionError)):
        raise OllamaUnreachable(host) from error
    if isinstance(error, json.JSONDecodeError):
        if streaming:
            raise StreamInterrupted("Ollama sent a line that is not valid JSON") from error
        raise OllamaError(f"{host} answered with something that is not JSON.", "") from error
    if isinstance(error, httpx.TransportError):
        if streaming:
            raise StreamInterrupted(f"the connection to Ollama broke ({error})") from error
        raise OllamaUnreachable(host, str(error)) from error
    raise OllamaError(f"Unexpected answer from Ollama: {error}", "Try again.") from error


def _final_delta(part: ollama.ChatResponse) -> LLMDelta:
    total_ns = part.total_duration
    return LLMDelta(
        done=True,
        done_reason=part.done_reason,
        prompt_tokens=part.prompt_eval_count,
        completion_tokens=part.eval_count,
        total_duration_ms=total_ns / 1_000_000 if total_ns is not None else None,
    )


def _context_length(model_info: Mapping[str, Any]) -> int | None:
    """The trained context length: ``<architecture>.context_length`` in model_info."""
    architecture = model_info.get("general.architecture")
    preferred = model_info.get(f"{architecture}.context_length")
    if isinstance(preferred, int):
        return preferred
    for key, value in model_info.items():
        if key.endswith(".context_length") and isinstance(value, int):
            return value
    return None
