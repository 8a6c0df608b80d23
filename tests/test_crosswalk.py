"""Crosswalks pair units across catalogues: a rename, a split and a merge worked by hand, over
three periods; a crosswalk's mistakes located in its file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sapa.engine.analysis import history, read_crosswalk
from sapa.engine.diagnostics import SapaError
from tests.conftest import sapa

HEADER = "from,to,kind,rule,from_name,to_name,evidence,note\n"
# 2018 -> 2019: X stays, Y is renamed Y2, Z splits into Z1 and Z2, W is discontinued
STEP_1 = HEADER + ("X,X,same,,,Ex,,\nY,Y2,renamed,,Why,Why two,,\nZ,Z1,split,copy,,,,\n"
                   "Z,Z2,split,copy,,,,\nW,,discontinued,,Wye,,,closed in 2019\n"
                   ",N1,new,,,Nu,,opened in 2019\n")
# 2019 -> 2020: X and Y2 merge into M (pooled over their respondents); the rest stay
STEP_2 = HEADER + ("X,M,merged,pooled,,Em,,\nY2,M,merged,pooled,,Em,,\nZ1,Z1,same,,,,,\n"
                   "Z2,Z2,same,,,,,\nN1,N1,same,,,,,\n")
RATINGS = {
    "2018": [("X", 4.0, 10), ("Y", 4.4, 30), ("Z", 3.0, 5), ("W", 2.0, 5)],
    "2019": [("X", 4.2, 20), ("Y2", 4.5, 60), ("Z1", 3.5, 5), ("Z2", 3.1, 5), ("N1", 4.9, 9)],
    "2020": [("M", 4.6, 80), ("Z1", 3.6, 5), ("Z2", 3.0, 5), ("N1", 4.8, 9)],
}


def write(tmp_path: Path) -> tuple[dict[str, Path], list[Path]]:
    files = {}
    for period, rows in RATINGS.items():
        frame = pd.DataFrame(rows, columns=["unit", "score", "n"])
        frame.insert(0, "rank", range(1, len(rows) + 1))
        frame.insert(2, "name", frame["unit"])
        files[period] = tmp_path / f"{period}.csv"
        frame.to_csv(files[period], index=False)
    steps = [tmp_path / "step1.csv", tmp_path / "step2.csv"]
    for path, text in zip(steps, (STEP_1, STEP_2), strict=True):
        path.write_text(text, encoding="utf-8")
    return files, steps


def test_history_over_three_periods_pairs_renames_splits_and_merges(tmp_path: Path) -> None:
    files, steps = write(tmp_path)
    tables = {p: pd.read_csv(f, dtype={"unit": str}) for p, f in files.items()}
    out, unpaired = history(tables, "score", [read_crosswalk(s) for s in steps])
    got = out.set_index("unit")[["2018", "2019", "2020"]]
    # M = X + Y2: 2018 pooled (4.0 x 10 + 4.4 x 30) / 40 = 4.3 (Y reached M as Y2);
    # 2019 pooled (4.2 x 20 + 4.5 x 60) / 80 = 4.425
    assert got.loc["M"].tolist() == pytest.approx([4.3, 4.425, 4.6])
    assert got.loc["Z1"].tolist() == pytest.approx([3.0, 3.5, 3.6])  # the split copies Z
    assert got.loc["Z2"].tolist() == pytest.approx([3.0, 3.1, 3.0])
    assert got.loc["N1", "2018"] != got.loc["N1", "2018"]  # new in 2019: no 2018 value
    assert out.set_index("unit").loc["M", "change"] == pytest.approx(4.6 - 4.425)
    assert sorted(out["unit"]) == ["M", "N1", "Z1", "Z2"]
    reasons = {(r.unit, r.kind): r.reason for r in unpaired.itertuples()}
    assert reasons == {("W", "discontinued"): "closed in 2019", ("N1", "new"): "opened in 2019"}


def test_a_plain_mean_merge_and_the_command_line(tmp_path: Path) -> None:
    files, steps = write(tmp_path)
    steps[1].write_text(STEP_2.replace("pooled", "mean"), encoding="utf-8")
    result = sapa("history", *(f"{p}={f}" for p, f in files.items()), "--rating", "services",
                  "--crosswalk", steps[0], "--crosswalk", steps[1], "--format", "csv")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(pd.io.common.StringIO(result.stdout)).set_index("unit")
    assert table.loc["M", "2019"] == pytest.approx((4.2 + 4.5) / 2)
    result = sapa("history", *(f"{p}={f}" for p, f in files.items()), "--rating", "services",
                  "--column", "rank", "--crosswalk", steps[0], "--crosswalk", steps[1])
    assert "2018 → 2019: discontinued (1, closed in 2019): W" in result.output
    assert "2.00" not in result.output  # ranks are whole numbers


@pytest.mark.parametrize(("line", "place", "message"), [
    ("Q,Q2,same,mean,,,,", "3:11", "a 'same' pair takes no rule ('mean')"),
    ("Q,Q2,merge,,,,,", "3:6", "unknown kind 'merge'"),
    ("X,X2,same,,,,,", "3:1", "'X' is paired twice without being a 'split'"),
    ("Q,,renamed,,,,,", "3:3", "a 'renamed' pair needs a 'to' code"),
    ("Q,M,merged,,,,,", "3:12", "a 'merged' pair needs its rule: mean or pooled"),
    ("Q,M,merged,sum,,,,", "3:12", "unknown rule 'sum' for a 'merged' pair"),
])
def test_a_crosswalk_mistake_is_located_in_its_file(tmp_path: Path, line: str, place: str,
                                                    message: str) -> None:
    path = tmp_path / "walk.csv"
    path.write_text(HEADER + "X,X,same,,,,,\n" + line + "\n", encoding="utf-8")
    with pytest.raises(SapaError) as caught:
        read_crosswalk(path)
    found = [(str(d.span), d.message) for d in caught.value.diagnostics]
    assert (f"{path}:{place}", message) in found, found


def test_a_code_no_rating_has_is_listed_not_dropped(tmp_path: Path) -> None:
    """A rating is not a catalogue (a unit may go unsurveyed), so a code it lacks is listed
    with why; `sapa validate` checks codes against the catalogues."""
    files, steps = write(tmp_path)
    steps[0].write_text(STEP_1.replace("Y,Y2,renamed", "Yy,Y2,renamed"), encoding="utf-8")
    result = sapa("history", *(f"{p}={f}" for p, f in files.items()), "--rating", "services",
                  "--crosswalk", steps[0], "--crosswalk", steps[1])
    assert result.exit_code == 0, result.output
    assert "2018 → 2019: renamed (1, not rated in the earlier period): Yy" in result.output
    assert "2018 → 2019: unknown (1, not in the crosswalk): Y" in result.output


def test_history_needs_one_crosswalk_per_step_and_maps_rating_ids(tmp_path: Path) -> None:
    files, steps = write(tmp_path)
    periods = [f"{p}={f}" for p, f in files.items()]
    result = sapa("history", *periods, "--rating", "services", "--crosswalk", steps[0])
    assert result.exit_code == 2 and "error[C113]" in result.output
    result = sapa("history", *periods, "--rating", "2018:a,2019:b,2021:c")
    assert result.exit_code == 2 and "did you mean '2020'" in result.output


def test_compare_two_years_through_a_crosswalk(tmp_path: Path) -> None:
    """`compare` reads ratings it rates itself; here the unit pairing alone is checked through
    the engine function the command uses."""
    from sapa.engine.analysis import compare

    files, steps = write(tmp_path)
    a, b = (pd.read_csv(files[p], dtype={"unit": str}) for p in ("2018", "2019"))
    result = compare(a, b, "services", "services", read_crosswalk(steps[0]))
    units = result.units.set_index("unit")
    assert units.loc["Y2", "score_a"] == 4.4 and units.loc["Y2", "score_b"] == 4.5
    assert units.loc["N1", "present"] == "only_b"
    assert json.loads(result.unpaired.to_json(orient="records"))[0]["unit"] == "W"


@pytest.mark.parametrize("table", ["services", "agencies", "regions"])
def test_the_bundled_crosswalks_name_every_unit_of_both_years(table: str) -> None:
    """Each unit of either year's catalogue is paired, new or discontinued: none is left out."""
    root = Path(__file__).parent.parent / "methodology"
    pairs = read_crosswalk(root / "crosswalks" / f"{table}-2019-2020.csv").pairs
    for year, side in (("2019", "from"), ("2020", "to")):
        codes = set(pd.read_parquet(root / "data" / year / f"{table}.parquet")["code"].astype(str))
        assert set(pairs.loc[pairs[side] != "", side]) == codes
    assert ((pairs["evidence"] != "") | (pairs["note"] != "")).all()  # every row says why


