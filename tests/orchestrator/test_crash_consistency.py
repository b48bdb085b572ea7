"""Kill -9 at random moments of ingestion and of a streamed answer, then restart.

A real subprocess (``tests/support/crash_driver.py``) does the work against the test server
running here; after each kill a fresh Orchestrator opens the library (which runs the
doctor's quick repair, as the app does at start) and the consistency rules must hold.
Delays are drawn from a seeded generator so a failure can be replayed;
``ALLMA_SLOW_FAULTS=1`` kills 20 times per operation (``tests/support/kill_runs.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from allma_desktop.config import AppConfig
from allma_desktop.events import AnswerDone, IngestFinished
from allma_desktop.indexer.state import IndexerState
from allma_desktop.orchestrator import Orchestrator
from tests.support.invariants import assert_library_consistent
from tests.support.kill_runs import SLOW_KILLS, kill_count
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import PDF_ANSWER, PDF_QUESTION, SampleLibrary

SEED = 4_2024
# A few seeded kills each in the default run; ALLMA_SLOW_FAULTS=1 makes 20 of each.
INGEST_KILLS = kill_count(8)
CHAT_KILLS = kill_count(5)
FILES_PER_RUN = 4
SYNC_KILLS = kill_count(4)
SYNC_FILES = 24 if SYNC_KILLS < SLOW_KILLS else 80  # enough work left for every kill
REPO_ROOT = Path(__file__).resolve().parents[2]
# Small chunks and batches: many embed calls and store writes to land a kill between.
CRASH_SETTINGS = {"chunk_size": 300, "chunk_overlap": 40, "embed_batch_size": 3}


@dataclass(frozen=True)
class DriverRun:
    lines: tuple[str, ...]
    killed: bool  # False when the work had already finished


def run_driver(args: list[str], kill_after: float | None, after_line: str = "started") -> DriverRun:
    """Start the driver and SIGKILL it ``kill_after`` seconds after it prints ``after_line``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.crash_driver", *args],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline().strip()
    lines = [first]
    while lines[-1] and not lines[-1].startswith(after_line):
        lines.append(process.stdout.readline().strip())
    killed = False
    if lines[-1] and kill_after is not None:
        time.sleep(kill_after)  # the crash's moment, not a wait for something to happen
        killed = process.poll() is None
        if killed:
            process.kill()
    out, err = process.communicate(timeout=60)
    assert first == "started", f"the driver did not start: {err}"
    if not killed:
        assert process.returncode == 0, err
    return DriverRun((*lines, *out.splitlines()), killed)


def crash_config(app_env: dict[str, str]) -> AppConfig:
    config_dir = Path(app_env["ALLMA_CONFIG_DIR"])
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "settings.json").write_text(json.dumps(CRASH_SETTINGS), encoding="utf-8")
    return AppConfig.from_env()


async def open_engine(config: AppConfig) -> Orchestrator:
    engine = Orchestrator(config)
    await engine.open()  # runs the quick repair, as at every start of the app
    return engine


def write_notes(folder: Path, numbers: range) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        paragraphs = [
            f"Station {n} paragraph {p}. The keeper of station {n} logs tide level {n * 10 + p} "
            f"and wind force {p} every evening, then checks the beacon number {n}-{p}."
            for p in range(12)
        ]
        text = f"# Station {n}\n\n" + "\n\n".join(paragraphs) + "\n"
        (folder / f"station-{n:02d}.md").write_text(text, encoding="utf-8")


