"""Evaluating a spec's variables over its tables, in dependency order, column by column."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from engine.formula_eval import Frames, evaluate_rows
from engine.spec import Spec


def evaluate_tables(spec: Spec, tables: Mapping[str, pd.DataFrame]) -> Frames:
    """Add every variable of the spec as a column of its table; returns the evaluated frames."""
    frames = Frames({name: frame.copy() for name, frame in tables.items()})
    for variable in spec.variables:
        values = evaluate_rows(variable.plan, frames, variable.table)
        frames.tables[variable.table][variable.name] = values.array
    return frames
