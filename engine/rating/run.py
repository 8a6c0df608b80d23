"""The rating stage in one call: checked tables in, every variable, the survey results and the
ratings out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from sapa.engine.diagnostics import Diagnostic
from sapa.engine.formula import Frames
from sapa.engine.rating.evaluation import Batches, evaluate_tables
from sapa.engine.rating.ranking import compute_ratings
from sapa.engine.spec import Spec
from sapa.engine.survey import SurveyResults


@dataclass
class Rated:
    """What a spec computes over one set of tables. The ratings are computed when first read
    (an embedded test that expects only table values does not need them)."""

    spec: Spec
    tables: Frames  # every table with its variables, and the survey results tables
    surveys: dict[str, SurveyResults]
    evaluation_warnings: list[Diagnostic]
    inputs: Mapping[str, pd.DataFrame] | None = None  # the checked tables it was rated from

    @cached_property
    def _computed(self) -> tuple[dict[str, pd.DataFrame], list[Diagnostic]]:
        return compute_ratings(self.spec, self.tables)

    @property
    def ratings(self) -> dict[str, pd.DataFrame]:
        return self._computed[0]

    @property
    def warnings(self) -> list[Diagnostic]:
        """Values the formulas left missing (D414), from the variables and the ratings."""
        return self.evaluation_warnings + self._computed[1]

    @property
    def not_counted(self) -> dict[str, int]:
        """Answers given where the item does not apply (asked_if), per item: counted once,
        by the first results table (breakdowns re-count the same answers)."""
        return next(iter(self.surveys.values())).ignored if self.surveys else {}


def rate(spec: Spec, tables: Mapping[str, pd.DataFrame],
         survey_items: pd.DataFrame | None = None,
         respondents: Batches | None = None) -> Rated:
    """Evaluate `spec` over checked tables (data.load_tables). `survey_items` (item statistics
    per unit) stands in for the respondents: embedded tests check the aggregation with it.
    `respondents`: the survey's respondents a batch at a time (`tables` then holds none, and
    the result cannot be bootstrapped or explained down to respondents)."""
    return Rated(spec, *evaluate_tables(spec, tables, survey_items, respondents=respondents),
                 inputs=None if respondents is not None else tables)
