"""Results as files and machine-readable text: rating CSVs (full precision), the manifest, the
survey's results and levels, and the JSON/CSV forms the command line prints."""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from ruamel.yaml import YAML

from sapa.engine.analysis import RatingComparison
from sapa.engine.diagnostics import CannotRun, Diagnostic
from sapa.engine.published import Conformance
from sapa.engine.rating import Rated


def check_output(out_dir: Path, inputs: Sequence[Path], force: bool = False) -> None:
    """Refuse, before any work, a results folder that would lose something: a file, a folder
    holding the inputs, or a folder of other files (unless `force`). An earlier results folder
    (its manifest.json says so) is replaced whole, so it holds exactly one run."""
    out = out_dir.resolve()
    if out_dir.is_file():
        raise CannotRun([Diagnostic("C106", f"--out {out_dir} is a file, not a folder")])
    for given in inputs:
        folder = given.resolve() if given.is_dir() else given.resolve().parent
        if out == folder or out in folder.parents:
            raise CannotRun([Diagnostic(
                "C107", f"--out {out_dir} holds the input data ({given}): the results would "
                "replace it", hint="write the results to a folder of their own")])
    if not out_dir.is_dir() or not any(out_dir.iterdir()) or force:
        return
    if not _is_results(out_dir):
        raise CannotRun([Diagnostic(
            "C108", f"--out {out_dir} holds other files, not an earlier sapa run",
            hint="choose an empty or new folder, or give --force to replace its contents")])


def _is_results(folder: Path) -> bool:
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "engine_version" in manifest


@contextmanager
def replacing(out_dir: Path) -> Iterator[Path]:
    """A fresh folder to write into that takes the place of `out_dir` only once everything is
    written (an interrupted run leaves the old results as they were)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.writing-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = out_dir.parent / f".{out_dir.name}.replaced-{os.getpid()}"
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(staging, out_dir)
    shutil.rmtree(old, ignore_errors=True)


def write_results(rated: Rated, manifest: dict[str, Any], out_dir: Path) -> None:
    """`<rating id>.csv` per rating, manifest.json, and for a survey `<results>.results.csv` and
    `<results>.levels.csv` (every aggregation level) per results table, written as one run
    (check_output first)."""
    with replacing(out_dir) as staging:
        _write_results(rated, manifest, staging)


def _write_results(rated: Rated, manifest: dict[str, Any], out_dir: Path) -> None:
    for rid, frame in rated.ratings.items():
        frame.to_csv(out_dir / f"{rid}.csv", index=False, encoding="utf-8")
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n",
                                           encoding="utf-8")
    for name, result in rated.surveys.items():
        result.table.to_csv(out_dir / f"{name}.results.csv", index=False)
        result.long.to_csv(out_dir / f"{name}.levels.csv", index=False)


def write_comparisons(results: list[RatingComparison], out_dir: Path) -> None:
    """One CSV per compared pair, named after the rating (or `a__b` when the ids differ)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for result in results:
        name = result.rating_a if result.rating_a == result.rating_b else \
            f"{result.rating_a}__{result.rating_b}"
        result.units.to_csv(out_dir / f"{name}.csv", index=False)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame as JSON-ready rows (missing values as null)."""
    return json.loads(frame.to_json(orient="records"))


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def ratings_json(frames: dict[str, pd.DataFrame]) -> str:
    return to_json({rid: records(frame) for rid, frame in frames.items()})


def ratings_csv(frames: dict[str, pd.DataFrame]) -> str:
    return "".join(f"# {rid}\n{frame.to_csv(index=False)}" for rid, frame in frames.items())


def conformance_json(result: Conformance) -> str:
    return to_json({"summary": records(result.summary), "cells": records(result.cells)})


def comparisons_json(results: list[RatingComparison]) -> str:
    return to_json([{
        "rating_a": r.rating_a, "rating_b": r.rating_b, "spearman": _finite(r.spearman),
        "kendall": _finite(r.kendall), "common": r.common, "moved": r.moved,
        "units": records(r.units)} for r in results])


def comparisons_csv(results: list[RatingComparison]) -> str:
    return "".join(f"# {r.rating_a} vs {r.rating_b}\n{r.units.to_csv(index=False)}"
                   for r in results)


def yaml_text(data: Any) -> str:
    """A spec's plain tree as block-style YAML (`sapa show --resolved`)."""
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 100
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _finite(value: float) -> float | None:
    """A number for JSON: NaN (too few units to correlate) is null, never the invalid NaN."""
    return None if value != value else value
