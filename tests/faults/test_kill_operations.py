"""kill -9 in the middle of removing documents, re-embedding, and a forced re-index.

Each run copies one library, starts the operation in a real subprocess, kills it after
a seeded random delay, then opens the library as the app does at start (the start-up
repair runs) and checks: SQLite and the vector store agree, `doctor` is clean, and
nothing stored was lost (every document not removed is ready and searchable).

A few kills per operation here; ``ALLMA_SLOW_FAULTS=1`` runs 20 of each.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from allma_desktop.config import AppConfig
from allma_desktop.orchestrator import Orchestrator
from tests.support.invariants import assert_library_consistent
from tests.support.ollama_server import OllamaTestServer

SEED = 1_717
RUNS = 20 if os.environ.get("ALLMA_SLOW_FAULTS") else 3
REPO_ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {"chunk_size": 300, "chunk_overlap": 40, "embed_batch_size": 3}


def _write_notes(folder: Path, files: int = 6) -> None:
    folder.mkdir(parents=True)
    for n in range(files):
        paragraphs = [
            f"Station {n} paragraph {p}. The keeper of station {n} logs tide level {n * 10 + p} "
            f"and wind force {p} every evening, then checks the beacon number {n}-{p}."
            for p in range(12)
        ]
        (folder / f"station-{n:02d}.md").write_text("\n\n".join(paragraphs), encoding="utf-8")


def _env(root: Path, server: OllamaTestServer) -> dict[str, str]:
    return {
        **os.environ,
        "OLLAMA_HOST": server.url,
        "ALLMA_DATA_DIR": str(root / "data"),
        "ALLMA_CONFIG_DIR": str(root / "config"),
        "ALLMA_LOG_DIR": str(root / "logs"),
        "OLLAMA_MODEL": "deepseek-r1:latest",
        "OLLAMA_EMBEDDING_MODEL": "nomic-embed-text:latest",
        "ALLMA_CHUNK_SETTINGS": "",
    }


def _config(root: Path, server: OllamaTestServer) -> AppConfig:
    return AppConfig.from_mapping(
        {"ollama_host": server.url, "data_dir": str(root / "data"), **SETTINGS}
    )


@pytest.fixture(scope="module")
def server() -> Iterator[OllamaTestServer]:
    with OllamaTestServer() as running:
        running.faults.embed_delay = 0.02  # stretch each operation so kills land inside
        yield running


@pytest.fixture(scope="module")
def library(server: OllamaTestServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One indexed library (closed), copied for each run."""
    import asyncio
    import json

    root = tmp_path_factory.mktemp("kill-library")
    _write_notes(root / "notes")
    (root / "config").mkdir()
    (root / "config" / "settings.json").write_text(json.dumps(SETTINGS), encoding="utf-8")

    async def build() -> None:
        engine = Orchestrator(_config(root, server))
        await engine.open()
        try:
            async for _ in engine.ingest([root / "notes"]):
                pass
            assert {d.status for d in engine.list_documents()} == {"ready"}
        finally:
            await engine.close()

    asyncio.run(build())
    return root


def _kill_during(args: list[str], env: dict[str, str], delay: float) -> bool:
    """Run the driver and SIGKILL it ``delay`` seconds after its first step (a document
    removed, a batch embedded): timed from there, the kill lands inside the operation
    however long the machine takes to open the library."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.op_driver", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline().strip()
    killed = False
    if first == "started":
        step = process.stdout.readline().strip()
        while step and not step.startswith(("removed", "embedded")):
            step = process.stdout.readline().strip()
        time.sleep(delay)  # the crash's moment, not a wait for something to happen
        killed = process.poll() is None
        if killed:
            process.kill()
    _, err = process.communicate(timeout=120)
    assert first == "started", f"the driver did not start: {err}"
    assert killed or process.returncode == 0, err
    return killed


async def _reopened(root: Path, server: OllamaTestServer) -> Orchestrator:
    engine = Orchestrator(_config(root, server))
    await engine.open()  # runs the start-up repair, as the app does
    return engine


@pytest.mark.parametrize("operation", ["remove", "reembed", "force"])
async def test_kill_9_in_the_middle_of_an_operation_leaves_a_consistent_library(
    operation: str, library: Path, server: OllamaTestServer, tmp_path: Path
) -> None:
    rng = random.Random(f"{SEED}-{operation}")
    original = await _reopened(library, server)
    try:
        before = {
            d.id: original.library.document_chunk_ids(d.id) for d in original.list_documents()
        }
    finally:
        await original.close()
    kills = 0
    for run in range(RUNS):
        root = tmp_path / f"run-{run}"
        shutil.copytree(library, root)
        # The documents' stored paths are the original notes': re-index those.
        args = [operation] + ([str(library / "notes")] if operation == "force" else [])
        kills += _kill_during(args, _env(root, server), rng.uniform(0.0, 0.6))

        engine = await _reopened(root, server)
        try:
            assert_library_consistent(engine)
            report = await engine.doctor()
            assert report.ok, f"run {run}: {[p.description for p in report.remaining]}"
            documents = engine.list_documents()
            # Nothing stored is lost: every document not removed is ready, whole, searchable.
            assert {d.status for d in documents} <= {"ready"}, [
                (d.path, d.status, d.error) for d in documents
            ]
            if operation != "remove":
                assert {d.id for d in documents} == set(before)
            for document in documents:
                texts = engine.library.document_chunk_ids(document.id)
                if operation != "force":
                    assert texts == before[document.id]
            if documents:
                found = await engine.search("tide level of station 3")
                assert found and found[0].path.endswith(".md")
        finally:
            await engine.close()
    assert kills > 0  # some kill landed inside the operation, or the runs proved nothing
