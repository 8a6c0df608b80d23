"""Building the immutable model (`Spec`) from a spec the checker found valid: the plain tree, and
the catalogue and plans the checker compiled (every formula is compiled once, there)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from sapa.engine.formula import Node, compile_formula
from sapa.engine.formula import syntax as fa
from sapa.engine.spec.model import (
    LEVEL_MEMBERS,
    Breakdown,
    ColumnSpec,
    ComposedRow,
    Level,
    Questionnaire,
    Rating,
    RatingColumn,
    Spec,
    Survey,
    SurveyItem,
    TableSpec,
    TestCase,
    Variable,
    frozen,
    text_of,
)
from sapa.engine.spec.tree import formula_of, keys, mapping

if TYPE_CHECKING:
    from sapa.engine.spec.validation import Checker

DEFAULT_TOLERANCE = 1e-9


class ModelBuilder:
    """The model of a checked spec; reads what the checker found (names, plans, order)."""

    def __init__(self, checked: Checker) -> None:
        self.checked = checked
        self.data = checked.data
        self.catalog = checked.catalog
        self.plans = checked.plans
        self.document = checked.document
        self.path = checked.path
        self.variable_plans = checked.variable_plans
        self.order = checked.order
        self.survey_step = checked.survey_step
        self.survey_tables = checked.survey_tables

    def build(self) -> Spec:
        data = self.data
        meta = mapping(data.get("methodology"))
        tables = {}
        for name, raw in mapping(data.get("tables")).items():
            columns = {c: column_spec(c, mapping(spec)) for c, spec in raw["columns"].items()}
            tables[name] = TableSpec(name, keys(raw["key"]), frozen(columns),
                                     frozen(self.catalog.links.get(name, {})),
                                     tuple(mapping(raw.get("variables"))))
        variables = tuple(
            Variable(t, v, formula_of(data["tables"][t]["variables"][v])[0] or "",
                     self.variable_plans[(t, v)],
                     mapping(data["tables"][t]["variables"][v]).get("source"))
            for t, v in self.order)
        survey = self.build_survey()
        if survey is not None:
            codes = (*survey.ratings, *survey.non_answers)
            respondents = tables[survey.respondents]
            items = {i.name for q in survey.questionnaires for i in q.items}
            columns = dict(respondents.columns)
            for item in sorted(items - set(columns)):
                columns[item] = ColumnSpec(item, "number", False, None, codes,
                                           if_missing="an item of the questionnaires: every "
                                           "respondent counts as not asked")
            tables[survey.respondents] = TableSpec(respondents.name, respondents.key,
                                                   frozen(columns), respondents.links,
                                                   respondents.variables)
        ratings = {rid: self.build_rating(rid, raw) for rid, raw in
                   mapping(data.get("ratings")).items()}
        tests = tuple(
            TestCase(str(t["name"]), i, frozen(t.get("given", {})),
                     frozen(mapping(t["expect"]).get("tables", {})),
                     frozen(mapping(t["expect"]).get("ratings", {})),
                     mapping(t["expect"]).get("levels"),
                     frozen(tolerances(t.get("tolerance"))),
                     self.document.place(("tests", i)))
            for i, t in enumerate(data.get("tests") or []))
        return Spec(str(meta["id"]), text_of(meta.get("title")), meta.get("year"), str(self.path),
                    frozen(tables), variables, survey, self.survey_step, frozen(ratings), tests,
                    self.catalog, data.get("published") or None, data.get("synthesis") or None,
                    frozenset(mapping(data.get("items"))), meta.get("default_data"),
                    self.document)

    def build_survey(self) -> Survey | None:
        respondents, link = self.checked.survey_parts()
        if respondents is None or link is None:
            return None
        data = self.data
        raw = mapping(data.get("survey"))
        scale = mapping(data.get("scale"))
        zones = mapping(data.get("zones"))
        raw_questionnaires = mapping(data.get("questionnaires"))
        own_items = {name: {item: SurveyItem(item, entry["criterion"], entry.get("zone"),
                                             self.plans.get(("questionnaires", name, "items",
                                                             item, "asked_if")))
                            for item, entry in mapping(q.get("items")).items()}
                     for name, q in raw_questionnaires.items()}
        questionnaires = []
        for name, q in raw_questionnaires.items():
            zone_map = mapping(q.get("zone_map"))
            inherited = own_items.get(q.get("items_from"), {})
            items = {item: dataclasses.replace(i, zone=zone_map.get(i.zone, i.zone))
                     for item, i in inherited.items()}
            items.update(own_items[name])
            questionnaires.append(Questionnaire(name, self.plans[("questionnaires", name, "when")],
                                                tuple(items.values()),
                                                bool(q.get("counts_in_total", True))))
        exclusions = tuple((code, self.plans[("survey", "exclude", code, "when")])
                           for code in mapping(raw.get("exclude")))
        breakdowns = tuple(self.build_breakdown(name, mapping(b))
                           for name, b in mapping(raw.get("breakdowns")).items())
        return Survey(
            respondents, link, raw.get("results", "survey"),
            tuple(float(v) for v in scale.get("ratings", [])),
            tuple(float(v) for v in scale.get("satisfied", [])),
            tuple(float(v) for v in mapping(scale.get("non_answers"))),
            raw.get("satisfaction_base", "asked"), exclusions, tuple(questionnaires),
            tuple(z for z, v in zones.items() if not mapping(v).get("shared")),
            frozenset(z for z, v in zones.items() if mapping(v).get("shared")), breakdowns,
            frozen({name: self.level_of(name, mapping(mapping(raw.get("levels")).get(name)))
                    for name in LEVEL_MEMBERS}))

    def level_of(self, name: str, raw: dict[str, Any]) -> Level:
        path = ("survey", "levels", name)
        return Level(name, raw.get("rule", "mean"),
                     frozen({str(k): float(v) for k, v in mapping(raw.get("weights")).items()}),
                     raw.get("missing", "renormalise"), raw.get("of", "channels"),
                     self.plans.get((*path, "score")), self.plans.get((*path, "satisfaction")))

    def build_breakdown(self, name: str, raw: dict[str, Any]) -> Breakdown:
        path = ("survey", "breakdowns", name, "by")
        by = raw.get("by")
        places = ([(str(by), path)] if isinstance(by, str) else
                  [(str(k), (*path, i)) for i, k in enumerate(by)] if isinstance(by, list) else
                  [(str(k), (*path, k)) for k in mapping(by)])
        keys = tuple((key, self.plans[where]) for key, where in places)
        return Breakdown(name, keys[0][0] if keys else None, raw.get("table"),
                         raw.get("link", raw.get("table")), bool(raw.get("pooled")), keys,
                         self.plans.get(("survey", "breakdowns", name, "where")))

    def build_rating(self, rating_id: str, raw: dict[str, Any]) -> Rating:
        base = ("ratings", rating_id)
        rank_by = tuple((r["column"], r.get("order", "desc") == "desc")
                        for r in raw.get("rank_by") or [])
        title = text_of(raw.get("title")) or rating_id
        if "rows" in raw:
            rows = tuple(ComposedRow(r["label"], r["total_of"], r.get("reproducible", True),
                                     r.get("note")) for r in raw["rows"])
            return Rating(rating_id, title, None, None, None, None, (), rank_by,
                          raw.get("ties", "min"), None, rows)
        table = raw["table"]
        key_column = (next(iter(self.catalog.columns[table])) if table in self.survey_tables
                      else keys(self.data["tables"][table]["key"])[0])
        unit = self.plans.get((*base, "unit")) or self.catalog_column(table, key_column)
        columns = []
        for name, value in raw["columns"].items():
            _, suffix = formula_of(value)
            digits = value.get("digits") if isinstance(value, dict) else None
            columns.append(RatingColumn(name, self.plans[(*base, "columns", name, *suffix)],
                                        digits))
        return Rating(rating_id, title, table,
                      self.plans.get((*base, "where")), unit, self.plans.get((*base, "name")),
                      tuple(columns), rank_by, raw.get("ties", "min"),
                      mapping(raw.get("total")).get("label"), (),
                      tuple(mapping(raw.get("total")).get("sum", [])),
                      formula_of(raw.get("where"))[0],
                      tuple((name, self.plans[(*base, "total", "columns", name)])
                            for name in mapping(mapping(raw.get("total")).get("columns"))))

    def catalog_column(self, table: str, column: str) -> Node:
        expr = fa.Name((column,), fa.Range(0, len(column)))
        node, _, _ = compile_formula(expr, table, self.catalog)
        assert node is not None
        return node


def tolerances(value: Any) -> dict[str, float]:
    if isinstance(value, dict):
        return {"": DEFAULT_TOLERANCE, **{k: float(v) for k, v in value.items()}}
    return {"": float(value) if value is not None else DEFAULT_TOLERANCE}


def column_spec(name: str, raw: dict[str, Any]) -> ColumnSpec:
    values = raw.get("values")
    return ColumnSpec(name, raw.get("type", "number"), bool(raw.get("required", True)),
                      raw.get("default"), tuple(values) if values else None,
                      raw.get("min"), raw.get("max"))
