"""The editor's JSON Schema accepts every spec file `sapa validate` accepts, whole or overlay,
and still rejects what it should."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from sapa.cli import main
from sapa.engine.spec import editor_schema, load_spec
from sapa.engine.spec.source import read_yaml
from tests.conftest import ROOT, SPECS

VALID = sorted([*(ROOT / "methodology").glob("*.yaml"), *(ROOT / "examples").glob("*.yaml"),
                *(p for p in SPECS.glob("*.yaml") if p.name != "broken.yaml")])


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = editor_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", VALID, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_spec_sapa_accepts_is_valid_for_an_editor(
        path: Path, validator: jsonschema.Draft202012Validator) -> None:
    spec, problems = load_spec(path)
    assert spec is not None, problems
    errors = [f"{list(e.absolute_path)}: {e.message}"
              for e in validator.iter_errors(read_yaml(path).data)]
    assert errors == []


@pytest.mark.parametrize(("text", "where"), [
    ("extends: 2020\nratings:\n  services:\n    colums: {}\n", ["ratings", "services"]),
    ("extends: 2020\nscale: {ratings: one}\n", ["scale", "ratings"]),
    ("methodology: {id: x, title: x}\nratings:\n  services: {titel: x}\n", ["ratings"]),
    ("tables: {}\n", []),  # a whole spec needs its methodology
])
def test_the_editor_schema_still_rejects_mistakes(
        text: str, where: list[str], validator: jsonschema.Draft202012Validator,
        tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    errors = list(validator.iter_errors(read_yaml(path).data))
    paths = [list(e.absolute_path) for e in errors]
    while errors:  # the problems inside "one of these shapes" too
        errors = [inner for e in errors for inner in e.context or []]
        paths += [list(e.absolute_path) for e in errors]
    assert any(p[: len(where)] == where for p in paths), paths


def test_sapa_schema_prints_the_editor_schema() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == editor_schema()
    assert json.loads(result.output)["$id"].startswith("urn:sapa:")


def test_null_for_a_key_the_extended_spec_lacks_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "variant.yaml"
    path.write_text(f"extends: {SPECS / 'survey.yaml'}\ntests: null\n"
                    "methodology: {title: {en: Mini survey, ranked}}\nratings: {servces: null}\n",
                    encoding="utf-8")
    spec, problems = load_spec(path)
    assert spec is not None
    found = [(p.code, p.severity, p.span.line if p.span else None) for p in problems]
    assert found == [("S115", "warning", 3), ("S115", "warning", 4)], problems
    assert "did you mean 'services'" in (problems[1].hint or "")
