"""`sapa conform` (cell-by-cell against published tables) and `sapa synth` (reference data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from sapa.cli import main
from sapa.engine.spec import load_spec, resolve_spec
from sapa.engine.synth import build as synthesis
from sapa.engine.synth import pooled as synthesis_pooled
from sapa.engine.synth import skips as synthesis_skips
from sapa.engine.synth import synthesize
from sapa.engine.synth import targets as synthesis_targets
from tests.conftest import SPECS

PRINTED = synthesis_skips.Printing({"score": 0.005, "satisfaction": 0.05}, 5, True)
PUBLISHED = """rank,code,score,grade
1,B,100.0,high
2,D,92.49,high
3,A,85.1,medium
4,Z,70.0,medium
"""
OVERLAY = """extends: {base}
methodology: {{id: mini-conform, title: mini conform, default_data: {data}}}
published:
  folder: {folder}
  tables:
    central:
      file: central.csv
      rating: central
      key: code
      columns: {{score: score}}
      status: {status}
      tolerance: {{score: 0.01}}
      min_match: 0.6
"""


def conform(tmp_path: Path, status: str) -> tuple[int, str]:
    (tmp_path / "central.csv").write_text(PUBLISHED, encoding="utf-8")
    spec = tmp_path / f"{status}.yaml"
    spec.write_text(OVERLAY.format(base=SPECS / "mini.yaml", data=SPECS / "mini-data",
                                   folder=tmp_path, status=status), encoding="utf-8")
    result = CliRunner().invoke(main, ["conform", str(spec), "--format", "json"])
    return result.exit_code, result.stdout


def test_conform_counts_every_cell(tmp_path: Path) -> None:
    code, output = conform(tmp_path, "verified")
    cells = pd.DataFrame(json.loads(output)["cells"])
    by_unit = cells.set_index("unit")["status"].to_dict()
    # B 100 = 100; D 92.50 vs 92.49 within 0.01; A 85.03 vs 85.1 off; Z is not rated
    assert by_unit == {"B": "match", "D": "match", "A": "off", "Z": "missing_engine"}
    assert code == 1  # 2 of 4 = 50 % < 60 % required for a verified table


def test_conform_does_not_fail_on_tables_marked_not_reproduced(tmp_path: Path) -> None:
    code, _ = conform(tmp_path, "not_reproduced")
    assert code == 0


SAMPLE = {"2.1", "2.35", "2.62"}  # an office+online service, a small one, one with regions


def test_synth_is_deterministic_and_sized_by_the_published_n() -> None:
    spec, _ = load_spec(resolve_spec("2020"))
    folder = Path(spec.path).parent / "published" / "2020"
    first = synthesize(spec, folder, seed=7, only=SAMPLE).tables["respondents"]
    again = synthesize(spec, folder, seed=7, only=SAMPLE).tables["respondents"]
    pd.testing.assert_frame_equal(first, again)
    table1 = pd.read_csv(folder / "services.csv", dtype={"service_no": str})
    published_n = table1.set_index("service_no")["n_respondents"]
    assert first["service_code"].value_counts().to_dict() == {
        unit: published_n[unit] for unit in SAMPLE}


def test_synth_refuses_an_unknown_unit_with_a_suggestion(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["synth", "2020", "--unit", "2.99", "--out",
                                       str(tmp_path)])
    assert result.exit_code == 2
    assert "D407" in result.stderr and "did you mean '2.9'" in result.stderr


def test_synth_fit_report_agrees_with_the_engine_rating(tmp_path: Path) -> None:
    """The fit mirrors the aggregation exactly: what it reports for a service's total is what
    `sapa rate` computes from the written data."""
    spec, _ = load_spec(resolve_spec("2020"))
    made = synthesize(spec, Path(spec.path).parent / "published" / "2020", only=SAMPLE)
    synthesis.write(made.tables, tmp_path)
    result = CliRunner().invoke(main, ["conform", "2020", "--data", str(tmp_path),
                                       "--format", "json"])
    cells = pd.DataFrame(json.loads(result.stdout)["cells"]).query("table == 'table_8'")
    engine = cells.set_index(["unit", "column"])["engine"].dropna()
    report = made.report.query("figure == 'total'").set_index(["unit", "statistic"])
    for (unit, column), value in engine.items():
        if unit in SAMPLE:
            assert abs(report.loc[(unit, column), "synthesized"] - value) < 1e-9


def test_bundled_2020_data_reproduce_the_verified_tables_at_the_measured_level() -> None:
    """Every verified table at 95 % or more (issue 6), at the level reached: Table 8 100 %,
    Table 9 100 %, Appendix A 97.9 %, Table 14 100 / 98.1 %, Table 15 99.1 %, Table 7 100 %,
    Table 12 (score) 100 %. Never lower them without saying why."""
    result = CliRunner().invoke(main, ["conform", "2020", "--format", "json"])
    summary = pd.DataFrame(json.loads(result.stdout)["summary"])
    rates = summary.set_index("table")["match_rate"]
    floors = {"table_8": 1.0, "table_9": 1.0, "appendix_a": 0.97,
              "table_14_self_service": 1.0, "table_14_manager": 0.98, "table_15": 0.99,
              "table_7": 1.0, "table_12_score": 1.0}
    assert {t: rates[t] for t in floors if rates[t] < floors[t]} == {}


def test_bundled_2019_data_reproduce_tables_7_and_8_at_the_measured_level() -> None:
    """Floors at the level reached: Table 7 98.5 % (58 is the report's error), Table 8 95.5 %,
    Table 10 «Всего» 100 %, Table 2 100 % (its costs % with the exchanges between items)."""
    result = CliRunner().invoke(main, ["conform", "2019", "--format", "json"])
    summary = pd.DataFrame(json.loads(result.stdout)["summary"])
    rates = summary.set_index("table")["match_rate"]
    assert rates["table_7"] >= 0.98 and rates["table_8"] >= 0.95
    assert rates["table_10_total"] == 1.0 and rates["table_2"] == 1.0
    # the reference data are not fitted to the regions, which the spec says: the bundled
    # command passes and shows the table; the same data given by --data do not pass
    assert result.exit_code == 0
    status = summary.set_index("table")["status"]
    assert status["table_15_total"] == "verified (data not fitted)"
    bundled = Path(load_spec(resolve_spec("2019"))[0].path).parent / "data" / "2019"
    given = CliRunner().invoke(main, ["conform", "2019", "--data", str(bundled), "--show", "0"])
    assert given.exit_code == 1


def test_bundled_2019_data_are_what_synth_makes_and_its_report_is_what_the_engine_rates(
        tmp_path: Path) -> None:
    """2019 exchanges answers between items after every service is built (Table 2 pools them
    all), so only a whole run gives the bundled data: it does, and the fit report, moved with
    the exchanges, still says what `sapa rate` computes for every service's total, as does
    what synth says of Table 2's criteria."""
    spec, _ = load_spec(resolve_spec("2019"))
    folder = Path(spec.path).parent
    made = synthesize(spec, folder / "published" / "2019", seed=0)
    synthesis.write(made.tables, tmp_path)
    for name in ("respondents", "services"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"{name}.parquet"),
                                      pd.read_parquet(folder / "data" / "2019" /
                                                      f"{name}.parquet"))
    result = CliRunner().invoke(main, ["conform", "2019", "--data", str(tmp_path),
                                       "--format", "json"])
    cells = pd.DataFrame(json.loads(result.stdout)["cells"])
    engine = cells.query("table == 'table_7'").set_index(["unit", "column"])["engine"]
    report = made.report.query("figure == 'total'").set_index(["unit", "statistic"])
    assert len(engine) == 130
    for (unit, column), value in engine.items():
        assert report.loc[(unit, column), "synthesized"] == pytest.approx(value, abs=1e-9)
    national = cells.query("table == 'table_2'").set_index("column")["engine"]
    assert made.pooled is not None and made.exchanges > 0  # what synth says of Table 2 ...
    criteria = made.pooled[made.pooled["figure"].isin(
        {c.rsplit("_", 1)[0] for c in national.index})]
    assert len(criteria) == 16
    for _, row in criteria.iterrows():  # ... is what the engine rates
        assert row["synthesized"] == pytest.approx(
            national[f"{row['figure']}_{row['statistic']}"], abs=1e-9)


