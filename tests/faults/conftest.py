"""Fault injection: each test breaks something on purpose and checks that the library survives.

Every test asserts the same three things about its fault: no traceback reaches the
user, the message names the file or value and says what to do next, and nothing
that was stored before the fault is lost.
"""

from __future__ import annotations

import os
import subprocess
import sys

# The engine fixtures (tests/support/engine_fixtures.py): a config in temp folders over the
# Ollama-protocol test server, an open orchestrator, the sample documents.
from tests.support.engine_fixtures import app_env, config, orchestrator, sample_library

__all__ = ["allma", "app_env", "assert_no_traceback", "config", "orchestrator", "sample_library"]


def allma(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The `allma` command in a subprocess, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "allma_desktop.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        errors="surrogateescape",
        timeout=timeout,
    )


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
