"""One response file, two methodologies: the shared item vocabulary makes it ratable under both,
and what does not fit is said by name."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from sapa.cli import main
from sapa.engine.spec import load_spec, resolve_spec
from tests import synthetic


def rate(spec: str, data: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["rate", spec, "--data", str(data), "--out", str(out),
                                       "--format", "csv", "--rating", "services", *extra])
    return result.exit_code, result.output


def rate_under_both(written_for: str, n: int, tmp_path: Path) -> str:
    """A response file answering `written_for`'s questionnaires, rated under its own method and
    then under the other year's; returns what the second run said."""
    spec, _ = load_spec(resolve_spec(written_for))
    tables = synthetic.catalogues(seed=n)
    tables["respondents"] = synthetic.respondents(spec, tables, n, seed=n)
    data = synthetic.write(tables, tmp_path / "data", fmt="csv")
    other = "2019" if written_for == "2020" else "2020"
    code, output = rate(written_for, data, tmp_path / f"out{written_for}")
    assert code == 0, output
    # the other year's items the file lacks are refused by name, unless that is intended
    code, output = rate(other, data, tmp_path / f"out{other}")
    assert code == 1 and "error[D413]" in output, output
    assert not (tmp_path / f"out{other}").exists()
    code, output = rate(other, data, tmp_path / f"out{other}", "--allow-missing-items")
    assert code == 0, output
    return output


def test_a_2020_response_file_rated_under_2019_and_2020(tmp_path: Path) -> None:
    output = rate_under_both("2020", 1500, tmp_path)
    # 2020-only questions are ignored, by name; 2019 questions the file lacks are named
    assert "item 'portal_registration' is not asked by this methodology: ignored" in output
    assert "item 'va_speed' is not asked by this methodology: ignored" in output
    for missing in ("acc_fair_equal", "proc_submit"):
        assert f"column '{missing}' of 'respondents' is not in the data" in output
    in_2019 = pd.read_csv(tmp_path / "out2019" / "services.csv", dtype={"unit": str})
    in_2020 = pd.read_csv(tmp_path / "out2020" / "services.csv", dtype={"unit": str})
    # 2.62's respondents answered only the ambulance block, which 2019 does not ask: no score
    assert set(in_2020["unit"].dropna()) - set(in_2019["unit"]) == {"2.62"}
    # same answers, different methods: the 2019 score pools a service's respondents over one
    # questionnaire, 2020 averages its channels; both stay on the 1..5 scale
    assert in_2019["score"].between(1, 5).all()


def test_a_2019_shaped_file_rated_under_2020_names_what_2020_lacks(tmp_path: Path) -> None:
    output = rate_under_both("2019", 800, tmp_path)
    assert "item 'acc_fair_equal' is not asked by this methodology: ignored" in output
    assert "column 'portal_registration' of 'respondents' is not in the data" in output
