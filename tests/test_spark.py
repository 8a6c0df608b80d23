"""The same specs on Spark: the respondents read, checked and counted by a local Spark's
workers give what a local read gives, results and problems alike (PySpark and Java are test
requirements: .ci/run installs them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sapa.cli import main
from sapa.engine import api
from tests.test_streaming import SPECS, _problems, _same, _survey_data


@pytest.fixture(scope="module", autouse=True)
def spark() -> Iterator[None]:
    from sapa.engine.data.spark import spark_session

    session = spark_session()
    yield
    session.stop()


@pytest.mark.parametrize("name", ["2019", "2020"])
def test_spark_rates_the_bundled_data_as_a_local_read_does(name: str) -> None:
    spec, _ = api.check(name)
    folder = api.data_folder(name, spec, None)
    whole, warnings = api.rate_folder(spec, folder, whole=True)
    on_spark, spark_warnings = api.rate_folder(spec, folder, batch_rows=997, backend="spark")
    assert on_spark.inputs is None
    _same(whole, on_spark)
    assert sorted(map(str, spark_warnings)) == sorted(map(str, warnings))


def test_spark_finds_the_problems_a_local_read_finds(tmp_path: Path) -> None:
    spec, _ = api.check(str(SPECS / "survey.yaml"))
    folder = _survey_data(tmp_path, {(1, "contact"): "phone", (19, "contact"): "fax",
                                     (18, "id"): "r1-0", (7, "service_code"): "S9"})
    whole = _problems(spec, folder, whole=True)
    assert [p.split()[0] for p in whole] == ["D404", "D406", "D407"]
    assert _problems(spec, folder, batch_rows=3, backend="spark") == whole


@pytest.mark.parametrize("name", ["2013", "2019", "2020"])
def test_rate_on_spark_writes_the_same_files(tmp_path: Path, name: str) -> None:
    runner = CliRunner()
    for backend in ("local", "spark"):
        result = runner.invoke(main, ["rate", name, "--backend", backend, "--out",
                                      str(tmp_path / backend), "--format", "csv",
                                      "--rating", _first_rating(name)])
        assert result.exit_code == 0, result.output
    local, spark = sorted((tmp_path / "local").iterdir()), sorted((tmp_path / "spark").iterdir())
    assert [f.name for f in local] == [f.name for f in spark]
    for mine, theirs in zip(local, spark, strict=True):
        if mine.name != "manifest.json":
            assert mine.read_bytes() == theirs.read_bytes(), mine.name
    if name == "2013":  # no survey: nothing for Spark to read, and the user is told
        assert "D415" in result.output


def _first_rating(name: str) -> str:
    spec, _ = api.check(name)
    return next(iter(spec.ratings))


def test_without_pyspark_the_backend_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from sapa.engine.data.spark import spark_session
    from sapa.engine.diagnostics import CannotRun

    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # as if it were not installed
    with pytest.raises(CannotRun) as raised:
        spark_session()
    assert [d.code for d in raised.value.diagnostics] == ["C118"]
    assert "pip install 'sapa[spark]'" in (raised.value.diagnostics[0].hint or "")
