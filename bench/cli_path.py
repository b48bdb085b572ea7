"""Run the app as a user does: the ``allma`` command in a subprocess, per question.

Rows (c) and (d) measure what a user gets from ``allma ingest``, ``allma search
--json`` and ``allma ask --json`` against an Ollama-protocol server (the real
models of ``bench/real_models.py``). The command runs from a given checkout
(``code_root``): the working tree being measured, or a git ref unpacked into the
temp folder, so the previous code and the new one are measured in the same run
against the same server.

Each checkout gets its own library under the temp folder, keyed by a hash of the
code that decides what is indexed (parsing, chunking, the keyword index, the
text that is embedded): a change there gets a fresh library, any other change
reuses it. (The old in-process runner keyed only on two files, so its cached
library could outlive changes to the rest of the ingest: see docs/benchmarks.md.)
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CACHE_ROOT = Path(tempfile.gettempdir()) / "allma-bench"
REPO_ROOT = Path(__file__).resolve().parents[1]

# What decides the index: a change to any of these gets a fresh library.
INDEX_CODE = (
    "allma_desktop/ingest",
    "allma_desktop/services/documents",
    "allma_desktop/services/library/storage.py",
    "allma_desktop/services/retrieval/keyword_index.py",
    "allma_desktop/services/library/catalog.py",
    "allma_desktop/services/index_text.py",
    "allma_desktop/services/documents/languages.py",
    "allma_desktop/services/vectorstore",
    "allma_desktop/config.py",
)


def index_key(code_root: Path) -> str:
    digest = hashlib.sha256()
    for name in INDEX_CODE:
        path = code_root / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            if file.is_file():
                digest.update(str(file.relative_to(code_root)).encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def checkout_of(ref: str) -> Path:
    """The tree of git ``ref`` of this repository, unpacked once under the temp folder."""
    commit = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--verify", f"{ref}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    target = CACHE_ROOT / f"code-{commit[:12]}"
    if not (target / "allma_desktop").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "archive", "--format=tar", commit, "allma_desktop"],
            check=True,
            capture_output=True,
        ).stdout
        with tempfile.TemporaryFile() as handle:
            handle.write(archive)
            handle.seek(0)
            with tarfile.open(fileobj=handle) as tar:
                tar.extractall(target, filter="data")
    return target


@dataclass
class CliLibrary:
    """One checkout's ``allma`` command over one library, talking to ``host``."""

    code_root: Path
    host: str
    embedding_model: str
    chat_model: str
    data_dir: Path | None = None
    timeout: float = 900.0

    def __post_init__(self) -> None:
        if self.data_dir is None:
            self.data_dir = CACHE_ROOT / f"qa-cli-{index_key(self.code_root)}"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        home = self.data_dir / "home"
        home.mkdir(exist_ok=True)
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("OLLAMA_", "ALLMA_", "VECTOR_STORE", "CHROMA_", "QDRANT_"))
        }
        environment.update(
            {
                "PYTHONPATH": str(self.code_root),
                "HOME": str(home),  # no settings file of the user's is read
                "XDG_CONFIG_HOME": str(home / "config"),
                "XDG_DATA_HOME": str(home / "data"),
                "XDG_CACHE_HOME": str(home / "cache"),
                "ALLMA_LOG_DIR": str(home / "logs"),
                "ALLMA_DATA_DIR": str(self.data_dir),
                "OLLAMA_HOST": self.host,
                "OLLAMA_EMBEDDING_MODEL": self.embedding_model,
                "OLLAMA_MODEL": self.chat_model,
            }
        )
        self._environment = environment

    def run(self, *arguments: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "allma_desktop.cli", *arguments],
            cwd=self.code_root,
            env=self._environment,
            capture_output=True,
            text=True,
            timeout=self.timeout,
            check=False,
        )
        if result.returncode not in (0, 2):  # 2: some files failed (partial), as for a user
            raise RuntimeError(
                f"allma {' '.join(arguments[:2])} exited {result.returncode}: "
                f"{result.stderr[-2000:]}"
            )
        return result.stdout

    def ingest(self, folder: Path) -> None:
        self.run("ingest", str(folder), "--json")

    def search(self, question: str) -> list[tuple[str, int | None]]:
        found = json.loads(self.run("search", "--json", "--", question))
        return [(Path(str(s["path"])).name, s.get("page")) for s in found]

    def ask(self, question: str) -> str:
        reply = json.loads(self.run("ask", "--json", "--", question))
        return str(reply.get("answer") or "")

    def searches(self, questions: list[str]) -> Iterator[list[tuple[str, int | None]]]:
        for question in questions:
            yield self.search(question)
