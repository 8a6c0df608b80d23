"""What changed between two methodologies (`sapa diff`).

Two views: the survey seen item by item across questionnaires (an item is asked or not, and
under which criterion and zone), and every other rule of the resolved specs key by key. A
formula is compared as a parsed expression, so reformatting is not a change; documentation
keys (source, note, title, label ...) and the tooling sections (tests, published tables,
synthesis, crosswalks) are not rules and are left out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sapa.engine.formula import FormulaSyntaxError, parse, shape
from sapa.engine.spec import Spec

DOCUMENTATION = frozenset({"source", "note", "notes", "title", "label", "labels",
                           "description", "reproducible"})
FORMULA_KEYS = frozenset({"formula", "when", "where", "asked_if", "unit", "name", "value"})
NOT_RULES = frozenset({"tests", "published", "synthesis", "crosswalks", "sensitivity",
                       "methodology", "id", "extends"})


@dataclass(frozen=True)
class Change:
    section: str  # "items", or the top-level key of the spec
    where: str  # the item, or the dotted path of the rule
    kind: str  # added, removed, changed, moved, reassigned, formula
    before: str
    after: str


def diff(a: Spec, b: Spec) -> list[Change]:
    return _survey_changes(a, b) + _rule_changes(a.data, b.data)


def _placements(spec: Spec) -> dict[str, dict[str, set[str]]]:
    """Per item: the criteria and zones it is asked under (over all questionnaires)."""
    out: dict[str, dict[str, set[str]]] = {}
    if spec.survey is None:
        return out
    for q in spec.survey.questionnaires:
        for item in q.items:
            place = out.setdefault(item.name, {"criterion": set(), "zone": set()})
            place["criterion"].add(item.criterion)
            place["zone"].add(f"{q.name}:{item.zone}" if item.zone else q.name)
    return out


def _listed(values: set[str]) -> str:
    return ", ".join(sorted(values))


def _survey_changes(a: Spec, b: Spec) -> list[Change]:
    changes = []
    before, after = _placements(a), _placements(b)
    for item in sorted(before.keys() | after.keys()):
        if item not in after:
            changes.append(Change("items", item, "removed",
                                  _listed(before[item]["criterion"]), ""))
        elif item not in before:
            changes.append(Change("items", item, "added", "",
                                  _listed(after[item]["criterion"])))
        else:
            if before[item]["criterion"] != after[item]["criterion"]:
                changes.append(Change("items", item, "moved", _listed(before[item]["criterion"]),
                                      _listed(after[item]["criterion"])))
            zones_a = {z.split(":")[-1] for z in before[item]["zone"]}
            zones_b = {z.split(":")[-1] for z in after[item]["zone"]}
            if zones_a != zones_b:
                changes.append(Change("items", item, "reassigned", _listed(before[item]["zone"]),
                                      _listed(after[item]["zone"])))
    return changes


def _rule_changes(a: Any, b: Any) -> list[Change]:
    changes: list[Change] = []
    for key in sorted((set(a) | set(b)) - NOT_RULES - DOCUMENTATION - {"survey"}):
        _walk(key, key, _without_items(a.get(key)) if key == "questionnaires" else a.get(key),
              _without_items(b.get(key)) if key == "questionnaires" else b.get(key), changes)
    survey_a, survey_b = a.get("survey") or {}, b.get("survey") or {}
    for key in sorted((set(survey_a) | set(survey_b)) - DOCUMENTATION - {"questionnaires"}):
        _walk("survey", f"survey.{key}", survey_a.get(key), survey_b.get(key), changes)
    return changes


def _without_items(questionnaires: Any) -> Any:
    """Questionnaires without their item lists (the item view covers those)."""
    if not isinstance(questionnaires, Mapping):
        return questionnaires
    return {name: {k: v for k, v in q.items() if k != "items"} if isinstance(q, Mapping) else q
            for name, q in questionnaires.items()}


def _walk(section: str, path: str, a: Any, b: Any, out: list[Change]) -> None:
    if isinstance(a, Mapping) != isinstance(b, Mapping):  # `x: "f"` and `x: {formula: "f"}`
        a, b = _bare(a), _bare(b)
        path = path if isinstance(a, Mapping) else f"{path}.formula"
    if a is None and b is None:
        return
    if a is None:
        out.append(Change(section, path, "added", "", _short(b)))
    elif b is None:
        out.append(Change(section, path, "removed", _short(a), ""))
    elif isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted((set(a) | set(b)) - DOCUMENTATION, key=str):
            _walk(section, f"{path}.{key}", a.get(key), b.get(key), out)
    elif a != b:
        kind = _formula_change(a, b) if _holds_formula(path) else "changed"
        if kind is not None:
            out.append(Change(section, path, kind, _short(a), _short(b)))


def _holds_formula(path: str) -> bool:
    """Whether the setting at `path` is a formula (compared as parsed trees) rather than a
    plain value such as a level's rule or a column's type."""
    parts = path.split(".")
    return parts[-1] in FORMULA_KEYS or (len(parts) > 1 and parts[-2] in ("variables",
                                                                          "columns"))


def _formula_change(a: Any, b: Any) -> str | None:
    """'formula' when both sides are formulas that mean different things, None when they
    mean the same (only written differently), 'changed' for any other value."""
    if isinstance(a, str) and isinstance(b, str):
        try:
            same = shape(parse(a)) == shape(parse(b))
        except FormulaSyntaxError:
            return "changed"
        return None if same else "formula"
    return "changed"


def _bare(value: Any) -> Any:
    """A formula given as {formula: ..., source: ...} as its text; anything else as it is."""
    if isinstance(value, Mapping) and isinstance(value.get("formula"), str) and all(
            k == "formula" or k in DOCUMENTATION or k == "digits" for k in value):
        return value["formula"]
    return value


def _short(value: Any) -> str:
    """A value whole, on one line: a formula as written, anything else as JSON."""
    text = value if isinstance(value, str) else json.dumps(_plain(value), ensure_ascii=False)
    return " ".join(text.split())


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items() if k not in DOCUMENTATION}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
