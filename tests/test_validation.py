"""sapa validate: every problem of a spec in one run, each located in its YAML file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sapa.cli import main
from sapa.engine.spec import load_spec
from tests.conftest import SPECS


def expected_header(path: Path) -> list[tuple[str, int, int]]:
    found = re.findall(r"# expect: (\w+) at (\d+):(\d+)", path.read_text(encoding="utf-8"))
    return [(code, int(line), int(col)) for code, line, col in found]


def test_broken_spec_reports_all_five_problems_with_positions() -> None:
    path = SPECS / "broken.yaml"
    spec, diagnostics = load_spec(path)
    assert spec is None
    errors = {(d.code, d.span.line, d.span.column) for d in diagnostics
              if d.severity == "error" and d.span}
    expected = expected_header(path)
    assert len(expected) == 5
    assert errors == set(expected)


def test_validate_cli_text_and_json_agree_and_exit_1() -> None:
    path = str(SPECS / "broken.yaml")
    text = CliRunner().invoke(main, ["validate", path])
    assert text.exit_code == 1
    for code, line, col in expected_header(SPECS / "broken.yaml"):
        assert f"{path}:{line}:{col}: error[{code}]" in text.output
    assert "INVALID (5 errors" in text.output
    as_json = CliRunner().invoke(main, ["validate", "--format", "json", path])
    assert as_json.exit_code == 1
    found = {(d["code"], d["span"]["line"], d["span"]["column"])
             for d in json.loads(as_json.output) if d["severity"] == "error"}
    assert found == set(expected_header(SPECS / "broken.yaml"))


def test_valid_spec_exits_0() -> None:
    result = CliRunner().invoke(main, ["validate", str(SPECS / "mini.yaml")])
    assert result.exit_code == 0, result.output
    assert "valid (0 errors, 0 warnings)" in result.output


@pytest.mark.parametrize("args", [["validate", "no/such/file.yaml"], ["validate", "2021"]])
def test_missing_spec_exits_2(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_unreadable_yaml_exits_2_with_position(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("methodology: {id: x, title: y\nscale: [\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:" in result.output and "S101" in result.output


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


HEADER = "methodology: {id: t, title: T}\n"
TABLE = ("tables:\n  bodies:\n    key: id\n    columns: {id: {type: string}, x: {type: number}}\n"
         "    variables:\n")


def codes_at(path: Path) -> list[tuple[str, int, int]]:
    _, diagnostics = load_spec(path)
    return [(d.code, d.span.line, d.span.column) for d in diagnostics if d.span]


def test_formula_error_points_into_a_block_scalar(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + TABLE + "      y: |\n        max(0,\n            x + zz)\n")
    assert ("F301", 9, 17) in codes_at(path)


def test_formula_error_points_into_a_quoted_scalar(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + TABLE + '      y: "x + mean(x, by=kind)"\n')
    assert ("F301", 7, 26) in codes_at(path)


def test_cycle_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + TABLE + "      a: b + 1\n      b: a * 2\n")
    assert any(code == "F307" for code, _, _ in codes_at(path))


def test_weights_must_sum_where_the_spec_says(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "parameters:\n  w:\n    values: {a: 10, b: 15}\n"
                 "    sum_to: 100\n")
    assert ("S230", 4, 13) in codes_at(path)


def test_band_overlap_and_bad_type(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "bands:\n  g:\n    bands:\n"
                 "      - {label: low, below: 60}\n      - {label: high, from: 50}\n"
                 "      - {label: odd, from: yes}\n")
    found = codes_at(path)
    assert ("S221", 6, 9) in found
    assert ("S112", 7, 28) in found


def test_unknown_top_level_key_has_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "ratingz: {}\n")
    _, diagnostics = load_spec(path)
    assert [(d.code, d.hint) for d in diagnostics] == [("S110", "did you mean 'ratings'?")]


def test_extends_merges_and_null_removes(tmp_path: Path) -> None:
    write(tmp_path, HEADER + "parameters: {a: 1, b: 2, c: 3}\n", "base.yaml")
    child = write(tmp_path, "extends: base.yaml\nmethodology: {id: t2, title: T2}\n"
                  "parameters: {b: 20, c: null, d: oops(}\n")
    spec, diagnostics = load_spec(child)
    assert spec is not None, diagnostics
    assert dict(spec.data["parameters"]) == {"a": 1, "b": 20, "d": "oops("}
    result = CliRunner().invoke(main, ["show", "--resolved", str(child)])
    assert result.exit_code == 0
    assert "b: 20" in result.output and "c:" not in result.output and "a: 1" in result.output


def test_extends_error_positions_stay_in_their_own_file(tmp_path: Path) -> None:
    write(tmp_path, HEADER + TABLE + "      y: x + nope\n", "base.yaml")
    child = write(tmp_path, "extends: base.yaml\nmethodology: {id: t2, title: T2}\n")
    _, diagnostics = load_spec(child)
    [problem] = diagnostics
    assert problem.span.file.endswith("base.yaml") and problem.span.line == 7


def test_extends_cycle_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "extends: b.yaml\n" + HEADER, "a.yaml")
    write(tmp_path, "extends: a.yaml\n" + HEADER, "b.yaml")
    assert any(code == "S104" for code, _, _ in codes_at(tmp_path / "a.yaml"))


def test_no_internal_token_names_reach_the_user(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + TABLE + "      y: (x +\n      z: x ) 1\n      w: '1 2'\n")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    assert not re.search(r"__ANON|\$END|RPAR|LPAR", result.output), result.output


def test_a_misspelt_synthesis_key_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    """Each part of `synthesis:` lists its keys: a typo is caught where it is, not as a crash
    (or a silently ignored setting) half-way through `sapa synth`."""
    methodology = Path(__file__).parents[1] / "methodology"
    text = (methodology / "2019.yaml").read_text(encoding="utf-8").replace(
        "extends: vocabulary/items.yaml", f"extends: {methodology / 'vocabulary' / 'items.yaml'}")
    for right, wrong in (("contact: {column: contact", "contact: {colum: contact"),
                         ("channels: {questionnaires: [main], map:",
                          "channels: {questionnaires: [main], mapp:"),
                         ("unit: service_no, n: n_respondents}",
                          "unit: service_no, count: n_respondents}")):
        assert right in text
        text = text.replace(right, wrong)
    path = tmp_path / "typo.yaml"
    path.write_text(text, encoding="utf-8")
    _, diagnostics = load_spec(path)
    found = {(d.code, d.hint) for d in diagnostics if d.code in ("S110", "S111")}
    assert found == {("S110", "did you mean 'column'?"), ("S110", "did you mean 'map'?"),
                     ("S110", "did you mean 'unit'?"), ("S111", None)}


def survey_overlay_problems(tmp_path: Path, section: str, lines: list[str]) -> list[Any]:
    """The problems of survey.yaml with `survey.<section>` given by `lines` (from line 5 on)."""
    path = tmp_path / f"{section}.yaml"
    path.write_text(f"extends: {SPECS / 'survey.yaml'}\ntests: null\nsurvey:\n  {section}:\n"
                    + "".join(f"    {line}\n" for line in lines), encoding="utf-8")
    spec, diagnostics = load_spec(path)
    assert spec is None
    return diagnostics


def test_survey_levels_are_checked_in_one_run(tmp_path: Path) -> None:
    """Weights naming no member, a member without a weight, weights not adding up, keys of
    another rule and `of` below the unit: each located, with the hint."""
    diagnostics = survey_overlay_problems(tmp_path, "levels", [
        "channel: {rule: weighted, weights: {peple: 1, access: 1}, sum_to: 3}",
        "criterion: {rule: mean, weights: {polite: 1}}", "zone: {of: zones}"])
    found = {(d.code, d.span.line, d.span.column) for d in diagnostics if d.span}
    assert found == {("S201", 5, 41), ("S233", 5, 31), ("S230", 5, 40), ("S232", 6, 29),
                     ("S232", 7, 12)}
    messages = " ".join(f"{d.message} {d.hint}" for d in diagnostics)
    assert "did you mean 'people'?" in messages
    assert "no weight to criterion 'complaint', 'cost', 'people'" in messages


def test_breakdown_keys_are_checked(tmp_path: Path) -> None:
    """A key that hides a results column, an unknown column in a list, a formula key that does
    not compile, and `table:` on two keys."""
    diagnostics = survey_overlay_problems(tmp_path, "breakdowns", [
        "a: {by: {score: region}}", "b: {by: [region, contct]}",
        "c: {by: {owner: service.agensy}}", "d: {by: [region, contact], table: agencies}"])
    found = {(d.code, d.span.line, d.span.column) for d in diagnostics if d.span}
    assert found == {("S234", 5, 14), ("S201", 6, 22), ("F301", 7, 21), ("S234", 8, 32)}
    assert "did you mean 'contact'?" in " ".join(str(d.hint) for d in diagnostics)


def test_a_formula_level_needs_both_formulas_over_its_members(tmp_path: Path) -> None:
    diagnostics = survey_overlay_problems(tmp_path, "levels", [
        'channel: {rule: formula, score: "min(members.scor)"}', 'unit: {score: "1"}'])
    found = {(d.code, d.span.line, d.span.column) for d in diagnostics if d.span}
    assert found == {("S232", 5, 5), ("F301", 5, 42), ("S232", 6, 12)}
    assert "did you mean 'score'?" in " ".join(str(d.hint) for d in diagnostics)


@pytest.fixture(params=["libyaml", "python"])
def yaml_parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Specs composed by libyaml (PyYAML's wheels) and by PyYAML's parser in Python (a PyYAML
    built without libyaml)."""
    from sapa.engine.spec import source

    if request.param == "python":
        monkeypatch.setattr(source, "PARSER", source._PythonParser)
    return str(request.param)


