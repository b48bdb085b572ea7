"""Nothing leaked: no connection but to Ollama, no document text or prompt in the logs at
INFO, a data folder only the user can read, and a notice before text goes to a remote host."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from allma_desktop.config import AppConfig, save_settings
from allma_desktop.orchestrator import Orchestrator
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import PDF_QUESTION, make_sample_library

REPO_ROOT = Path(__file__).resolve().parents[2]
# A word no model, library or path would produce by chance.
MARKER = "zorblequix"


def allma(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "allma_desktop.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
    )


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- network ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def network_server() -> Iterator[OllamaTestServer]:
    with OllamaTestServer() as server:
        yield server


@pytest.fixture(scope="module")
def network_report(
    network_server: OllamaTestServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """What the audit hook saw during ingest, search, chat, health and models, run through
    the orchestrator and then through the CLI, in a process of its own (run once; the
    tests below read the same report)."""
    root = tmp_path_factory.mktemp("network")
    library = make_sample_library(root / "docs")
    env = {
        "OLLAMA_HOST": network_server.url,
        "ALLMA_DATA_DIR": str(root / "data"),
        "ALLMA_CONFIG_DIR": str(root / "config"),
        "ALLMA_LOG_DIR": str(root / "logs"),
        "OLLAMA_MODEL": "deepseek-r1:latest",
        "OLLAMA_EMBEDDING_MODEL": "nomic-embed-text:latest",
    }
    scenario = {
        "folder": str(library.folder),
        "question": PDF_QUESTION,
        "cli": [
            ["ingest", "--force", str(library.folder)],
            ["ask", PDF_QUESTION],
            ["search", "lighthouse lamp"],
            ["health"],
            ["models"],
        ],
    }
    scenario_path = root / "scenario.json"
    scenario_path.write_text(json.dumps(scenario), encoding="utf-8")
    report_path = root / "report.json"
    inherited = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VECTOR_STORE_PATH", "CHROMA_PERSIST_DIRECTORY", "LOG_LEVEL"}
    }
    command = [
        sys.executable,
        "-m",
        "tests.support.privacy_driver",
        str(report_path),
        str(scenario_path),
    ]
    syscall_log = root / "syscalls.txt"
    if strace_usable():
        # Audit hooks see only Python; strace also sees native code (chromadb's Rust core).
        command = [*STRACE, "-o", str(syscall_log), *command]
    finished = subprocess.run(
        command,
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO_ROOT,
    )
    assert finished.returncode == 0, finished.stderr
    report: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8"))
    if syscall_log.exists():
        report["syscalls"] = syscall_log.read_text(encoding="utf-8").splitlines()
    return report


STRACE = ["strace", "-f", "--seccomp-bpf", "-e", "trace=connect,sendto,sendmsg,sendmmsg"]
_INET_ADDRESS = re.compile(
    r"sa_family=AF_INET6?, sin6?_port=htons\((\d+)\).*?"
    r"(?:inet_addr\(\"([^\"]+)\"\)|inet_pton\(AF_INET6, \"([^\"]+)\")"
)


def strace_usable() -> bool:
    if shutil.which("strace") is None:
        return False
    probe = subprocess.run([*STRACE, "-o", os.devnull, "true"], capture_output=True, timeout=30)
    return probe.returncode == 0  # ptrace may be forbidden in a container


def inet_destinations(syscall_lines: list[str]) -> list[tuple[str, int]]:
    """(address, port) of every IPv4/IPv6 connect or send in an strace log."""
    found: list[tuple[str, int]] = []
    for line in syscall_lines:
        match = _INET_ADDRESS.search(line)
        if match:
            found.append((match.group(2) or match.group(3), int(match.group(1))))
    return found


def test_a_full_run_connects_to_nothing_but_the_ollama_host(
    network_report: dict[str, Any], network_server: OllamaTestServer
) -> None:
    server = urlparse(network_server.url)
    connects = [call for call in network_report["network"] if call["event"] == "socket.connect"]
    assert connects, "the run made no connection at all: the hook saw nothing"
    elsewhere = [
        call
        for call in network_report["network"]
        if not _is_to_server(call, server.hostname or "", server.port or 0)
    ]
    assert elsewhere == []


def test_not_even_native_code_connects_to_anything_but_the_ollama_host(
    network_report: dict[str, Any], network_server: OllamaTestServer
) -> None:
    if "syscalls" not in network_report:
        pytest.skip("strace is not available (or ptrace is not allowed) here")
    server = urlparse(network_server.url)
    destinations = inet_destinations(network_report["syscalls"])
    assert destinations, "strace saw no connection at all"
    assert set(destinations) == {(server.hostname, server.port)}


def test_the_network_scenario_really_ran_end_to_end(network_report: dict[str, Any]) -> None:
    assert network_report["answer"]
    # ingest (one corrupt PDF: exit 2), ask, search, health, models through the CLI.
    assert network_report["cli_exit_codes"] == [2, 0, 0, 0, 0]


def test_a_full_run_starts_no_other_program(network_report: dict[str, Any]) -> None:
    assert network_report["processes"] == []


def _is_to_server(call: dict[str, Any], host: str, port: int) -> bool:
    event, args = call["event"], call["args"]
    if event == "socket.connect":
        return bool(args[0] == [host, port])
    if event == "socket.getaddrinfo":
        return bool(args[0] == host and args[1] in (port, str(port)))
    return False  # datagrams, other look-ups, urllib: never expected


# --- logs ---------------------------------------------------------------------------


@pytest.fixture
def marked_document(tmp_path: Path) -> Path:
    folder = tmp_path / "private"
    folder.mkdir()
    (folder / "diary.txt").write_text(
        f"Dear diary. The {MARKER} secret is kept in the blue box under the stairs.\n",
        encoding="utf-8",
    )
    return folder


def log_text(app_env: dict[str, str]) -> str:
    log_dir = Path(app_env["ALLMA_LOG_DIR"])
    return "".join(p.read_text(encoding="utf-8") for p in sorted(log_dir.glob("allma.log*")))


def test_info_logs_hold_no_document_text_or_question(
    app_env: dict[str, str], marked_document: Path, ollama_server: OllamaTestServer
) -> None:
    env = {**app_env, "LOG_LEVEL": "INFO"}
    assert allma(env, "ingest", str(marked_document)).returncode == 0
    asked = allma(env, "ask", f"Where is the {MARKER} secret kept?")
    assert asked.returncode == 0, asked.stderr
    assert MARKER in asked.stdout  # the answer did use the document
    ollama_server.faults.cut_stream_after = 2  # and a failure path, which logs more
    allma(env, "ask", f"Is the {MARKER} secret safe?")

    logged = log_text(app_env)
    assert "INFO" in logged  # the log was written at this level: the check below means something
    assert MARKER not in logged


# --- permissions -------------------------------------------------------------------


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """A umask that lets everyone read: the code must restrict files itself."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


