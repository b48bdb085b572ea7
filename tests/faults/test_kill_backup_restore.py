"""kill -9 in the middle of `allma backup` and `allma restore`.

Each run copies one library, runs the operation in a real subprocess and kills it: at
seeded moments of its run (timed from its start), and just before each of its renames
in turn (the driver kills itself there: the renames of a swap are microseconds apart,
and no timed kill would land between them). Then the library is opened as the app does
at start, and:

* backup: the library is untouched (consistent, `doctor` clean, every document ready
  and searchable); the archive is either absent or whole (it restores); no half-written
  archive sits under the final name, and what a kill left is refused by a restore with
  a message naming the file; the next backup sweeps the leftovers away.
* restore: the library is the old one or the backup's, whole, never a mix and never
  neither; the one not in place is kept (set aside) and no staging is left behind.
  The same for the restore of an automatic backup (the database alone).

A few seeded moments here; ``ALLMA_SLOW_FAULTS=1`` runs 20 (``tests/support/kill_runs.py``).
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from allma_desktop.closed_library import restore_backup
from allma_desktop.errors import BackupInvalid
from allma_desktop.services.upkeep.auto_backup import automatic_backups, make_automatic_backup
from tests.support.invariants import assert_library_consistent
from tests.support.kill_runs import (
    DriverRun,
    build_library,
    driver_env,
    kill_count,
    library_config,
    reopened,
    run_op_driver,
)
from tests.support.ollama_server import OllamaTestServer

SEED = 1_718
TIMED_KILLS = kill_count(4)
REMOVED = 2  # documents the current library lacks against the backup


@pytest.fixture(scope="module")
def server() -> Iterator[OllamaTestServer]:
    with OllamaTestServer() as running:
        yield running


@pytest.fixture(scope="module")
def library(server: OllamaTestServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An indexed library (closed), copied for each run."""
    root = tmp_path_factory.mktemp("backup-library")
    asyncio.run(build_library(root, server.url))
    return root


@pytest.fixture(scope="module")
def archive(library: Path, server: OllamaTestServer, tmp_path_factory: pytest.TempPathFactory):
    """A backup of ``library`` made by the driver, and how long that took (seconds, renames)."""
    root = tmp_path_factory.mktemp("backup-archive")
    shutil.copytree(library, root / "library")
    target = root / "library.allma-backup.zip"
    run = run_op_driver(
        ["backup", str(target)],
        driver_env(root / "library", server.url),
        kill_after=None,
        after=("backing up",),
    )
    assert run.returncode == 0 and run.finished is not None, run.stderr
    return target, run.finished


@pytest.fixture(scope="module")
def changed(library: Path, server: OllamaTestServer, tmp_path_factory: pytest.TempPathFactory):
    """``library`` after the backup: two documents removed, a database copy kept of before."""
    root = tmp_path_factory.mktemp("changed-library")
    shutil.copytree(library, root, dirs_exist_ok=True)
    config = library_config(root, server.url)
    copy = make_automatic_backup(config.database_path, config.data_dir)
    assert copy is not None

    async def remove() -> None:
        engine = await reopened(root, server.url)
        try:
            for document in engine.list_documents()[:REMOVED]:
                await engine.remove_document(document.id)
        finally:
            await engine.close()

    asyncio.run(remove())
    return root, copy


async def _paths(root: Path, server: OllamaTestServer) -> set[str]:
    engine = await reopened(root, server.url)
    try:
        return {d.path for d in engine.list_documents()}
    finally:
        await engine.close()


def _moments(rng: random.Random, seconds: float, renames: int) -> list[tuple[float | None, int]]:
    """(timed kill, kill at rename) pairs: every rename, then the seeded moments."""
    at_renames: list[tuple[float | None, int]] = [(None, n) for n in range(1, renames + 1)]
    timed: list[tuple[float | None, int]] = [
        (rng.uniform(0.0, seconds * 1.2), 0) for _ in range(TIMED_KILLS)
    ]
    return at_renames + timed