def test_bundled_data_are_what_synth_makes_from_the_published_tables(tmp_path: Path) -> None:
    """The bundled reference data are reproducible: `sapa synth 2020 --seed 0` gives them (here
    checked on a sample of services; `--unit` builds a service exactly as the whole run does)."""
    spec, _ = load_spec(resolve_spec("2020"))
    folder = Path(spec.path).parent
    synthesis.write(synthesize(spec, folder / "published" / "2020", seed=0, only=SAMPLE).tables,
                    tmp_path)
    for name, key in (("respondents", "service_code"), ("services", "code")):
        made = pd.read_parquet(tmp_path / f"{name}.parquet")
        bundled = pd.read_parquet(folder / "data" / "2020" / f"{name}.parquet")
        made, bundled = (frame[frame[key].isin(SAMPLE)].drop(columns="respondent_id",
                                                            errors="ignore")
                         .reset_index(drop=True) for frame in (made, bundled))
        pd.testing.assert_frame_equal(made, bundled)  # services: the paid/free choice too


def test_a_service_without_a_provider_table_counts_in_table_9_with_its_total() -> None:
    """method-2020.md §6.2: МИД's Table 9 row is the mean of the totals of 2.15 and 2.16, which
    have no provider table (the state-body zone, a mean of items, would differ)."""
    result = CliRunner().invoke(main, ["rate", "--format", "json"])
    ratings = json.loads(result.stdout)
    services = pd.DataFrame(ratings["services"]).set_index("unit")
    mid = pd.DataFrame(ratings["cgo_own_zone"]).set_index("unit").loc["МИД"]
    for column in ("score", "satisfaction"):
        assert mid[column] == pytest.approx(services.loc[["2.15", "2.16"], column].mean())


