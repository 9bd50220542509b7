"""CLI start-up: wall time of `costobs` commands that do not start the stack.

    .venv/bin/python bench/cli_start.py [--runs 7]

Each command runs as a fresh process, as a user types it; the figure is the median of the
runs. Baseline in the same run: `python -c pass` with the same interpreter (what any Python
command costs on this machine at this moment). Target: ≤ 300 ms for every command here.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
TARGET_MS = 300.0

COMMANDS: list[tuple[str, list[str]]] = [
    ("baseline: python -c pass", [sys.executable, "-c", "pass"]),
    ("costobs --help", [str(BIN / "costobs"), "--help"]),
    ("costobs alerts --help", [str(BIN / "costobs"), "alerts", "--help"]),
    (
        "costobs pricing quote",
        [
            str(BIN / "costobs"),
            "pricing",
            "quote",
            "--provider",
            "openai",
            "--model",
            "gpt-4o",
            "--usage",
            '{"input_tokens": 1000, "output_tokens": 200}',
        ],
    ),
    (
        "costobs pricing explain",
        [
            str(BIN / "costobs"),
            "pricing",
            "explain",
            "--provider",
            "anthropic",
            "--model",
            "claude-sonnet-4-5",
        ],
    ),
]


def median_ms(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    worst = 0.0
    for name, cmd in COMMANDS:
        ms = median_ms(cmd, args.runs)
        if not name.startswith("baseline"):
            worst = max(worst, ms)
        print(f"{name:<28} {ms:7.0f} ms (median of {args.runs})")
    verdict = "met" if worst <= TARGET_MS else "NOT met"
    print(f"slowest command {worst:.0f} ms; target ≤ {TARGET_MS:.0f} ms: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
