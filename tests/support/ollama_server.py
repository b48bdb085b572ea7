"""A real HTTP server speaking Ollama's REST protocol, for tests and benchmarks.

No Ollama can run in CI, so the app is tested against this stand-in on loopback
through the real ``ollama`` client over real HTTP. It follows Ollama's API
(docs/api.md and server/routes.go): NDJSON streams sent with chunked transfer
encoding, ``message.thinking`` for thinking models, a final ``done`` line with
``done_reason`` and the timing/count fields, ``{"error": ...}`` bodies with the
status codes Ollama uses, and ``stream: false`` answered with one JSON object.

The fake models answer deterministically but with meaning, so retrieval and
citation tests are real:

* Embeddings hash stemmed, non-stopword terms (and term bigrams) into signed
  buckets and L2-normalise, so texts sharing words are closer than unrelated ones.
* Chat reads numbered sources from the system messages and the last user
  message: a line starting with ``[n]`` opens source *n*, whose text runs until
  the next ``[n]`` line, a ``Question:`` line, or the end of that message. The
  question is the text after a ``Question:`` line in the last user message; if
  there is none and that message holds sources, its last paragraph (after a
  blank line); otherwise the whole last user message. The answer is the source
  sentence sharing the most terms with the question, followed by `` [n]``.
  Without sources the answer is a short sentence echoing the question's words.

Faults (``server.faults``) switch on failures mid-test: HTTP 500s, slow first
tokens, streams cut without ``done``, malformed lines, models that vanished.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from typing import Any, ClassVar

import orjson

OLLAMA_VERSION = "0.12.3"

# Hooks that put real models behind the protocol (benchmarks): the embedder maps texts
# to vectors; the generator maps (chat messages, request options) to the answer text.
Embedder = Callable[[list[str]], list[list[float]]]
Generator = Callable[[list[dict[str, Any]], dict[str, Any]], str]
EMBEDDING_DIMENSIONS = 768

# Messages exactly as Ollama words them (server/routes.go).
RUNNER_CRASH_MESSAGE = "llama runner process has terminated: exit status 2"
PULL_UNKNOWN_MESSAGE = "pull model manifest: file does not exist"


def model_not_found_message(name: str) -> str:
    return f'model "{name}" not found, try pulling it first'


def canonical_name(name: str) -> str:
    """Ollama's matching: case-insensitive, and a missing tag means ``latest``."""
    name = name.strip().lower()
    last_part = name.rsplit("/", 1)[-1]
    return name if ":" in last_part else f"{name}:latest"


# --- Models -----------------------------------------------------------------


@dataclass(frozen=True)
class FakeModel:
    """One model the server can hold; its capabilities decide what it accepts."""

    name: str
    family: str
    capabilities: tuple[str, ...]
    parameter_size: str = "1B"
    context_length: int = 8192
    embedding_length: int = 2048
    size_bytes: int = 1_000_000_000
    # Older Ollama servers did not parse thinking: deepseek-r1 then wrote
    # "<think>...</think>" into the content and did not report the capability.
    thinks_in_content_tags: bool = False

    @property
    def can_chat(self) -> bool:
        return "completion" in self.capabilities

    @property
    def can_think(self) -> bool:
        return "thinking" in self.capabilities

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()


DEEPSEEK_R1 = FakeModel(
    "deepseek-r1:latest",
    "qwen2",
    ("completion", "thinking"),
    parameter_size="7.6B",
    context_length=131072,
    embedding_length=3584,
    size_bytes=4_683_075_271,
)
LEGACY_R1 = replace(
    DEEPSEEK_R1, name="legacy-r1:latest", capabilities=("completion",), thinks_in_content_tags=True
)
LLAMA_3_2 = FakeModel(
    "llama3.2:latest",
    "llama",
    ("completion", "tools"),
    parameter_size="3.2B",
    context_length=131072,
    embedding_length=3072,
    size_bytes=2_019_393_189,
)
NOMIC_EMBED_TEXT = FakeModel(
    "nomic-embed-text:latest",
    "nomic-bert",
    ("embedding",),
    parameter_size="137M",
    context_length=2048,
    embedding_length=EMBEDDING_DIMENSIONS,
    size_bytes=274_302_450,
)
QWEN3_0_6B = FakeModel(
    "qwen3:0.6b",
    "qwen3",
    ("completion", "tools", "thinking"),
    parameter_size="751.63M",
    context_length=40960,
    embedding_length=1024,
    size_bytes=522_653_767,
)
# A small embedding model whose name does not say "embed" (a name filter lets it through).
ALL_MINILM = FakeModel(
    "all-minilm:latest",
    "bert",
    ("embedding",),
    parameter_size="23M",
    context_length=512,
    embedding_length=384,
    size_bytes=45_960_996,
)