def test_table_15_leaves_out_a_service_whose_provider_table_has_no_portal_row() -> None:
    """method-2020.md §6.7: Table 15 is the portal row of each provider table, ИТОГО the mean
    of its rows; 2.59 has online respondents but no portal row (its online column is in prose)."""
    ratings = json.loads(CliRunner().invoke(main, ["rate", "--format", "json"]).stdout)
    portal = pd.DataFrame(ratings["portal_services"])
    rows, total = portal[portal["unit"].notna()], portal[portal["unit"].isna()]
    assert "2.59" not in set(rows["unit"]) and len(rows) == 56
    assert total["satisfaction"].iloc[0] == pytest.approx(rows["satisfaction"].mean())


@pytest.mark.parametrize(("unit", "figure"), [
    ("2.3", "online.result"),  # 83.9 % and 4.73 of one item: 31 asked, 30 rate (1 non-answer)
    ("2.30", "office: csc zone"),  # 90.3 %: four office respondents reach 75 % but not this
    ("2.39", "state_body zone"),  # 80.5 % over 16 respondents: reached with a shaken skip
    ("2.59", "г. Нур-Султан: total"),  # 4.67 / 82.8 %: reached with balanced regional shares
])
def test_synth_reaches_figures_that_need_the_right_counts(unit: str, figure: str) -> None:
    spec, _ = load_spec(resolve_spec("2020"))
    made = synthesize(spec, Path(spec.path).parent / "published" / "2020", only={unit})
    rows = made.report.query("unit == @unit and figure == @figure")
    assert len(rows) == 2 and rows["reproduced"].all()


def test_regional_shares_are_balanced_so_the_regions_average_to_the_unit() -> None:
    """4.50 overall from regions printed 4.00 and 4.80 needs 37.5 % in the first region, not
    the sample's 50 %; the % (80 from 60 and 90: one third) gives way, being lighter."""
    targets = synthesis_targets.Targets(criteria={}, items={}, totals={}, channel_zones={},
                                unit_zones={}, unit_total=(4.5, 80.0),
                                regional={"A": (4.0, 60.0), "B": (4.8, 90.0)})
    unit = synthesis._Unit("u", 100, ["office"], targets, ["A", "B"])
    shares = synthesis._balanced(unit, {"A": 0.5, "B": 0.5, "C": 0.2},
                                 {"score": 1.0, "satisfaction": 0.5}, PRINTED)
    assert set(shares) == {"A", "B"} and sum(shares.values()) == pytest.approx(1.0)
    assert 4.0 * shares["A"] + 4.8 * shares["B"] == pytest.approx(4.5, abs=0.0025 + 1e-9)


