"""Every shell and Python example in the README runs as pasted, against the test server.

The examples are taken from README.md itself, so an example that changes is tested as
it now reads. Only what cannot run inside a test is adapted: the API's port (a free one),
the token (this server's), the example folder and file (sample documents), and ``ollama``
(a stand-in that serves nothing and pulls through ``allma pull`` from the test server).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.sample_docs import SampleLibrary

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
# The README's first block sets the checkout up and starts the app: CI runs exactly it
# (.ci/run runs scripts/test.sh, which runs scripts/setup.sh).
RUN_BY_CI = "bash scripts/setup.sh"


def readme_blocks(language: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Served:
    """``allma serve`` on a free port; its URL and token."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [str(BIN / "allma"), "serve", "--port", str(self.port), "--show-token"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.token = ""
        self.lines: list[str] = []
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if line.startswith("Token: "):
                self.token = line.split(" ", 1)[1].strip()
                self._ready.set()

    def wait(self) -> None:
        assert self._ready.wait(60), "".join(self.lines)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
def user_env(app_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The environment a user pastes into: allma on PATH, ollama a stand-in for the real one."""
    stand_ins = tmp_path / "bin"
    stand_ins.mkdir()
    ollama = stand_ins / "ollama"
    ollama.write_text(
        '#!/bin/sh\ncase "$1" in\n  serve) exit 0 ;;\n  pull) exec allma pull "$2" ;;\n'
        'esac\necho "ollama stand-in: $*" >&2; exit 1\n'
    )
    ollama.chmod(0o755)
    return {**os.environ, **app_env, "PATH": f"{stand_ins}:{BIN}:{os.environ['PATH']}"}


@pytest.fixture
def served(user_env: dict[str, str], sample_library: SampleLibrary) -> Iterator[Served]:
    subprocess.run([str(BIN / "allma"), "ingest", str(sample_library.pdf)], env=user_env)
    server = Served(user_env)
    try:
        server.wait()
        yield server
    finally:
        server.stop()


def adapted(block: str, served: Served, folder: Path) -> str:
    return (
        block.replace("127.0.0.1:8000", f"127.0.0.1:{served.port}")
        .replace("TOKEN=...", f"TOKEN={served.token}")
        .replace("/home/me/papers", str(folder))
    )


def test_the_readme_has_the_examples_this_file_runs() -> None:
    bash = readme_blocks("bash")
    assert [b for b in bash if b.startswith(RUN_BY_CI)], "the set-up block moved"
    assert any("ollama pull" in b for b in bash)
    assert any("curl" in b for b in bash)
    assert readme_blocks("python")


def test_the_ollama_block_runs(user_env: dict[str, str], tmp_path: Path) -> None:
    for block in (b for b in readme_blocks("bash") if "ollama pull" in b):
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            env=user_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr


def test_the_api_blocks_run_against_allma_serve(
    served: Served, user_env: dict[str, str], sample_library: SampleLibrary, tmp_path: Path
) -> None:
    (tmp_path / "report.pdf").write_bytes(sample_library.pdf.read_bytes())
    for block in (b for b in readme_blocks("bash") if "curl" in b):
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", adapted(block, served, sample_library.folder)],
            env=user_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        assert "unauthorized" not in result.stdout.lower(), result.stdout
        assert "Internal Server Error" not in result.stdout
        assert "3500 watts" in result.stdout  # the cited answer, from the PDF


def test_the_python_examples_run_against_allma_serve(
    served: Served, user_env: dict[str, str], tmp_path: Path
) -> None:
    for block in readme_blocks("python"):
        result = subprocess.run(
            [sys.executable, "-c", adapted(block, served, tmp_path)],
            env={**user_env, "ALLMA_TOKEN": served.token},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        assert "3500 watts" in result.stdout  # the cited answer, then its page
