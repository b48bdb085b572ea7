"""Docs and benchmarks name folders relative to the repository, not one machine's paths."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# An absolute folder of the machine the text was written on (/work/..., /root/...). Example
# paths in a user's home (/home/me/papers, /home/ada/Archive) are examples, not machines.
MACHINE_PATH = re.compile(r"(?<![\w.~])/(?:work|root)/[\w./-]*")


def test_docs_and_bench_name_no_absolute_folders_of_a_machine() -> None:
    files = [*ROOT.glob("docs/*.md"), *ROOT.glob("bench/*"), ROOT / "README.md"]
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in files
        if path.is_file() and path.suffix != ".png"
        for match in MACHINE_PATH.finditer(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert found == []
