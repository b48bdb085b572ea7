"""GUI row (f): cold start of the app to its first painted main window vs a bare window.

    python -m bench.gui_startup [--runs 7]

Both are measured the same way, by ``packaging/measure_startup.py``'s ``measure_once``:
from just before the process is launched to the first painted frame of a QMainWindow,
each run with fresh, empty data/config/log folders, under Qt's offscreen platform. The
app is ``python -m allma_desktop --measure-startup`` (what the ``allma-desktop`` script
runs); the baseline is ``bench/bare_window.py``, an empty PySide6 main window of the same
size. App and baseline runs alternate, so a change in the machine's load hits both.
One warm-up run of each first fills the OS file cache and the .pyc cache (see
``keep_bytecode``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.common import Spread

ROOT = Path(__file__).resolve().parents[1]
TARGET_EXTRA_SECONDS = 0.35
APP_COMMAND = [sys.executable, "-m", "allma_desktop"]
BARE_COMMAND = [sys.executable, str(ROOT / "bench" / "bare_window.py")]


def startup_probe() -> Callable[[list[str]], float]:
    """``measure_once`` from packaging/measure_startup.py (a script, not a package)."""
    spec = importlib.util.spec_from_file_location(
        "measure_startup", ROOT / "packaging" / "measure_startup.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    measure: Callable[[list[str]], float] = module.measure_once
    return measure


def measure(runs: int) -> tuple[Spread, Spread]:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # as on CI, display or not
    with tempfile.TemporaryDirectory(prefix="allma-startup-pyc-") as bytecode_folder:
        keep_bytecode(bytecode_folder)
        return measure_warm(runs)


def keep_bytecode(folder: str) -> None:
    """Let the warm-up runs leave .pyc files, as an installed app has them.

    Under ``PYTHONDONTWRITEBYTECODE`` (set in some shells and CI images) nothing is
    cached, so every app run would compile the app's own modules again (~40 ms that the
    bare window, whose libraries ship compiled, never pays). The cache then goes to a
    temporary folder, not the source tree; both commands use it alike.
    """
    if os.environ.pop("PYTHONDONTWRITEBYTECODE", None):
        os.environ["PYTHONPYCACHEPREFIX"] = folder


def measure_warm(runs: int) -> tuple[Spread, Spread]:
    measure_once = startup_probe()
    measure_once(APP_COMMAND)  # warm the OS file cache and the .pyc files once
    measure_once(BARE_COMMAND)
    app: list[float] = []
    bare: list[float] = []
    for run in range(1, runs + 1):
        app.append(measure_once(APP_COMMAND))
        bare.append(measure_once(BARE_COMMAND))
        print(f"run {run}: app {app[-1]:.2f} s, bare window {bare[-1]:.2f} s", flush=True)
    return Spread(tuple(app)), Spread(tuple(bare))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    app, bare = measure(args.runs)
    # Paired differences: each app run against the bare run right after it.
    extra = Spread(tuple(a - b for a, b in zip(app.values, bare.values, strict=True)))
    print(f"app (python -m allma_desktop) : {app.describe('s', 2)}")
    print(f"bare PySide6 main window      : {bare.describe('s', 2)}")
    print(f"app minus bare, paired        : {extra.describe('s', 2)}")
    verdict = "met" if extra.median <= TARGET_EXTRA_SECONDS else "MISSED"
    print(
        f"ROW | (f) cold start to first painted window | {app.median:.2f} s | "
        f"{bare.median:.2f} s (bare PySide6 window) | +{extra.median:.2f} s | "
        f"<= +{TARGET_EXTRA_SECONDS} s | {verdict}"
    )


if __name__ == "__main__":
    main()
