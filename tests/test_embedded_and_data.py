"""Embedded spec tests, the data contract, and `sapa rate` outputs."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sapa.cli import main
from sapa.engine.spec import Spec, bundled_names, load_spec, resolve_spec
from sapa.engine.testing import run_test, run_tests
from tests.conftest import SPECS

MINI = SPECS / "mini.yaml"


SPEC_FILES = sorted(p.name for p in SPECS.glob("*.yaml") if p.name != "broken.yaml")


@cache
def bundled(name: str) -> Spec | None:
    """A bundled spec by short name, or a test spec by file name (tests/specs)."""
    return load_spec(SPECS / name if name.endswith(".yaml") else resolve_spec(name))[0]


def embedded_cases() -> list[Any]:
    """Every embedded test of every bundled spec and every test spec as its own pytest item,
    `<spec>::<test name>`, so one failing value names its test (an invalid spec gives one
    failing item)."""
    cases = []
    for name in [*bundled_names(), *SPEC_FILES]:
        spec = bundled(name)
        tests = spec.tests if spec is not None else [None]
        cases += [pytest.param(name, case.index if case else -1,
                               id=f"{name}::{case.name if case else 'the spec is invalid'}")
                  for case in tests]
    return cases


@pytest.mark.parametrize("name", bundled_names())
def test_bundled_spec_is_valid(name: str) -> None:
    spec, diagnostics = load_spec(resolve_spec(name))
    assert spec is not None, [d.message for d in diagnostics]
    assert not diagnostics, [d.message for d in diagnostics]


@pytest.mark.parametrize(("name", "index"), embedded_cases())
def test_embedded(name: str, index: int) -> None:
    spec = bundled(name)
    assert spec is not None, f"{name} is invalid: run `sapa validate {name}`"
    result = run_test(spec, spec.tests[index])
    assert result.passed, "\n".join(result.failures)
    assert result.checked > 0


def test_mini_embedded_tests_pass_and_check_values() -> None:
    spec, _ = load_spec(MINI)
    [result] = run_tests(spec)
    assert result.passed, result.failures
    assert result.checked == 24


def test_a_wrong_expectation_fails_with_expected_and_actual(tmp_path: Path) -> None:
    text = MINI.read_text(encoding="utf-8").replace("score: 85.03, grade: medium",
                                                    "score: 85.04, grade: high")
    spec_path = tmp_path / "mini.yaml"
    spec_path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["test", str(spec_path)])
    assert result.exit_code == 1
    assert "bodies[A].score: expected 85.04, got 85.03" in result.output
    assert "bodies[A].grade: expected 'high', got 'medium'" in result.output
    assert result.output.strip().endswith("0 passed, 1 failed")


def write_data(folder: Path, bodies: str, services: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bodies.csv").write_text(bodies, encoding="utf-8")
    (folder / "services.csv").write_text(services, encoding="utf-8")
    return folder


GOOD_BODIES = "body_id,name,kind,violations\nA,Alpha,central,2\nB,Beta,central,\n"
GOOD_SERVICES = ("body_id,service_id,approved,total,late\nA,s1,1,100,10\nA,s2,0,300,\n"
                 "B,s1,1,50,0\n")


def test_rate_writes_one_csv_per_rating_and_a_manifest(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data", GOOD_BODIES, GOOD_SERVICES)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["rate", str(MINI), "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = (out / "central.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "rank,unit,name,score,grade"
    assert lines[1].startswith("1,B,Beta,100,high")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["spec_id"] == "mini-efficiency" and manifest["ratings"] == ["central"]


def test_windows_1251_semicolon_csv_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "bodies.csv").write_bytes(
        "body_id;name;kind;violations\nA;Министерство;central;2\n".encode("cp1251"))
    (folder / "services.csv").write_text(GOOD_SERVICES.splitlines()[0] + "\nA,s1,1,100,10\n",
                                         encoding="utf-8")
    result = CliRunner().invoke(main, ["rate", str(MINI), "--data", str(folder),
                                       "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "Министерство" in result.output


def test_bad_data_is_reported_all_at_once_and_nothing_is_written(tmp_path: Path) -> None:
    data = write_data(
        tmp_path / "data",
        "body_id,name,kind,violations\nA,Alpha,central,two\nA,Again,centrall,1\n",
        "body_id,service_id,approved,total\nA,s1,maybe,100\nQ,s1,1,-5\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["rate", str(MINI), "--data", str(data), "--out", str(out)])
    assert result.exit_code == 1
    text = result.output
    for code, fragment in [
        ("D403", "bodies.violations: 1 value not an integer: row 1 ('two')"),
        ("D404", "bodies.kind: 1 value not one of central, local: row 2 ('centrall')"),
        ("D406", "bodies.body_id: 1 value not unique"),
        ("D403", "services.approved: 1 value not true/false"),
        ("D405", "services.total: 1 value not at least 0: row 2 ('-5')"),
        ("D407", "services.body_id: 1 value not a known bodies key: row 2 ('Q')"),
    ]:
        assert f"[{code}]" in text and fragment in text, (code, fragment, text)
    assert "bodies.csv:2:17" in text  # file:line:column of the first offending cell
    assert not out.exists()


def test_missing_required_column_is_reported(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data", "body_id,name\nA,Alpha\n", GOOD_SERVICES)
    result = CliRunner().invoke(main, ["rate", str(MINI), "--data", str(data)])
    assert result.exit_code == 1
    assert "required column 'kind' of 'bodies' is missing" in result.output