@pytest.mark.parametrize("unit", [
    "26",  # 11 respondents, every % in ninths: two answer nothing (a shake leaves them out)
    "14",  # feedback 5.00 / 25 %: one rater in four answers needs four complainants, not two
])
def test_synth_2019_reproduces_the_service_rows_of_small_services(unit: str) -> None:
    spec, _ = load_spec(resolve_spec("2019"))
    made = synthesize(spec, Path(spec.path).parent / "published" / "2019", only={unit})
    rows = made.report.query("unit == @unit and figure == 'total'")
    assert len(rows) == 2 and rows["reproduced"].all()


def test_items_of_one_criterion_share_its_raters() -> None:
    """5.00 with 94.4 % over two items of 9 asked: 17 of the 18 answers rate (all fives), so
    one item has 9 raters and the other 8; each on its own would round down to 8."""
    items = [synthesis_skips.Item(slot, np.arange(9), 5.0, 94.4) for slot in (0, 1)]
    synthesis_skips.share_raters(items, PRINTED)
    assert sorted(item.rated for item in items) == [8, 9]


def test_answering_shares_make_the_pooled_2019_criteria_come_out() -> None:
    """Table 2's accessibility (92.4 %) is not the services' size-weighted mean (91.7 %): the
    shares answering, weighted in, give it back, and nobody's share falls below a half."""
    spec, _ = load_spec(resolve_spec("2019"))
    plan, folder = spec.data["synthesis"], Path(spec.path).parent / "published" / "2019"
    targets = synthesis_targets.read_targets(folder, plan, spec.survey)
    counts = synthesis_targets.unit_counts(folder, plan["respondents"])
    shares = synthesis_pooled.answering_shares(folder, plan, spec.survey, targets, counts)
    units = [u for u in targets if ("main", "accessibility") in targets[u].criteria]
    weight = np.array([counts[u] * shares.get(u, {}).get("accessibility", 1.0) for u in units])
    value = np.array([targets[u].criteria[("main", "accessibility")][1] for u in units])
    assert weight @ value / weight.sum() == pytest.approx(92.4, abs=0.05)
    assert min(shares[u]["accessibility"] for u in units if u in shares) >= 0.5
    assert "feedback" not in {c for unit in shares.values() for c in unit}  # routed: left alone


def test_routed_counts_make_the_pooled_2019_feedback_come_out() -> None:
    """Table 2's feedback (3.43) pools the complainants of every service: each service gets a
    number of complainants that reaches its own printed feedback, and together they weigh its
    value to the national one."""
    spec, _ = load_spec(resolve_spec("2019"))
    plan, folder = spec.data["synthesis"], Path(spec.path).parent / "published" / "2019"
    targets = synthesis_targets.read_targets(folder, plan, spec.survey)
    counts = synthesis_targets.unit_counts(folder, plan["respondents"])
    routed = synthesis_pooled.routed_counts(folder, plan, spec.survey, targets, counts)
    total = weight = 0.0
    for unit, flags in routed.items():
        score, share = targets[unit].criteria[("main", "feedback")]
        k = int(flags["complained"])
        rated = synthesis_skips.raters(2 * k, score, share, PRINTED)
        assert 2 <= k <= counts[unit]
        assert synthesis_skips.reachable(score, rated, 1.0, PRINTED)
        total, weight = total + rated * score, weight + rated
    assert total / weight == pytest.approx(3.43, abs=0.005)


