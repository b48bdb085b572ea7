"""Configuration: environment over the settings file over defaults.

``AppConfig.from_env()`` is the one place that reads configuration. The settings
file is JSON in the user's config folder (``allma settings path`` prints it); the
GUI writes it through ``save_settings``. Every value is validated here so a bad
one fails early with the variable's name and what it accepts.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from platformdirs import user_config_dir, user_data_dir, user_log_dir

from allma_desktop.errors import ConfigError

APP_NAME = "allma-desktop"
SETTINGS_FILE_NAME = "settings.json"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
VECTOR_STORES = ("chroma", "chroma-http", "faiss", "qdrant")
PROVIDERS = ("ollama", "openai-compatible")  # for chat (LLM_PROVIDER) and for embeddings
MAX_CONNECT_TIMEOUT = 300.0  # seconds
MAX_READ_TIMEOUT = 3600.0
OCR_LANGUAGE_CODE = re.compile(r"[a-z][a-z0-9]{1,7}(_[a-z0-9]{2,8})*")  # eng, deu, chi_sim


def default_config_dir() -> Path:
    return Path(os.environ.get("ALLMA_CONFIG_DIR") or user_config_dir(APP_NAME, appauthor=False))


def default_data_dir() -> Path:
    return Path(os.environ.get("ALLMA_DATA_DIR") or user_data_dir(APP_NAME, appauthor=False))


def default_log_dir() -> Path:
    return Path(os.environ.get("ALLMA_LOG_DIR") or user_log_dir(APP_NAME, appauthor=False))


def settings_path() -> Path:
    return default_config_dir() / SETTINGS_FILE_NAME


@dataclass(frozen=True)
class AppConfig:
    """Everything the engine needs to know; immutable, replaced as a whole on change."""

    ollama_host: str = "http://localhost:11434"
    ollama_model: str = "deepseek-r1:latest"
    ollama_embedding_model: str = "nomic-embed-text:latest"
    data_dir: Path = field(default_factory=default_data_dir)
    vector_store_path: Path | None = None  # None: <data_dir>/vectors
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    log_level: str = "INFO"
    # Retrieval and generation.
    chunk_size: int = 1000
    chunk_overlap: int = 150
    top_k: int = 5
    hybrid_search: bool = True
    # Opt-in: the rerank counts a question word the passages say in other words ("kids" /
    # "children") through the embedding model's vectors of their words; each search with
    # such a word embeds up to some 2,000 words once (rag.RetrievalSettings.related_words).
    related_words: bool = False
    temperature: float = 0.2
    context_length: int | None = None  # None: ask the model (/api/show), capped below
    think: bool = True
    system_prompt: str = ""
    # "Answer only from my documents": when nothing in them is relevant, say so and do
    # not ask the model at all (by default the model answers from general knowledge,
    # after a plain notice that the documents had nothing).
    documents_only: bool = False
    embed_batch_size: int = 32
    # Ollama may be on another machine: give up on an address that does not connect within
    # seconds, but wait minutes for data, since a large model can take that long to load.
    ollama_connect_timeout: float = 5.0
    request_timeout: float = 300.0  # each wait for data from Ollama (OLLAMA_READ_TIMEOUT)
    # Read pages without usable text (scans, broken fonts) and pictures with OCR, through
    # MuPDF's built-in Tesseract and the language data that ships with the app.
    ocr: bool = True
    # The languages OCR reads pages in, as Tesseract names them, joined by "+" ("eng+deu").
    # English comes with the app; others are added in Settings (``ocr_languages.py``).
    ocr_languages: str = "eng"
    # Where vectors live: embedded Chroma (default), a Chroma server, FAISS, or Qdrant.
    vector_store: str = "chroma"
    chroma_host: str = "localhost"
    chroma_port: int = 8000
    chroma_ssl: bool = False
    chroma_token: str = ""
    qdrant_url: str = ""  # empty: Qdrant's local on-disk mode under the data folder
    qdrant_api_key: str = ""
    # Extra headers on every request to Ollama (for an Ollama behind an authenticating proxy).
    ollama_headers: dict[str, str] = field(default_factory=dict)
    # Folders the local API may index files from by path (empty: the user's home folder).
    allowed_folders: tuple[str, ...] = ()
    # Which server answers chat and which embeds: Ollama (above), or any OpenAI-compatible
    # server (LM Studio, llama.cpp, vLLM, Jan, LocalAI) at its URL up to /v1. The models
    # are still ollama_model and ollama_embedding_model (LLM_MODEL / EMBEDDING_MODEL).
    llm_provider: str = "ollama"
    llm_base_url: str = ""
    llm_api_key: str = ""
    embedding_provider: str = "ollama"
    embedding_base_url: str = ""
    embedding_api_key: str = ""

    # --- derived paths -------------------------------------------------------

    @property
    def vectors_path(self) -> Path:
        return self.vector_store_path or self.data_dir / "vectors"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "allma.sqlite3"

    # --- loading -------------------------------------------------------------

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        settings_file: Path | None = None,
    ) -> AppConfig:
        """Environment variables override the settings file, which overrides defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        path = settings_file or settings_path()
        values.update(_read_settings_file(path))
        for variable, key in ENV_VARIABLES.items():
            raw = env.get(variable)
            if raw is not None and raw.strip() != "":
                values[key] = raw.strip()
        return cls.from_mapping(values, source=str(path))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], source: str = "settings") -> AppConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            logging.getLogger(__name__).warning(
                "Ignoring unknown settings in %s: %s", source, unknown
            )
        parsed = {key: _parse_value(key, value) for key, value in values.items() if key in known}
        config = cls(**parsed)
        config.validate()
        return config

    def with_changes(self, **changes: Any) -> AppConfig:
        parsed = {key: _parse_value(key, value) for key, value in changes.items()}
        config = replace(self, **parsed)
        config.validate()
        return config

    def validate(self) -> None:
        _check_url("OLLAMA_HOST", self.ollama_host)
        for variable, model in (
            ("OLLAMA_MODEL", self.ollama_model),
            ("OLLAMA_EMBEDDING_MODEL", self.ollama_embedding_model),
        ):
            if not model or any(ch.isspace() for ch in model):
                raise ConfigError(variable, model, "an Ollama model name such as 'llama3.2:latest'")
        if not 1 <= self.api_port <= 65535:
            raise ConfigError("API_PORT", self.api_port, "a port number from 1 to 65535")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError("LOG_LEVEL", self.log_level, ", ".join(LOG_LEVELS))
        if not 100 <= self.chunk_size <= 20_000:
            raise ConfigError("chunk_size", self.chunk_size, "a number of characters, 100 to 20000")
        if not 0 <= self.chunk_overlap < self.chunk_size // 2:
            raise ConfigError(
                "chunk_overlap", self.chunk_overlap, "0 up to half of chunk_size, in characters"
            )
        if not 1 <= self.top_k <= 50:
            raise ConfigError("top_k", self.top_k, "a number of sources from 1 to 50")
        if not 0.0 <= self.temperature <= 2.0:
            raise ConfigError("temperature", self.temperature, "a number from 0.0 to 2.0")
        if self.context_length is not None and self.context_length < 512:
            raise ConfigError(
                "context_length", self.context_length, "at least 512 tokens, or empty"
            )
        if not 1 <= self.embed_batch_size <= 1024:
            raise ConfigError("embed_batch_size", self.embed_batch_size, "1 to 1024")
        if not isinstance(self.ocr, bool):
            raise ConfigError("ocr", self.ocr, "true or false")
        codes = self.ocr_languages.split("+")
        if not self.ocr_languages or not all(OCR_LANGUAGE_CODE.fullmatch(code) for code in codes):
            raise ConfigError(
                "ALLMA_OCR_LANGUAGES",
                self.ocr_languages,
                "one or more Tesseract language codes joined by +, such as eng or eng+deu",
            )
        self._validate_timeouts()
        self._validate_vector_store()
        self._validate_providers()

    def _validate_providers(self) -> None:
        for prefix, provider, url, key in (
            ("LLM", self.llm_provider, self.llm_base_url, self.llm_api_key),
            ("EMBEDDING", self.embedding_provider, self.embedding_base_url, self.embedding_api_key),
        ):
            if provider not in PROVIDERS:
                raise ConfigError(f"{prefix}_PROVIDER", provider, ", ".join(PROVIDERS))
            if provider != "ollama" or url:
                if not url:
                    raise ConfigError(
                        f"{prefix}_BASE_URL",
                        url,
                        "the server's URL up to /v1, such as http://localhost:1234/v1 "
                        "(LM Studio) or http://localhost:8080/v1 (llama.cpp)",
                    )
                _check_url(f"{prefix}_BASE_URL", url, example="http://localhost:1234/v1")
            if any(ch.isspace() for ch in key):
                raise ConfigError(f"{prefix}_API_KEY", "(hidden)", "a key without spaces, or empty")

    @property
    def uses_ollama(self) -> bool:
        """Whether Ollama serves chat or embeddings (its address then matters)."""
        return "ollama" in (self.llm_provider, self.embedding_provider)

    def _validate_timeouts(self) -> None:
        # ``not a < x <= b`` also refuses NaN, which every comparison fails.
        if not 0 < self.ollama_connect_timeout <= MAX_CONNECT_TIMEOUT:
            raise ConfigError(
                "OLLAMA_CONNECT_TIMEOUT",
                self.ollama_connect_timeout,
                f"seconds to wait for Ollama to accept a connection, more than 0 and at most "
                f"{MAX_CONNECT_TIMEOUT:g} (5 suits most networks)",
            )
        if not 0 < self.request_timeout <= MAX_READ_TIMEOUT:
            raise ConfigError(
                "OLLAMA_READ_TIMEOUT",
                self.request_timeout,
                f"seconds to wait for Ollama's next data, more than 0 and at most "
                f"{MAX_READ_TIMEOUT:g} (allow for a large model loading: 300 is the default)",
            )

    def _validate_vector_store(self) -> None:
        if self.vector_store not in VECTOR_STORES:
            raise ConfigError("VECTOR_STORE", self.vector_store, ", ".join(VECTOR_STORES))
        host = self.chroma_host
        if not host or any(ch.isspace() or ch in "/:" for ch in host):
            raise ConfigError("CHROMA_HOST", host, "a host name or IP address such as localhost")
        if not 1 <= self.chroma_port <= 65535:
            raise ConfigError("CHROMA_PORT", self.chroma_port, "a port number from 1 to 65535")
        if any(ch.isspace() for ch in self.chroma_token):
            raise ConfigError("CHROMA_TOKEN", "(hidden)", "a token without spaces, or empty")
        if self.qdrant_url:
            _check_url("QDRANT_URL", self.qdrant_url, example="http://localhost:6333")
        if any(ch.isspace() for ch in self.qdrant_api_key):
            raise ConfigError("QDRANT_API_KEY", "(hidden)", "a key without spaces, or empty")
        for name, value in self.ollama_headers.items():
            if not _is_header_name(name) or any(ch in "\r\n" for ch in value):
                raise ConfigError(
                    "OLLAMA_HEADERS",
                    name,
                    "a JSON object of header names to values, such as "
                    '{"Authorization": "Bearer TOKEN"}',
                )

    # --- saving --------------------------------------------------------------

    def to_settings(self) -> dict[str, Any]:
        data = asdict(self)
        data["allowed_folders"] = list(self.allowed_folders)
        data["data_dir"] = str(self.data_dir)
        data["vector_store_path"] = str(self.vector_store_path) if self.vector_store_path else None
        return data


