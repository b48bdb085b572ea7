"""A real HTTP server speaking the OpenAI REST API, for tests: a stand-in for LM Studio,
llama.cpp's server, vLLM, Jan or LocalAI.

Written to OpenAI's API reference: ``GET /v1/models`` (a ``list`` of ``model`` objects),
``POST /v1/chat/completions`` answered as one ``chat.completion`` or, with
``stream: true``, as server-sent events (``data: {chat.completion.chunk}`` lines, a
blank line after each, the first delta carrying the role, the last chunk a
``finish_reason``, a usage chunk with empty ``choices`` when ``stream_options.include_usage``
is set, then ``data: [DONE]``), ``POST /v1/embeddings`` (a ``list`` of ``embedding``
objects with their ``index``), and errors as
``{"error": {"message", "type", "param", "code"}}`` with OpenAI's status codes
(401 for a wrong key, 404 ``model_not_found``, 400 ``invalid_request_error``).

The models answer as the Ollama test server's fake models do (same retrieval-aware
replies and term-hashing embeddings), so orchestrator tests over either server read
the same. A model with ``reasoning=True`` streams its thinking as ``delta.reasoning_content``
first, as vLLM, llama.cpp and DeepSeek do. Servers differ in how (or whether) they
give a model's context length; ``context_field`` picks one of their ways.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.ollama_server import compose_reply, embed_text, tokens


@dataclass(frozen=True)
class OpenAIModel:
    id: str
    embedding: bool = False
    reasoning: bool = False
    context_length: int | None = None
    # How the server tells the context length: "max_model_len" (vLLM),
    # "meta.n_ctx_train" (llama.cpp's server), "context_length" (OpenRouter, LocalAI).
    context_field: str = "max_model_len"


DEFAULT_MODELS = (
    OpenAIModel("qwen2.5-7b-instruct", context_length=32768),
    OpenAIModel("deepseek-r1-distill", reasoning=True),
    OpenAIModel("text-embedding-nomic", embedding=True),
)


@dataclass
class OpenAIFaults:
    status_500: bool = False  # chat and embeddings answer 500 {"error": ...}
    cut_stream_after: int | None = None  # close after N content chunks, without [DONE]
    error_after: int | None = None  # a `data: {"error": ...}` event after N content chunks
    token_delay: float = 0.0


@dataclass
class OpenAITestServer:
    """The OpenAI API on ``127.0.0.1:<free port>/v1`` in a background thread.

    ``api_key``: when set, every request must carry ``Authorization: Bearer <api_key>``.
    """

    models: Iterable[OpenAIModel] = DEFAULT_MODELS
    api_key: str | None = None
    faults: OpenAIFaults = field(default_factory=OpenAIFaults)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)  # method, path, body
    _http: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.models = tuple(self.models)

    @property
    def url(self) -> str:
        """The base URL clients are given, with ``/v1``."""
        if self._http is None:
            raise RuntimeError("start() the server first")
        return f"http://127.0.0.1:{self._http.server_address[1]}/v1"

    def start(self) -> OpenAITestServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.app = self  # type: ignore[attr-defined]
        self._http = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
        self._http = self._thread = None

    def __enter__(self) -> OpenAITestServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def requests_to(self, path: str) -> list[Any]:
        return [body for _, request_path, body in self.requests if request_path == path]

    def find(self, model_id: str) -> OpenAIModel | None:
        return next((m for m in self.models if m.id == model_id), None)


def error_body(message: str, kind: str, code: str | None = None, param: str | None = None) -> Any:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def app(self) -> OpenAITestServer:
        return self.server.app  # type: ignore[attr-defined,no-any-return]

    def do_GET(self) -> None:
        self._dispatch(None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            self._error(
                400, error_body("We could not parse the JSON body.", "invalid_request_error")
            )
            return
        self._dispatch(body)

    def _dispatch(self, body: Any) -> None:
        path = self.path.split("?", 1)[0]
        self.app.requests.append((self.command, path, body))
        if self.app.api_key is not None:
            expected = f"Bearer {self.app.api_key}"
            if self.headers.get("Authorization") != expected:
                self._error(
                    401,
                    error_body(
                        "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
                    ),
                )
                return
        routes = {
            ("GET", "/v1/models"): self._models,
            ("POST", "/v1/chat/completions"): self._chat,
            ("POST", "/v1/embeddings"): self._embeddings,
        }
        handler = routes.get((self.command, path))
        if handler is None:
            self._error(
                404,
                error_body(f"Unknown request URL: {self.command} {path}.", "invalid_request_error"),
            )
            return
        handler(body or {})

    # -- answers --

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, payload: Any) -> None:
        self._send(status, payload)

    def _model_for(self, body: dict[str, Any], embedding: bool) -> OpenAIModel | None:
        name = body.get("model")
        if not isinstance(name, str) or not name:
            self._error(
                400,
                error_body(
                    "you must provide a model parameter", "invalid_request_error", None, "model"
                ),
            )
            return None
        model = self.app.find(name)
        if model is None:
            self._error(
                404,
                error_body(
                    f"The model `{name}` does not exist or you do not have access to it.",
                    "invalid_request_error",
                    "model_not_found",
                    "model",
                ),
            )
            return None
        if model.embedding != embedding:
            action = "embeddings" if embedding else "chat completions"
            self._error(
                400,
                error_body(
                    f"{name} does not support {action}.", "invalid_request_error", None, "model"
                ),
            )
            return None
        if self.app.faults.status_500:
            self._error(
                500,
                error_body(
                    "The server had an error while processing your request.", "server_error"
                ),
            )
            return None
        return model

    def _models(self, _: dict[str, Any]) -> None:
        data = []
        for model in self.app.models:
            entry: dict[str, Any] = {
                "id": model.id,
                "object": "model",
                "created": 1_700_000_000,
                "owned_by": "organization-owner",
            }
            if model.context_length is not None:
                if model.context_field == "meta.n_ctx_train":
                    entry["meta"] = {"n_ctx_train": model.context_length, "n_params": 7_000_000_000}
                else:
                    entry[model.context_field] = model.context_length
            data.append(entry)
        self._send(200, {"object": "list", "data": data})

    def _embeddings(self, body: dict[str, Any]) -> None:
        model = self._model_for(body, embedding=True)
        if model is None:
            return
        given = body.get("input")
        texts = [given] if isinstance(given, str) else given
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            self._error(
                400,
                error_body(
                    "'input' must be a string or a list of strings",
                    "invalid_request_error",
                    None,
                    "input",
                ),
            )
            return
        data = [
            {"object": "embedding", "index": index, "embedding": embed_text(text)}
            for index, text in enumerate(texts)
        ]
        data.reverse()  # clients must order by index, not by position
        used = sum(len(t.split()) for t in texts)
        self._send(
            200,
            {
                "object": "list",
                "data": data,
                "model": model.id,
                "usage": {"prompt_tokens": used, "total_tokens": used},
            },
        )

    def _chat(self, body: dict[str, Any]) -> None:
        model = self._model_for(body, embedding=False)
        if model is None:
            return
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            self._error(
                400,
                error_body(
                    "'messages' must be a non-empty array",
                    "invalid_request_error",
                    None,
                    "messages",
                ),
            )
            return
        reply = compose_reply(messages)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        answer_tokens = tokens(reply.answer)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(answer_tokens),
            "total_tokens": prompt_tokens + len(answer_tokens),
        }
        created = int(time.time())
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": reply.answer}
            if model.reasoning:
                message["reasoning_content"] = reply.thinking
            self._send(
                200,
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": created,
                    "model": model.id,
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": usage,
                },
            )
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self._stream(
            model,
            reply.thinking if model.reasoning else "",
            answer_tokens,
            usage if include_usage else None,
            created,
        )

    def _stream(
        self,
        model: OpenAIModel,
        thinking: str,
        answer_tokens: list[str],
        usage: dict[str, int] | None,
        created: int,
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        faults = self.app.faults

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model.id,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        def events() -> Iterator[Any]:
            yield chunk({"role": "assistant", "content": ""})
            for piece in tokens(thinking):
                yield chunk({"reasoning_content": piece})
            for number, piece in enumerate(answer_tokens):
                if faults.cut_stream_after is not None and number >= faults.cut_stream_after:
                    yield None  # cut
                    return
                if faults.error_after is not None and number >= faults.error_after:
                    yield error_body("The model crashed while generating.", "server_error")
                    return
                yield chunk({"content": piece})
            yield chunk({}, "stop")
            if usage is not None:
                yield {**chunk({}), "choices": [], "usage": usage}
            yield "[DONE]"

        try:
            for event in events():
                if event is None:
                    return  # the connection closes without [DONE]
                data = event if isinstance(event, str) else json.dumps(event)
                self.wfile.write(f"data: {data}\n\n".encode())
                self.wfile.flush()
                if faults.token_delay:
                    time.sleep(faults.token_delay)
        except (BrokenPipeError, ConnectionResetError):
            return
