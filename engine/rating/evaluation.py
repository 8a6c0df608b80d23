"""Evaluating a spec over its tables: variables in dependency order, with the survey step run
where the order puts it (after what its formulas read, before what reads its results)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Protocol, TypeVar

import numpy as np
import pandas as pd

from sapa.engine.diagnostics import Diagnostic
from sapa.engine.formula import (
    Frames,
    Node,
    aggregates_over,
    columns_read,
    evaluate_rows,
    evaluate_together,
    tables_read,
)
from sapa.engine.spec import Spec
from sapa.engine.survey import (
    SurveyResults,
    merged,
    run_survey_from_items,
    run_surveys,
    survey_results,
    tally,
)

T = TypeVar("T")


class Batches(Protocol):
    """Rows of a table handed on a batch at a time: `map(work, tables)` runs work on each
    batch with the other `tables` (as Frames), wherever the batches are (data.TableScan, or a
    backend's workers), in order."""

    def map(self, work: Callable[[Frames], T],
            tables: Mapping[str, pd.DataFrame] | None = None) -> Iterator[T]: ...


def evaluate_tables(spec: Spec, tables: Mapping[str, pd.DataFrame],
                    survey_items: pd.DataFrame | None = None,
                    weights: np.ndarray | None = None,
                    respondents: Batches | None = None
                    ) -> tuple[Frames, dict[str, SurveyResults], list[Diagnostic]]:
    """Add every variable as a column of its table and the survey results as tables.

    `survey_items` (item statistics per unit) replaces the respondent step: embedded tests use it
    to check the aggregation on published item-level figures. `weights` (replicates x
    respondents) runs the survey once per bootstrap replicate, at once (uncertainty).
    `respondents`: the survey's respondents in batches, tallied one at a time and never held
    together (`tables` then holds none; only where `streams_respondents`)."""
    # shallow: pandas copies on write, so the variables added here never reach `tables`
    frames = Frames({name: frame.copy(deep=False) for name, frame in tables.items()})
    surveys: dict[str, SurveyResults] = {}
    warnings: list[Diagnostic] = []
    together = _together(spec)
    for step, variable in enumerate([*spec.variables, None]):
        if spec.survey is not None and step == spec.survey_step:
            surveys = _run_survey(spec, frames, survey_items, weights, respondents)
        for table, plans in together.get(step, {}).items():
            evaluate_together(plans, frames, table)
        if variable is not None:
            values = evaluate_rows(variable.plan, frames, variable.table)
            frames.tables[variable.table][variable.name] = values.array
            warnings += undefined_values(
                spec, frames, variable.table, values,
                f"variable {variable.table}.{variable.name} = {variable.formula.strip()}")
    return frames, surveys, warnings


def _together(spec: Spec) -> dict[int, dict[str, list[Node]]]:
    """The variables that can be evaluated together, by the step that starts them and their
    table: a run of them in order, up to one that reads a variable of the run (or the survey
    step): each run's plans of a table are one query."""
    runs: dict[int, dict[str, list[Node]]] = {}
    start, made = 0, set()
    for step, variable in enumerate(spec.variables):
        reads = columns_read(variable.plan)
        if step == 0 or reads & made or (spec.survey is not None and step == spec.survey_step):
            start, made = step, set()
        runs.setdefault(start, {}).setdefault(variable.table, []).append(variable.plan)
        made.add((variable.table, variable.name))
    return runs


def undefined_values(spec: Spec, frames: Frames, table: str, values: pd.Series, what: str,
                     within: np.ndarray | None = None) -> list[Diagnostic]:
    """D414 for the rows a formula left missing because its arithmetic gave no number (a
    division by zero, a result beyond float range): the value is missing, never a silent dash.
    A row whose formula still has a value (an `if` or `coalesce` that chose another) is fine;
    rows of another table (inside an aggregate) are named by count, as they were skipped.
    `within`: the rows that count (those a rating keeps)."""
    out = []
    for where, rows in frames.take_undefined().items():
        if where == table:
            rows = rows & values.isna().to_numpy()
            if within is not None:
                rows = rows & within
        if not rows.any():
            continue
        count = int(rows.sum())
        plural = "s" * (count != 1)
        if where is None:
            place = "in a constant part"
        elif where == table:
            place = f"on {count} row{plural} of {table} ({_units(spec, frames, table, rows)})"
        else:
            place = f"on {count} row{plural} of {where}, which its aggregate skipped"
        out.append(Diagnostic(
            "D414", f"{what}: a division by zero or a number beyond float range {place}; "
            "those values are missing", severity="warning",
            hint="guard the divisor, e.g. if(n > 0, x / n, 0), if the method gives a value"))
    return out


def _units(spec: Spec, frames: Frames, table: str, rows: np.ndarray) -> str:
    """The first five flagged rows by their key (row numbers where the table has none)."""
    picked = np.flatnonzero(rows)[:5]
    declared = spec.tables.get(table)
    key = list(declared.key) if declared is not None else []
    frame = frames.tables[table]
    if key and all(k in frame.columns for k in key):
        names = [" ".join(str(v) for v in frame[key].iloc[i]) for i in picked]
    else:
        names = [f"row {i + 1}" for i in picked]
    more = ", …" if rows.sum() > len(picked) else ""
    return ", ".join(names) + more


def streams_respondents(spec: Spec) -> bool:
    """Whether the survey's respondents can be rated a batch at a time: only the survey reads
    them (no variable of their own, no other formula or rating), and the survey's conditions,
    exclusions and breakdown keys each look at one respondent, never aggregate or rank them."""
    survey = spec.survey
    if survey is None:
        return False
    rows = survey.respondents
    return not aggregates_over(rows, survey) and all(
        rows not in tables_read(part) for part in (*spec.variables, *spec.ratings.values()))


def _run_survey(spec: Spec, frames: Frames, survey_items: pd.DataFrame | None,
                weights: np.ndarray | None, respondents: Batches | None
                ) -> dict[str, SurveyResults]:
    survey = spec.survey
    assert survey is not None
    read = tables_read(spec.variables, tuple(spec.ratings.values()))
    if survey_items is not None:
        results = run_survey_from_items(survey, frames, survey_items)
    elif respondents is not None:
        # each batch counted where it is checked (it may be a worker), with the other tables
        others = {name: t for name, t in frames.tables.items() if name != survey.respondents}
        results = survey_results(survey, frames, merged(respondents.map(partial(tally, survey),
                                                                        others)))
    else:  # replicates of every level only where a formula reads them
        levels = weights is None or any(f"{name}_levels" in read for name in
                                        (survey.results, *(b.name for b in survey.breakdowns)))
        results = run_surveys(survey, frames, weights, levels)
    for name, result in results.items():
        frames.tables[name] = result.table
        if f"{name}_levels" in read and result.long is not None:  # else built when asked for
            frames.tables[f"{name}_levels"] = result.long
    return results
