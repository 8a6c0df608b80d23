"""`sapa explain`: the path from a rating's value down to the data, every number in it
recomputing its parent by the level's rule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sapa.engine import api
from sapa.engine.explain import explain
from tests.conftest import sapa


def rated(name: str) -> tuple[Any, Any]:
    spec, _ = api.check(name)
    return spec, api.rate_folder(spec, api.data_folder(name, spec, None))[0]


def nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for m in node.get("members", []) for n in nodes(m))]


def recomputed(node: dict[str, Any], statistic: str) -> float:
    """A node's value from its members by its rule (mean: of the members with a value;
    weighted: by the declared weights of those members)."""
    members = [m for m in node["members"] if m[statistic] is not None]
    if node["rule"] == "weighted":
        weights = [node["weights"].get(m["name"], 0.0) for m in members]
        return sum(w * m[statistic] for w, m in zip(weights, members, strict=True)) / sum(weights)
    return sum(m[statistic] for m in members) / len(members)


@pytest.mark.parametrize("unit", ["2.41", "2.16", "2.62"])
def test_every_survey_node_recomputes_from_its_members(unit: str) -> None:
    spec, results = rated("2020")
    found = explain(spec, results, unit).as_dict()
    tree = found["survey"]["tree"]
    score = next(c for c in found["columns"] if c["column"] == "score")
    assert tree["score"] == pytest.approx(score["value"], abs=1e-12)
    checked = 0
    for top in [tree, *found["survey"]["zones"]]:
        for node in nodes(top):
            if node.get("members") and node["rule"] in ("mean", "weighted"):
                for statistic in ("score", "satisfaction"):
                    if node[statistic] is not None:
                        assert node[statistic] == pytest.approx(
                            recomputed(node, statistic), abs=1e-9), node["name"]
                        checked += 1
    assert checked >= 10


def test_a_mean_over_unevenly_rated_members_is_flagged() -> None:
    spec, results = rated("2020")
    flags = explain(spec, results, "2.41").flags
    assert ("criterion virtual_assistant (2 raters) weighs as much as criterion accessibility "
            "(8 raters) in the channel online") in flags


def test_the_2013_method_is_explained_down_to_the_data() -> None:
    spec, results = rated("2013")
    found = explain(spec, results, "C1").as_dict()
    k2 = next(c for c in found["columns"] if c["column"] == "K2")["reads"][0]
    assert k2["formula"] == "max(0, std_base - std_pen)"
    reads = {r["name"]: r for r in k2["reads"]}
    base, penalty = reads["std_base"], reads["std_pen"]
    assert k2["value"] == pytest.approx(max(0.0, base["value"] - penalty["value"]))
    inner = {r["name"]: r["value"] for r in base["reads"]}
    assert base["value"] == pytest.approx(inner["standards_weight"] * inner["std_a"]
                                          / inner["std_c"])
    services = next(r for r in next(r for r in base["reads"] if r["name"] == "std_c")["reads"])
    assert len(services["rows"]) == inner["std_c"]  # the body's services, each with its value


def test_the_command_line_explains_and_names_an_unknown_unit() -> None:
    result = sapa("explain", "2020", "2.41", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rank"] == 3
    result = sapa("explain", "2020", "2.411")
    assert result.exit_code == 2 and "error[C115]" in result.output
    assert "did you mean '2.41'" in result.output


def test_a_unit_under_the_minimum_of_respondents_is_flagged(tmp_path) -> None:
    spec = tmp_path / "variant.yaml"
    spec.write_text("extends: 2020\nmethodology: {id: v}\ntests: null\npublished: null\n"
                    "survey:\n  minimum_respondents: {value: 10, source: analyst's threshold}\n",
                    encoding="utf-8")
    result = sapa("explain", spec, "2.41", "--format", "json")
    assert result.exit_code == 0, result.output
    flags = json.loads(result.stdout)["flags"]
    assert flags[0] == ("2.41 rests on 8 respondents, fewer than the minimum of 10 "
                        "(survey.minimum_respondents)")
    result = sapa("explain", spec, "2.16", "--format", "json")  # 80 respondents
    assert not any("minimum" in f for f in json.loads(result.stdout)["flags"])
