"""A real Chroma server for tests: ``chroma run`` from the chromadb package, on a free
loopback port, with its data in a folder the caller owns; stopped on leaving."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STARTUP_TIMEOUT = 30.0


def chroma_executable() -> Path | None:
    """The ``chroma`` command of this environment, or None when chromadb lacks it."""
    found = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    return Path(found) if Path(found).exists() else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_chroma_server(executable: Path, folder: Path) -> Iterator[tuple[str, int]]:
    """Yields ``(host, port)`` once the server answers its heartbeat."""
    port = free_port()
    process = subprocess.Popen(
        [executable, "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_answering(f"http://127.0.0.1:{port}/api/v2/heartbeat", process)
        yield "127.0.0.1", port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_answering(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chroma run exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)  # polling a condition with a deadline, not waiting blind
    raise RuntimeError(f"the Chroma server did not answer at {url} within {STARTUP_TIMEOUT} s")
