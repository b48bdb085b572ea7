"""The process caps glibc's heaps (see allma_desktop/malloc_arenas.py)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from allma_desktop.malloc_arenas import limit_malloc_arenas


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="the cap is glibc's (Linux); other allocators do not grow an arena per thread",
)
def test_glibc_takes_the_cap_on_arenas_in_a_fresh_process() -> None:
    code = "from allma_desktop.malloc_arenas import limit_malloc_arenas as l; print(l(2))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "True", result.stderr


def test_elsewhere_it_says_it_did_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert limit_malloc_arenas() is False
