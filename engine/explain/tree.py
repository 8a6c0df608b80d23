"""The explanation of one unit's place in one rating, as plain data (JSON-ready): what each
column's formula read, down through the variables to the data, and the survey levels beneath
the unit, each node with its rule and members. Numbers are the engine's own, at full precision,
so a reader (or a test) can recompute every parent from its members."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sapa.engine.diagnostics import CannotRun, Diagnostic, did_you_mean
from sapa.engine.formula import compile_formula, evaluate_rows, names, parse
from sapa.engine.rating import Rated
from sapa.engine.spec import Level, Spec, formula_of, labels, text_of
from sapa.engine.survey import node_members

STATISTICS = ("score", "satisfaction", "asked", "rated")
UNEVEN = 4  # a member with a quarter of its siblings' raters, or fewer, is flagged


@dataclass
class Explanation:
    rating: str
    title: str
    unit: str
    name: str | None
    rank: Any
    of: int
    columns: list[dict[str, Any]]
    source: str | None = None
    survey: dict[str, Any] | None = None
    flags: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"rating": self.rating, "title": self.title, "unit": self.unit,
                "name": self.name, "rank": self.rank, "of": self.of, "source": self.source,
                "columns": self.columns, "survey": self.survey, "flags": self.flags}


def explain(spec: Spec, rated: Rated, unit: str, rating_id: str | None = None,
            language: str = "en") -> Explanation:
    """Why `unit` has its values in `rating_id` (default: the first rating that rates it)."""
    rating_id = rating_id or _rating_of(spec, rated, unit)
    rating = spec.ratings[rating_id]
    frame = rated.ratings[rating_id]
    units = frame["unit"].astype(str)
    if unit not in set(units):
        raise CannotRun([Diagnostic("C115", f"'{unit}' is not rated in {rating_id}",
                                    hint=did_you_mean(unit, units.dropna()))])
    row = frame[units == unit].iloc[0]
    if rating.table is None:  # a composed rating: its rows are other ratings' totals
        columns = [{"column": c, "value": _plain(row[c])} for c in frame.columns]
        return Explanation(rating_id, labels.title(spec, rating, language), unit,
                           _plain(row.get("name")), None, len(frame), columns)
    table = rating.table
    position = _position(spec, rated, rating, unit)
    raw_columns = ((spec.data.get("ratings") or {}).get(rating_id) or {}).get("columns") or {}
    source = ((spec.data.get("ratings") or {}).get(rating_id) or {}).get("source")
    columns = []
    for column in rating.columns:
        text, _ = formula_of(raw_columns.get(column.name))
        columns.append({
            "column": column.name, "header": labels.header(spec, rating, column.name, language),
            "formula": text, "value": _plain(row[column.name]),
            "reads": _reads(spec, rated, table, position, text or column.name, set())})
    out = Explanation(rating_id, labels.title(spec, rating, language), unit,
                      _plain(row.get("name")), _plain(row.get("rank")),
                      int(frame["unit"].notna().sum()), columns, source)
    survey = spec.survey
    if survey is not None and table == survey.unit_link.parent:
        out.survey, out.flags = _survey(spec, rated, unit, language)
    return out


def _rating_of(spec: Spec, rated: Rated, unit: str) -> str:
    for rid, frame in rated.ratings.items():
        if spec.ratings[rid].table and unit in set(frame["unit"].astype(str)):
            return rid
    known = {str(u) for f in rated.ratings.values() for u in f["unit"].dropna()}
    raise CannotRun([Diagnostic("C115", f"no rating rates '{unit}'",
                                hint=did_you_mean(unit, known))])


def _position(spec: Spec, rated: Rated, rating: Any, unit: str) -> int:
    """The unit's row in its table."""
    codes = evaluate_rows(rating.unit, rated.tables, rating.table).astype(str)
    return int(np.flatnonzero(codes.to_numpy() == unit)[0])