ENV_VARIABLES: dict[str, str] = {
    # The models by names that fit any provider; OLLAMA_MODEL & co. set the same and win.
    "LLM_MODEL": "ollama_model",
    "EMBEDDING_MODEL": "ollama_embedding_model",
    "OLLAMA_HOST": "ollama_host",
    "OLLAMA_MODEL": "ollama_model",
    "OLLAMA_EMBEDDING_MODEL": "ollama_embedding_model",
    # CHROMA_PERSIST_DIRECTORY is the seed's name; VECTOR_STORE_PATH wins when both are set.
    "CHROMA_PERSIST_DIRECTORY": "vector_store_path",
    "VECTOR_STORE_PATH": "vector_store_path",
    "ALLMA_DATA_DIR": "data_dir",
    "API_HOST": "api_host",
    "API_PORT": "api_port",
    "LOG_LEVEL": "log_level",
    "VECTOR_STORE": "vector_store",
    "CHROMA_HOST": "chroma_host",
    "CHROMA_PORT": "chroma_port",
    "CHROMA_SSL": "chroma_ssl",
    "CHROMA_TOKEN": "chroma_token",
    "QDRANT_URL": "qdrant_url",
    "QDRANT_API_KEY": "qdrant_api_key",
    "OLLAMA_HEADERS": "ollama_headers",
    "OLLAMA_CONNECT_TIMEOUT": "ollama_connect_timeout",
    "OLLAMA_READ_TIMEOUT": "request_timeout",
    "ALLMA_ALLOWED_FOLDERS": "allowed_folders",  # separated by os.pathsep (":" or ";")
    "ALLMA_DOCUMENTS_ONLY": "documents_only",
    "ALLMA_RELATED_WORDS": "related_words",
    "ALLMA_OCR_LANGUAGES": "ocr_languages",
    "LLM_PROVIDER": "llm_provider",
    "LLM_BASE_URL": "llm_base_url",
    "LLM_API_KEY": "llm_api_key",
    "EMBEDDING_PROVIDER": "embedding_provider",
    "EMBEDDING_BASE_URL": "embedding_base_url",
    "EMBEDDING_API_KEY": "embedding_api_key",
}

