"""Opening a document in the user's own viewer, at the cited page where the viewer allows.

``xdg-open file.pdf#page=3`` drops the ``#page``: the page has to be given to the
viewer itself, and each takes it differently. Known viewers are tried in order of
how common they are on the platform; on macOS, Preview takes no page argument
(``open`` cannot pass one), which the caller is told so it can say so.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

Which = Callable[[str], str | None]


@dataclass(frozen=True)
class Viewer:
    name: str  # as shown to the user
    programs: tuple[str, ...]  # executables to look for
    page_arguments: Callable[[str, int], list[str]]  # (path, 1-based page) -> arguments


def _evince(path: str, page: int) -> list[str]:
    return ["--page-index", str(page), path]  # --page-index is 1-based (--page-label is not)


LINUX_VIEWERS: tuple[Viewer, ...] = (
    Viewer("Evince", ("evince",), _evince),
    Viewer("Okular", ("okular",), lambda path, page: ["--page", str(page), path]),
    Viewer("Zathura", ("zathura",), lambda path, page: ["--page", str(page), path]),
    Viewer("Atril", ("atril",), _evince),  # MATE's Evince
    Viewer("Xreader", ("xreader",), _evince),  # Cinnamon's Evince
    Viewer("qpdfview", ("qpdfview",), lambda path, page: [f"{path}#{page}"]),
    Viewer("MuPDF", ("mupdf", "mupdf-gl"), lambda path, page: [path, str(page)]),
)
WINDOWS_VIEWERS: tuple[Viewer, ...] = (
    Viewer("SumatraPDF", ("SumatraPDF",), lambda path, page: ["-page", str(page), path]),
    Viewer(
        "Adobe Acrobat Reader",
        ("Acrobat", "AcroRd32"),
        lambda path, page: ["/A", f"page={page}", path],
    ),
)
MACOS_NOTE = "macOS Preview cannot be told which page to open, so the file opens at its first page"


@dataclass(frozen=True)
class ViewerPlan:
    """How to open a file: a command (``argv``), or the desktop's default app (argv empty),
    with a note for the user when the page cannot be honoured."""

    argv: tuple[str, ...]
    viewer: str  # the viewer's name, or "" for the desktop's default app
    note: str = ""


def windows_candidates(environ: dict[str, str] | None = None) -> list[Path]:
    """Where SumatraPDF and Adobe's reader usually install, beyond the PATH."""
    env = dict(os.environ) if environ is None else environ
    roots = [env.get(key, "") for key in ("ProgramFiles", "ProgramFiles(x86)", "LOCALAPPDATA")]
    names = (
        "SumatraPDF/SumatraPDF.exe",
        "Adobe/Acrobat DC/Acrobat/Acrobat.exe",
        "Adobe/Acrobat Reader DC/Reader/AcroRd32.exe",
    )
    return [Path(root) / name for root in roots if root for name in names]


def plan_opening(
    path: str,
    page: int | None,
    *,
    platform: str = sys.platform,
    which: Which = shutil.which,
    viewers: Sequence[Viewer] | None = None,
    extra_candidates: Sequence[Path] = (),
) -> ViewerPlan:
    """How to open ``path`` at ``page`` (None: anywhere) with what this machine has."""
    is_pdf = Path(path).suffix.lower() == ".pdf"
    if page is None or not is_pdf:
        return ViewerPlan((), "")
    if platform == "darwin":
        return ViewerPlan((), "Preview", MACOS_NOTE)
    if viewers is None:
        viewers = WINDOWS_VIEWERS if platform.startswith("win") else LINUX_VIEWERS
    for viewer in viewers:
        for program in viewer.programs:
            found = which(program)
            if found is None:
                found = next(
                    (
                        str(candidate)
                        for candidate in extra_candidates
                        if candidate.stem == program and candidate.exists()
                    ),
                    None,
                )
            if found:
                return ViewerPlan((found, *viewer.page_arguments(path, page)), viewer.name)
    names = ", ".join(viewer.name for viewer in viewers)
    return ViewerPlan(
        (),
        "",
        f"No PDF viewer that can open at a page was found ({names}), so the file opens "
        "at its first page",
    )


NO_VIEWER_MESSAGE = (
    "No application on this computer opens {name}. Install a viewer for it "
    "(for PDF files: Evince, Okular or SumatraPDF), or read it here in Allma."
)
