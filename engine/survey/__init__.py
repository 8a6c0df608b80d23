"""The survey step: respondents' answers in, a results table per unit and breakdown out (item ->
criterion -> channel -> unit, and the zones), every level combined by the rule the spec declares
(survey.levels), with every aggregation level kept. hierarchy.py owns who belongs to which node;
aggregation.py counts the answers over groups of respondents; levels.py combines the levels."""

from sapa.engine.survey.aggregation import (
    SurveyResults,
    Tallies,
    cells_per_replicate,
    counted_respondents,
    merged,
    run_survey_from_items,
    run_surveys,
    survey_results,
    tally,
)
from sapa.engine.survey.hierarchy import ItemWeights, NotLinear, node_members, zone_targets

__all__ = [
    "ItemWeights", "NotLinear", "SurveyResults", "Tallies", "cells_per_replicate",
    "counted_respondents", "merged", "node_members", "run_survey_from_items", "run_surveys",
    "survey_results", "tally", "zone_targets",
]