async def test_killing_ingestion_at_random_moments_never_leaves_a_half_indexed_document(
    app_env: dict[str, str], ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    config = crash_config(app_env)
    folder = tmp_path / "notes"
    ollama_server.faults.embed_delay = 0.01  # about 0.3 s per file
    rng = random.Random(SEED)
    repaired_documents = 0
    for attempt in range(INGEST_KILLS):
        # New files each time, so every kill finds work; those a kill left failed are
        # re-indexed by the next run, and already indexed ones are found unchanged.
        first = attempt * FILES_PER_RUN
        write_notes(folder / f"batch-{attempt}", range(first, first + FILES_PER_RUN))
        # Timed from the first parsed file, not the start: how long the parse worker takes
        # to start depends on the machine's load, and kills before any document is
        # being written prove nothing.
        delay = rng.uniform(0.0, 1.0)
        run_driver(["ingest", str(folder)], kill_after=delay, after_line="file parsed")
        engine = await open_engine(config)
        try:
            assert_library_consistent(engine)
            report = await engine.doctor()
            assert report.ok, f"attempt {attempt}: {report.remaining}"
            repaired_documents += sum(
                p.count for p in report.problems if p.kind == "interrupted_indexing"
            )
        finally:
            await engine.close()

    # Kills landed inside documents, or the loop proved nothing.
    assert repaired_documents > 0
    print(
        f"ingest: {INGEST_KILLS} of {INGEST_KILLS} kills consistent, {repaired_documents} "
        "half-indexed documents repaired"
    )

    run_driver(["ingest", str(folder)], kill_after=None)
    engine = await open_engine(config)
    try:
        assert_library_consistent(engine)
        documents = engine.list_documents()
        assert len(documents) == INGEST_KILLS * FILES_PER_RUN
        assert {d.status for d in documents} == {"ready"}
        found = await engine.search("tide level of station 7")
        assert any(Path(s.path).name == "station-07.md" for s in found)
    finally:
        await engine.close()


async def test_killing_an_answer_midstream_keeps_the_question_and_the_partial_answer(
    app_env: dict[str, str], ollama_server: OllamaTestServer, sample_library: SampleLibrary
) -> None:
    config = crash_config(app_env)
    engine = await open_engine(config)
    try:
        async for ingest_event in engine.ingest([sample_library.pdf]):
            if isinstance(ingest_event, IngestFinished):
                assert ingest_event.count("indexed") == 1
        reference: AnswerDone | None = None
        async for event in engine.chat(None, PDF_QUESTION):
            if isinstance(event, AnswerDone):
                reference = event
    finally:
        await engine.close()
    assert reference is not None and PDF_ANSWER in reference.answer

    ollama_server.faults.token_delay = 0.08  # about 2.7 s of streaming
    rng = random.Random(SEED)
    partial_answers_kept = 0
    for _ in range(CHAT_KILLS):
        # Timed from the first streamed piece: the store opening before it takes a
        # machine-dependent while, and the kill should land inside the stream.
        delay = rng.uniform(0.0, 3.2)  # to past the end of the answer
        run = run_driver(["chat", PDF_QUESTION], kill_after=delay, after_line="thinking")
        started = [line.split() for line in run.lines if line.startswith("chat ")]
        engine = await open_engine(config)
        try:
            assert_library_consistent(engine)
            if not started:
                continue  # killed before the question was stored: nothing to keep yet
            conversation_id, answer_id = int(started[0][1]), int(started[0][2])
            question, answer = engine.conversations.messages(conversation_id)
            assert (question.role, question.content) == ("user", PDF_QUESTION)
            assert answer.id == answer_id
            if run.killed and "answer complete" not in run.lines:
                # Killed in the stream, or between saving the whole answer and saying so
                # (the slow mode's 20 kills land there): either way the stored state is true.
                assert answer.status in ("interrupted", "complete")
            else:
                assert answer.status == "complete"
            if answer.status == "complete":
                assert (answer.content, answer.thinking) == (reference.answer, reference.thinking)
            assert reference.answer.startswith(answer.content)
            assert reference.thinking.startswith(answer.thinking)
            if run.killed and (answer.content or answer.thinking):
                partial_answers_kept += 1
        finally:
            await engine.close()
    # The answer is saved while it streams: some kill came late enough to find some of it.
    assert partial_answers_kept > 0
    print(
        f"chat: {CHAT_KILLS} of {CHAT_KILLS} kills consistent, {partial_answers_kept} "
        "partial answers kept"
    )


async def test_killing_a_folder_sync_at_random_moments_resumes_and_indexes_nothing_twice(
    app_env: dict[str, str], ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    config = crash_config(app_env)
    folder = tmp_path / "watched"
    write_notes(folder, range(SYNC_FILES))
    ollama_server.faults.embed_delay = 0.01
    rng = random.Random(SEED + 1)
    committed: set[str] = set()
    midway = 0  # kills that left some files indexed and some not
    for attempt in range(SYNC_KILLS):
        run_driver(["sync", str(folder)], kill_after=rng.uniform(0.0, 1.5), after_line="file")
        engine = await open_engine(config)
        try:
            assert_library_consistent(engine)
            assert (await engine.doctor()).ok
            ready = {d.path for d in engine.list_documents() if d.status == "ready"}
        finally:
            await engine.close()
        assert committed <= ready, f"attempt {attempt}: a committed document was lost"
        midway += len(committed) < len(ready) < SYNC_FILES
        committed = ready
    assert midway > 0  # kills landed inside the sync, or the loop proved nothing
    print(f"folder sync: {SYNC_KILLS} of {SYNC_KILLS} kills consistent, {midway} midway")

    last = run_driver(["sync", str(folder)], kill_after=None)
    indexed_again = {
        line.split(" ", 2)[2] for line in last.lines if line.startswith("file indexed ")
    }
    assert not indexed_again & committed  # a file committed before the kill is not redone
    engine = await open_engine(config)
    try:
        assert_library_consistent(engine)
        documents = engine.list_documents()
        assert len(documents) == SYNC_FILES  # one document per file, none twice
        assert {d.status for d in documents} == {"ready"}
        assert await asyncio.to_thread(IndexerState(engine.library.db).queued) == []
    finally:
        await engine.close()
