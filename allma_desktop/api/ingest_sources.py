"""What ``/rag/ingest`` may read: named paths checked, uploads streamed into the data folder.

The orchestrator is handed explicit files only. A named folder is expanded here,
without following symbolic links, so a link inside it can never lead the API to a
file the request did not name; device files, sockets and pipes are refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import stat
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from allma_desktop.allowed_paths import refusal_reason
from allma_desktop.errors import NotFound, PathNotAllowed

COPY_CHUNK_BYTES = 1024 * 1024
INCOMING_FOLDER = ".incoming"
# An upload's folder (``uploads/<content hash>``) is made by a save and removed, once
# empty, by the removal of a copy that failed to index; the same file sent twice shares
# it. Both hold this lock across the folder's check and their change inside it, so a
# removal never takes the folder from under a save about to move its file in.
_UPLOAD_FOLDERS = threading.Lock()


def allowed_files(
    raw_paths: Sequence[str], roots: Sequence[Path], own_data: Path | None = None
) -> list[Path]:
    """The regular files named, and those inside the folders named (hidden ones left out).

    ``roots`` are the only folders the API may read from (``allowed_paths``); system
    folders are refused even inside them, and so is ``own_data`` (the app's data folder).
    """
    files: list[Path] = []
    for raw in raw_paths:
        path = _named_path(raw)
        reason = refusal_reason(path, roots) or _own_data_reason(path, own_data)
        if reason is not None:
            raise PathNotAllowed(raw, reason)
        mode = path.stat().st_mode
        if stat.S_ISREG(mode):
            files.append(path)
        elif stat.S_ISDIR(mode):
            files.extend(_regular_files_under(path))
        else:
            raise PathNotAllowed(
                raw, "it is not a regular file or folder (a device, socket or pipe)"
            )
    return files


def allowed_folder(
    raw: str, roots: Sequence[Path] | None = None, own_data: Path | None = None
) -> Path:
    """A folder the API may watch: absolute, existing, inside ``roots`` when given, and
    not inside ``own_data`` (the app's data folder)."""
    path = _named_path(raw)
    reason = _own_data_reason(path, own_data)
    if reason is not None:
        raise PathNotAllowed(raw, reason)
    resolved_roots = [root.resolve() for root in roots] if roots is not None else None
    if resolved_roots is not None and not any(path.is_relative_to(r) for r in resolved_roots):
        raise PathNotAllowed(raw, "it is outside the folders this API may read")
    if not path.is_dir():
        raise PathNotAllowed(raw, "it is not a folder")
    return path


def _own_data_reason(path: Path, own_data: Path | None) -> str | None:
    """Allma's own files are not documents: indexing the database, the vectors or the
    backups would copy the library into itself, and watching them would re-index at
    every write the indexing makes. (A folder around it, the home folder say, is fine:
    the data folder is hidden there, and hidden folders are left out.)"""
    if own_data is None:
        return None
    data = own_data.expanduser().resolve()
    if path.is_relative_to(data):
        return f"it is inside Allma's own data folder ({data}), which holds no documents"
    return None


def _named_path(raw: str) -> Path:
    if "\x00" in raw:
        raise PathNotAllowed(repr(raw), "it contains a NUL character")
    try:
        path = Path(raw).expanduser()
    except RuntimeError:  # ``~name`` of a user this machine does not have
        raise PathNotAllowed(raw, "it names the home folder of an unknown user") from None
    if not path.is_absolute():
        raise PathNotAllowed(raw, "it is not an absolute path")
    try:
        return path.resolve(strict=True)
    except FileNotFoundError:
        raise NotFound(f"{raw} does not exist.", "Check the path on this machine.") from None
    except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop
        raise PathNotAllowed(raw, f"it cannot be opened ({error})") from None


def _regular_files_under(folder: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            candidate = Path(root) / name
            try:
                mode = candidate.lstat().st_mode
            except OSError:
                continue
            if stat.S_ISREG(mode):  # not a link, device, socket or pipe
                found.append(candidate)
    return found


# --- uploads --------------------------------------------------------------------------


def safe_file_name(name: str | None) -> str:
    """The last part of an uploaded file's name, refused if it could mean anything else."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not base or base in {".", ".."} or base.startswith(".") or "\x00" in base:
        raise PathNotAllowed(repr(name or ""), "an uploaded file needs a plain, visible file name")
    return base[:255]


async def save_upload(stream: BinaryIO, name: str, uploads_dir: Path) -> Path:
    """Copy an upload to ``uploads_dir/<content hash>/<name>`` piece by piece, off the loop.

    The same file uploaded twice lands on the same path, so re-indexing it is a no-op.
    """
    return await asyncio.to_thread(_save_upload_sync, stream, safe_file_name(name), uploads_dir)


def _save_upload_sync(stream: BinaryIO, name: str, uploads_dir: Path) -> Path:
    incoming = uploads_dir / INCOMING_FOLDER
    incoming.mkdir(parents=True, exist_ok=True)
    partial = incoming / secrets.token_hex(8)
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as target:
            while piece := stream.read(COPY_CHUNK_BYTES):
                digest.update(piece)
                target.write(piece)
        folder = uploads_dir / digest.hexdigest()[:16]
        final = folder / name
        with _UPLOAD_FOLDERS:
            folder.mkdir(exist_ok=True)
            os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return final


def remove_uploads(files: Sequence[Path]) -> None:
    """Delete uploaded copies (and their folder once empty); a file already gone is fine."""
    for path in files:
        with _UPLOAD_FOLDERS:
            try:
                path.unlink(missing_ok=True)
                path.parent.rmdir()
            except OSError:  # the folder holds another upload: it stays
                pass