def _run(args: list[str], root: Path, server: OllamaTestServer, moment: tuple[float | None, int]):
    delay, at_rename = moment
    env = driver_env(root, server.url, KILL_AT_RENAME=str(at_rename))
    run = run_op_driver(args, env, kill_after=delay, after=("backing up", "restoring"))
    killed = run.killed or run.returncode == -9
    assert killed or run.returncode == 0, run.stderr
    return run, killed


async def _assert_whole(root: Path, server: OllamaTestServer, paths: set[str]) -> None:
    """The library in ``root`` opens, agrees with its store, and holds exactly ``paths``."""
    engine = await reopened(root, server.url)
    try:
        assert_library_consistent(engine)
        report = await engine.doctor()
        assert report.ok, [p.description for p in report.remaining]
        documents = engine.list_documents()
        assert {d.path for d in documents} == paths
        assert {d.status for d in documents} == {"ready"}
        found = await engine.search("tide level of station 4")
        assert found and found[0].path.endswith(".md")
    finally:
        await engine.close()


async def test_kill_9_during_a_backup_never_leaves_a_half_written_archive(
    library: Path,
    archive: tuple[Path, tuple[float, int]],
    server: OllamaTestServer,
    tmp_path: Path,
) -> None:
    seconds, renames = archive[1]
    paths = await _paths(library, server)
    rng = random.Random(f"{SEED}-backup")
    kills = refusals = 0
    for run_number, moment in enumerate(_moments(rng, seconds, renames)):
        root = tmp_path / f"run-{run_number}"
        shutil.copytree(library, root)
        folder = root / "backups"
        target = folder / "notes.allma-backup.zip"
        run, killed = _run(["backup", str(target)], root, server, moment)
        kills += killed

        # The archive is whole under its final name, or not there at all.
        if target.exists():
            fresh = library_config(tmp_path / f"fresh-{run_number}", server.url)
            restore_backup(fresh, target)  # checks every file's hash and the database
        else:
            assert killed
        # What a kill left is never taken for a backup: a half-written archive is
        # refused, naming the file; one the kill found complete restores whole.
        for leftover in folder.rglob("*.partial") if folder.exists() else []:
            cut = leftover.with_name(f"cut-{leftover.name}")
            data = leftover.read_bytes()
            # Shorter than what the kill left; a kill just after the file was made
            # leaves it empty, and an empty archive must be refused too.
            cut.write_bytes(data[: rng.randrange(len(data))] if data else b"")
            for candidate in (leftover, cut):
                fresh = library_config(
                    tmp_path / f"partial-{run_number}-{candidate.name}", server.url
                )
                try:
                    restore_backup(fresh, candidate)
                except BackupInvalid as refused:
                    assert candidate.name in refused.message and refused.hint
                    assert not fresh.data_dir.exists()
                    refusals += 1
                else:
                    assert candidate is leftover
                    assert _documents_in(fresh.database_path) == len(paths)
            cut.unlink()

        await _assert_whole(root, server, paths)
        # The next backup into the folder works and sweeps the abandoned staging away.
        engine = await reopened(root, server.url)
        try:
            await engine.back_up(target)
        finally:
            await engine.close()
        assert sorted(p.name for p in folder.iterdir()) == [target.name], run.lines
    assert kills > 0 and refusals > 0
    print(
        f"backup: {run_number + 1} runs consistent ({TIMED_KILLS} timed), {kills} killed, "
        f"{refusals} half-written archives refused"
    )


def _documents_in(database: Path) -> int:
    with closing(sqlite3.connect(str(database))) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM document").fetchone()[0])


def _restore_runs(restored: DriverRun) -> tuple[float, int]:
    assert restored.returncode == 0 and restored.finished is not None, restored.stderr
    return restored.finished


