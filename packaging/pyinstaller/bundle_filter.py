"""What never goes into the frozen app, whatever is installed, each with the reason.

PyInstaller collects what static analysis finds imported and every library those files
link to; a package's hook may collect its whole folder. Some of that the app never loads:

- ``UNUSED_PACKAGE_FOLDERS``: folders inside a collected package (PyInstaller's hook for
  PyMuPDF collects the whole package folder, which on a machine with the dev extras holds
  49 MB of layout models and MuPDF's C headers).
- ``UNUSED_FILES``: single files, by folder and the start of their name (a wheel's bundled
  libraries carry a hash in their name: ``pillow.libs/libavif-c6062d5f.so.16.4.2``).
- ``SYSTEM_LIBRARIES``: libraries of the desktop (X11, fontconfig, D-Bus) that the app
  takes from the system, as PySide6's own wheel does.
- ``UNUSED_MODULES``: modules PyInstaller is told not to follow (``excludes``), so neither
  they nor the libraries only they link to are collected; ``UNUSED_FILES`` names those
  libraries as well, for the case where something else would bring them.

Kept out by path, so a newer package or another extra installed beside the app cannot
bring them back. ``tests/test_packaging.py`` checks each entry against the installed
packages and that the app's code paths never import the modules.
"""

from __future__ import annotations

from pathlib import PurePath

_LXML_EXTRAS = (
    "lxml's Schematron, SAX and E-factory APIs (0.5 MB); python-docx and BeautifulSoup "
    "use lxml.etree only"
)
_NUMPY_EXTRAS = (
    "numpy imports it only when it is first used (np.ma, np.polynomial, np.testing), "
    "which nothing in the app does"
)

# (package folder, sub-folder) -> why it is never shipped.
UNUSED_PACKAGE_FOLDERS: dict[tuple[str, ...], str] = {
    ("pymupdf", "layout"): "PyMuPDF's layout models (ONNX, 49 MB), loaded only by "
    "pymupdf.layout, which the app never imports",
    ("pymupdf", "mupdf-devel"): "MuPDF's C headers and link libraries, for building against MuPDF",
    ("pymupdf_layout",): "the layout models' own package (see above)",
    ("pymupdf4llm",): "PyMuPDF's Markdown export; the app parses with PyMuPDF itself",
    ("docx", "templates", "default-docx-template"): "the unpacked source of python-docx's "
    "templates/default.docx (1 MB of XML); no code of python-docx reads it, and the app "
    "only opens existing .docx files",
    ("lxml", "isoschematron"): _LXML_EXTRAS,
}

# (folder, start of the file name) -> why it is never shipped.
_AVIF = (
    "Pillow's AVIF codec (4.8 MB): Pillow decodes only WebP for the app "
    "(services/documents/images.py; every other picture goes to MuPDF), and "
    "PIL.AvifImagePlugin works without it (it marks AVIF unsupported)"
)
_LCMS = (
    "Pillow's colour management (LittleCMS): only converting to or from LAB, or "
    "ImageCms, loads it; the app converts WebP frames to RGB"
)
UNUSED_FILES: dict[tuple[str, str], str] = {
    ("PIL", "_avif."): _AVIF,
    ("pillow.libs", "libavif-"): _AVIF,
    ("PIL", "_imagingcms."): _LCMS,
    ("pillow.libs", "liblcms2-"): _LCMS,
    ("PIL", "_imagingtk."): "Pillow's Tk bridge; the app's windows are Qt's",
    ("lxml", "sax."): _LXML_EXTRAS,
    ("lxml", "builder."): _LXML_EXTRAS,
}

