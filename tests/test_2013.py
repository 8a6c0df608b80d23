"""The 2013 method: grade boundaries through its band table, degenerate inputs, `sapa rate`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from sapa.cli import main
from sapa.engine.data import load_tables
from sapa.engine.rating import evaluate_tables
from sapa.engine.spec import load_spec, resolve_spec

OVERLAY = """extends: {base}
methodology: {{id: grade-check, title: grade check}}
tables:
  checks:
    key: id
    columns: {{id: {{type: string}}, score: {{type: number}}}}
    variables:
      grade: "band(round(score, 2), grades)"
tests:
  - name: boundaries of method-2013.md §4.5 / §9.5
    given:
      checks:
        - {{id: a, score: 49.99}}
        - {{id: b, score: 49.995}}
        - {{id: c, score: 89.994}}
        - {{id: d, score: 89.995}}
        - {{id: e, score: 100}}
        - {{id: f, score: 0}}
    expect:
      tables:
        checks:
          - {{id: a, grade: ineffective}}
          - {{id: b, grade: low}}
          - {{id: c, grade: medium}}
          - {{id: d, grade: high}}
          - {{id: e, grade: high}}
          - {{id: f, grade: ineffective}}
"""


def test_grade_boundaries_use_the_rounded_score(tmp_path: Path) -> None:
    spec_path = tmp_path / "grades.yaml"
    spec_path.write_text(OVERLAY.format(base=resolve_spec("2013")), encoding="utf-8")
    result = CliRunner().invoke(main, ["test", str(spec_path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("1 passed, 0 failed")


def test_degenerate_bodies_follow_the_stated_policies() -> None:
    """method-2013.md §6: nothing rendered (P1 = k), zero denominators (full weight or 0),
    a negative timeliness result clamped to 0, one body in its group (PC 1)."""
    spec, _ = load_spec(resolve_spec("2013"))
    bodies = pd.DataFrame({
        "body_id": ["E", "N"], "body_type": ["CGO", "MIO"], "population_avg": [None, 1000.0],
        "new_services_in_register": [0, 0], "std_deadline_violations": [0, 0],
        "reg_deadline_violations": [0, 0], "ministry_no_reduction_conclusion": [False, False],
        "ic_measures_taken": [0, 0], "ic_complaints_substantiated": [0, 0],
        "ic_term_violations": [0, 0], "lic_paper_evaluated": [0, 10],
        "lic_paper_not_same_day": [0, 10], "elic_applications_total": [0, 10],
        "elic_not_same_day": [0, 10], "egov_services_total": [0, 10], "egov_late": [0, 10],
        "egov_unanswered": [0, 0], "report_late": [False, False],
        "report_incomplete": [False, False], "report_false_facts": [0, 0]})
    services = pd.DataFrame({"body_id": ["N"], "service_id": ["s"], "provided_by_body": [True],
                             "csc_total": [100.0], "csc_late": [100.0]})
    frames, problems = load_tables(spec, {"bodies": bodies, "services": services},
                                   {"bodies": lambda r, c: None, "services": lambda r, c: None},
                                   {"bodies": "bodies", "services": "services"})
    assert not [p for p in problems if p.severity == "error"], problems
    evaluated, _, _ = evaluate_tables(spec, frames)
    row = evaluated.tables["bodies"].set_index("body_id")
    empty, late = row.loc["E"], row.loc["N"]
    assert empty["P1"] == 15 and empty["timeliness"] == 15  # nothing rendered: P1 = k
    assert empty["K2"] == 15 and empty["reglaments"] == 10 and empty["internal_control"] == 10
    assert empty["users"] == 0 and empty["K4"] == 0  # no requests, no services
    assert late["P1"] == 30 - 10000 and late["timeliness"] == 0  # negative result: 0
    assert empty["PC"] == 1 and late["PC"] == 1  # alone in its group
    assert empty["vol_scaled"] == 1 and late["types_scaled"] == 1  # min-max with max = min


def test_rate_2013_on_the_bundled_worked_example(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["rate", "2013", "--out", str(out)])
    assert result.exit_code == 0, result.output
    cgo = pd.read_csv(out / "cgo.csv")
    assert cgo["unit"].tolist() == ["C1", "C4", "C2", "C3"]
    assert cgo["grade"].tolist() == ["high", "medium", "low", "ineffective"]
    mio = pd.read_csv(out / "mio.csv")
    assert mio["unit"].tolist()[0] == "R3"