DEFAULT_MODELS: tuple[FakeModel, ...] = (DEEPSEEK_R1, LEGACY_R1, LLAMA_3_2, NOMIC_EMBED_TEXT)
DEFAULT_PULLABLE: tuple[FakeModel, ...] = (*DEFAULT_MODELS, QWEN3_0_6B)


# --- The fake model's "mind": terms, embeddings, answers ----------------------

_STOPWORD_TEXT = """a an the and or but if of to in on at by for with from as is are was were be
been being it its this that these those what which who whom whose when where why how do does did
have has had i you he she we they them his her our your their my me us not no so than then there
here into about over under can could should would will shall may might must also just only very
more most such any all each some other please tell"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"[a-z0-9]+")
_SOURCE_MARKER = re.compile(r"^\s*\[(\d+)\]\s?(.*)$")
_QUESTION_LABEL = re.compile(r"^\s*(?:user question|question|query)\s*:\s*(.*)$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_TOKEN = re.compile(r"\s*\S+")
# nomic-embed-text reads these as task instructions, not as content.
_TASK_PREFIX = re.compile(
    r"^\s*(?:search_query|search_document|clustering|classification)\s*:\s*", re.IGNORECASE
)


def _stem(word: str) -> str:
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith("ed"):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def content_words(text: str) -> list[str]:
    """Lowercased words that carry meaning (stopwords dropped), unstemmed."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def terms(text: str) -> list[str]:
    """Stemmed content words: what embeddings and answers compare."""
    return [_stem(w) for w in content_words(text)]


