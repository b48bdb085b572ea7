"""The data folder on a small tmpfs that an ingest fills up.

The ingest ends (no hang) with "disk full" and what to do; once space is freed, the
library opens, `doctor --repair` puts it in order, nothing committed before was lost,
and ingesting again indexes the rest. Skipped where mounting is not allowed.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from allma_desktop.config import AppConfig
from allma_desktop.errors import DiskFull, StoreNotResponding
from allma_desktop.events import IngestFinished
from allma_desktop.orchestrator import Orchestrator
from allma_desktop.services.vectorstore.store_process import CALL_TIMEOUT_ENV, IN_PROCESS_ENV
from tests.faults.test_damaged_vector_store import _write_notes
from tests.support.invariants import assert_library_consistent


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "data"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


async def test_an_ingest_that_fills_the_disk_ends_and_the_library_recovers(
    config: AppConfig, small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store in its own process, as the app runs it: Chroma can hang for good on a
    # full disk (seen in a delete), and only a process can be given up on.
    monkeypatch.delenv(IN_PROCESS_ENV, raising=False)
    monkeypatch.setenv(CALL_TIMEOUT_ENV, "20")
    config = config.with_changes(data_dir=small_disk, chunk_size=200, chunk_overlap=0)
    _write_notes(tmp_path / "notes", files=8, paragraphs=120)
    engine = Orchestrator(config)
    await engine.open()
    try:
        events = [e async for e in engine.ingest([tmp_path / "notes"])]
    finally:
        await engine.close()
    finished = events[-1]
    assert isinstance(finished, IngestFinished)
    # The disk filled under SQLite (DiskFull) or under the store, which was then stopped.
    assert isinstance(finished.error, DiskFull | StoreNotResponding), finished.error
    assert finished.error.hint
    committed = {r.document_id for r in finished.results if r.status == "indexed"}

    subprocess.run(["mount", "-o", "remount,size=200m", str(small_disk)], check=True)
    engine = Orchestrator(config)
    await engine.open()
    try:
        repaired = await engine.doctor(repair=True)
        assert repaired.ok, [p.description for p in repaired.remaining]
        assert_library_consistent(engine)
        ready = {d.id for d in engine.list_documents() if d.status == "ready"}
        assert committed <= ready  # nothing committed before the disk filled was lost
        async for _ in engine.ingest([tmp_path / "notes"]):
            pass
        assert {d.status for d in engine.list_documents()} == {"ready"}
        assert len(engine.list_documents()) == 8
        assert (await engine.doctor()).ok
    finally:
        await engine.close()
