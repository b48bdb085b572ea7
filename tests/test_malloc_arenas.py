"""The process caps glibc's heaps (see allma_desktop/malloc_arenas.py)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from allma_desktop import malloc_arenas
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


def test_free_memory_is_given_back_at_most_once_a_period(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(malloc_arenas, "give_back_free_memory", lambda: calls.append(1) or True)
    giver = malloc_arenas.FreeMemoryGiver(seconds=60.0)

    assert giver.maybe() is False  # just made: a period has not passed
    assert giver.now() is True
    assert giver.maybe() is False
    assert len(calls) == 1

    assert malloc_arenas.FreeMemoryGiver(seconds=0.0).maybe() is True
    assert len(calls) == 2


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="malloc_trim is glibc's",
)
def test_glibc_gives_back_the_free_pages_in_the_middle_of_its_heap() -> None:
    code = (
        "from allma_desktop.malloc_arenas import give_back_free_memory\n"
        "def resident():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmRSS:'):\n"
        "            return int(line.split()[1]) // 1024\n"
        "blocks = [bytearray(4096) for _ in range(20_000)]  # 80 MB from malloc's heap\n"
        "pin = bytearray(4096)  # after them: their pages are not the heap's free top\n"
        "del blocks\n"
        "before = resident()\n"
        "print(give_back_free_memory(), before - resident())"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    given, megabytes = result.stdout.split()
    assert given == "True", result.stderr
    assert int(megabytes) >= 40


def test_elsewhere_nothing_is_given_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    assert malloc_arenas.give_back_free_memory() is False
