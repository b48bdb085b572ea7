"""The long Schemathesis run over the local API (opt-in; not part of the test suite).

    python -m tests.support.api_fuzz_run --minutes 10

Starts the API as the contract tests do (a real uvicorn server over a fresh library
of the sample documents, the Ollama-protocol test server for the models) in a
temporary folder, then runs the ``st`` command against it for the given time: every
phase (examples, coverage, fuzzing, stateful), the same checks and expected statuses
as ``tests/api/test_contract.py``, one worker. Prints Schemathesis' own summary (the
number of requests and failures) and exits with its status.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.api.conftest import running_api
from tests.api.test_contract import CHECKS
from tests.support.ollama_server import OllamaTestServer


def config_toml(checks: dict[str, dict[str, list[str]]]) -> str:
    lines: list[str] = []
    for check, options in checks.items():
        lines.append(f"[checks.{check}]")
        for key, values in options.items():
            quoted = ", ".join(f'"{value}"' for value in values)
            lines.append(f"{key} = [{quoted}]")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--report", type=Path, help="write Schemathesis' JSON report here")
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the server's request log would bury the summary
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    if st is None:
        print("The `st` command (schemathesis) is missing: run scripts/setup.sh --dev.")
        return 2
    with tempfile.TemporaryDirectory(prefix="allma-api-fuzz-") as folder:
        root = Path(folder)
        config = root / "schemathesis.toml"
        config.write_text(config_toml(CHECKS), encoding="utf-8")
        with OllamaTestServer() as ollama, running_api(ollama, root / "api") as api:
            command = [
                st,
                "--config-file",
                str(config),
                "run",
                f"{api.url}/openapi.json",
                "--header",
                f"Authorization: Bearer {api.token}",
                "--max-time",
                str(int(args.minutes * 60)),
                "--continue-on-failure",
                "--workers",
                "1",
                "--seed",
                str(args.seed),
                "--request-timeout",
                "60",
            ]
            if args.report is not None:
                command += ["--report", "json", "--report-json-path", str(args.report)]
            started = time.monotonic()
            result = subprocess.run(command, check=False)
            print(f"\nran for {time.monotonic() - started:.0f} s against {api.url}")
            return result.returncode


if __name__ == "__main__":
    sys.exit(main())
