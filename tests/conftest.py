"""Shared helpers: a tiny two-table world for formula tests, and paths to fixtures."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from sapa.cli import main
from sapa.engine.formula import (
    Band,
    Catalog,
    Frames,
    Link,
    compile_formula,
    evaluate_rows,
    parse,
)
from tests import reference_evaluator

# the queries the engine compiles are kept in a folder of the test run's own, not the
# user's cache (a developer's own setting is kept)
os.environ.setdefault("SAPA_CACHE", tempfile.mkdtemp(prefix="sapa-test-cache-"))

SPECS = Path(__file__).parent / "specs"
ROOT = Path(__file__).parent.parent

LINK = Link("body", "services", "bodies", ("body_id",), ("body_id",))


def world() -> tuple[Catalog, Frames]:
    catalog = Catalog(
        columns={
            "bodies": {"body_id": "string", "kind": "string", "x": "number", "flag": "bool"},
            "services": {"body_id": "string", "total": "number", "ok": "bool"},
        },
        links={"services": {"body": LINK}},
        parameters={"k": 15.0, "label": "high"},
        groups={"points": {"a": 10.0, "b": 5.0}},
        bands={"grade": (Band("low", None, 50.0), Band("high", 50.0, 100.0, True))},
    )
    frames = Frames({
        "bodies": pd.DataFrame({
            "body_id": pd.Series(["A", "B", "C", "D"], dtype=object),
            "kind": pd.Series(["x", "x", "y", None], dtype=object),
            "x": [1.0, np.nan, 30.0, 0.0],
            "flag": pd.array([True, False, pd.NA, True], dtype="boolean"),
        }),
        "services": pd.DataFrame({
            "body_id": pd.Series(["A", "A", "B", "Z"], dtype=object),
            "total": [10.0, 20.0, np.nan, 5.0],
            "ok": pd.array([True, False, True, pd.NA], dtype="boolean"),
        }),
    })
    return catalog, frames


def run(formula: str, table: str = "bodies") -> list[object]:
    """Evaluate a formula in the tiny world (the reference giving the same); missing values
    come back as None."""
    catalog, frames = world()
    node, problems, _ = compile_formula(parse(formula), table, catalog)
    assert not problems, problems
    values = _listed(evaluate_rows(node, frames, table))
    reference = _listed(reference_evaluator.evaluate_rows(node, world()[1], table))
    assert values == reference, f"the engine: {values}, the reference: {reference}"
    return values


def _listed(values: pd.Series) -> list[object]:
    return [None if pd.isna(v) else (bool(v) if isinstance(v, np.bool_ | bool) else v)
            for v in values.tolist()]


def problems_of(formula: str, table: str = "bodies") -> list[str]:
    catalog, _ = world()
    _, problems, _ = compile_formula(parse(formula), table, catalog)
    return [p.code for p in problems]


@pytest.fixture
def specs() -> Path:
    return SPECS


def sapa(*args: str | Path) -> Result:
    """The command line run in this process; never a traceback or an internal error."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output and "internal error" not in result.output
    return result
