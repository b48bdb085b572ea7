"""What the kill -9 tests share: how many kills, and the killing of a driver process.

The kill tests kill a real subprocess at seeded moments and check the library after.
They run a few moments each in the default test run; ``ALLMA_SLOW_FAULTS=1`` runs 20 of
each (the slow mode of docs/robustness.md, about ten times longer).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from allma_desktop.config import AppConfig
from allma_desktop.orchestrator import Orchestrator

REPO_ROOT = Path(__file__).resolve().parents[2]
SLOW = os.environ.get("ALLMA_SLOW_FAULTS", "") not in ("", "0")
SLOW_KILLS = 20


def kill_count(default: int) -> int:
    """How many seeded kills a test makes: ``default``, or 20 in the slow mode."""
    return SLOW_KILLS if SLOW else default


@dataclass(frozen=True)
class DriverRun:
    lines: tuple[str, ...]
    killed: bool  # False when the work had already ended
    returncode: int
    stderr: str

    @property
    def finished(self) -> tuple[float, int] | None:
        """(seconds, renames) from the driver's ``finished`` line, if it got there."""
        for line in self.lines:
            if line.startswith("finished"):
                _, seconds, renames = line.split()
                return float(seconds), int(renames)
        return None


def run_op_driver(
    args: list[str],
    env: dict[str, str],
    *,
    kill_after: float | None,
    after: tuple[str, ...],
    timeout: float = 120,
) -> DriverRun:
    """Run ``tests.support.op_driver`` and SIGKILL it ``kill_after`` seconds after its
    first line starting with one of ``after`` (None: let it end, or kill itself)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.op_driver", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines = [process.stdout.readline().strip()]
    killed = False
    if lines[0] == "started":
        while lines[-1] and not lines[-1].startswith(after):
            lines.append(process.stdout.readline().strip())
        if kill_after is not None and lines[-1]:
            time.sleep(kill_after)  # the crash's moment, not a wait for something to happen
            killed = process.poll() is None
            if killed:
                process.kill()
    out, err = process.communicate(timeout=timeout)
    assert lines[0] == "started", f"the driver did not start: {err}"
    return DriverRun((*lines, *out.splitlines()), killed, process.returncode, err)


# --- the library the operations' kill tests share -----------------------------------

# Small chunks and batches: many embed calls and store writes to land a kill between.
SETTINGS = {"chunk_size": 300, "chunk_overlap": 40, "embed_batch_size": 3}


def write_notes(folder: Path, files: int = 6) -> None:
    folder.mkdir(parents=True)
    for n in range(files):
        paragraphs = [
            f"Station {n} paragraph {p}. The keeper of station {n} logs tide level {n * 10 + p} "
            f"and wind force {p} every evening, then checks the beacon number {n}-{p}."
            for p in range(12)
        ]
        (folder / f"station-{n:02d}.md").write_text("\n\n".join(paragraphs), encoding="utf-8")


def driver_env(root: Path, ollama_url: str, **extra: str) -> dict[str, str]:
    """The environment of a driver working on the library in ``root``."""
    return {
        **os.environ,
        "OLLAMA_HOST": ollama_url,
        "ALLMA_DATA_DIR": str(root / "data"),
        "ALLMA_CONFIG_DIR": str(root / "config"),
        "ALLMA_LOG_DIR": str(root / "logs"),
        "OLLAMA_MODEL": "deepseek-r1:latest",
        "OLLAMA_EMBEDDING_MODEL": "nomic-embed-text:latest",
        "ALLMA_CHUNK_SETTINGS": "",
        **extra,
    }


def library_config(root: Path, ollama_url: str) -> AppConfig:
    return AppConfig.from_mapping(
        {"ollama_host": ollama_url, "data_dir": str(root / "data"), **SETTINGS}
    )


async def build_library(root: Path, ollama_url: str) -> None:
    """Index the notes into the library in ``root`` (closed afterwards)."""
    write_notes(root / "notes")
    (root / "config").mkdir()
    (root / "config" / "settings.json").write_text(json.dumps(SETTINGS), encoding="utf-8")
    engine = Orchestrator(library_config(root, ollama_url))
    await engine.open()
    try:
        async for _ in engine.ingest([root / "notes"]):
            pass
        assert {d.status for d in engine.list_documents()} == {"ready"}
    finally:
        await engine.close()


async def reopened(root: Path, ollama_url: str) -> Orchestrator:
    """The library in ``root`` opened as the app opens it (the start-up repair runs)."""
    engine = Orchestrator(library_config(root, ollama_url))
    await engine.open()
    return engine