def test_item_splits_make_the_pooled_2019_costs_items_come_out() -> None:
    """Table 2 pools the fee items over the paid services and the other costs items over all;
    each service prints the mean of its items only. The planned moves leave every service's
    mean where it is, and, weighted by size, put every item's pool within the conformance
    tolerance of its print (items near 5 cannot move far up)."""
    spec, _ = load_spec(resolve_spec("2019"))
    plan, folder = spec.data["synthesis"], Path(spec.path).parent / "published" / "2019"
    targets = synthesis_targets.read_targets(folder, plan, spec.survey)
    counts = synthesis_targets.unit_counts(folder, plan["respondents"])
    services = synthesis._typed(spec, "services", synthesis_targets.catalogue(
        folder, plan["catalogues"]["services"]))
    asked = synthesis._items_asked(spec, plan, services, list(targets))
    splits = synthesis_pooled.item_splits(folder, plan, spec.survey, targets, counts, asked)
    assert splits and all(sum(move[0] for move in moves.values()) == pytest.approx(0, abs=1e-6)
                          for moves in splits.values())
    for item, printed in {"costs_fee_amount": 4.78, "costs_additional": 4.93}.items():
        units = [u for u in splits if item in splits[u]]
        values = [targets[u].criteria[("main", "costs")][0] + splits[u][item][0] for u in units]
        assert np.average(values, weights=[counts[u] for u in units]) == pytest.approx(
            printed, abs=0.01)
    assert len([u for u in splits if "costs_fee_amount" in splits[u]]) < len(splits)  # paid


def test_the_channel_split_search_covers_more_than_two_channels() -> None:
    """Three channels: splits that move respondents between any two of them are tried, ranked
    by how many printed figures they make reachable."""
    spec, _ = load_spec(resolve_spec("2020"))
    units = pd.read_parquet(Path(spec.path).parent / "data" / "2020" / "services.parquet")
    printed = {("office", "accessibility"): (4.71, 81.3), ("online", "accessibility"): (4.63, 75.0),
               ("provider_office", "accessibility"): (4.5, 62.5)}
    targets = synthesis_targets.Targets(criteria=printed, items={}, totals={},
                                        channel_zones={}, unit_zones={})
    unit = synthesis._Unit("2.16", 40, ["office", "online", "provider_office"], targets, [])
    splits = [{name: size for name, (size, _) in split.items()}
              for split in synthesis._sizes(spec, spec.synthesis, unit, units)]
    assert len(splits) > 1 and all(sum(split.values()) == 40 for split in splits)
    assert len({split["provider_office"] for split in splits}) > 1  # the third channel moved


def test_printed_digits_decide_what_a_mean_can_print() -> None:
    """14 marks over 3 raters is 4.667: it prints as 4.7 with one decimal, never as 4.70."""
    one = synthesis_skips.Printing({"score": 0.05, "satisfaction": 0.5}, 5, True)
    assert synthesis_skips.reachable(4.7, 3, 1.0, one)
    assert not synthesis_skips.reachable(4.7, 3, 1.0, PRINTED)
    spec, _ = load_spec(resolve_spec("2020"))
    plan = {**spec.synthesis, "digits": {"score": 1, "satisfaction": 0}}
    assert synthesis_skips.printing(plan, spec.survey) == one


def test_synth_refuses_a_spec_it_cannot_fit_and_validate_says_so(tmp_path: Path) -> None:
    variant = tmp_path / "variant.yaml"
    variant.write_text("extends: 2020\nmethodology: {id: v}\nscale: {satisfied: [4, 5]}\n"
                       "tests: null\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["synth", str(variant), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "error[C105]" in result.output
    assert "counts 4, 5 as satisfied" in result.output and not (tmp_path / "out").exists()
    assert "fitting units" not in result.output  # refused before any work starts
    result = CliRunner().invoke(main, ["validate", str(variant)])
    assert result.exit_code == 0 and "warning[S237]" in result.output
    assert "2020.yaml:" in result.output  # placed where the plan is written


def test_a_synthesis_plan_names_the_specs_channels_and_criteria(tmp_path: Path) -> None:
    variant = tmp_path / "variant.yaml"
    variant.write_text(
        "extends: 2020\nmethodology: {id: v}\ntests: null\nsynthesis:\n"
        "  channel_shares: {ofice: 0.7}\n"
        "  routing: {complained: {share: 0.05, criteria: [fedback]}}\n"
        "  channels: {map: {csc: office, portal: onlin}}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(variant)])
    assert result.exit_code == 1
    for name, suggestion in (("ofice", "office"), ("fedback", "feedback"), ("onlin", "online")):
        assert f"unknown questionnaire '{name}'" in result.output or \
            f"unknown criterion '{name}'" in result.output
        assert f"did you mean '{suggestion}'" in result.output
