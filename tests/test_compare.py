"""`sapa compare`, `bridge`, `history` and `diff`: expected movements and correlations known by
construction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from sapa.cli import main
from sapa.engine.analysis import comparison, spec_diff
from sapa.engine.spec import load_spec, resolve_spec
from tests.conftest import SPECS


def rating(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    """A rating table as compute_ratings makes it: best first, ranks 1..n, a closing row."""
    frame = pd.DataFrame(rows, columns=["unit", "score", "satisfaction"])
    frame = frame.sort_values("score", ascending=False).reset_index(drop=True)
    frame.insert(0, "rank", range(1, len(frame) + 1))
    frame.insert(2, "name", "name " + frame["unit"])
    total = {"rank": pd.NA, "unit": None, "name": "TOTAL", "score": frame["score"].mean(),
             "satisfaction": frame["satisfaction"].mean()}
    return pd.concat([frame, pd.DataFrame([total])], ignore_index=True)


def test_one_swap_gives_the_textbook_correlations_and_movements() -> None:
    a = rating([("u1", 4.9, 90), ("u2", 4.8, 80), ("u3", 4.7, 70), ("u4", 4.6, 60)])
    b = rating([("u1", 4.8, 90), ("u2", 4.9, 85), ("u3", 4.7, 70), ("u4", 4.6, 60)])
    result = comparison.compare(a, b, "r", "r")
    # one adjacent swap of 4: Spearman 1 - 6*2/(4*15) = 0.8, Kendall (5-1)/6
    assert result.spearman == pytest.approx(0.8)
    assert result.kendall == pytest.approx(4 / 6)
    assert result.common == 4 and result.moved == 2
    change = result.units.set_index("unit")["rank_change"]
    assert change["u2"] == 1 and change["u1"] == -1 and change["u3"] == 0
    assert result.units.set_index("unit").loc["u2", "satisfaction_change"] == pytest.approx(5)
    assert list(result.movers(2)["unit"]) == ["u2", "u1"]


def test_a_reversed_ranking_and_units_rated_under_one_method_only() -> None:
    a = rating([("u1", 5.0, 90), ("u2", 4.0, 80), ("u3", 3.0, 70), ("gone", 2.0, 10)])
    b = rating([("u1", 3.0, 90), ("u2", 4.0, 80), ("u3", 5.0, 70), ("new", 1.0, 5)])
    result = comparison.compare(a, b, "r", "r")
    assert result.spearman == pytest.approx(-1.0) and result.kendall == pytest.approx(-1.0)
    present = result.units.set_index("unit")["present"]
    assert present["gone"] == "only_a" and present["new"] == "only_b"
    assert len(result.units) == 5  # nothing dropped


def test_the_bridge_adds_up_on_every_unit() -> None:
    rng = np.random.default_rng(3)
    units = [f"u{i}" for i in range(30)]

    def year() -> pd.DataFrame:
        return rating([(u, float(s), 50.0) for u, s in zip(units, rng.uniform(3, 5, 30),
                                                            strict=True)])

    table, unpaired = comparison.bridge(year(), year(), year())
    assert unpaired is None  # no crosswalk: units pair by code
    assert len(table) == 30
    assert np.abs(table["method"] + table["performance"] - table["total_change"]).max() < 1e-12


def test_history_gives_values_per_period_the_last_change_and_the_mean() -> None:
    earlier = rating([("u1", 4.0, 70), ("u2", 4.5, 80)])
    later = rating([("u1", 4.4, 75), ("u3", 4.9, 90)])
    table = comparison.history({"2019": earlier, "2020": later})[0].set_index("unit")
    assert table.loc["u1", "change"] == pytest.approx(0.4)
    assert table.loc["u1", "mean"] == pytest.approx(4.2)
    assert table.loc["u2", "periods"] == 1 and np.isnan(table.loc["u2", "change"])
    assert table.loc["u3", "mean"] == pytest.approx(4.9)


def test_compare_a_variant_overlay_swaps_the_two_services(tmp_path: Path) -> None:
    """survey-variant.yaml ranks by the body zone: S1 4.5 vs S2 4.25 (by hand, survey.yaml's
    test note), where the full score ranks S2 (4.4167) over S1 (4.1667)."""
    result = CliRunner().invoke(main, [
        "compare", str(SPECS / "survey.yaml"), str(SPECS / "survey-variant.yaml"),
        "--data", str(SPECS / "survey-data"), "--format", "json", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (services,) = json.loads(result.stdout)
    assert services["spearman"] == pytest.approx(-1.0) and services["moved"] == 2
    units = {u["unit"]: u for u in services["units"]}
    assert (units["S1"]["rank_a"], units["S1"]["rank_b"]) == (2, 1)
    assert units["S1"]["score_b"] == pytest.approx(4.5)
    assert (tmp_path / "services.csv").exists()


def test_compare_explains_a_map_to_a_rating_that_does_not_exist() -> None:
    result = CliRunner().invoke(main, [
        "compare", str(SPECS / "survey.yaml"), str(SPECS / "survey-variant.yaml"),
        "--data", str(SPECS / "survey-data"), "--map", "services=nope"])
    assert result.exit_code == 2
    assert "no rating 'nope'" in result.output and "Traceback" not in result.output


def test_bridge_command_adds_up(tmp_path: Path) -> None:
    data = str(SPECS / "survey-data")
    result = CliRunner().invoke(main, [
        "bridge", str(SPECS / "survey.yaml"), data, str(SPECS / "survey-variant.yaml"), data,
        "--rating", "services", "--format", "csv"])
    assert result.exit_code == 0, result.output
    from io import StringIO
    table = pd.read_csv(StringIO(result.stdout))
    assert (table["performance"].abs() < 1e-12).all()  # same data both years
    assert np.abs(table["method"] + table["performance"] - table["total_change"]).max() < 1e-12


def diff_of(tmp_path: Path, overlay: str) -> list[spec_diff.Change]:
    path = tmp_path / "variant.yaml"
    path.write_text(f"extends: {SPECS / 'survey.yaml'}\ntests: null\n{overlay}",
                    encoding="utf-8")
    base, _ = load_spec(resolve_spec(str(SPECS / "survey.yaml")))
    variant, problems = load_spec(resolve_spec(str(path)))
    assert variant is not None, problems
    return spec_diff.diff(base, variant)


def test_diff_ignores_a_reformatted_formula_and_reports_a_changed_one(tmp_path: Path) -> None:
    same = diff_of(tmp_path, "ratings:\n  services:\n    columns:\n"
                             "      score: {formula: '(survey . score)', digits: 2}\n")
    assert same == []
    changed = diff_of(tmp_path, "ratings:\n  services:\n    columns:\n"
                                "      score: {formula: 'survey.body_score', digits: 2}\n")
    assert [(c.where, c.kind) for c in changed] == [("ratings.services.columns.score.formula",
                                                     "formula")]


def test_diff_reports_items_moved_reassigned_and_added(tmp_path: Path) -> None:
    changes = diff_of(tmp_path, """
