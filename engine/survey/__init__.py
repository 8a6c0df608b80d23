"""The survey step: respondents' answers in, a results table per unit and breakdown out (item ->
criterion -> questionnaire -> unit, and the zones), with every aggregation level kept."""

from sapa.engine.survey.aggregation import SurveyResults, run_survey_from_items, run_surveys

__all__ = [
    "SurveyResults", "run_survey_from_items", "run_surveys",
]
