"""kill -9 in the middle of removing documents, re-embedding, and a forced re-index.

Each run copies one library, starts the operation in a real subprocess, kills it after
a seeded random delay, then opens the library as the app does at start (the start-up
repair runs) and checks: SQLite and the vector store agree, `doctor` is clean, and
nothing stored was lost (every document not removed is ready and searchable).

A few kills per operation here; ``ALLMA_SLOW_FAULTS=1`` runs 20 of each
(``tests/support/kill_runs.py``).
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from allma_desktop.orchestrator import Orchestrator
from tests.support.invariants import assert_library_consistent
from tests.support.kill_runs import build_library, driver_env, kill_count, run_op_driver
from tests.support.kill_runs import reopened as _reopened_at
from tests.support.ollama_server import OllamaTestServer

SEED = 1_717
RUNS = kill_count(3)


@pytest.fixture(scope="module")
def server() -> Iterator[OllamaTestServer]:
    with OllamaTestServer() as running:
        running.faults.embed_delay = 0.02  # stretch each operation so kills land inside
        yield running


@pytest.fixture(scope="module")
def library(server: OllamaTestServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One indexed library (closed), copied for each run."""
    import asyncio

    root = tmp_path_factory.mktemp("kill-library")
    asyncio.run(build_library(root, server.url))
    return root


def _kill_during(args: list[str], root: Path, server: OllamaTestServer, delay: float) -> bool:
    """Run the driver and SIGKILL it ``delay`` seconds after its first step (a document
    removed, a batch embedded): timed from there, the kill lands inside the operation
    however long the machine takes to open the library."""
    run = run_op_driver(
        args, driver_env(root, server.url), kill_after=delay, after=("removed", "embedded")
    )
    assert run.killed or run.returncode == 0, run.stderr
    return run.killed


async def _reopened(root: Path, server: OllamaTestServer) -> Orchestrator:
    return await _reopened_at(root, server.url)  # runs the start-up repair, as the app does


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
        kills += _kill_during(args, root, server, rng.uniform(0.0, 0.6))

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
    print(f"{operation}: {RUNS} of {RUNS} runs consistent, {kills} killed inside the operation")
