"""Which viewer opens a PDF at the cited page, and with which arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from allma_desktop.reader.viewers import MACOS_NOTE, plan_opening

PDF = "/home/ada/Papers/report.pdf"


def only(program: str) -> object:
    return lambda name: f"/usr/bin/{name}" if name == program else None


@pytest.mark.parametrize(
    ("program", "arguments"),
    [
        ("evince", ["--page-index", "7", PDF]),
        ("okular", ["--page", "7", PDF]),
        ("zathura", ["--page", "7", PDF]),
        ("atril", ["--page-index", "7", PDF]),
        ("qpdfview", [f"{PDF}#7"]),
        ("mupdf", [PDF, "7"]),
    ],
)
def test_each_linux_viewer_gets_the_page_its_own_way(program: str, arguments: list[str]) -> None:
    plan = plan_opening(PDF, 7, platform="linux", which=only(program))  # type: ignore[arg-type]
    assert plan.argv == (f"/usr/bin/{program}", *arguments)
    assert plan.note == ""


def test_evince_is_preferred_when_several_viewers_are_installed() -> None:
    plan = plan_opening(PDF, 2, platform="linux", which=lambda name: f"/usr/bin/{name}")
    assert plan.viewer == "Evince"


@pytest.mark.parametrize(
    ("program", "arguments"),
    [
        ("SumatraPDF", ["-page", "4", PDF]),
        ("AcroRd32", ["/A", "page=4", PDF]),
    ],
)
def test_windows_viewers_get_the_page_too(program: str, arguments: list[str]) -> None:
    plan = plan_opening(PDF, 4, platform="win32", which=only(program))  # type: ignore[arg-type]
    assert plan.argv == (f"/usr/bin/{program}", *arguments)


def test_a_windows_viewer_outside_the_path_is_found_where_it_installs(tmp_path: Path) -> None:
    sumatra = tmp_path / "SumatraPDF" / "SumatraPDF.exe"
    sumatra.parent.mkdir()
    sumatra.write_bytes(b"")
    plan = plan_opening(
        PDF, 4, platform="win32", which=lambda name: None, extra_candidates=[sumatra]
    )
    assert plan.argv == (str(sumatra), "-page", "4", PDF)


def test_macos_preview_cannot_open_at_a_page_and_says_so() -> None:
    plan = plan_opening(PDF, 9, platform="darwin", which=lambda name: None)
    assert plan.argv == ()
    assert plan.note == MACOS_NOTE


def test_with_no_known_viewer_the_default_app_is_used_and_the_user_told() -> None:
    plan = plan_opening(PDF, 3, platform="linux", which=lambda name: None)
    assert plan.argv == ()
    assert "No PDF viewer that can open at a page was found" in plan.note
    assert "Evince" in plan.note and "Okular" in plan.note


def test_files_without_pages_go_to_the_default_app() -> None:
    assert plan_opening("/notes/todo.md", None, which=only("evince")).argv == ()  # type: ignore[arg-type]
    assert plan_opening("/notes/plan.docx", 3, which=only("evince")).argv == ()  # type: ignore[arg-type]