items:
  extra: {text: Extra}
questionnaires:
  office:
    items:
      queue: {criterion: people, zone: body}
      extra: {criterion: people, zone: desk}
""")
    kinds = {(c.where, c.kind) for c in changes}
    assert ("queue", "moved") in kinds and ("queue", "reassigned") in kinds
    assert ("extra", "added") in kinds


def test_diff_sees_a_changed_variable_whole(tmp_path: Path) -> None:
    """Variables live in tables: a 2013-style change of one is reported, its formula whole."""
    variant = tmp_path / "v.yaml"
    variant.write_text("extends: 2013\nmethodology: {id: v, title: {en: v}}\n"
                       "tables:\n  bodies:\n    variables:\n      sum: K1 + K2\n",
                       encoding="utf-8")
    base, _ = load_spec(resolve_spec("2013"))
    changed, _ = load_spec(variant)
    assert changed is not None
    [change] = spec_diff.diff(base, changed)
    assert (change.where, change.kind, change.after) == (
        "tables.bodies.variables.sum.formula", "formula", "K1 + K2")
    assert change.before.endswith("internal_control + timeliness + users)")


def test_compare_names_a_rating_neither_spec_has() -> None:
    result = CliRunner().invoke(main, [
        "compare", str(SPECS / "survey.yaml"), str(SPECS / "survey-variant.yaml"),
        "--data", str(SPECS / "survey-data"), "--rating", "servces"])
    assert result.exit_code == 2
    assert "neither" in result.output and "did you mean 'services'?" in result.output
