"""The survey engine on hand-made answers: every level, every exclusion rule, bad data."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from sapa.cli import main
from sapa.engine.spec import load_spec
from sapa.engine.survey import ItemWeights, NotLinear
from sapa.engine.testing import run_tests
from tests.conftest import SPECS

SPEC = SPECS / "survey.yaml"
DATA = SPECS / "survey-data"


def rate(tmp_path: Path, data: Path, *extra: str) -> tuple[int, str, Path]:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["rate", str(SPEC), "--data", str(data), "--out", str(out),
                                       *extra])
    return result.exit_code, result.output, out


def test_hand_worked_example_passes_every_level() -> None:
    spec, diagnostics = load_spec(SPEC)
    assert spec is not None, [d.message for d in diagnostics]
    [result] = run_tests(spec)
    assert result.passed, result.failures
    assert result.checked == 56


def test_rate_on_csv_data_matches_the_hand_worked_values(tmp_path: Path) -> None:
    code, output, out = rate(tmp_path, DATA)
    assert code == 0, output
    services = pd.read_csv(out / "services.csv")
    assert services["unit"].tolist()[:2] == ["S2", "S1"]
    assert services.loc[1, "score"] == pytest.approx(25 / 6)
    assert services.iloc[-1]["name"] == "TOTAL"
    levels = pd.read_csv(out / "survey.levels.csv")
    assert set(levels["level"]) == {"item", "criterion", "zone", "channel", "unit_zone", "unit"}
    results = pd.read_csv(out / "survey.results.csv")
    assert results.set_index("unit").loc["S1", "excluded_non_recipient"] == 1
    assert (out / "by_region.results.csv").exists()


def test_free_service_fee_answer_is_not_counted_and_said_so(tmp_path: Path) -> None:
    code, output, _ = rate(tmp_path, DATA)
    assert code == 0
    assert "notice: 1 answers to office.fee were not counted" in output


def test_satisfaction_over_raters_is_a_spec_setting(tmp_path: Path) -> None:
    variant = tmp_path / "rated.yaml"
    variant.write_text(f"extends: {SPEC}\nmethodology: {{id: rated, title: rated}}\n"
                       "survey: {satisfaction_base: rated}\n", encoding="utf-8")
    spec, diagnostics = load_spec(variant)
    assert spec is not None, [d.message for d in diagnostics]
    [result] = run_tests(spec)
    # queue in S1 office: 1 five among 1 rater -> 100 % (not 50 % over the 2 asked)
    assert any(f.startswith("levels[S1, item, office, queue].satisfaction: expected 50, got 100")
               for f in result.failures)


def test_bad_response_data_is_one_report_and_no_output(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    frame = pd.read_csv(data / "respondents.csv", dtype=str, keep_default_na=False)
    frame.loc[0, "polite"] = "7"  # not on the scale
    frame.loc[1, "service_code"] = "S9"  # unknown service
    frame.loc[2, "info"] = "good"  # text in a rating column
    frame.loc[3, "id"] = "r1"  # duplicated respondent id
    frame = frame.drop(columns=["contact", "site"])  # a required column, an item column
    frame.to_csv(data / "respondents.csv", index=False)
    code, output, out = rate(tmp_path, data)
    assert code == 1
    for fragment in [
        "respondents.polite: 1 value not one of 1, 2, 3, 4, 5, 0: row 1 ('7')",
        "respondents.service_code: 1 value not a known services key: row 2 ('S9')",
        "respondents.info: 1 value not a number: row 3 ('good')",
        "respondents.id: 1 value not unique (the key is repeated): row 4 ('r1')",
        "required column 'contact' of 'respondents' is missing",
        "error[D413] respondents.csv: 1 item of the questionnaires missing from "
        "'respondents': site",
    ]:
        assert fragment in output, (fragment, output)
    assert not out.exists()


def test_xlsx_workbook_and_parquet_folder_give_the_same_ratings(tmp_path: Path) -> None:
    _, _, from_csv = rate(tmp_path / "csv", DATA)
    frames = {p.stem: pd.read_csv(p, dtype=str, keep_default_na=False) for p in DATA.glob("*.csv")}
    workbook = tmp_path / "data.xlsx"
    with pd.ExcelWriter(workbook) as writer:
        for name, frame in frames.items():
            frame.to_excel(writer, sheet_name=name, index=False)
    parquet = tmp_path / "parquet"
    parquet.mkdir()
    for name, frame in frames.items():
        typed = frame.replace("", None)
        if name == "respondents":
            items = ["polite", "queue", "info", "fee", "answer", "site"]
            typed[items] = typed[items].astype(float)
        typed.to_parquet(parquet / f"{name}.parquet")
    expected = pd.read_csv(from_csv / "services.csv")
    for source in (workbook, parquet):
        code, output, out = rate(tmp_path / source.stem, source)
        assert code == 0, output
        pd.testing.assert_frame_equal(pd.read_csv(out / "services.csv"), expected)


def test_unknown_sheet_is_reported(tmp_path: Path) -> None:
    workbook = tmp_path / "data.xlsx"
    pd.DataFrame({"code": ["A1"]}).to_excel(workbook, sheet_name="agencie", index=False)
    code, output, _ = rate(tmp_path, workbook)
    assert code == 1
    assert "no sheet 'agencies'" in output and "did you mean 'agencie'?" in output


def item_weights(spec_file: str, present: list[bool]) -> ItemWeights:
    """The linear form `sapa synth` fits, for survey.yaml's office channel: polite (people),
    queue, info (access), fee (cost), answer (complaint)."""
    spec, problems = load_spec(SPECS / spec_file)
    assert spec is not None and spec.survey is not None, problems
    office = spec.survey.questionnaires[0]
    return ItemWeights(spec.survey, [(office, i) for i in office.items], np.array(present))


def test_synth_weighs_item_values_by_the_declared_levels() -> None:
    """Mean: people 1/3, access 1/3 split over its two items, complaint 1/3 (cost absent).
    Weighted 2:1:1:1 renormalised over the present criteria: 2/4, 1/4 split, 1/4."""
    present = [True, True, True, False, True]
    mean = item_weights("survey.yaml", present).channel("office")
    assert np.allclose(mean, [1 / 3, 1 / 6, 1 / 6, 0, 1 / 3])
    weighted = item_weights("levels-weighted.yaml", present).channel("office")
    assert np.allclose(weighted, [2 / 4, 1 / 8, 1 / 8, 0, 1 / 4])
    assert item_weights("levels-weighted-missing.yaml", present).channel("office") is None
    with pytest.raises(NotLinear):
        item_weights("levels-pooled.yaml", present).unit()


def test_the_levels_table_is_built_when_read_or_asked_for(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A run whose formulas do not read `<results>_levels` builds it only when asked (output,
    tests, explain); a rating over it builds it with the ratings."""
    from sapa.engine import api
    from sapa.engine.survey import aggregation

    built: list[int] = []
    original = aggregation.long_table
    monkeypatch.setattr(aggregation, "long_table",
                        lambda *args: built.append(1) or original(*args))
    spec, _ = api.check(str(SPEC))
    rated, _ = api.rate_folder(spec, DATA)
    assert rated.ratings and built == []
    long = rated.surveys["survey"].long
    assert len(built) == 1 and not long.empty
    assert rated.surveys["survey"].long is long  # built once
    built.clear()
    pooled, _ = load_spec(SPECS / "pooled.yaml")
    assert all(r.passed for r in run_tests(pooled)) and built  # its `aspects` rating reads it


def test_synth_refuses_a_pooled_level_by_name(tmp_path: Path) -> None:
    spec = tmp_path / "pooled.yaml"
    spec.write_text("extends: \"2020\"\ntests: null\npublished: null\n"
                    "survey:\n  levels:\n    unit: {rule: pooled}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["synth", str(spec), "--out", str(tmp_path / "out"),
                                       "--published", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "sapa synth cannot fit this spec: a pooled level (unit)" in result.output