async def test_kill_9_during_a_restore_leaves_the_old_library_or_the_new_one(
    library: Path,
    archive: tuple[Path, tuple[float, int]],
    changed: tuple[Path, Path],
    server: OllamaTestServer,
    tmp_path: Path,
) -> None:
    backup_paths = await _paths(library, server)
    current = changed[0]
    current_paths = await _paths(current, server)
    assert len(current_paths) == len(backup_paths) - REMOVED

    # A whole restore first: how long it takes and how many renames it makes.
    clean = tmp_path / "clean"
    shutil.copytree(current, clean)
    run = run_op_driver(
        ["restore", str(archive[0])],
        driver_env(clean, server.url),
        kill_after=None,
        after=("restoring",),
    )
    seconds, renames = _restore_runs(run)
    await _assert_whole(clean, server, backup_paths)

    rng = random.Random(f"{SEED}-restore")
    outcomes = {"old": 0, "new": 0}
    for run_number, moment in enumerate(_moments(rng, seconds, renames)):
        root = tmp_path / f"run-{run_number}"
        shutil.copytree(current, root)
        _run(["restore", str(archive[0])], root, server, moment)

        data = root / "data"
        paths = await _paths(root, server)  # the open finishes a swap the kill interrupted
        assert paths in (current_paths, backup_paths), f"moment {moment}: a mix: {paths}"
        await _assert_whole(root, server, paths)
        asides = sorted(root.glob("data.before-restore-*"))
        if paths == backup_paths:
            outcomes["new"] += 1
            # The library replaced is kept, whole.
            assert len(asides) == 1, sorted(p.name for p in root.iterdir())
            assert _documents_in(asides[0] / "allma.sqlite3") == len(current_paths)
        else:
            outcomes["old"] += 1
            assert not asides
        left = [p.name for p in root.iterdir() if ".restor" in p.name and "lock" not in p.name]
        assert not left, f"moment {moment}: left behind: {left}"
        assert (data / "allma.sqlite3").exists()

        # And the restore, run again, ends with the backup's library.
        restore_backup(library_config(root, server.url), archive[0])
        assert await _paths(root, server) == backup_paths
    # Kills landed before the swap and inside it (the journal finished those).
    assert outcomes["old"] > 0 and outcomes["new"] > 0, outcomes
    print(f"restore: {run_number + 1} runs consistent ({TIMED_KILLS} timed): {outcomes}")


async def test_kill_9_during_the_restore_of_an_automatic_backup_keeps_one_whole_database(
    changed: tuple[Path, Path], library: Path, server: OllamaTestServer, tmp_path: Path
) -> None:
    current, copy = changed
    current_paths = await _paths(current, server)
    backup_paths = await _paths(library, server)
    clean = tmp_path / "clean"
    shutil.copytree(current, clean)
    copy_in_clean = clean / copy.relative_to(current)
    seconds, renames = _restore_runs(
        run_op_driver(
            ["restore-copy", str(copy_in_clean)],
            driver_env(clean, server.url),
            kill_after=None,
            after=("restoring",),
        )
    )
    assert await _paths(clean, server) == backup_paths

    rng = random.Random(f"{SEED}-restore-copy")
    for run_number, moment in enumerate(_moments(rng, seconds, renames)):
        root = tmp_path / f"run-{run_number}"
        shutil.copytree(current, root)
        database = root / "data" / "allma.sqlite3"
        _run(["restore-copy", str(root / copy.relative_to(current))], root, server, moment)
        paths = await _paths(root, server)
        assert paths in (current_paths, backup_paths), f"moment {moment}: {paths}"
        asides = sorted(database.parent.glob("allma.sqlite3.before-restore-*"))
        if paths == backup_paths:
            # The database replaced is kept; the vectors of the documents it had and the
            # copy lacks wait for `doctor --repair`, as after any restore of a copy.
            assert [_documents_in(a) for a in asides if not a.name.endswith(("-wal", "-shm"))] == [
                len(current_paths)
            ]
        else:
            assert not asides
        left = [p.name for p in database.parent.iterdir() if ".restor" in p.name]
        assert not left, f"moment {moment}: left behind: {left}"
        assert automatic_backups(root / "data")
    print(f"restore of an automatic backup: {run_number + 1} runs consistent ({TIMED_KILLS} timed)")
