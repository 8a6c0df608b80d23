"""The same specs on Spark: the respondents read, checked and counted by a local Spark's
workers, and every formula run as Spark SQL, give what a local run gives, results and problems
alike (PySpark and Java are test requirements: .ci/run installs them)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings

from sapa.cli import main
from sapa.engine import api
from tests.test_lowering import CASES, lowered_as_evaluated, with_examples
from tests.test_streaming import SPECS, _problems, _same, _survey_data


@pytest.fixture(scope="module", autouse=True)
def spark() -> Iterator[None]:
    from sapa.engine.formula import spark_session

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


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@with_examples
@given(CASES)
def test_a_formula_run_by_spark_gives_what_the_reference_gives(case: tuple[str, str]) -> None:
    """Spark's SQL (ANSI: division by zero is an error, a bare 0.1 a decimal) gives the same
    values to the last bit and flags the same rows as the pandas reference; fewer random
    formulas than on DuckDB, as each costs Spark a quarter of a second or more."""
    lowered_as_evaluated(case, "spark")


def test_the_embedded_tests_of_the_bundled_specs_pass_on_spark(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from sapa.engine.formula.spark import SparkRunner

    ran: list[str] = []
    monkeypatch.setattr(SparkRunner, "run", _counted(SparkRunner.run, ran))
    result = CliRunner().invoke(main, ["test", "2013", "2019", "2020", "--backend", "spark"])
    assert result.exit_code == 0, result.output
    assert result.output.endswith(" passed, 0 failed\n") and "FAIL" not in result.output
    assert len(ran) > 100  # every formula of every case was Spark's to run


def _counted(method: Callable[..., Any], calls: list[str]) -> Callable[..., Any]:
    def counting(self: Any, sql: str) -> Any:
        calls.append(sql)
        return method(self, sql)
    return counting


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
    if name == "2013":  # no survey: nothing for Spark's workers to read, and the user is told
        assert "D415" in result.output and "the formulas run on spark" in result.output


def _first_rating(name: str) -> str:
    spec, _ = api.check(name)
    return next(iter(spec.ratings))


def test_without_pyspark_the_backend_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from sapa.engine.diagnostics import CannotRun
    from sapa.engine.formula import spark_session

    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # as if it were not installed
    with pytest.raises(CannotRun) as raised:
        spark_session()
    assert [d.code for d in raised.value.diagnostics] == ["C118"]
    assert "pip install 'sapa[spark]'" in (raised.value.diagnostics[0].hint or "")


def test_without_java_the_backend_says_so(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "sapa.cli", "test", "2013", "--backend",
                             "spark"], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "JAVA_HOME": str(tmp_path / "no-java")})
    assert result.returncode == 2, result.stderr
    assert "error[C118] --backend spark: Spark did not start" in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
