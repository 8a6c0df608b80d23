"""`sapa conform` (cell-by-cell against published tables) and `sapa synth` (reference data)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from cli import main
from engine.loading import resolve_spec
from engine.synthesis import synthesize
from engine.validation import load_spec
from tests.conftest import SPECS

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


def test_synth_is_deterministic_and_sized_by_the_published_n() -> None:
    spec, _ = load_spec(resolve_spec("2020"))
    folder = Path(spec.path).parent / "published" / "2020"
    first = synthesize(spec, folder, seed=7)
    again = synthesize(spec, folder, seed=7)
    pd.testing.assert_frame_equal(first["respondents"], again["respondents"])
    table1 = pd.read_csv(folder / "services.csv")
    assert len(first["respondents"]) == table1.loc[table1["surveyed"] == "yes",
                                                    "n_respondents"].sum() == 9181


def test_bundled_2020_data_reproduce_table_8_at_the_measured_level() -> None:
    """A floor at the level reached (issue 6 is not finished): Table 8 92 %, Appendix A 88 %,
    Table 14 (self-service) 82 %. Raise it as the synthesis improves; never lower it without
    saying why."""
    result = CliRunner().invoke(main, ["conform", "2020", "--format", "json"])
    summary = pd.DataFrame(json.loads(result.stdout)["summary"])
    rates = summary.set_index("table")["match_rate"]
    assert rates["table_8"] >= 0.90 and rates["appendix_a"] >= 0.85
    assert rates["table_14_self_service"] >= 0.80


def test_bundled_2019_data_reproduce_tables_7_and_8_at_the_measured_level() -> None:
    """Floors at the level reached (issue 6 is not finished): Table 7 93 %, Table 8 86 %."""
    result = CliRunner().invoke(main, ["conform", "2019", "--format", "json"])
    summary = pd.DataFrame(json.loads(result.stdout)["summary"])
    rates = summary.set_index("table")["match_rate"]
    assert rates["table_7"] >= 0.90 and rates["table_8"] >= 0.85


def test_bundled_data_are_what_synth_makes_from_the_published_tables() -> None:
    """The bundled reference data are reproducible: `sapa synth 2020 --seed 0` gives them."""
    spec, _ = load_spec(resolve_spec("2020"))
    folder = Path(spec.path).parent
    made = synthesize(spec, folder / "published" / "2020", seed=0)
    bundled = pd.read_parquet(folder / "data" / "2020" / "respondents.parquet")
    pd.testing.assert_frame_equal(made["respondents"].reset_index(drop=True), bundled,
                                  check_dtype=False)
