"""`sapa sensitivity`: every combination of the declared alternatives, worked by hand on two
units and two choices, and on the bundled 2020 method."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import SPECS, sapa

VARIANT = """extends: {base}
sensitivity:
  satisfied: {{path: scale.satisfied, values: [[5], [4, 5]]}}
  rank_key:
    path: ratings.units.rank_by
    values: [[{{column: score}}], [{{column: satisfaction}}]]
ratings:
  units:
    columns:
      satisfaction: {{formula: survey.satisfaction, digits: 1}}
"""

def two_units(folder: Path, units: str, marks: list[int]) -> tuple[Path, Path]:
    """The variant spec over the one-question survey, and data: units A and B, one respondent
    per letter of `units` with the mark at the same place."""
    data = folder / "data"
    data.mkdir()
    pd.DataFrame({"code": ["A", "B"]}).to_csv(data / "units.csv", index=False)
    pd.DataFrame({"id": [f"r{i}" for i in range(len(marks))], "unit": list(units),
                  "mark": marks}).to_csv(data / "respondents.csv", index=False)
    spec = folder / "variant.yaml"
    spec.write_text(VARIANT.format(base=SPECS / "coverage.yaml"), encoding="utf-8")
    return spec, data


def test_two_choices_worked_by_hand(tmp_path: Path) -> None:
    """A: 5, 5, 3 (score 4.33; 5s 66.7 %, 4-or-5 66.7 %). B: 4, 4, 4 (score 4; 0 % or 100 %).
    By score A is first either way; by satisfaction A is first with 5s, B with 4-or-5. A's
    ranks over the four combinations: 1, 1, 1, 2; E[rank | either choice] is 1 or 1.5, so each
    choice alone explains 0.0625 / 0.1875 = 1/3 of the variance."""
    spec, data = two_units(tmp_path, "AAABBB", [5, 5, 3, 4, 4, 4])
    result = sapa("sensitivity", spec, "--data", data, "--format", "json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    units = {u["unit"]: u for u in found["units"]}
    assert (units["A"]["rank"], units["A"]["median_rank"]) == (1, 1)
    assert (units["B"]["rank"], units["B"]["median_rank"]) == (2, 2)
    assert all((u["rank_low"], u["rank_high"]) == (1, 2) for u in units.values())
    for unit in units.values():
        assert unit["effect_satisfied"] == pytest.approx(1 / 3)
        assert unit["effect_rank_key"] == pytest.approx(1 / 3)


def test_the_2020_method_s_declared_choices() -> None:
    result = sapa("sensitivity", "2020", "--format", "json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    effects = {e["choice"]: e["mean_effect"] for e in found["effects"]}
    assert set(effects) == {"satisfied", "channel_rule", "unit_rule"}
    assert effects["satisfied"] == 0  # the services are ranked by score: 5s or 4-or-5 is moot
    assert found["effects"][0]["choice"] == "unit_rule"
    assert len(found["units"]) == 62
    assert all(u["rank_low"] <= u["rank"] <= u["rank_high"] for u in found["units"])


def test_a_spec_without_alternatives_says_so() -> None:
    result = sapa("sensitivity", "2019")
    assert result.exit_code == 2 and "error[C117]" in result.output


def test_with_the_bootstrap_sampling_is_weighed_as_one_more_choice(tmp_path: Path) -> None:
    """A: 5, 5. B: 4, 4. Resampling never changes a unit's marks, so sampling explains none of
    the rank variance, and each choice still explains 1/3 of B's (ranks 2, 2, 2, 1: tied first
    by 4-or-5 satisfaction)."""
    spec, data = two_units(tmp_path, "AABB", [5, 5, 4, 4])
    result = sapa("sensitivity", spec, "--data", data, "--format", "json", "--reps", "12")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    b = next(u for u in found["units"] if u["unit"] == "B")
    assert (b["rank_low"], b["rank_high"], b["effect_sampling"]) == (1, 2, 0)
    assert b["effect_satisfied"] == pytest.approx(1 / 3)
    assert b["effect_rank_key"] == pytest.approx(1 / 3)


def test_a_range_is_rated_at_evenly_spaced_values(tmp_path: Path) -> None:
    from sapa.engine.api import alternative_values

    assert alternative_values({"path": "x", "range": [0, 1], "steps": 11})[:4] == [
        0, 0.1, 0.2, 0.3]
    assert alternative_values({"path": "x", "values": ["mean", "pooled"]}) == ["mean", "pooled"]
    spec = tmp_path / "both.yaml"
    spec.write_text(f"extends: {SPECS / 'coverage.yaml'}\nsensitivity:\n"
                    "  k: {path: parameters.k.value, range: [1, 2], values: [1, 2]}\n"
                    "  j: {path: parameters.j.value, range: [1, 2]}\n"
                    "  i: {path: parameters.i.value, range: [1, 2], steps: 3}\n",
                    encoding="utf-8")
    result = sapa("validate", spec)
    assert result.exit_code == 1
    assert result.output.count("error[S254]") == 2, result.output


def test_the_report_shows_each_choice_s_effect_and_each_unit_s_rank_range(tmp_path: Path
                                                                          ) -> None:
    spec, data = two_units(tmp_path, "AAABBB", [5, 5, 3, 4, 4, 4])
    report = tmp_path / "sensitivity.html"
    result = sapa("sensitivity", spec, "--data", data, "--report", report)
    assert result.exit_code == 0, result.output
    page = report.read_text(encoding="utf-8")
    assert 'id="chart-units-effects"' in page  # the effects as bars
    assert 'id="ranks-units-ranks"' in page  # each unit's rank and its range
    assert 'id="chart-units-ranks"' not in page  # and no bars of an effect column there
    assert "Mean first-order effect" in page and "Effect: rank_key" in page
    assert sapa("sensitivity", spec, "--data", data, "--report",
                tmp_path / "report.pdf").exit_code == 2  # a report is .html or .xlsx