def test_plain_scalars_are_typed_by_yaml_1_2(tmp_path: Path, yaml_parser: str) -> None:
    """YAML 1.1's yes/on/off, sexagesimal and leading-zero forms stay what YAML 1.2 says."""
    from sapa.engine.spec.source import read_yaml

    path = tmp_path / "scalars.yaml"
    path.write_text("yes_: yes\non_: on\nfalse_: False\noctal: 0o17\nzero: 017\n"
                    "under: 1_000\nhalf: .5\nexp: 1e3\ninf_: -.inf\nnone: ~\nempty:\n"
                    "clock: 1:30\nday: 2020-01-01\nhex: 0x1F\nquoted: '12'\n"
                    "base: &b {k: 1}\nmerged: {<<: *b, j: 2}\n", encoding="utf-8")
    data = read_yaml(path).data
    assert data == {"yes_": "yes", "on_": "on", "false_": False, "octal": 15, "zero": 17,
                    "under": 1000, "half": 0.5, "exp": 1000.0, "inf_": float("-inf"),
                    "none": None, "empty": None, "clock": "1:30", "day": "2020-01-01",
                    "hex": 31, "quoted": "12", "base": {"k": 1}, "merged": {"k": 1, "j": 2}}
    assert type(data["exp"]) is float and type(data["octal"]) is int


