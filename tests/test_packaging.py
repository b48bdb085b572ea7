"""The packaging hooks: --version, --self-test, and the files a build must ship."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from allma_desktop import __version__
from allma_desktop.bundle import resource_path
from allma_desktop.selftest import SAMPLE_FILES, handle_packaging_flags, hashed_embedding


def test_version_flag_prints_the_version_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert handle_packaging_flags(["allma", "--version"]) == 0
    assert capsys.readouterr().out.strip() == f"Allma Desktop {__version__}"


def test_file_arguments_leave_the_app_to_start_normally() -> None:
    assert handle_packaging_flags(["allma", "notes.pdf"]) is None


def test_icons_and_self_test_samples_are_package_data() -> None:
    assert resource_path("icons", "allma.svg").is_file()
    for name in SAMPLE_FILES:
        assert resource_path("samples", name).is_file()


def test_stand_in_embedding_ranks_a_passage_sharing_words_above_one_that_does_not() -> None:
    query = hashed_embedding("lighthouse keeper tide")
    related = hashed_embedding("The lighthouse keeper logs the tide at dawn.")
    unrelated = hashed_embedding("Sourdough needs a starter fed with flour.")

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(query, related) > cosine(query, unrelated)


def test_self_test_passes_from_source_without_ollama(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    for name in ("ALLMA_DATA_DIR", "ALLMA_CONFIG_DIR", "ALLMA_LOG_DIR"):
        env[name] = str(tmp_path / name.lower())
    done = subprocess.run(
        [sys.executable, "-m", "allma_desktop", "--self-test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "self-test passed" in done.stdout
    assert not (tmp_path / "allma_data_dir").exists()  # the user's library is never touched


ROOT = Path(__file__).resolve().parents[1]


def test_the_license_pyproject_names_is_in_the_repository_as_an_spdx_expression() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    # A string, not the `{ text = ... }` table setuptools warns about on every install.
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License")
    assert "AGPL-3.0" in license_text  # what the packaged app is distributed under


def _packaging_module(name: str) -> Any:
    """A module of packaging/pyinstaller (the spec's helpers, not a package)."""
    sys.path.insert(0, str(ROOT / "packaging" / "pyinstaller"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "packaging" / "pyinstaller"))


def _bundle_filter() -> Any:
    return _packaging_module("bundle_filter")


def _installed_folder(folder: str) -> Path:
    """Where a bundle's top folder (a package, or a wheel's ``NAME.libs``) is installed."""
    return Path(sysconfig.get_paths()["purelib"]) / folder


def test_pymupdfs_layout_models_and_c_headers_stay_out_of_the_build() -> None:
    left_out = _bundle_filter().left_out

    assert left_out("pymupdf/layout/onnx/model.onnx")
    assert left_out("pymupdf/mupdf-devel/include/mupdf/fitz.h")
    assert left_out("pymupdf_layout/__init__.py")
    assert left_out("pymupdf/libmupdf.so.28.5") is None
    assert left_out("allma_desktop/resources/icons/allma.svg") is None


def test_each_left_out_file_is_one_the_installed_packages_have_and_is_kept_out() -> None:
    bundle_filter = _bundle_filter()

    for (folder, start), reason in bundle_filter.UNUSED_FILES.items():
        installed = _installed_folder(folder)
        if not installed.is_dir():
            continue  # a platform whose wheel has no such folder (Windows: no pillow.libs)
        names = [p.name for p in installed.iterdir() if p.name.startswith(start)]
        assert names, f"{folder}/{start}* is in no installed file: a stale entry ({reason})"
        for name in names:
            assert bundle_filter.left_out(f"{folder}/{name}") == reason
    # What the app does use stays: Pillow's core, its WebP codec and WebP's library.
    for folder, start in (("PIL", "_imaging."), ("PIL", "_webp."), ("pillow.libs", "libwebp-")):
        for path in _installed_folder(folder).glob(f"{start}*"):
            assert bundle_filter.left_out(f"{folder}/{path.name}") is None


@pytest.mark.skipif(shutil.which("readelf") is None, reason="needs readelf (binutils)")
def test_no_kept_library_of_pillow_links_to_one_left_out() -> None:
    """A left-out library that a shipped one lists as NEEDED would break the build at start."""
    bundle_filter = _bundle_filter()
    shipped = [
        path
        for folder in ("PIL", "pillow.libs")
        for path in _installed_folder(folder).glob("*.so*")
        if bundle_filter.left_out(f"{folder}/{path.name}") is None
    ]
    left_out_libraries = {
        path.name
        for path in _installed_folder("pillow.libs").glob("*.so*")
        if bundle_filter.left_out(f"pillow.libs/{path.name}")
    }
    assert shipped and left_out_libraries
    for path in shipped:
        dynamic = subprocess.run(
            ["readelf", "-d", str(path)], capture_output=True, text=True, check=True
        ).stdout
        assert not [name for name in left_out_libraries if f"[{name}]" in dynamic], path.name


def test_the_apps_code_paths_never_import_the_left_out_modules(tmp_path: Path) -> None:
    """The front ends, the MCP server and a WebP read through Pillow, in a fresh process."""
    from PIL import Image

    picture = tmp_path / "note.webp"
    Image.new("RGB", (40, 20), "white").save(picture, "WEBP")
    script = f"""
import sys
import allma_desktop.gui.app, allma_desktop.cli, allma_desktop.api.app, allma_desktop.api.mcp_http
from allma_desktop.mcp_server import create_mcp_server
create_mcp_server(lambda: None)
from allma_desktop.services.documents.images import open_picture
with open_picture(__import__("pathlib").Path({str(picture)!r})) as document:
    assert document.page_count == 1
print("\\n".join(sorted(sys.modules)))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert "PIL.Image" in loaded and "PIL.WebPImagePlugin" in loaded
    assert loaded.isdisjoint(_bundle_filter().UNUSED_MODULES)


def test_the_allma_spec_excludes_the_left_out_modules() -> None:
    spec = (ROOT / "allma.spec").read_text(encoding="utf-8")

    assert "*UNUSED_MODULES" in spec and "left_out(dest) is not None" in spec


def test_ci_checks_the_budget() -> None:
    ci = (ROOT / "packaging" / "ci-build-and-selftest.sh").read_text(encoding="utf-8")
    assert "ONE_FOLDER_BUDGET_MB" in ci and "du -sm dist/allma" in ci


def test_pythons_unused_pieces_of_lxml_and_python_docx_stay_out_and_what_they_use_stays() -> None:
    left_out = _bundle_filter().left_out

    assert left_out("docx/templates/default-docx-template/word/styles.xml")
    assert left_out("lxml/isoschematron/resources/rng/iso-schematron.rng")
    assert left_out("lxml/sax.cpython-311-x86_64-linux-gnu.so")
    assert left_out("lxml/builder.cpython-311-x86_64-linux-gnu.so")
    # python-docx's own templates (a document without a styles part gets these), lxml.etree
    assert left_out("docx/templates/default-styles.xml") is None
    assert left_out("docx/templates/default.docx") is None
    assert left_out("lxml/etree.cpython-311-x86_64-linux-gnu.so") is None
    assert left_out("lxml/_elementpath.cpython-311-x86_64-linux-gnu.so") is None


def test_no_code_of_python_docx_reads_the_unpacked_template_folder() -> None:
    import docx

    package = Path(docx.__file__).parent
    assert (package / "templates" / "default-docx-template").is_dir()
    sources = "".join(path.read_text(encoding="utf-8") for path in package.rglob("*.py"))
    assert "default-docx-template" not in sources


def test_the_desktops_own_libraries_come_from_the_system_and_the_rest_stays_bundled() -> None:
    left_out = _bundle_filter().left_out

    for name in ("libX11.so.6", "libX11-xcb.so.1", "libfontconfig.so.1", "libfreetype.so.6"):
        assert left_out(name), name
    for name in ("libdbus-1.so.3", "libsystemd.so.0", "libgcrypt.so.20", "liblz4.so.1"):
        assert left_out(name), name
    # What a desktop often lacks (Qt 6's xcb-cursor), or what Python and Qt need in a
    # given version, stays in the bundle.
    for name in ("libxcb-cursor.so.0", "libxkbcommon.so.0", "libzstd.so.1", "libz.so.1"):
        assert left_out(name) is None, name
    for name in ("libcrypto.so.3", "libstdc++.so.6", "libsqlite3.so.0", "libbrotlidec.so.1"):
        assert left_out(name) is None, name
    assert left_out("PySide6/Qt/lib/libQt6DBus.so.6") is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux libraries")
def test_pyside6s_wheel_ships_none_of_the_libraries_taken_from_the_system() -> None:
    """The frozen app asks of the system what `pip install PySide6` already asks of it."""
    qt_lib = _installed_folder("PySide6") / "Qt" / "lib"
    assert qt_lib.is_dir()
    shipped = [path.name for path in qt_lib.iterdir()]
    for start in _bundle_filter().SYSTEM_LIBRARIES:
        assert not [name for name in shipped if name.startswith(start)], start


def _elf_compact() -> Any:
    return _packaging_module("elf_compact")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux shared libraries")
def test_a_compacted_library_loses_its_zeros_and_still_loads_and_runs(tmp_path: Path) -> None:
    """Pillow's libXau: 2 MB of zeros patchelf left in the file; the copy loads and works."""
    import ctypes

    found = sorted(_installed_folder("pillow.libs").glob("libXau-*.so*"))
    if not found:
        pytest.skip("this Pillow wheel bundles no libXau")
    original = found[0].read_bytes()
    smaller = _elf_compact().compacted(original)

    assert smaller is not None and len(smaller) < len(original) - 1_500_000
    copy = tmp_path / found[0].name
    copy.write_bytes(smaller)
    library = ctypes.CDLL(str(copy))
    library.XauFileName.restype = ctypes.c_char_p
    assert library.XauFileName()  # the path of the X authority file, from the copy's code


def test_a_library_without_a_run_of_zeros_is_left_as_it_is() -> None:
    compacted = _elf_compact().compacted
    libraries = sorted(_installed_folder("PIL").glob("_imaging.*.so"))
    assert libraries
    assert compacted(libraries[0].read_bytes()) is None
    assert compacted(b"not an ELF file") is None
