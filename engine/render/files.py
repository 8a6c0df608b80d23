"""Results as files and machine-readable text: rating CSVs (full precision), the manifest, the
survey's results and levels, and the JSON/CSV forms the command line prints."""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
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


def write_results(rated: Rated, manifest: dict[str, Any], out_dir: Path,
                  also: Callable[[Path], None] | None = None,
                  ratings: Mapping[str, pd.DataFrame] | None = None) -> None:
    """`<rating id>.csv` per rating, manifest.json, and for a survey `<results>.results.csv` and
    `<results>.levels.csv` (every aggregation level) per results table, written as one run
    (check_output first); `also` writes more into the same run (a workbook); `ratings` stand
    in for the rated ones (with their intervals)."""
    with replacing(out_dir) as staging:
        _write_results(rated, manifest, staging, ratings or rated.ratings)
        if also is not None:
            also(staging)


def write_file(path: Path, write: Callable[[Path], None], inputs: Sequence[Path],
               force: bool = False) -> None:
    """One output file, written aside and moved in place whole; never over an input, nor
    over an existing file unless `force`."""
    target = path.resolve()
    if path.is_dir():
        raise CannotRun([Diagnostic("C106", f"--out {path} is a folder; give a file name")])
    if any(target == given.resolve() or given.resolve() in target.parents for given in inputs):
        raise CannotRun([Diagnostic("C107", f"--out {path} is in the input data ({target})",
                                    hint="write the report somewhere else")])
    if path.exists() and not force:
        raise CannotRun([Diagnostic("C108", f"--out {path} exists",
                                    hint="give --force to replace it")])
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.parent / f".{path.name}.writing-{os.getpid()}{path.suffix}"
    try:
        write(staging)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)


def _write_results(rated: Rated, manifest: dict[str, Any], out_dir: Path,
                   ratings: Mapping[str, pd.DataFrame]) -> None:
    for rid, frame in ratings.items():
        write_csv(frame, out_dir / f"{rid}.csv")
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n",
                                           encoding="utf-8")
    for name, result in rated.surveys.items():
        write_csv(result.table, out_dir / f"{name}.results.csv")
        write_csv(result.long, out_dir / f"{name}.levels.csv")


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    path.write_text(csv_text(frame), encoding="utf-8")


def csv_text(frame: pd.DataFrame) -> str:
    """A results table as CSV a spreadsheet opens safely: text from the data that starts like a
    formula (`=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`, so the
    spreadsheet shows it instead of running it; numbers in full precision, whole ones (counts)
    without `.0`."""
    out = frame.copy(deep=False)
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(inert)
        elif pd.api.types.is_float_dtype(out[column].dtype):
            out[column] = _numbers(out[column])
    return out.to_csv(index=False)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert(value: Any) -> Any:
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    try:
        float(value)  # a number written as text (-5, +1.5) stays as it is
    except ValueError:
        return "'" + value
    return value


def _numbers(column: pd.Series) -> np.ndarray:
    """Each number as the shortest text that reads back as the same float (NumPy's, as
    Python's repr), a whole number without `.0`, a missing one empty: a column at a time."""
    values = column.to_numpy(dtype=float, na_value=np.nan)
    text = np.full(len(values), None, dtype=object)
    whole = np.isfinite(values) & (np.abs(values) < 2 ** 53) & (values == np.trunc(values))
    text[whole] = values[whole].astype(np.int64).astype(str)  # counts: fast as integers
    other = ~whole & ~np.isnan(values)
    text[other] = values[other].astype(str)
    return text


def write_comparisons(results: list[RatingComparison], out_dir: Path) -> None:
    """One CSV per compared pair, named after the rating (or `a__b` when the ids differ), and
    beside it `<name>.unpaired.csv`: the units a crosswalk paired with none, with why."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for result in results:
        name = result.rating_a if result.rating_a == result.rating_b else \
            f"{result.rating_a}__{result.rating_b}"
        write_csv(result.units, out_dir / f"{name}.csv")
        if result.unpaired is not None:
            write_csv(result.unpaired, out_dir / f"{name}.unpaired.csv")


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame as JSON-ready rows: missing values as null, numbers in full precision, whole
    ones (counts) as integers."""
    rows = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return [{str(key): _plain(value) for key, value in row.items()} for row in rows]


def _plain(value: Any) -> Any:
    """A cell as a JSON value (NumPy scalars to Python ones)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return int(value) if value.is_integer() and abs(value) < 2 ** 53 else value
    return value


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def ratings_json(frames: dict[str, pd.DataFrame]) -> str:
    return to_json({rid: records(frame) for rid, frame in frames.items()})




def conformance_json(result: Conformance) -> str:
    return to_json({"summary": records(result.summary), "cells": records(result.cells)})


def comparisons_json(results: list[RatingComparison]) -> str:
    return to_json([{
        "rating_a": r.rating_a, "rating_b": r.rating_b, "spearman": _plain(r.spearman),
        "kendall": _plain(r.kendall), "common": r.common, "moved": r.moved,
        "units": records(r.units),
        "unpaired": None if r.unpaired is None else records(r.unpaired)} for r in results])


def yaml_text(data: Any) -> str:
    """A spec's plain tree as block-style YAML (`sapa show --resolved`)."""
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 100
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()
