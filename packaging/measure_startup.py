"""Start-up time of a build, from launching the process to the first painted frame of
the main window; run N times, print each run and the median.

    python packaging/measure_startup.py dist/allma/allma          # one-folder app
    python packaging/measure_startup.py -n 5 dist/allma-onefile   # one-file binary
    python packaging/measure_startup.py python -m allma_desktop   # from source

Each run gets fresh, empty data/config/log folders (a first start, no library to open)
and passes ``--measure-startup``: the app prints the wall-clock time of its first frame
and quits. Time is measured from just before the launch here, so a one-file binary's
unpacking counts. Without a display the runs use Qt's offscreen platform.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIRST_PAINT = re.compile(r"first-paint-epoch=([0-9.]+)")
TIMEOUT = 120.0


def measure_once(command: list[str]) -> float:
    with tempfile.TemporaryDirectory(prefix="allma-startup-") as folder:
        env = dict(os.environ)
        for name in ("ALLMA_DATA_DIR", "ALLMA_CONFIG_DIR", "ALLMA_LOG_DIR"):
            env[name] = str(Path(folder) / name.lower())
        if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
            env.setdefault("QT_QPA_PLATFORM", "offscreen")
        started = time.time()
        done = subprocess.run(
            [*command, "--measure-startup"],
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    found = FIRST_PAINT.search(done.stdout)
    if found is None:
        raise SystemExit(
            f"no first-paint line (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return float(found.group(1)) - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=5)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="how to start the app")
    options = parser.parse_args()
    if not options.command:
        parser.error("say how to start the app, e.g. dist/allma/allma")
    command = [sys.executable if options.command[0] == "python" else options.command[0]]
    command += options.command[1:]
    times = []
    for run in range(1, options.runs + 1):
        seconds = measure_once(command)
        times.append(seconds)
        print(f"run {run}: {seconds:.2f} s")
    print(f"median of {len(times)}: {statistics.median(times):.2f} s to the first painted frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
