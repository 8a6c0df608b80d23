"""Bootstrap intervals: a hand-worked case, the coverage of the score intervals on simulated
data with known true values, determinism, and the ranks within each replicate."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sapa.engine import api
from sapa.engine.formula import REPLICATE, Frames
from sapa.engine.rating import tie_ranks
from sapa.engine.spec import load_spec
from sapa.engine.survey import run_surveys
from sapa.engine.uncertainty import bootstrap
from tests.conftest import SPECS, sapa

SPEC = SPECS / "coverage.yaml"


def tables(marks: dict[str, list[int]]) -> dict[str, pd.DataFrame]:
    """The one-question survey's tables (units and their respondents' marks), read and
    checked as `sapa rate` reads them."""
    spec, _ = load_spec(SPEC)
    rows = [(f"{u}-{i}", u, m) for u, ms in marks.items() for i, m in enumerate(ms)]
    with tempfile.TemporaryDirectory() as folder:
        pd.DataFrame({"code": list(marks)}).to_csv(Path(folder) / "units.csv", index=False)
        pd.DataFrame(rows, columns=["id", "unit", "mark"]).to_csv(
            Path(folder) / "respondents.csv", index=False)
        checked, _ = api.read(spec, Path(folder))
    return checked


def test_a_hand_worked_case() -> None:
    """A: two fives, always 5. B: a 4 and a 5, so 4, 4.5 or 5 (1/4, 1/2, 1/4): its 90 %
    interval is 4 to 5; it ties A (rank 1, ties: min) a quarter of the time, else ranks 2."""
    spec, _ = load_spec(SPEC)
    found = bootstrap(spec, tables({"A": [5, 5], "B": [4, 5]}), 400, seed=3).tables["units"]
    a, b = (found.set_index("unit").loc[u] for u in ("A", "B"))
    assert (a["score_low"], a["score_high"], a["rank_low"], a["rank_high"]) == (5, 5, 1, 1)
    assert (b["score_low"], b["score_high"], b["rank_low"], b["rank_high"]) == (4, 5, 1, 2)


def test_score_intervals_cover_the_true_mean_nine_times_in_ten() -> None:
    """600 units of 60 respondents each, marks drawn from known distributions: the 90 %
    intervals hold the true mean in 90 % ± 3 % of the units."""
    rng = np.random.default_rng(11)
    shapes = rng.dirichlet(np.ones(5) * 2, size=600)
    truth = shapes @ np.arange(1, 6)
    marks = {f"u{i}": list(rng.choice(np.arange(1, 6), size=60, p=p))
             for i, p in enumerate(shapes)}
    spec, _ = load_spec(SPEC)
    found = bootstrap(spec, tables(marks), 300, seed=5, level=0.9).tables["units"]
    found = found.set_index("unit").loc[list(marks)]
    covered = (found["score_low"] <= truth) & (truth <= found["score_high"])
    assert 0.87 <= covered.mean() <= 0.93, covered.mean()


def test_the_same_seed_gives_the_same_intervals() -> None:
    spec, _ = load_spec(SPEC)
    data = tables({"A": [5, 4, 3, 5], "B": [4, 5, 2], "C": [1, 5]})
    first, again = (bootstrap(spec, data, 50, seed=1).tables["units"] for _ in range(2))
    other = bootstrap(spec, data, 50, seed=2).tables["units"]
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)


def test_ranks_restart_in_each_replicate() -> None:
    keys = pd.DataFrame({"score": [5.0, 5.0, 4.0, 3.0, 3.0, 1.0]})
    within = np.array([0, 0, 0, 1, 1, 1])
    assert tie_ranks(keys, "min", within).tolist() == [1, 1, 3, 1, 1, 3]
    assert tie_ranks(keys, "dense", within).tolist() == [1, 1, 2, 1, 1, 2]
    assert tie_ranks(keys, "average", within).tolist() == [1.5, 1.5, 3, 1.5, 1.5, 3]


def test_rate_adds_the_intervals_and_the_manifest_says_how(tmp_path: Path) -> None:
    result = sapa("rate", "2020", "--uncertainty", "--reps", "20", "--rating", "services",
                  "--format", "json", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    services = pd.read_csv(tmp_path / "out" / "services.csv", dtype={"unit": str})
    units = services[services["unit"].notna()]
    assert (units["score_low"] <= units["score"] + 1e-9).all()
    assert (units["score"] <= units["score_high"] + 1e-9).all()
    assert (units["rank_low"] <= units["rank"]).mean() > 0.9
    manifest = (tmp_path / "out" / "manifest.json").read_text()
    assert '"replicates": 20' in manifest


def test_each_replicate_draws_every_unit_s_own_number_of_respondents() -> None:
    from sapa.engine.uncertainty.bootstrap import draws

    unit = np.array([0, 0, 0, 1, 1, -1, 2, 0])
    counted = np.array([True, True, True, True, True, True, False, True])
    weights = draws(unit, counted, 500, np.random.default_rng(0))
    assert weights.shape == (500, 8)
    assert (weights[:, [0, 1, 2, 7]].sum(axis=1) == 4).all()  # unit 0: its 4 counted
    assert (weights[:, [3, 4]].sum(axis=1) == 2).all()
    assert (weights[:, [5, 6]] == 0).all()  # no unit, or not counted: never drawn
    assert 0.2 < (weights[:, 0] == 0).mean() < 0.45  # drawn with replacement: (3/4)^4 = 0.32


def test_a_unit_under_the_declared_minimum_is_marked(tmp_path: Path) -> None:
    spec = tmp_path / "variant.yaml"
    spec.write_text("extends: 2020\nmethodology: {id: v}\ntests: null\npublished: null\n"
                    "survey: {minimum_respondents: 10}\n", encoding="utf-8")
    result = sapa("rate", spec, "--uncertainty", "--reps", "10", "--rating", "services",
                  "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {r["unit"]: r for r in json.loads(result.stdout)["services"]}
    assert rows["2.41"]["small_sample"] is True and rows["2.16"]["small_sample"] is False


def test_resampling_within_declared_strata_keeps_each_stratum_s_size(tmp_path: Path) -> None:
    """With `resample_within: [region]`, every replicate draws each unit's respondents of each
    region from that region, as many as it has; a misspelt column is a located problem."""
    from sapa.engine.formula import Frames
    from sapa.engine.uncertainty.bootstrap import _strata

    spec_path = tmp_path / "strata.yaml"
    spec_path.write_text(f"extends: {SPECS / 'survey.yaml'}\ntests: null\n"
                         "survey: {resample_within: [region]}\n", encoding="utf-8")
    spec, problems = load_spec(spec_path)
    assert spec is not None, problems
    data, _ = api.read(spec, SPECS / "survey-data")
    frames = Frames(data)
    strata = _strata(spec, frames)
    unit = frames.positions(spec.survey.unit_link)
    region = data["respondents"]["region"].to_numpy()
    assert len({(u, r) for u, r in zip(unit, region, strict=True)}) == len(set(strata))
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"extends: {SPECS / 'survey.yaml'}\ntests: null\n"
                   "survey: {resample_within: [regoin]}\n", encoding="utf-8")
    result = sapa("validate", bad)
    assert result.exit_code == 1 and "did you mean 'region'" in result.output


def test_batches_of_replicates_do_not_change_the_intervals(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """Replicates run in batches sized to memory; the draws come from one stream, so one
    replicate per batch gives the same intervals as all in one."""
    module = sys.modules[bootstrap.__module__]  # the package's name is the function's
    spec, _ = load_spec(SPEC)
    data = tables({"A": [5, 4, 3, 5], "B": [4, 5, 2], "C": [1, 5, 5, 2, 3]})
    whole = bootstrap(spec, data, 40, seed=4).tables["units"]
    monkeypatch.setattr(module, "BATCH_CELLS", 1)
    pd.testing.assert_frame_equal(bootstrap(spec, data, 40, seed=4).tables["units"], whole)


def test_replicates_drawing_everyone_once_give_the_survey_itself() -> None:
    """Every level of every results table (units, and the breakdown by region and by call
    centre) in each replicate that draws each respondent once equals the plain survey."""
    spec, _ = api.check("2020")
    data, _ = api.read(spec, api.data_folder("2020", spec, None))
    survey = spec.survey
    plain = run_surveys(survey, Frames(data))
    copies = {name: frame if name == survey.respondents else pd.concat(
        [frame.assign(**{REPLICATE: r}) for r in range(3)], ignore_index=True)
        for name, frame in data.items()}
    ones = np.ones((3, len(data[survey.respondents])))
    replicated = run_surveys(survey, Frames(copies), ones, levels_table=False)
    for name, result in plain.items():
        for r in range(3):
            found = replicated[name].table
            found = found[found[REPLICATE] == r].drop(columns=REPLICATE).reset_index(drop=True)
            pd.testing.assert_frame_equal(found, result.table, check_exact=False, rtol=1e-13)
        assert replicated[name].long is None