def embed_text(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """A deterministic unit vector; texts sharing terms point the same way."""
    text_terms = terms(_TASK_PREFIX.sub("", text, count=1))
    features = [(t, 1.0) for t in text_terms]
    features += [(f"{a} {b}", 0.5) for a, b in pairwise(text_terms)]
    if not features:
        features = [("\x00empty", 1.0)]
    vector = [0.0] * dimensions
    for feature, weight in features:
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        bucket = int.from_bytes(digest[:4], "big") % dimensions
        vector[bucket] += weight if digest[4] & 1 else -weight
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


@dataclass(frozen=True)
class Source:
    number: int
    text: str


def parse_sources(text: str) -> list[Source]:
    """Numbered ``[n]`` sources in *text*; see the module docstring for the format."""
    sources: list[Source] = []
    number: int | None = None
    lines: list[str] = []
    for line in text.splitlines():
        marker = _SOURCE_MARKER.match(line)
        if marker or _QUESTION_LABEL.match(line):
            if number is not None:
                sources.append(Source(number, "\n".join(lines).strip()))
            number, lines = (int(marker.group(1)), [marker.group(2)]) if marker else (None, [])
        elif number is not None:
            lines.append(line)
    if number is not None:
        sources.append(Source(number, "\n".join(lines).strip()))
    return sources


def split_question(message: str) -> tuple[str, str]:
    """(context, question) of the last user message."""
    lines = message.splitlines()
    for index in range(len(lines) - 1, -1, -1):
        label = _QUESTION_LABEL.match(lines[index])
        if label:
            question = "\n".join([label.group(1), *lines[index + 1 :]]).strip()
            return "\n".join(lines[:index]), question
    if parse_sources(message):
        paragraphs = re.split(r"\n\s*\n", message.strip())
        if len(paragraphs) > 1 and not _SOURCE_MARKER.match(paragraphs[-1]):
            return "\n\n".join(paragraphs[:-1]), paragraphs[-1].strip()
        return message, ""
    return "", message.strip()


def sentences(text: str) -> Iterator[str]:
    for line in text.splitlines():
        for sentence in _SENTENCE_END.split(line.strip()):
            if sentence.strip():
                yield sentence.strip()


@dataclass(frozen=True)
class Reply:
    thinking: str
    answer: str


def compose_reply(messages: Sequence[Mapping[str, Any]]) -> Reply:
    """What the fake model thinks and answers to a conversation."""
    system_text = "\n".join(
        str(m.get("content") or "") for m in messages if m.get("role") == "system"
    )
    user_messages = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
    user_context, question = split_question(user_messages[-1] if user_messages else "")
    sources = parse_sources(system_text) + parse_sources(user_context)
    keywords = list(dict.fromkeys(content_words(question)))[:8]
    topic = ", ".join(keywords) or "nothing in particular"
    if not sources:
        answer = (
            f"You asked about {topic}. This is a test answer from the fake model."
            if keywords
            else "Hello! This is a test answer from the fake model."
        )
        return Reply(f"The question is about {topic}. I will answer briefly.", answer)

    question_terms = set(terms(question))
    best_score, best_answer = 0, "The provided sources do not answer this question."
    for source in sources:
        for sentence in sentences(source.text):
            score = len(question_terms & set(terms(sentence)))
            if score > best_score:
                best_score, best_answer = score, f"{sentence} [{source.number}]"
    thinking = f"The question is about {topic}. I will look for it in the numbered sources."
    return Reply(thinking, best_answer)


def tokens(text: str) -> list[str]:
    """Word-sized pieces with their leading whitespace; they join back to *text*."""
    return _TOKEN.findall(text)


# --- Recording and faults -----------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    body: Any  # the parsed JSON body, or None when there was none


@dataclass
class StreamRecord:
    """What happened to one streamed answer, as the server saw it."""

    path: str
    model: str
    tokens_sent: int = 0
    completed: bool = False
    client_disconnected: bool = False
    finished: threading.Event = field(default_factory=threading.Event)


@dataclass
class Faults:
    """Failures to switch on mid-test; read by the server on every request."""

    status_500: bool = False  # chat, generate and embed answer 500 {"error": ...}
    first_token_delay: float = 0.0  # seconds before the first streamed line
    token_delay: float = 0.0  # seconds between streamed lines
    # Close the connection abruptly after N content tokens (or all, if fewer), never sending
    # the done line; thinking tokens are not counted.
    cut_stream_after: int | None = None
    malformed_line_after: int | None = None  # a non-JSON line after N content tokens (or all)
    # After N content tokens (or all), an {"error": ...} line ends the stream, as Ollama
    # reports a runner that died mid-answer.
    error_after: int | None = None
    missing_models: set[str] = field(default_factory=set)  # gone, as if removed after listing
    embed_delay: float = 0.0  # seconds before answering /api/embed
    pull_step_delay: float = 0.0  # seconds between the progress lines of /api/pull


@dataclass
class _LoadedModel:
    model: FakeModel
    context_length: int
    expires_at: datetime


def _timestamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- HTTP ---------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() closes the connections itself instead of waiting on them
    app: OllamaTestServer

    def __init__(self, address: tuple[str, int], app: OllamaTestServer) -> None:
        self.app = app
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.open_connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client hung up; that is normal for a test server
        super().handle_error(request, client_address)

    def drop_open_connections(self) -> None:
        """Close kept-alive connections too, so a stopped server is really gone."""
        with self.connections_lock:
            connections = list(self.open_connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _ClientGone(Exception):
    """The client closed the connection while we were streaming."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    ROUTES: ClassVar[dict[str, dict[str, str]]] = {
        "/": {"GET": "_root", "HEAD": "_root"},
        "/api/version": {"GET": "_version", "HEAD": "_version"},
        "/api/tags": {"GET": "_tags", "HEAD": "_tags"},
        "/api/ps": {"GET": "_ps"},
        "/api/show": {"POST": "_show"},
        "/api/pull": {"POST": "_pull"},
        "/api/chat": {"POST": "_chat"},
        "/api/generate": {"POST": "_generate"},
        "/api/embed": {"POST": "_embed"},
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    @property
    def app(self) -> OllamaTestServer:
        return self.server.app

    @property
    def faults(self) -> Faults:
        return self.server.app.faults

    # -- plumbing --

    def _dispatch(self) -> None:
        path = self.path.split("?", 1)[0]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw.strip() else None
        except json.JSONDecodeError as error:
            self.app._record(RecordedRequest(self.command, path, None))
            self._send_error(400, f"invalid JSON: {error}")
            return
        self.app._record(RecordedRequest(self.command, path, body))
        with contextlib.suppress(_ClientGone):
            self._route(path, body)

    def _route(self, path: str, body: Any) -> None:
        methods = self.ROUTES.get(path)
        if methods is None:
            self._send_bytes(404, b"404 page not found", "text/plain")
            return
        handler_name = methods.get(self.command)
        if handler_name is None:
            self._send_bytes(405, b"405 method not allowed", "text/plain")
            return
        if self.command == "POST" and not isinstance(body, dict):
            self._send_error(400, "missing request body")
            return
        getattr(self, handler_name)(body if isinstance(body, dict) else {})

    def _send_bytes(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _send_json(self, status: int, payload: Any) -> None:
        self._send_bytes(status, json.dumps(payload).encode(), "application/json; charset=utf-8")

    def _send_error(self, status: int, message: str) -> None:
        self._send_json(status, {"error": message})

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.app._stopping.wait(seconds)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _send_chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        except OSError as error:
            self.close_connection = True
            raise _ClientGone from error

    def _send_line(self, payload: Any) -> None:
        self._send_chunk(json.dumps(payload).encode() + b"\n")

    def _end_stream(self) -> None:
        self._send_chunk(b"")  # the zero-length chunk ends the body

    def _cut_connection(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _find_model(self, name: str) -> FakeModel | None:
        return self.app._find_model(name)

    # -- general --

    def _root(self, body: dict[str, Any]) -> None:
        self._send_bytes(200, b"Ollama is running", "text/plain; charset=utf-8")

    def _version(self, body: dict[str, Any]) -> None:
        self._send_json(200, {"version": self.app.version})

    def _tags(self, body: dict[str, Any]) -> None:
        models = [
            {
                "name": model.name,
                "model": model.name,
                "modified_at": modified_at.isoformat(),
                "size": model.size_bytes,
                "digest": model.digest,
                "details": self._details(model),
            }
            for model, modified_at in self.app._installed_snapshot()
        ]
        models.reverse()  # most recently modified first, as Ollama lists them
        self._send_json(200, {"models": models})

    def _ps(self, body: dict[str, Any]) -> None:
        models = [
            {
                "name": loaded.model.name,
                "model": loaded.model.name,
                "size": loaded.model.size_bytes,
                "digest": loaded.model.digest,
                "details": self._details(loaded.model),
                "expires_at": loaded.expires_at.isoformat(),
                "size_vram": loaded.model.size_bytes,
                "context_length": loaded.context_length,
            }
            for loaded in self.app._loaded_snapshot()
        ]
        self._send_json(200, {"models": models})

    @staticmethod
    def _details(model: FakeModel) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": model.family,
            "families": [model.family],
            "parameter_size": model.parameter_size,
            "quantization_level": "F16" if "embedding" in model.capabilities else "Q4_K_M",
        }

    def _show(self, body: dict[str, Any]) -> None:
        requested = str(body.get("model") or body.get("name") or "")
        if not requested:
            self._send_error(400, "model is required")
            return
        model = self._find_model(requested)
        if model is None:
            self._send_error(404, f"model '{requested}' not found")
            return
        family = model.family
        template = "{{ if .System }}{{ .System }}\n{{ end }}{{ .Prompt }}"
        self._send_json(
            200,
            {
                "license": "Test license.",
                "modelfile": (
                    '# Modelfile generated by "ollama show"\n'
                    f"FROM /models/blobs/sha256-{model.digest}\n"
                    f'TEMPLATE """{template}"""\n'
                ),
                "parameters": 'stop                           "<|end|>"',
                "template": template,
                "details": self._details(model),
                "model_info": {
                    "general.architecture": family,
                    "general.file_type": 15,
                    "general.parameter_count": model.size_bytes * 2,
                    f"{family}.context_length": model.context_length,
                    f"{family}.embedding_length": model.embedding_length,
                },
                "capabilities": list(model.capabilities),
                "modified_at": datetime.now(UTC).isoformat(),
            },
        )

    def _pull(self, body: dict[str, Any]) -> None:
        requested = str(body.get("model") or body.get("name") or "")
        streaming = body.get("stream", True) is not False
        model = self.app._pullable_model(requested)
        if model is None:
            if not streaming:
                self._send_error(500, PULL_UNKNOWN_MESSAGE)
                return
            self._start_stream()
            self._send_line({"status": "pulling manifest"})
            self._send_line({"error": PULL_UNKNOWN_MESSAGE})
            self._end_stream()
            return
        if streaming:
            self._start_stream()
            for status in self._pull_progress(model):
                self._send_line(status)
                self._wait(self.faults.pull_step_delay)
        self.app._install(model)
        if streaming:
            self._send_line({"status": "success"})
            self._end_stream()
        else:
            self._send_json(200, {"status": "success"})

    @staticmethod
    def _pull_progress(model: FakeModel) -> Iterator[dict[str, Any]]:
        yield {"status": "pulling manifest"}
        layers = [model.digest, hashlib.sha256(model.digest.encode()).hexdigest()]
        sizes = [model.size_bytes - 1_000, 1_000]
        for digest, total in zip(layers, sizes, strict=True):
            for completed in (0, total // 2, total):
                yield {
                    "status": f"pulling {digest[:12]}",
                    "digest": f"sha256:{digest}",
                    "total": total,
                    "completed": completed,
                }
        yield {"status": "verifying sha256 digest"}
        yield {"status": "writing manifest"}

    # -- inference --

    def _model_for_inference(self, body: dict[str, Any], action: str) -> FakeModel | None:
        """The model to run, or None after answering with Ollama's error."""
        requested = str(body.get("model") or "")
        if not requested:
            self._send_error(400, "model is required")
            return None
        model = self._find_model(requested)
        if model is None:
            self._send_error(404, model_not_found_message(requested))
            return None
        if action == "embed":
            return model
        if body.get("think") and not model.can_think:
            self._send_error(400, f'"{requested}" does not support thinking')
            return None
        if not model.can_chat:
            self._send_error(400, f'"{requested}" does not support {action}')
            return None
        return model

    def _chat(self, body: dict[str, Any]) -> None:
        self._complete(body, "chat")

    def _generate(self, body: dict[str, Any]) -> None:
        self._complete(body, "generate")

    def _complete(self, body: dict[str, Any], action: str) -> None:
        started = time.monotonic_ns()
        model = self._model_for_inference(body, action)
        if model is None:
            return
        if self.faults.status_500:
            self._send_error(500, RUNNER_CRASH_MESSAGE)
            return
        options = body.get("options")
        self.app._mark_loaded(model, options.get("num_ctx") if isinstance(options, dict) else None)
        requested = str(body["model"])
        if action == "chat":
            messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        else:
            messages = [{"role": "system", "content": body.get("system") or ""}]
            if body.get("prompt"):
                messages.append({"role": "user", "content": body["prompt"]})
        if not any(m.get("role") == "user" for m in messages) and not (
            action == "chat" and messages
        ):
            loaded_reply = self._envelope(requested, action, "", "")
            self._send_json(200, loaded_reply | {"done_reason": "load", "done": True})
            return

        generator = self.app.generator
        if generator is None:
            reply = compose_reply(messages)
        else:
            reply = Reply("", generator(messages, options if isinstance(options, dict) else {}))
        pieces = self._pieces(model, reply, body.get("think"))
        prompt_tokens = sum(len(tokens(str(m.get("content") or ""))) for m in messages)
        self._wait(self.faults.first_token_delay)
        loaded = time.monotonic_ns()

        if body.get("stream", True) is False:
            thinking = "".join(text for kind, text in pieces if kind == "thinking")
            content = "".join(text for kind, text in pieces if kind == "content")
            final = self._envelope(requested, action, content, thinking)
            final |= self._done_fields(started, loaded, prompt_tokens, len(pieces), action)
            self._send_json(200, final)
            return

        record = self.app._new_stream(self.path, requested)
        try:
            self._start_stream()
            self._stream_pieces(requested, action, pieces, record)
            if record.completed:
                done = self._envelope(requested, action, "", "")
                done |= self._done_fields(started, loaded, prompt_tokens, len(pieces), action)
                self._send_line(done)
                self._end_stream()
        except _ClientGone:
            record.client_disconnected = True
            record.completed = False
        finally:
            record.finished.set()

    @staticmethod
    def _pieces(model: FakeModel, reply: Reply, think: Any) -> list[tuple[str, str]]:
        """(field, text) for each streamed token: field is "thinking" or "content"."""
        answer = [("content", token) for token in tokens(reply.answer)]
        if model.thinks_in_content_tags:
            # Tags split across tokens on purpose: clients must parse them statefully.
            opening = [("content", "<th"), ("content", "ink>\n")]
            closing = [("content", "\n</thi"), ("content", "nk>\n\n")]
            thought = [("content", token) for token in tokens(reply.thinking)]
            return opening + thought + closing + answer
        if model.can_think and think is not False:
            # Ollama >= 0.12 turns thinking on by default for models that can think.
            return [("thinking", token) for token in tokens(reply.thinking)] + answer
        return answer

    def _stream_pieces(
        self, requested: str, action: str, pieces: list[tuple[str, str]], record: StreamRecord
    ) -> None:
        content_sent = 0
        malformed_sent = False
        for kind, text in [*pieces, ("end", "")]:
            if self.app._stopping.is_set():
                # A server stopped mid-answer drops the connection, as a killed Ollama does.
                self._cut_connection()
                return
            if kind in ("content", "end"):
                # Past the last token ("end") a fault still fires, before the done line.
                cut_after = self.faults.cut_stream_after
                if cut_after is not None and (content_sent >= cut_after or kind == "end"):
                    self._cut_connection()
                    return
                malformed_after = self.faults.malformed_line_after
                if (
                    malformed_after is not None
                    and (content_sent >= malformed_after or kind == "end")
                    and not malformed_sent
                ):
                    self._send_chunk(b'{"model": "' + requested.encode() + b'", "message": {\n')
                    malformed_sent = True
                error_after = self.faults.error_after
                if error_after is not None and (content_sent >= error_after or kind == "end"):
                    self._send_line({"error": RUNNER_CRASH_MESSAGE})
                    self._end_stream()
                    return
            if kind == "end":
                break
            if record.tokens_sent:
                self._wait(self.faults.token_delay)
            content, thinking = (text, "") if kind == "content" else ("", text)
            self._send_line(self._envelope(requested, action, content, thinking))
            record.tokens_sent += 1
            content_sent += kind == "content"
        record.completed = True

    @staticmethod
    def _envelope(model: str, action: str, content: str, thinking: str) -> dict[str, Any]:
        line: dict[str, Any] = {"model": model, "created_at": _timestamp()}
        if action == "chat":
            message: dict[str, Any] = {"role": "assistant", "content": content}
            if thinking:
                message["thinking"] = thinking
            line["message"] = message
        else:
            line["response"] = content
            if thinking:
                line["thinking"] = thinking
        line["done"] = False
        return line

    @staticmethod
    def _done_fields(
        started: int, loaded: int, prompt_tokens: int, eval_count: int, action: str
    ) -> dict[str, Any]:
        now = time.monotonic_ns()
        fields: dict[str, Any] = {
            "done_reason": "stop",
            "done": True,
            "total_duration": now - started,
            "load_duration": loaded - started,
            "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": max(1, (now - loaded) // 10),
            "eval_count": eval_count,
            "eval_duration": max(1, now - loaded),
        }
        if action == "generate":
            fields["context"] = list(range(1, prompt_tokens + eval_count + 1))
        return fields

    def _embed(self, body: dict[str, Any]) -> None:
        started = time.monotonic_ns()
        model = self._model_for_inference(body, "embed")
        if model is None:
            return
        raw_input = body.get("input")
        if isinstance(raw_input, str):
            texts = [raw_input] if raw_input else []
        elif isinstance(raw_input, list) and all(isinstance(t, str) for t in raw_input):
            texts = list(raw_input)
        elif raw_input is None:
            texts = []
        else:
            self._send_error(400, "invalid input type")
            return
        if self.faults.status_500:
            self._send_error(500, RUNNER_CRASH_MESSAGE)
            return
        self.app._mark_loaded(model, None)
        self._wait(self.faults.embed_delay)
        loaded = time.monotonic_ns()
        dimensions = model.embedding_length
        if isinstance(body.get("dimensions"), int) and 0 < body["dimensions"] < dimensions:
            dimensions = body["dimensions"]
        # orjson, as Ollama's Go encoder, writes compact JSON; json.dumps of the floats
        # cost more CPU than the app's whole decoding, on the same two cores.
        answer = orjson.dumps(
            {
                "model": body["model"],
                "embeddings": (
                    [embed_text(text, dimensions) for text in texts]
                    if self.app.embedder is None
                    else self.app.embedder(texts)
                ),
                "total_duration": time.monotonic_ns() - started,
                "load_duration": loaded - started,
                "prompt_eval_count": sum(len(tokens(text)) for text in texts),
            }
        )
        self._send_bytes(200, answer, "application/json; charset=utf-8")


# --- The server -----------------------------------------------------------------


class OllamaTestServer:
    """Ollama's REST API on ``127.0.0.1:<free port>`` in a background thread.

    ``models`` are installed at start (default: deepseek-r1, legacy-r1, llama3.2 and
    nomic-embed-text); ``pullable`` are what ``/api/pull`` can fetch, given as
    models or as a mapping from the name to pull to the model. ``embedder`` and
    ``generator``, when given, replace the fake models' embeddings and answers
    (the benchmarks serve real models this way); they may be called from several
    handler threads at once.
    """

    def __init__(
        self,
        models: Iterable[FakeModel] | None = None,
        *,
        pullable: Mapping[str, FakeModel] | Iterable[FakeModel] | None = None,
        version: str = OLLAMA_VERSION,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
    ) -> None:
        self.version = version
        self.embedder = embedder
        self.generator = generator
        self.faults = Faults()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._requests: list[RecordedRequest] = []
        self._streams: list[StreamRecord] = []
        self._installed: dict[str, tuple[FakeModel, datetime]] = {}
        self._loaded: dict[str, _LoadedModel] = {}
        base = datetime.now(UTC) - timedelta(days=1)
        for offset, model in enumerate(DEFAULT_MODELS if models is None else models):
            self._installed[canonical_name(model.name)] = (model, base + timedelta(seconds=offset))
        if pullable is None:
            pullable = DEFAULT_PULLABLE
        if isinstance(pullable, Mapping):
            pullable = [replace(model, name=name) for name, model in pullable.items()]
        self._pullable = {canonical_name(model.name): model for model in pullable}
        self._http: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._url = ""

    # -- lifecycle --

    def start(self) -> OllamaTestServer:
        if self._http is not None:
            raise RuntimeError("the server is already running")
        self._stopping.clear()
        self._http = _HTTPServer(("127.0.0.1", 0), self)
        port = self._http.server_address[1]
        self._url = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"ollama-test-server-{port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; afterwards the URL refuses connections."""
        http, thread = self._http, self._thread
        if http is None:
            return
        self._stopping.set()  # wakes handlers sleeping on a fault delay
        http.shutdown()
        http.drop_open_connections()
        http.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._http = self._thread = None

    def __enter__(self) -> OllamaTestServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if not self._url:
            raise RuntimeError("start() the server first")
        return self._url

    # -- what tests inspect --

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == path]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    @property
    def streams(self) -> list[StreamRecord]:
        with self._lock:
            return list(self._streams)

    @property
    def installed_models(self) -> list[str]:
        return [model.name for model, _ in self._installed_snapshot()]

    # -- state shared with the handler threads --

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _new_stream(self, path: str, model: str) -> StreamRecord:
        record = StreamRecord(path=path.split("?", 1)[0], model=model)
        with self._lock:
            self._streams.append(record)
        return record

    def _is_missing(self, name: str) -> bool:
        return canonical_name(name) in {canonical_name(m) for m in self.faults.missing_models}

    def _find_model(self, name: str) -> FakeModel | None:
        with self._lock:
            entry = self._installed.get(canonical_name(name))
        if entry is None or self._is_missing(name):
            return None
        return entry[0]

    def _installed_snapshot(self) -> list[tuple[FakeModel, datetime]]:
        with self._lock:
            entries = list(self._installed.values())
        entries = [entry for entry in entries if not self._is_missing(entry[0].name)]
        return sorted(entries, key=lambda entry: entry[1])

    def _pullable_model(self, name: str) -> FakeModel | None:
        return self._pullable.get(canonical_name(name)) if name else None

    def _install(self, model: FakeModel) -> None:
        key = canonical_name(model.name)
        with self._lock:
            self._installed[key] = (model, datetime.now(UTC))
        self.faults.missing_models = {
            name for name in self.faults.missing_models if canonical_name(name) != key
        }

    def _mark_loaded(self, model: FakeModel, num_ctx: Any) -> None:
        context_length = num_ctx if isinstance(num_ctx, int) and num_ctx > 0 else 4096
        expires_at = datetime.now(UTC) + timedelta(minutes=5)
        with self._lock:
            self._loaded[canonical_name(model.name)] = _LoadedModel(
                model, context_length, expires_at
            )

    def _loaded_snapshot(self) -> list[_LoadedModel]:
        with self._lock:
            loaded = list(self._loaded.values())
        return [entry for entry in loaded if not self._is_missing(entry.model.name)]