async def test_data_folder_and_database_are_readable_by_the_user_only(
    config: AppConfig, permissive_umask: None
) -> None:
    engine = Orchestrator(config)
    await engine.open()
    try:
        assert mode_of(config.data_dir) == 0o700
        assert mode_of(config.database_path) == 0o600
        for sidecar in config.data_dir.glob("allma.sqlite3-*"):  # -wal and -shm
            assert mode_of(sidecar) == 0o600, sidecar.name
    finally:
        await engine.close()


async def test_an_existing_database_file_is_made_private_on_open(
    config: AppConfig, permissive_umask: None
) -> None:
    config.data_dir.mkdir(parents=True)
    config.database_path.touch(mode=0o644)
    engine = Orchestrator(config)
    await engine.open()
    try:
        assert mode_of(config.database_path) == 0o600
    finally:
        await engine.close()


def test_settings_file_is_readable_by_the_user_only(
    config: AppConfig, tmp_path: Path, permissive_umask: None
) -> None:
    path = save_settings(config, tmp_path / "config" / "settings.json")
    assert mode_of(path) == 0o600


# --- remote Ollama notice ---------------------------------------------------------


def test_cli_tells_once_that_text_goes_to_a_remote_ollama(app_env: dict[str, str]) -> None:
    # `collections` opens the engine but never calls Ollama: no connection is attempted.
    env = {**app_env, "OLLAMA_HOST": "http://gpu-box.example:11434"}
    first = allma(env, "collections")
    second = allma(env, "collections")
    assert first.returncode == 0, first.stderr
    assert "gpu-box.example" in first.stderr and "excerpts" in first.stderr
    assert "gpu-box.example" not in second.stderr


def test_cli_says_nothing_about_a_local_ollama(app_env: dict[str, str]) -> None:
    finished = allma(app_env, "collections")
    assert finished.returncode == 0, finished.stderr
    assert "not this computer" not in finished.stderr