def test_without_libyaml_every_spec_reads_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same data and the same places, down to each character of each formula."""
    from sapa.engine.spec import source

    root = Path(__file__).resolve().parent.parent
    files = sorted([*root.glob("methodology/**/*.yaml"), *root.glob("examples/*.yaml"),
                    *root.glob("tests/specs/*.yaml")])
    assert len(files) > 10
    with_libyaml = [source.read_yaml(f) for f in files]
    monkeypatch.setattr(source, "PARSER", source._PythonParser)
    for file, expected in zip(files, with_libyaml, strict=True):
        found = source.read_yaml(file)
        assert found.data == expected.data, file
        assert found.places.keys() == expected.places.keys(), file
        for path, place in expected.places.items():
            other = found.places[path]
            assert (other.value, other.key) == (place.value, place.key), (file, path)
            if place.text_position is not None:
                assert other.text_position is not None
                for offset in range(0, 200, 7):
                    assert other.text_position(offset) == place.text_position(offset)


def test_a_bad_character_after_cyrillic_text_is_located_by_character(
        tmp_path: Path, yaml_parser: str) -> None:
    path = tmp_path / "bell.yaml"
    path.write_text("methodology: {id: x, title: {en: x}}\nlabel: Сапа\x07\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2 and f"{path}:2:12: error[S101]" in result.output
