"""Saving an upload while a finished job removes another copy of the same file.

Uploads land in ``uploads/<content hash>/<name>``: the same file sent twice shares its
folder, and a job whose file failed removes the file and, once empty, the folder. The
10-minute Schemathesis run found the race: the folder went away between a save's
``mkdir`` and its rename into it, and the upload answered 500.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

from allma_desktop.api.ingest_sources import _save_upload_sync, remove_uploads

ROUNDS = 400


def test_saving_an_upload_survives_its_folder_being_removed_at_the_same_time(
    tmp_path: Path,
) -> None:
    uploads = tmp_path / "uploads"
    content = b"the same bytes each time\n"
    final = _save_upload_sync(io.BytesIO(content), "notes.txt", uploads)
    stop = threading.Event()

    def remove_again_and_again() -> None:
        while not stop.is_set():
            remove_uploads([final])

    remover = threading.Thread(target=remove_again_and_again)
    remover.start()
    failures: list[BaseException] = []
    try:
        for _ in range(ROUNDS):
            try:
                saved = _save_upload_sync(io.BytesIO(content), "notes.txt", uploads)
            except OSError as error:
                failures.append(error)
                continue
            assert saved == final
    finally:
        stop.set()
        remover.join()
    assert not failures, f"{len(failures)} of {ROUNDS} saves failed: {failures[0]!r}"
    assert not list((uploads / ".incoming").iterdir())  # nothing half-saved left behind
