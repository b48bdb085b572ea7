"""`allma watch` and `allma sync` as a user runs them: a real subprocess over the test server."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import allma
from tests.indexer.test_indexer_queue import write_notes


def test_watch_add_indexes_the_folder_and_sync_reports_each_kind_of_change(
    app_env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "papers"
    files = write_notes(folder, 3)

    added = allma(app_env, "watch", "add", str(folder), "--ignore", "*.bak")
    assert added.returncode == 0, added.stderr
    assert f"Watching {folder}" in added.stdout
    assert "3 added" in added.stdout

    files[0].unlink()
    files[1].write_text("Changed: the weir keeper opens the sluice at noon.\n")
    files[2].rename(folder / "renamed.txt")
    (folder / "new.txt").write_text("New: kingfishers nest in the bank.\n")
    (folder / "ignored.bak").write_text("left out by the rule")
    synced = allma(app_env, "sync", "--json")
    assert synced.returncode == 0, synced.stderr
    (report,) = json.loads(synced.stdout)
    assert report["removed"] == [str(files[0])]
    assert report["changed"] == [str(files[1])]
    assert report["moved"] == [{"from": str(files[2]), "to": str(folder / "renamed.txt")}]
    assert report["added"] == [str(folder / "new.txt")]
    assert report["unchanged"] == 0 and report["failed"] == []

    search = allma(app_env, "search", "--json", "weir keeper sluice")
    assert Path(json.loads(search.stdout)[0]["path"]).name == "note-001.txt"

    listed = json.loads(allma(app_env, "watch", "list", "--json").stdout)
    assert [(row["path"], row["state"]) for row in listed] == [(str(folder), "watching")]
    assert "*.bak" in listed[0]["ignore"]


def test_a_missing_watched_folder_is_reported_offline_and_nothing_is_removed(
    app_env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "drive" / "papers"
    write_notes(folder, 2)
    assert allma(app_env, "watch", "add", str(folder)).returncode == 0
    (tmp_path / "drive").rename(tmp_path / "unplugged")

    synced = allma(app_env, "sync")
    assert synced.returncode == 0, synced.stderr
    assert "not found (unplugged?); its documents are kept" in synced.stdout
    docs = json.loads(allma(app_env, "docs", "--json").stdout)
    assert len(docs) == 2
    listed = json.loads(allma(app_env, "watch", "list", "--json").stdout)
    assert listed[0]["state"] == "offline"


def test_watch_remove_keeps_the_documents_and_bad_paths_get_a_clear_message(
    app_env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "papers"
    write_notes(folder, 1)
    assert allma(app_env, "watch", "add", str(folder)).returncode == 0

    removed = allma(app_env, "watch", "remove", str(folder))
    assert removed.returncode == 0 and "Its documents stay" in removed.stdout
    assert len(json.loads(allma(app_env, "docs", "--json").stdout)) == 1

    missing = allma(app_env, "watch", "add", str(tmp_path / "nowhere"))
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr and "→" in missing.stderr
    not_watched = allma(app_env, "watch", "remove", str(tmp_path / "nowhere"))
    assert not_watched.returncode == 1 and "is not a watched folder" in not_watched.stderr