# Which variable name to blame when a key's value is bad.
_VARIABLE_FOR_KEY = {key: variable for variable, key in ENV_VARIABLES.items()}


def _variable(key: str) -> str:
    return _VARIABLE_FOR_KEY.get(key, key)


def _parse_value(key: str, value: Any) -> Any:
    if value is None:
        return None
    if key in {"data_dir", "vector_store_path"}:
        return Path(str(value)).expanduser()
    if key in {
        "api_port",
        "chunk_size",
        "chunk_overlap",
        "top_k",
        "embed_batch_size",
        "chroma_port",
    }:
        return _as_int(key, value)
    if key == "context_length":
        return None if str(value).strip() in {"", "auto"} else _as_int(key, value)
    if key in {"temperature", "request_timeout", "ollama_connect_timeout"}:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(_variable(key), value, "a number") from None
    if key in {"hybrid_search", "think", "ocr", "chroma_ssl", "documents_only", "related_words"}:
        return _as_bool(key, value)
    if key == "log_level":
        return str(value).upper()
    if key == "ollama_host":
        return _normalise_host(str(value))
    if key in {"vector_store", "llm_provider", "embedding_provider"}:
        return str(value).strip().lower()
    if key in {"llm_base_url", "embedding_base_url"}:
        return str(value).strip().rstrip("/")
    if key == "qdrant_url":
        return str(value).strip().rstrip("/")
    if key == "ollama_headers":
        return _as_headers(value)
    if key == "ocr_languages":  # "eng, deu" and "eng deu" read as "eng+deu"
        parts = str(value).replace(",", "+").replace(" ", "+").lower().split("+")
        return "+".join(dict.fromkeys(part for part in parts if part))
    if key == "allowed_folders":
        return _as_folders(value)
    return str(value)