# Libraries of the Linux desktop the app runs on, taken from that system as PySide6's
# wheel takes them (it ships none of them); by the start of the file name, in the
# bundle's top folder. The bundle already takes libGL, libEGL, libxcb and libwayland
# from the system (PyInstaller never bundles them), so it starts only where a graphics
# stack is installed, and these come with every such desktop.
_X11 = (
    "X11's client library: Qt loads it beside libxcb.so.1, which the bundle already takes "
    "from the system, and libGL.so.1 (also the system's) needs it too"
)
_FONTS = (
    "fontconfig and FreeType: fontconfig must match the system's own fonts.conf (an older "
    "bundled one misreads a newer system's configuration and finds the wrong fonts); "
    "libexpat and libpng16 only they need"
)
_DBUS = (
    "the D-Bus client library of the desktop session (Qt's tray icon, portals and input "
    "methods talk through it), present on every Linux desktop; libsystemd, libgcrypt, "
    "libgpg-error, libcap and liblz4 only Debian's libdbus needs (2.8 MB in all)"
)
SYSTEM_LIBRARIES: dict[str, str] = {
    "libX11.so.": _X11,
    "libX11-xcb.so.": _X11,
    "libfontconfig.so.": _FONTS,
    "libfreetype.so.": _FONTS,
    "libexpat.so.": _FONTS,
    "libpng16.so.": _FONTS,
    "libdbus-1.so.": _DBUS,
    "libsystemd.so.": _DBUS,
    "libgcrypt.so.": _DBUS,
    "libgpg-error.so.": _DBUS,
    "libcap.so.": _DBUS,
    "liblz4.so.": _DBUS,
}

# Module -> why PyInstaller does not follow it.
UNUSED_MODULES: dict[str, str] = {
    "PIL._avif": _AVIF,
    "PIL._imagingcms": _LCMS,
    "PIL.ImageCms": _LCMS,
    "PIL._imagingtk": "Pillow's Tk bridge; the app's windows are Qt's",
    "PIL.ImageTk": "Pillow's Tk bridge; the app's windows are Qt's",
    "pydoc_data": "the text of Python's help() topics; the app never calls help()",
    "numpy.fft": "numpy loads it only when np.fft is used, which nothing in the app does",
    "numpy.ma": _NUMPY_EXTRAS,
    "numpy.polynomial": _NUMPY_EXTRAS,
    "numpy.testing": _NUMPY_EXTRAS,
    "unittest": "test runner; only numpy.testing imports it",
    "doctest": "test runner; only numpy.testing and lxml.doctestcompare import it",
    "pdb": "the debugger; only doctest imports it",
    "pydoc": "help()'s text; the app never calls help() (see pydoc_data)",
    "_pydecimal": "the pure-Python decimal, imported only when the C _decimal is missing",
    "lxml.isoschematron": _LXML_EXTRAS,
    "lxml.sax": _LXML_EXTRAS,
    "lxml.builder": _LXML_EXTRAS,
    "lxml.doctestcompare": _LXML_EXTRAS,
}

# The one-folder build's budget, in MB (du -sm); CI fails a build above it (issue 18).
# Measured on 2026-12-07 (Linux, x86-64, Debian 12): 247 MB with everything above left
# out, Pillow's libXau compacted (allma.spec, elf_compact.py) and build.sh's numpy (no
# BLAS, no per-CPU variants); 257 MB that morning, before python-docx's template folder,
# lxml's extras, numpy.ma/polynomial/testing and the test runners (2.5 MB), the libXau
# compaction (2 MB) and SYSTEM_LIBRARIES (5.7 MB) went out.
# What remains is loaded by the app: PySide6 (61 MB), chromadb's Rust core (57 MB),
# PyMuPDF (50 MB, fonts and Tesseract inside), cryptography (12 MB; the MCP server's SDK
# seals request state with AES-GCM when the server is made), Pillow's core with WebP
# (4 MB) and smaller pieces. With the wheel's numpy (build.sh could not build its own)
# the folder is about 280 MB (33 MB more) and CI fails, as it should: the size is then wrong.
ONE_FOLDER_BUDGET_MB = 250


def left_out(dest: str) -> str | None:
    """Why a collected file (by its path inside the bundle) is not shipped; None if it is."""
    parts = PurePath(dest).parts
    for folders, reason in UNUSED_PACKAGE_FOLDERS.items():
        if parts[: len(folders)] == folders:
            return reason
    if len(parts) == 1:
        for start, reason in SYSTEM_LIBRARIES.items():
            if parts[0].startswith(start):
                return reason
    if len(parts) == 2:
        for (folder, start), reason in UNUSED_FILES.items():
            if parts[0] == folder and parts[1].startswith(start):
                return reason
    return None
