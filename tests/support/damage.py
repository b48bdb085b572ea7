"""Ways to damage a file on purpose, as a crash, a full disk or a bad sector would."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path


def truncate(path: Path) -> None:
    """Cut the file to a third of its length (a copy or a write cut short)."""
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 3)


def zero(path: Path) -> None:
    """Overwrite every byte with zeros, keeping the length (a file system that lost it)."""
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.write(b"\x00" * size)


def garble(path: Path, seed: int = 17) -> None:
    """Random bytes over the middle third, the header left intact (a bad sector)."""
    size = os.path.getsize(path)
    rng = random.Random(seed)
    with open(path, "r+b") as handle:
        handle.seek(size // 3)
        handle.write(bytes(rng.randrange(256) for _ in range(size // 3)))


def empty(path: Path) -> None:
    """Make it 0 bytes long (a sync tool or a failed copy that replaced it)."""
    with open(path, "wb"):
        pass


DAMAGES: dict[str, Callable[[Path], None]] = {
    "truncated": truncate,
    "zeroed": zero,
    "garbled": garble,
    "emptied": empty,
}