def _as_folders(value: Any) -> tuple[str, ...]:
    """A list of folders (settings file) or one string separated by ``os.pathsep`` (env)."""
    items = value.split(os.pathsep) if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ConfigError("ALLMA_ALLOWED_FOLDERS", value, "a list of folders")
    return tuple(item.strip() for item in items if item.strip())


def _as_headers(value: Any) -> dict[str, str]:
    """Headers come as a mapping (settings file) or as a JSON object (OLLAMA_HEADERS)."""
    accepted = 'a JSON object of header names to values, such as {"Authorization": "Bearer TOKEN"}'
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError:
            raise ConfigError("OLLAMA_HEADERS", "(not JSON)", accepted) from None
    if not isinstance(value, Mapping) or not all(
        isinstance(name, str) and isinstance(text, str) for name, text in value.items()
    ):
        raise ConfigError("OLLAMA_HEADERS", "(not an object of strings)", accepted)
    return dict(value)


def _is_header_name(name: str) -> bool:
    # RFC 9110 token characters: a name outside them would be refused by httpx anyway.
    allowed = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return bool(name) and all(ch in allowed for ch in name)


def _as_int(key: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ConfigError(_variable(key), value, "a whole number")
    try:
        return int(str(value).strip())
    except ValueError:
        raise ConfigError(_variable(key), value, "a whole number") from None


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(_variable(key), value, "true or false")


def _normalise_host(host: str) -> str:
    """Accept what Ollama itself accepts for OLLAMA_HOST: ``host``, ``host:port``, or a URL."""
    host = host.strip().rstrip("/")
    if "://" not in host:
        host = "http://" + host
    parsed = urlparse(host)
    if parsed.hostname and parsed.port is None and parsed.scheme == "http" and "[" not in host:
        host = f"{host}:11434"
    return host


def _check_url(variable: str, url: str, example: str = "http://localhost:11434") -> None:
    parsed = urlparse(url)
    try:
        parsed.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ConfigError(variable, url, f"a URL such as {example}") from None
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise ConfigError(variable, url, f"a URL such as {example}")


def _read_settings_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        logging.getLogger(__name__).warning("Cannot read settings file %s: %s", path, exc)
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"settings file {path}", f"invalid JSON at line {exc.lineno}", "a JSON object"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"settings file {path}", type(data).__name__, "a JSON object")
    return data


