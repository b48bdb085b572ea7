"""Ignore rules and the folder walk: which files a rescan keeps, and what it reports."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from allma_desktop.indexer.rules import DEFAULT_IGNORES, IgnoreRules
from allma_desktop.indexer.scan import (
    KnownFiles,
    _with_separator,
    compare,
    scan_folder,
    walk_folder,
)

TEXT = frozenset({".txt", ".md", ".pdf"})


@pytest.mark.parametrize(
    ("name", "skipped"),
    [
        ("notes.txt", False),
        ("download.pdf.part", True),  # *.part
        ("~$report.docx", True),  # ~$*
        ("x.crdownload", True),
        (".hidden.md", True),  # hidden files always
        ("part.notes.txt", False),  # "part" inside, not at the end
        ("notes.tmp.txt", False),
    ],
)
def test_the_default_rules_leave_out_partial_downloads_office_locks_and_hidden_files(
    name: str, skipped: bool
) -> None:
    assert IgnoreRules(DEFAULT_IGNORES).skips_file(name, name) is skipped


@pytest.mark.parametrize(
    ("pattern", "kept", "left_out"),
    [
        ("draft*", "final.md", "draft-2.md"),  # a prefix
        ("*-old.md", "plan.md", "plan-old.md"),  # a suffix
        ("report-??.md", "report-123.md", "report-12.md"),  # other globs stay globs
        ("[Dd]raft.md", "raft.md", "Draft.md"),
        ("*", None, "anything.md"),  # everything
        ("exact.md", "exact.md.bak", "exact.md"),
    ],
)
def test_each_shape_of_name_glob_matches_as_fnmatch_does(
    pattern: str, kept: str | None, left_out: str
) -> None:
    rules = IgnoreRules((pattern,))
    if kept is not None:
        assert not rules.skips_file(kept, kept)
    assert rules.skips_file(left_out, left_out)


def test_the_walk_keeps_exactly_what_the_rules_keep_one_file_at_a_time(tmp_path: Path) -> None:
    names = [
        "a.txt", "draft-1.md", "b-old.md", ".secret.md", "~$lock.md", "c.pdf.part",
        "report-12.md", "report-123.md", "Readme.MD", "picture.xyz", "deep/e.md",
        "deep/draft-x.txt", "skipme/f.md", "deep/more/g.pdf",
    ]  # fmt: skip
    for name in names:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    rules = IgnoreRules(("draft*", "*-old.md", "report-??.md", "skipme/", "*.part"))

    walked = {Path(path).relative_to(tmp_path).as_posix() for path, _, _ in
              walk_folder(tmp_path, rules, TEXT).files}  # fmt: skip

    one_at_a_time = {
        name for name in names
        if Path(name).suffix.lower() in TEXT and not rules.skips_relative(name)
    }  # fmt: skip
    assert walked == one_at_a_time
    assert walked == {
        "a.txt", "~$lock.md", "report-123.md", "Readme.MD", "deep/e.md", "deep/more/g.pdf"
    }  # fmt: skip


def test_a_walk_gives_each_files_full_path_size_and_time(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    file = tmp_path / "sub" / "n.txt"
    file.write_text("twelve bytes")

    ((path, size, mtime),) = walk_folder(tmp_path, IgnoreRules(), TEXT).files

    assert path == str(file)
    assert (size, mtime) == (file.stat().st_size, file.stat().st_mtime)


def test_a_walk_lists_files_in_path_order_as_the_library_gives_its_rows(tmp_path: Path) -> None:
    # "b0.txt" and "b.txt" sort on either side of the folder "b"'s files ("b/" between).
    for name in ["b0.txt", "b/z.txt", "b/a.txt", "b.txt", "a.md", "c/d/e.txt", "B.txt"]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)

    paths = [path for path, _, _ in walk_folder(tmp_path, IgnoreRules(), TEXT).files]

    assert paths == sorted(paths)
    assert len(paths) == 7


def test_an_unchanged_tree_is_all_unchanged_and_one_changed_file_is_found(
    tmp_path: Path,
) -> None:
    for n in range(20):
        (tmp_path / f"n{n}.txt").write_text(str(n))
    walk = walk_folder(tmp_path, IgnoreRules(), TEXT)
    known = KnownFiles()
    known.add(walk.files)

    assert compare(walk, known).unchanged == 20

    path, size, mtime = walk.files[3]
    known.rows[3] = (path, size, mtime - 5)  # the library has an older copy
    again = compare(walk_folder(tmp_path, IgnoreRules(), TEXT), known)
    assert again.unchanged == 19
    assert [found.path for found in again.changed] == [path]
    assert again.gone == again.new == []


def test_a_rescan_finds_new_changed_and_gone_files(tmp_path: Path) -> None:
    for n in range(6):
        (tmp_path / f"n{n}.txt").write_text(str(n))
    known = KnownFiles()
    known.add(walk_folder(tmp_path, IgnoreRules(), TEXT).files)
    changed = tmp_path / "n1.txt"
    changed.write_text("longer than it was")
    (tmp_path / "n2.txt").unlink()
    (tmp_path / "new.txt").write_text("new")

    result = scan_folder(tmp_path, IgnoreRules(), TEXT, known)

    assert result.unchanged == 4
    assert [found.path for found in result.changed] == [str(changed)]
    assert [found.path for found in result.new] == [str(tmp_path / "new.txt")]
    assert result.gone == [str(tmp_path / "n2.txt")]


@pytest.mark.parametrize(
    ("folder", "base"),
    [("/", "/"), ("/home/ann", "/home/ann/"), ("/home/ann/", "/home/ann/")],
)
def test_a_files_path_gets_one_separator_even_under_a_root(folder: str, base: str) -> None:
    # Watching a whole drive (C:\ or /): its files' paths must be the ones the library has.
    assert _with_separator(folder) == base
    assert _with_separator(folder) + "notes.txt" == os.path.join(folder, "notes.txt")
