"""Health that tries a real write to each store; search that needs no Ollama.

``allma health`` said "Data folder ok" and exited 0 while the vector store was
read-only and every command failed; ``allma search`` failed outright with Ollama
down although the keyword index could answer.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from allma_desktop.config import AppConfig
from allma_desktop.orchestrator import Orchestrator
from tests.faults.conftest import allma, assert_no_traceback
from tests.support.sample_docs import TEXT_FACT, SampleLibrary

NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` on a read-only bind mount (even root cannot write there); skips if the
    machine does not allow mounting."""
    mounted = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {mounted.stderr.decode().strip()}")
    try:
        remount = ["mount", "-o", "remount,bind,ro", str(folder)]
        if subprocess.run(remount, capture_output=True).returncode != 0:
            pytest.skip("cannot remount read-only here")
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_health_tries_a_write_and_reports_a_read_only_vector_store(
    app_env: dict[str, str], sample_library: SampleLibrary
) -> None:
    allma(app_env, "ingest", str(sample_library.text))
    healthy = allma(app_env, "health")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    vectors = Path(app_env["ALLMA_DATA_DIR"]) / "vectors"

    with read_only(vectors):
        sick = allma(app_env, "health")
        as_json = allma(app_env, "health", "--json")

    assert_no_traceback(sick)
    assert sick.returncode == 1
    assert "Vector store  problem" in sick.stdout
    assert "Database      ok" in sick.stdout
    assert str(vectors) in sick.stderr and "→" in sick.stderr  # names it, says what to do
    report = json.loads(as_json.stdout)
    assert report["ok"] is False
    assert report["store"]["vectors_writable"] is False
    assert report["store"]["database_writable"] is True
    # Nothing was lost: once writable again, the document is found as before.
    found = allma(app_env, "search", "--json", "sourdough", "starter")
    assert TEXT_FACT in json.loads(found.stdout)[0]["snippet"]
    assert allma(app_env, "health").returncode == 0


async def test_search_falls_back_to_keywords_and_says_so_when_ollama_is_down(
    orchestrator: Orchestrator, config: AppConfig, sample_library: SampleLibrary
) -> None:
    async for _ in orchestrator.ingest([sample_library.folder]):
        pass
    await orchestrator.close()
    offline = Orchestrator(config.with_changes(ollama_host=NOWHERE))
    await offline.open()
    try:
        results = await offline.search_results("sourdough starter rye flour")
    finally:
        await offline.close()
    assert results.sources and TEXT_FACT in results.sources[0].snippet
    assert results.notice is not None
    assert results.notice.startswith("Keyword matches only: Ollama is not reachable at")
    assert NOWHERE in results.notice


def test_the_cli_search_answers_from_keywords_when_ollama_is_down(
    app_env: dict[str, str], sample_library: SampleLibrary
) -> None:
    allma(app_env, "ingest", str(sample_library.folder))
    offline = {**app_env, "OLLAMA_HOST": NOWHERE}
    found = allma(offline, "search", "sourdough", "starter")
    assert_no_traceback(found)
    assert found.returncode == 0, found.stderr
    assert "Note: Keyword matches only: Ollama is not reachable" in found.stderr
    assert "sample.txt" in found.stdout or "sourdough" in found.stdout.lower()
    as_json = allma(offline, "search", "--json", "sourdough", "starter")
    assert TEXT_FACT in json.loads(as_json.stdout)[0]["snippet"]