def save_settings(config: AppConfig, path: Path | None = None) -> Path:
    """Write the whole of ``config`` as the settings file (``save_setting_changes`` writes
    only what changed, and is what a front end saving a user's edits wants)."""
    return _write_settings(config.to_settings(), path or settings_path())


def save_setting_changes(changes: Mapping[str, Any], path: Path | None = None) -> Path:
    """Write ``changes`` into the settings file, keeping every other key as the file has it.

    Only what the user changed is written: a value that came from the environment
    (``OLLAMA_HOST``, say) or from the defaults stays out of the file, so it is not made
    permanent by saving an unrelated change. Raises ``ConfigError`` for a bad value.
    """
    target = path or settings_path()
    try:
        stored = _read_settings_file(target)
        AppConfig.from_mapping(stored, source=str(target))
    except ConfigError:
        stored = {}  # unreadable: the app ran on defaults, and this save starts it anew
    updated = AppConfig.from_mapping(stored, source=str(target)).with_changes(**changes)
    serialised = updated.to_settings()
    return _write_settings({**stored, **{key: serialised[key] for key in changes}}, target)


def _write_settings(values: Mapping[str, Any], target: Path) -> Path:
    """Write the settings file atomically (write, fsync, rename), readable by the user only."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(dict(values), handle, indent=2, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temporary, 0o600)
    os.replace(temporary, target)
    return target


def is_loopback_host(url: str) -> bool:
    hostname = (urlparse(url).hostname or "").lower()
    return hostname in {"localhost", "::1"} or hostname.startswith("127.")