def _reads(spec: Spec, rated: Rated, table: str, row: int, formula: str,
           seen: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """Each name `formula` reads at the unit's row: its value (or, for a child table, its
    rows' values), and a variable's own formula and reads beneath it."""
    out = []
    for name in names(parse(formula)):
        node, problems, _ = compile_formula(parse(name), table, spec.catalog)
        entry: dict[str, Any] = {"name": name}
        if name in spec.catalog.groups:  # a parameter table, read by key
            entry["value"] = dict(spec.catalog.groups[name])
        elif node is not None and not problems and node.table in (table, None):
            entry["value"] = _plain(evaluate_rows(node, rated.tables, table).iloc[row])
        else:
            entry["rows"] = _child_rows(spec, rated, table, row, name)
        variable = (table, name)
        raw = ((spec.data.get("tables") or {}).get(table) or {}).get("variables") or {}
        if name in raw and variable not in seen:
            text, _ = formula_of(raw[name])
            source = raw[name].get("source") if isinstance(raw[name], dict) else None
            entry.update(formula=text, source=source,
                         reads=_reads(spec, rated, table, row, text, seen | {variable}))
        out.append(entry)
    return out


def _child_rows(spec: Spec, rated: Rated, table: str, row: int, name: str
                ) -> list[dict[str, Any]]:
    """A name over a child table's rows (`services.survey.score` read by an agency): the
    values of the rows that belong to the unit."""
    first, _, rest = name.partition(".")
    link = spec.catalog.children(table).get(first)
    if link is None or not rest:
        return []
    node, problems, _ = compile_formula(parse(rest), first, spec.catalog)
    if node is None or problems:
        return []
    values = evaluate_rows(node, rated.tables, first)
    mine = np.flatnonzero(rated.tables.positions(link) == row)
    key = spec.tables[first].key if first in spec.tables else ()
    frame = rated.tables.tables[first]
    return [{"unit": " ".join(str(frame[k].iloc[i]) for k in key) if key else int(i),
             "value": _plain(values.iloc[i])} for i in mine]


def _survey(spec: Spec, rated: Rated, unit: str, language: str
            ) -> tuple[dict[str, Any], list[str]]:
    """The unit's survey levels as a tree, the respondents counted and left out, and flags."""
    survey = spec.survey
    assert survey is not None
    results = rated.surveys[survey.results]
    row = results.table[results.table["unit"].astype(str) == unit].iloc[0]
    long = results.long[results.long["unit"].astype(str) == unit]
    nodes = {(r.level, "" if pd.isna(r.questionnaire) else r.questionnaire, r.name): r
             for r in long.itertuples(index=False)}
    flags: list[str] = []
    texts = _texts(spec, language)

    def node(level: str, questionnaire: str, name: str, rule: Level | None,
             members: list[dict[str, Any]]) -> dict[str, Any] | None:
        found = nodes.get((level, questionnaire, name))
        if found is None:
            return None
        out = {"level": level, "questionnaire": questionnaire or None, "name": name,
               "label": texts.get((level, name)), "rule": rule.rule if rule else None,
               **{s: _plain(getattr(found, s)) for s in STATISTICS}}
        out.update({s: int(out[s]) for s in ("asked", "rated") if out[s] is not None})
        if rule is not None and rule.rule == "weighted":
            out["weights"] = dict(rule.weights)
        if members:
            out["members"] = members
            _uneven(out, flags)
        return out

    def items(questionnaire: str, names_: list[str]) -> list[dict[str, Any]]:
        return [n for n in (node("item", questionnaire, i, None, []) for i in names_) if n]

    def channel(questionnaire: str) -> dict[str, Any] | None:
        level = survey.level("criterion")
        criteria = [n for n in (
            node("criterion", questionnaire, c, level, items(questionnaire, members))
            for (q, c), members in node_members(survey, level).items() if q == questionnaire)
            if n]
        return node("channel", questionnaire, "total", survey.level("channel"), criteria)

    def zone(name: str) -> dict[str, Any] | None:
        level = survey.level("zone")
        parts = [n for n in (node("zone", q, z, level, items(q, members))
                             for (q, z), members in node_members(survey, level).items()
                             if z == name) if n]
        return node("unit_zone", "", name, survey.level("unit_zone"), parts)

    unit_level = survey.level("unit")
    parts = ([zone(z) for z in survey.zones] if unit_level.of == "zones"
             else [channel(q) for q in node_members(survey, unit_level)[()]])
    tree = node("unit", "", "total", unit_level, [p for p in parts if p])
    zones = [z for z in (zone(name) for name in survey.zones) if z] \
        if unit_level.of != "zones" else []
    excluded = {code: int(row[f"excluded_{code}"]) for code, _ in survey.exclusions}
    least = minimum_respondents(spec)
    if least is not None and int(row["n"]) < least:
        flags.insert(0, f"{unit} rests on {int(row['n'])} respondents, fewer than the "
                        f"minimum of {least} (survey.minimum_respondents)")
    return {"n": int(row["n"]), "excluded": excluded, "tree": tree, "zones": zones}, flags


def minimum_respondents(spec: Spec) -> int | None:
    """The spec's threshold of counted respondents below which a unit rests on little."""
    given = (spec.data.get("survey") or {}).get("minimum_respondents")
    return int(given["value"]) if isinstance(given, dict) else given


def _uneven(node: dict[str, Any], flags: list[str]) -> None:
    """A mean over members with very different numbers of raters weighs them alike: say so."""
    if node.get("rule") != "mean":
        return
    rated = [(m["rated"], m) for m in node["members"] if m.get("rated")]
    if len(rated) < 2:
        return
    low, few = min(rated, key=lambda pair: pair[0])
    high, many = max(rated, key=lambda pair: pair[0])
    if low * UNEVEN <= high:
        flags.append(f"{few['level']} {few['name']} ({low} raters) weighs as much as "
                     f"{many['level']} {many['name']} ({high} raters) in the {node['level']} "
                     f"{node.get('questionnaire') or node['name']}")


def _texts(spec: Spec, language: str) -> dict[tuple[str, str], str]:
    """Labels of the tree's nodes: items' wording, criteria, zones, channels."""
    data = spec.data
    out = {}
    for level, section, key in (("item", "items", "text"), ("criterion", "criteria", "label"),
                                ("zone", "zones", "label"), ("unit_zone", "zones", "label")):
        for name, raw in (data.get(section) or {}).items():
            label = text_of((raw or {}).get(key), language) if isinstance(raw, dict) else ""
            if label:
                out[(level, name)] = label
    return out


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value
