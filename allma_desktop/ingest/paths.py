"""Turning the paths a user dropped in into the files to index and the files skipped.

Plain, blocking file-system work: the pipeline runs it in a worker thread.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from allma_desktop.services.documents.service import DocumentService


def expand_paths(
    documents: DocumentService, paths: Sequence[str | Path]
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files to index and files skipped with a reason; folders are walked recursively."""
    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    seen: set[Path] = set()

    def consider(path: Path) -> None:
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop on Python 3.11
            skipped.append((path, "symlink loop"))
            return
        if resolved in seen:
            return
        seen.add(resolved)
        reason = documents.skip_reason(path)
        if reason:
            skipped.append((path, reason))
        else:
            files.append(resolved)

    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            skipped.append((path, "not found"))
        elif path.is_dir():
            for root, dirnames, filenames in os.walk(path, followlinks=False):
                # Hidden folders (.git, .venv) are never documents the user meant: skipped
                # whole, each said once with its reason, as hidden files are.
                for name in sorted(d for d in dirnames if d.startswith(".")):
                    skipped.append((Path(root) / name, "hidden folder"))
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    consider(Path(root) / name)  # a hidden file: skipped as "hidden file"
        else:
            consider(path)
    return files, skipped