def test_compare_2019_with_2020_pairs_services_through_the_declared_crosswalk(
        tmp_path: Path) -> None:
    root = Path(__file__).parent.parent / "methodology"
    result = sapa("compare", "2019", "2020", "--data", root / "data" / "2019", "--data-b",
                  root / "data" / "2020", "--rating", "services", "--format", "json",
                  "--out", tmp_path)
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)[0]
    both = [u for u in found["units"] if u["present"] == "both"]
    assert len(both) == 19 and found["common"] == 19
    assert all(u["unit"].startswith("2.") for u in both)
    kinds = pd.read_csv(tmp_path / "services.unpaired.csv")["kind"].value_counts().to_dict()
    assert kinds == {"new": 50, "discontinued": 45, "same": 1}  # same: 2.29, not surveyed


def test_validate_checks_a_declared_crosswalk_against_both_catalogues(tmp_path: Path) -> None:
    source = Path(__file__).parent.parent / "methodology" / "crosswalks" / "regions-2019-2020.csv"
    (tmp_path / "walk.csv").write_text(source.read_text(encoding="utf-8").replace(
        "Алматы,г. Алматы,renamed", "Алматы,г. Алмата,renamed"), encoding="utf-8")
    spec = tmp_path / "variant.yaml"
    spec.write_text("extends: 2020\nmethodology: {id: v}\ntests: null\npublished: null\n"
                    "crosswalks:\n  regions: {file: walk.csv}\n", encoding="utf-8")
    result = sapa("validate", spec)
    assert result.exit_code == 1
    assert f"{tmp_path / 'walk.csv'}:11:8: error[X603] 'г. Алмата' is no unit of the later " \
        "catalogue" in result.output
    assert "did you mean 'г. Алматы'?" in result.output


def test_a_crosswalk_file_is_checked_on_its_own(tmp_path: Path) -> None:
    root = Path(__file__).parent.parent / "methodology" / "crosswalks"
    ok = sapa("crosswalk", root / "agencies-2019-2020.csv", "--from", "2019", "--to", "2020",
              "--table", "agencies")
    assert ok.exit_code == 0 and "valid (0 errors)" in ok.output
    bad = tmp_path / "walk.csv"
    bad.write_text((root / "agencies-2019-2020.csv").read_text(encoding="utf-8").replace(
        "МЗ,МЗ,same", "МЗ,МЗЗ,same"), encoding="utf-8")
    result = sapa("crosswalk", bad, "--from", "2019", "--to", "2020", "--table", "agencies")
    assert result.exit_code == 1, result.output
    assert "error[X603] 'МЗЗ' is no unit of the later catalogue" in result.output
    assert f"{bad}:" in result.output and "did you mean 'МЗ'" in result.output
