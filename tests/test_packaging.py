"""The packaging hooks: --version, --self-test, and the files a build must ship."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def test_pymupdfs_layout_models_and_c_headers_stay_out_of_the_build() -> None:
    sys.path.insert(0, str(ROOT / "packaging" / "pyinstaller"))
    try:
        from bundle_filter import in_unused_folder
    finally:
        sys.path.remove(str(ROOT / "packaging" / "pyinstaller"))

    assert in_unused_folder("pymupdf/layout/onnx/model.onnx")
    assert in_unused_folder("pymupdf/mupdf-devel/include/mupdf/fitz.h")
    assert not in_unused_folder("pymupdf/libmupdf.so.28.5")
    assert not in_unused_folder("allma_desktop/resources/icons/allma.svg")


def test_the_allma_spec_filters_with_it_and_ci_checks_the_budget() -> None:
    assert "in_unused_folder(dest)" in (ROOT / "allma.spec").read_text(encoding="utf-8")
    ci = (ROOT / "packaging" / "ci-build-and-selftest.sh").read_text(encoding="utf-8")
    assert "ONE_FOLDER_BUDGET_MB" in ci and "du -sm dist/allma" in ci
