"""How long a command takes to start: `sapa --help`, `sapa list`, `sapa validate` of a
small spec and of the bundled 2020 method, each run 10 times in a fresh process; prints the
median (target 0.3 s for --help).

    python benchmarks/bench_startup.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = (["--help"], ["list"], ["validate", str(ROOT / "tests" / "specs" / "survey.yaml")],
            ["validate", "2020"])  # the last: a bundled method, with its crosswalks


def median_seconds(arguments: list[str], runs: int = 10) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sapa", *arguments], check=True,
                       stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    for arguments in COMMANDS:
        shown = " ".join(a if "/" not in a else Path(a).name for a in arguments)
        print(f"sapa {shown}: median of 10 runs {median_seconds(arguments):.2f} s")


if __name__ == "__main__":
    main()
