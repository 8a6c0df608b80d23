"""Bootstrap intervals (`sapa rate --uncertainty`): time on the bundled 2020 data, on a small
one-question survey and on a million synthetic 2020 respondents, against the targets (2020,
1,000 replicates: 10 s; 20 units x 2,000 replicates: 1 s; 1M respondents, 200 replicates:
60 s). On the small survey, beside what a user would write instead: the same bootstrap of unit
means in vectorised NumPy (a draws matrix times the marks), same run.
Run: python benchmarks/bench_uncertainty.py [--reps 1000] [--large 1000000] [--large-reps 200]
(--large 0 skips the large case)"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sapa.engine import api  # noqa: E402
from sapa.engine.uncertainty import bootstrap  # noqa: E402
from tests import synthetic  # noqa: E402


def timed(spec: object, tables: dict[str, pd.DataFrame], reps: int) -> float:
    start = time.perf_counter()
    bootstrap(spec, tables, reps, seed=0)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--large-reps", type=int, default=200)
    args = parser.parse_args()
    spec, _ = api.check("2020")
    tables, _ = api.read(spec, api.data_folder("2020", spec, None))
    respondents = len(tables["respondents"])
    print(f"2020 bundled data ({respondents:,} respondents), {args.reps} replicates: "
          f"{timed(spec, tables, args.reps):.1f} s (target 10 s)")
    small, _ = api.check(str(ROOT / "tests" / "specs" / "coverage.yaml"))
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        units = [f"u{i}" for i in range(20)]
        pd.DataFrame({"code": units}).to_csv(Path(folder) / "units.csv", index=False)
        unit = np.repeat(units, 50)
        pd.DataFrame({"id": np.arange(len(unit)).astype(str), "unit": unit,
                      "mark": rng.integers(1, 6, len(unit))}).to_csv(
            Path(folder) / "respondents.csv", index=False)
        data, _ = api.read(small, Path(folder))
    engine = timed(small, data, 2000)
    marks = data["respondents"]["mark"].to_numpy(dtype=float)
    start = time.perf_counter()
    hand = hand_written(marks, np.repeat(np.arange(20), 50), 2000, np.random.default_rng(0))
    numpy_time = time.perf_counter() - start
    found = bootstrap(small, data, 2000, seed=0).tables["units"]
    width = (found["score_high"] - found["score_low"]).median()
    print(f"20 units x 50 respondents, 2000 replicates: {engine:.2f} s (target 1 s); "
          f"hand-written NumPy {numpy_time:.3f} s, ratio {engine / numpy_time:.0f}x; median "
          f"90 % width engine {width:.3f}, NumPy {np.median(hand[1] - hand[0]):.3f}")
    if args.large:
        large(spec, args.large, args.large_reps)


def large(spec: object, respondents: int, reps: int) -> None:
    """The 2020 method on synthetic respondents (tests/synthetic.py), all ratings."""
    with tempfile.TemporaryDirectory() as folder:
        tables = synthetic.catalogues(0)
        tables["respondents"] = synthetic.respondents(spec, tables, respondents, 0)
        data, _ = api.read(spec, synthetic.write(tables, Path(folder) / "data"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    seconds = timed(spec, data, reps)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    print(f"{respondents:,} synthetic 2020 respondents, {reps} replicates: {seconds:.1f} s "
          f"(target 60 s); peak memory {peak:.2f} GiB (before the bootstrap {before:.2f} GiB)")


def hand_written(marks: np.ndarray, unit: np.ndarray, reps: int, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """What a user would write for one question: resample within units, mean per unit, 5th
    and 95th percentiles per unit (respondents sorted by unit, equal sizes)."""
    size = np.bincount(unit)
    start = np.r_[0, np.cumsum(size)[:-1]]
    picks = start[unit] + np.floor(rng.random((reps, len(unit))) * size[unit]).astype(int)
    means = marks[picks].reshape(reps, len(size), -1).mean(axis=2)
    return np.percentile(means, 5, axis=0), np.percentile(means, 95, axis=0)


if __name__ == "__main__":
    main()
