"""Evaluating a spec over its tables: variables in dependency order, with the survey step run
where the order puts it (after what its formulas read, before what reads its results)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from sapa.engine.formula import Frames, evaluate_rows
from sapa.engine.spec import Spec
from sapa.engine.survey import SurveyResults, run_survey_from_items, run_surveys


def evaluate_tables(spec: Spec, tables: Mapping[str, pd.DataFrame],
                    survey_items: pd.DataFrame | None = None
                    ) -> tuple[Frames, dict[str, SurveyResults]]:
    """Add every variable as a column of its table and the survey results as tables.

    `survey_items` (item statistics per unit) replaces the respondent step: embedded tests use it
    to check the aggregation on published item-level figures."""
    frames = Frames({name: frame.copy() for name, frame in tables.items()})
    surveys: dict[str, SurveyResults] = {}
    for step, variable in enumerate([*spec.variables, None]):
        if spec.survey is not None and step == spec.survey_step:
            surveys = _run_survey(spec, frames, survey_items)
        if variable is not None:
            values = evaluate_rows(variable.plan, frames, variable.table)
            frames.tables[variable.table][variable.name] = values.array
    return frames, surveys


def _run_survey(spec: Spec, frames: Frames, survey_items: pd.DataFrame | None
                ) -> dict[str, SurveyResults]:
    survey = spec.survey
    assert survey is not None
    if survey_items is not None:
        results = run_survey_from_items(survey, frames, survey_items)
    else:
        results = run_surveys(survey, frames)
    for name, result in results.items():
        frames.tables[name] = result.table
        frames.tables[f"{name}_levels"] = result.long
    return results
