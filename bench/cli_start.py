"""CLI start-up: wall time of `costobs` commands that do not start the stack.

    .venv/bin/python bench/cli_start.py [--runs 7]

Each command runs as a fresh process, as a user types it; the figure is the median of the
runs, after one untimed warm-up run that leaves the bytecode cache as an installed package has
it (children run without PYTHONDONTWRITEBYTECODE). Baseline in the same run: `python -c pass`
with the same interpreter (what any Python command costs on this machine at this moment).

Target: ≤ 300 ms wall for every command here. Printed beside it: the CPU time (user+sys) of
the process, and the wall time minus the baseline (what costobs itself adds). On a loaded
machine wall time grows with the wait for a core; CPU time does much less, so when the wall
figure misses the target but the CPU figure meets it the verdict says the machine was loaded.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
TARGET_MS = 300.0
LAZY_COMMANDS = ("replay", "dlq", "reprice", "currency")  # their modules load only when run

COMMANDS: list[tuple[str, list[str]]] = [
    ("baseline: python -c pass", [sys.executable, "-c", "pass"]),
    ("costobs --help", [str(BIN / "costobs"), "--help"]),
    ("costobs alerts --help", [str(BIN / "costobs"), "alerts", "--help"]),
    *((f"costobs {c} --help", [str(BIN / "costobs"), c, "--help"]) for c in LAZY_COMMANDS),
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


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median_ms(cmd: list[str], runs: int) -> tuple[float, float]:
    """Median wall and median CPU (user+sys) milliseconds of ``runs`` fresh runs of ``cmd``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = subprocess.DEVNULL
    subprocess.run(cmd, check=True, stdout=out, stderr=out, env=env)  # warm-up, fills the cache
    walls, cpus = [], []
    for _ in range(runs):
        cpu0, start = _children_cpu_s(), time.perf_counter()
        subprocess.run(cmd, check=True, stdout=out, stderr=out, env=env)
        walls.append((time.perf_counter() - start) * 1000)
        cpus.append((_children_cpu_s() - cpu0) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    worst_wall = worst_cpu = baseline = 0.0
    print(f"{'command':<28} {'wall':>8} {'cpu':>8} {'wall-base':>10}  (median of {args.runs})")
    for name, cmd in COMMANDS:
        wall, cpu = median_ms(cmd, args.runs)
        if name.startswith("baseline"):
            baseline = wall
        else:
            worst_wall, worst_cpu = max(worst_wall, wall), max(worst_cpu, cpu)
        print(f"{name:<28} {wall:5.0f} ms {cpu:5.0f} ms {wall - baseline:7.0f} ms")
    if worst_wall <= TARGET_MS:
        verdict = "met"
    elif worst_cpu <= TARGET_MS:
        verdict = "NOT met on wall time, met on CPU time: the machine was loaded"
    else:
        verdict = "NOT met"
    print(
        f"slowest command {worst_wall:.0f} ms wall, {worst_cpu:.0f} ms CPU, "
        f"{worst_wall - baseline:.0f} ms over baseline; target ≤ {TARGET_MS:.0f} ms: {verdict}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
