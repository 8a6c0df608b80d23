"""Every 2020 rating runs end to end on respondent data shaped like the 2020 survey."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from sapa.cli import main
from sapa.engine.spec import load_spec, resolve_spec
from tests import synthetic


def test_all_2020_ratings_on_synthetic_respondents(tmp_path: Path) -> None:
    spec, _ = load_spec(resolve_spec("2020"))
    tables = synthetic.catalogues(seed=1)
    tables["respondents"] = synthetic.respondents(spec, tables, 3000, seed=1)
    data = synthetic.write(tables, tmp_path / "data", fmt="csv")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["rate", "2020", "--data", str(data), "--out", str(out),
                                       "--format", "json"])
    assert result.exit_code == 0, result.output
    services = pd.read_csv(out / "services.csv")
    assert len(services) == 62 + 1  # 62 surveyed services and the ИТОГО row
    assert services.iloc[-1]["name"] == "ИТОГО"
    assert services["score"].iloc[:-1].between(1, 5).all()
    total = services.iloc[-1]
    assert abs(total["score"] - services["score"].iloc[:-1].mean()) < 1e-12
    assert total["n"] == services["n"].iloc[:-1].sum()  # n is added up, not averaged
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["excluded"]["not_surveyed"] > 0
    assert manifest["respondents_counted"] + sum(manifest["excluded"].values()) == 3000
    regions = pd.read_csv(out / "regions.csv")
    assert len(regions) == 17  # 'abroad' has no regional row
    providers = pd.read_csv(out / "providers.csv")
    assert set(providers["unit"]) == {"csc_self_service", "csc_manager", "csc_total",
                                      "portal_services", "mio_services_own_zone",
                                      "cgo_services_own_zone", "services"}
    assert providers.set_index("unit").loc["services", "score"] == total["score"]
    assert not providers.set_index("unit").loc["mio_services_own_zone", "reproducible"]
    cgo = pd.read_csv(out / "cgo_own_zone.csv")
    catalogue = tables["services"]
    with_survey = catalogue[catalogue["surveyed"] & (catalogue["agency"] != "MIO")]["agency"]
    assert set(cgo["unit"]) == set(with_survey)  # agencies without a surveyed service: absent
    results = pd.read_csv(out / "survey.results.csv", dtype={"unit": str}).set_index("unit")
    assert results.loc["2.4", "excluded_not_surveyed"] > 0 and pd.isna(results.loc["2.4", "score"])
    assert (out / "call_centres.csv").exists()
