"""Semantic validation: every reference, formula, band table and weight of a spec, in one run.

Runs on the merged plain tree even when the structure check found problems (defensively), so an
author sees all problems at once. When nothing is wrong it builds the immutable Spec model.
"""

from __future__ import annotations

import dataclasses
import graphlib
import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sapa.engine.diagnostics import Diagnostic, did_you_mean, has_errors, offsets
from sapa.engine.formula import (
    Band,
    Catalog,
    FormulaSyntaxError,
    Link,
    Node,
    Type,
    compile_formula,
    parse,
)
from sapa.engine.formula import syntax as fa
from sapa.engine.spec import labels, tree
from sapa.engine.spec.building import ModelBuilder
from sapa.engine.spec.loading import check_structure, load_document
from sapa.engine.spec.model import (
    LEVEL_MEMBERS,
    LEVEL_NODE,
    Spec,
    level_catalog,
    level_columns,
    result_columns,
)
from sapa.engine.spec.paths import folder_of, is_file
from sapa.engine.spec.source import Document, PathKey
from sapa.engine.spec.tree import formula_of, keys, mapping

SURVEY_STEP = "<survey>"
ITEM_STATISTICS = {"unit": "string", "questionnaire": "string", "item": "string",
                   "criterion": "string", "score": "number", "satisfaction": "number",
                   "table": "string"}
COLUMN_TYPES: dict[str, Type] = {"number": "number", "integer": "number", "bool": "bool",
                                 "string": "string"}


def load_spec(path: Path) -> tuple[Spec | None, list[Diagnostic]]:
    """Load, check and build a spec. Raises CannotRun only when it cannot be read at all."""
    document = load_document(path)
    checker = Checker(document, path)
    structure = document.diagnostics + check_structure(document)
    try:
        diagnostics = structure + checker.run()
    except (TypeError, KeyError, AttributeError, ValueError, IndexError):
        if not has_errors(structure):
            raise  # a sound structure that the checks cannot read is a bug of sapa's
        # a part of the wrong shape, already reported, that a later check could not walk:
        # the structure problems are the ones to fix first
        diagnostics = structure + checker.problems
    if has_errors(diagnostics):
        return None, diagnostics
    return ModelBuilder(checker).build(), diagnostics


class _Variables(Mapping[str, Type]):
    """The names a formula may read in one table: data columns, and variables compiled on demand
    (so a variable's type is known before the formulas that use it are checked)."""

    def __init__(self, checker: Checker, table: str, columns: dict[str, Type],
                 variables: list[str]) -> None:
        self.checker, self.table = checker, table
        self.columns, self.variables = columns, variables

    def __getitem__(self, name: str) -> Type:
        if name in self.columns:
            return self.columns[name]
        if name in self.variables:
            return self.checker.variable_type(self.table, name)
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        yield from self.columns
        yield from (v for v in self.variables if v not in self.columns)

    def __len__(self) -> int:
        return len(set(self.columns) | set(self.variables))


class Checker:
    """Every check of one spec, in one run; declares the survey's tables and compiles every
    formula on the way (ModelBuilder reads what it found)."""

    def __init__(self, document: Document, path: Path) -> None:
        self.document = document
        self.path = path
        self.data = mapping(document.data)
        self.problems: list[Diagnostic] = []
        self.catalog = Catalog()
        self.plans: dict[PathKey, Node] = {}
        self.variable_plans: dict[tuple[str, str], Node] = {}
        self.variable_types: dict[tuple[str, str], Type] = {}
        self.in_progress: set[tuple[str, str]] = set()
        self.reads: dict[tuple[str, str], set[str]] = {}
        self.order: list[tuple[str, str]] = []
        self.survey_tables: set[str] = set()
        self.survey_reads: set[str] = set()
        self.survey_step = 0

    # ------------------------------------------------------------------------------ helpers
    def report(self, code: str, message: str, path: PathKey, *, key: bool = False,
               hint: str | None = None, severity: str = "error") -> None:
        self.problems.append(Diagnostic(code, message, self.document.place(path, key=key),
                                        severity, hint))  # type: ignore[arg-type]

    def unknown(self, kind: str, name: str, known: Any, path: PathKey) -> None:
        known = list(known)
        self.report("S201", f"unknown {kind} '{name}'", path,
                    hint=did_you_mean(name, known) or (
                        f"declared: {', '.join(known)}" if known else f"no {kind} is declared"))

    def compile(self, text: str, table: str, path: PathKey, expect: Type | None = None,
                catalog: Catalog | None = None) -> tuple[Node | None, set[str]]:
        """Parse and compile one formula (against the spec's catalogue, or `catalog`); problems
        are located inside the YAML string."""
        try:
            expr = parse(text)
        except FormulaSyntaxError as exc:
            self.problems.append(self.in_file(exc.problem, path))
            return None, set()
        node, problems, reads = compile_formula(expr, table, catalog or self.catalog, expect)
        self.problems += [self.in_file(p, path) for p in problems]
        if catalog is None:
            self.check_compared_values(expr, table, path)
        if node is not None:
            self.plans[path] = node
        return node, reads

    def check_compared_values(self, expr: fa.Expr, table: str, path: PathKey) -> None:
        """A column compared with text its `values:` do not allow: the data contract admits no
        such value, so the comparison never holds (a misspelt or wrongly cased value)."""
        for column, text in _compared_texts(expr):
            raw = mapping(mapping(mapping(mapping(self.data.get("tables")).get(table))
                                  .get("columns")).get(column))
            allowed = raw.get("values")
            if isinstance(allowed, list) and text.value not in [str(a) for a in allowed]:
                self.problems.append(Diagnostic(
                    "S236", f"'{text.value}' is not a value of {table}.{column}, so this "
                    "comparison never holds", self.document.text_span(path, text.at.start,
                                                                      text.at.end),
                    hint=did_you_mean(text.value, [str(a) for a in allowed])
                    or f"its values: {', '.join(str(a) for a in allowed)}"))

    def in_file(self, problem: Diagnostic, path: PathKey) -> Diagnostic:
        """A formula's problem, moved from its place in the formula to its place in the file."""
        assert problem.span is not None
        return dataclasses.replace(problem,
                                   span=self.document.text_span(path, *offsets(problem.span)))

    def variable_type(self, table: str, name: str) -> Type:
        key = (table, name)
        if key in self.variable_types:
            return self.variable_types[key]
        if key in self.in_progress:
            return "number"  # a cycle: reported once by the dependency check
        self.in_progress.add(key)
        raw = mapping(mapping(self.data.get("tables")).get(table)).get("variables", {})
        text, suffix = formula_of(mapping(raw).get(name))
        node, reads = (self.compile(text, table, ("tables", table, "variables", name, *suffix))
                       if text else (None, set()))
        self.in_progress.discard(key)
        self.reads[key] = reads
        self.variable_types[key] = node.type if node is not None else "number"
        if node is not None:
            self.variable_plans[key] = node
        return self.variable_types[key]

    # -------------------------------------------------------------------------------- run
    def run(self) -> list[Diagnostic]:
        self.check_parameters()
        self.check_tables()
        self.declare_survey_tables()
        self.check_bands()
        self.check_survey()
        self.check_levels()
        self.check_variables()
        self.check_ratings()
        self.check_published()
        self.check_synthesis()
        self.check_crosswalks()
        self.check_alternatives()
        self.check_labels()
        self.check_resampling()
        self.check_tests()
        return self.problems

    def check_parameters(self) -> None:
        for name, value in mapping(self.data.get("parameters")).items():
            path = ("parameters", name)
            if isinstance(value, dict) and "values" in value:
                values = mapping(value.get("values"))
                self.catalog.groups[name] = {str(k): v for k, v in values.items()
                                             if isinstance(v, int | float | str | bool)}
                target = value.get("sum_to")
                numbers = [v for v in values.values()
                           if isinstance(v, int | float) and not isinstance(v, bool)]
                if isinstance(target, int | float) and abs(sum(numbers) - target) > 1e-9:
                    self.report("S230", f"the values of '{name}' add up to {sum(numbers):g}, "
                                f"not {target:g} as sum_to says", path + ("values",))
            else:
                scalar = value.get("value") if isinstance(value, dict) else value
                if isinstance(scalar, int | float | str | bool):
                    self.catalog.parameters[name] = (float(scalar) if isinstance(scalar, int)
                                                     and not isinstance(scalar, bool) else scalar)

    def check_tables(self) -> None:
        tables = mapping(self.data.get("tables"))
        for name, raw in tables.items():
            raw = mapping(raw)
            columns = mapping(raw.get("columns"))
            types = {c: COLUMN_TYPES.get(tree.text(mapping(spec).get("type")) or "", "number")
                     for c, spec in columns.items()}
            variables = list(mapping(raw.get("variables")))
            for clash in set(variables) & set(columns):
                self.report("S203", f"'{clash}' is both a column and a variable of '{name}'",
                            ("tables", name, "variables", clash), key=True)
            for clash in (set(columns) | set(variables)) & (
                    set(self.catalog.parameters) | set(self.catalog.groups)):
                self.report("S203", f"'{clash}' in table '{name}' hides the parameter of the "
                            "same name", ("parameters", clash), key=True,
                            hint="rename one of them", severity="warning")
            self.catalog.columns[name] = _Variables(self, name, types, variables)  # type: ignore
            for key in keys(raw.get("key")):
                if key not in columns:
                    self.unknown(f"key column of '{name}'", key, columns, ("tables", name, "key"))
        for name, raw in tables.items():
            columns = mapping(mapping(raw).get("columns"))
            for link_name, link in mapping(mapping(raw).get("links")).items():
                path = ("tables", name, "links", link_name)
                link = mapping(link)
                parent = tree.text(link.get("table"))
                if parent not in tables:
                    self.unknown("table", str(parent), tables, path + ("table",))
                    continue
                on = keys(link.get("on"))
                for column in on:
                    if column not in columns:
                        self.unknown(f"column of '{name}'", column, columns, path + ("on",))
                parent_key = keys(mapping(tables[parent]).get("key"))
                if len(on) != len(parent_key):
                    self.report("S202", f"link '{link_name}' joins on {len(on)} column(s) but "
                                f"'{parent}' has a key of {len(parent_key)}", path + ("on",))
                    continue
                if link_name in columns:
                    self.report("S203", f"link '{link_name}' has the name of a column of "
                                f"'{name}'", path, key=True)
                self.catalog.links.setdefault(name, {})[link_name] = Link(
                    link_name, name, parent, on, parent_key)
        self.check_children_unique()

    def check_children_unique(self) -> None:
        for table in self.catalog.columns:
            seen: dict[str, str] = {}
            for child, links in self.catalog.links.items():
                for link in links.values():
                    if link.parent == table and child in seen:
                        self.report("S202", f"'{child}' links to '{table}' twice ('{seen[child]}'"
                                    f" and '{link.name}'): a child table may link to a parent once",
                                    ("tables", child, "links", link.name), key=True)
                    if link.parent == table:
                        seen[child] = link.name

    def survey_parts(self) -> tuple[str | None, Link | None]:
        """The respondents table and the link to the unit table, when both are valid."""
        survey = mapping(self.data.get("survey"))
        respondents, unit = tree.text(survey.get("respondents")), tree.text(survey.get("unit"))
        if respondents not in self.catalog.columns:
            return None, None
        link = self.catalog.links.get(respondents, {}).get(unit) if isinstance(unit, str) else None
        return respondents, link

    def declare_survey_tables(self) -> None:
        """Item columns join the respondents' data contract; the results tables (one row per
        unit, or per unit and breakdown value) become tables formulas can read."""
        respondents, link = self.survey_parts()
        if respondents is None or link is None:
            return
        types = self.catalog.columns[respondents].columns  # type: ignore[attr-defined]
        for raw in mapping(self.data.get("questionnaires")).values():
            for item in mapping(mapping(raw).get("items")):
                types.setdefault(item, "number")
        names = _result_columns(self.data)
        columns = dict.fromkeys(names, "number")
        self.check_result_names(names)
        survey = mapping(self.data.get("survey"))
        results = survey.get("results", "survey")
        unit_table, unit_key = link.parent, link.key
        if len(unit_key) != 1:
            self.report("S206", f"the unit table '{unit_table}' of the survey needs a one-column "
                        "key", ("survey", "unit"))
            return
        self.catalog.columns[results] = {"unit": "string", **columns}
        self.survey_tables.add(results)
        self.catalog.links.setdefault(unit_table, {})[results] = Link(
            results, unit_table, results, unit_key, ("unit",))
        to_unit = Link(link.name, f"{results}_levels", unit_table, ("unit",), unit_key)
        self.declare_levels(results, {"unit": "string"}, {link.name: to_unit})
        for name, raw in mapping(survey.get("breakdowns")).items():
            raw = mapping(raw)
            path = ("survey", "breakdowns", name)
            if raw.get("by") is None and not raw.get("pooled"):
                self.report("S111", "a breakdown needs 'by:' (or 'pooled: true' for one group "
                            "of all respondents)", path, key=True)
                continue
            label = self.breakdown_keys(respondents, raw.get("by"), path, columns)
            if label is None:
                continue
            if isinstance(raw.get("where"), str):
                self.survey_formula(raw["where"], respondents, (*path, "where"))
            if raw.get("pooled"):
                self.catalog.columns[name] = {**(label or {"group": "string"}), **columns}
                links = {}
            else:
                self.catalog.columns[name] = {"unit": "string", **label, **columns}
                links = {link.name: Link(link.name, name, unit_table, ("unit",), unit_key)}
            self.survey_tables.add(name)
            parent = tree.text(raw.get("table"))
            if parent is not None:
                parent_key = keys(mapping(mapping(self.data.get("tables")).get(parent)).get(
                    "key"))
                if len(label) != 1:
                    self.report("S234", "table: links the breakdown to the table of its one "
                                f"key; this breakdown has {len(label)} keys", (*path, "table"),
                                key=True)
                    continue
                if parent not in self.catalog.columns or len(parent_key) != 1:
                    self.unknown("table with a one-column key", str(parent),
                                 mapping(self.data.get("tables")), (*path, "table"))
                    continue
                by = next(iter(label))
                link_name = str(raw.get("link", parent))
                links[link_name] = Link(link_name, name, parent, (by,), parent_key)
            self.catalog.links[name] = links
            group = {k: v for k, v in self.catalog.columns[name].items() if k not in columns}
            self.declare_levels(name, group, {n: dataclasses.replace(lk, child=f"{name}_levels")
                                              for n, lk in links.items()})

    def declare_levels(self, results: str, group: dict[str, Type], links: dict[str, Link]
                       ) -> None:
        """`<results>_levels`: every level of a results table as rows formulas and ratings can
        read (a rating per unit and criterion is a rating over it)."""
        name = f"{results}_levels"
        if name in mapping(self.data.get("tables")):
            self.report("S203", f"table '{name}' is the levels of the survey results "
                        f"'{results}'; name the table otherwise", ("tables", name), key=True)
            return
        self.catalog.columns[name] = {**group, **dict.fromkeys(
            ["level", "questionnaire", "name"], "string"), **dict.fromkeys(
            level_columns(_scale_codes(self.data))[3:], "number")}
        self.catalog.links[name] = links
        self.survey_tables.add(name)

    def check_result_names(self, names: list[str]) -> None:
        """Two results columns of one name (a zone named like a questionnaire, or like a
        questionnaire and criterion joined) would hide one another."""
        seen: set[str] = set()
        for name in names:
            if name not in seen:
                seen.add(name)
                continue
            zone = next((z for z in mapping(self.data.get("zones"))
                         if name.startswith(f"{z}_")), None)
            self.report("S235", f"two results columns would be named '{name}'",
                        ("zones", zone) if zone else ("questionnaires",), key=True,
                        hint="rename the zone, questionnaire or criterion: "
                             "<questionnaire>_<stat>, <questionnaire>_<criterion>_<stat> and "
                             "<zone>_<stat> share one namespace")
            return

    def breakdown_keys(self, respondents: str, by: Any, path: PathKey,
                       columns: dict[str, Type]) -> dict[str, Type] | None:
        """A breakdown's key columns and their types (None when one is wrong, reported): a
        respondent column by name, a list of them, or names with a respondent formula each."""
        if by is None:
            return {}
        named = ({str(by): (str(by), (*path, "by"))} if isinstance(by, str) else
                 {str(k): (str(k), (*path, "by", i)) for i, k in enumerate(by)}
                 if isinstance(by, list) else
                 {str(k): (str(f), (*path, "by", k)) for k, f in mapping(by).items()})
        types = self.catalog.columns[respondents]
        out: dict[str, Type] = {}
        for key, (text, where) in named.items():
            if key in ("unit", *columns):
                self.report("S234", f"breakdown key '{key}' would hide the results column of "
                            "that name", where, key=isinstance(by, dict),
                            hint="name the key otherwise")
                return None
            if text.isidentifier() and text not in types:
                self.unknown(f"column of '{respondents}'", text, types, where)
                return None
            node, reads = self.compile(text, respondents, where)
            if node is None:
                return None
            self.survey_reads |= reads
            out[key] = node.type
        return out

    def check_bands(self) -> None:
        for name, raw in mapping(self.data.get("bands")).items():
            rows = mapping(raw).get("bands")
            if not isinstance(rows, list):
                continue
            bands: list[tuple[int, Band]] = []
            for i, row in enumerate(rows):
                row = mapping(row)
                if "to" in row and "below" in row:
                    self.report("S222", "a band has either 'to' (included) or 'below' "
                                "(excluded), not both", ("bands", name, "bands", i))
                    continue
                upper = row.get("below", row.get("to"))
                lower = row.get("from")
                if not all(isinstance(b, int | float) and not isinstance(b, bool)
                           for b in (lower, upper) if b is not None):
                    continue  # a wrong type: reported by the structure check
                if lower is not None and upper is not None and lower > upper:
                    self.report("S222", f"band '{row.get('label')}' starts at {lower} but ends "
                                f"at {upper}", ("bands", name, "bands", i))
                    continue
                bands.append((i, Band(str(row.get("label")), lower, upper, "to" in row)))
            self.check_band_coverage(name, bands)
            self.catalog.bands[name] = tuple(b for _, b in bands)

    def check_band_coverage(self, name: str, bands: list[tuple[int, Band]]) -> None:
        """Sorted by lower bound, each band must start exactly where the previous one ends."""
        ordered = sorted(bands, key=lambda ib: -float("inf") if ib[1].lower is None
                         else ib[1].lower)
        for (_, low), (j, high) in itertools.pairwise(ordered):
            path = ("bands", name, "bands", j)
            end, start = low.upper, high.lower
            if end is None or start is None or start < end or (start == end and low.upper_closed):
                where = "-inf" if start is None else f"{start}"
                self.report("S221", f"bands '{low.label}' and '{high.label}' overlap at {where}",
                            path, hint="each value must fall in exactly one band")
            elif start > end:
                opening = "(" if low.upper_closed else "["
                self.report("S220", f"gap between bands '{low.label}' and '{high.label}': "
                            f"values in {opening}{end:g}, {start:g}) fall in no band", path,
                            hint=f"start '{high.label}' at {end:g}")
        for i, band in bands:
            if not band.upper_closed and band.lower is not None and band.upper == band.lower:
                self.report("S222", f"band '{band.label}' is empty", ("bands", name, "bands", i))

    def check_variables(self) -> None:
        for table, raw in mapping(self.data.get("tables")).items():
            for name in mapping(mapping(raw).get("variables")):
                self.variable_type(table, name)
        known = {f"{t}.{v}" for t, v in self.reads}

        def needs(reads: set[str]) -> set[str]:
            """Variables read, and the survey step for any read of a survey results table."""
            return {SURVEY_STEP if r.split(".", 1)[0] in self.survey_tables else r
                    for r in reads} & (known | {SURVEY_STEP})

        graph = {f"{t}.{v}": needs(reads) for (t, v), reads in self.reads.items()}
        graph[SURVEY_STEP] = needs(self.survey_reads) - {SURVEY_STEP}
        try:
            order = list(graphlib.TopologicalSorter(graph).static_order())
            self.survey_step = order.index(SURVEY_STEP)
            self.order = [tuple(n.split(".", 1)) for n in order  # type: ignore[misc]
                          if n != SURVEY_STEP]
        except graphlib.CycleError as exc:
            cycle = [c for c in exc.args[1] if c != SURVEY_STEP] or [SURVEY_STEP]
            if cycle[0] == SURVEY_STEP:
                self.report("F307", "the survey depends on its own results", ("survey",),
                            key=True)
                return
            table, name = cycle[0].split(".", 1)
            self.report("F307", "circular definition: " + " -> ".join(cycle),
                        ("tables", table, "variables", name), key=True,
                        hint="a variable cannot depend on itself, directly or through others")

    def check_survey(self) -> None:
        data = self.data
        scale = mapping(data.get("scale"))
        ratings = scale.get("ratings") if isinstance(scale.get("ratings"), list) else []
        for i, value in enumerate(tree.items(scale.get("satisfied"))):
            if value not in ratings:
                self.report("S204", f"satisfied value {value} is not on the scale {ratings}",
                            ("scale", "satisfied", i))
        for code in mapping(scale.get("non_answers")):
            if code.lstrip("-").isdigit() and int(code) in ratings:
                self.report("S204", f"non-answer code {code} is also a rating on the scale",
                            ("scale", "non_answers", code), key=True)
        items, criteria = mapping(data.get("items")), mapping(data.get("criteria"))
        zones = mapping(data.get("zones"))
        survey = mapping(data.get("survey"))
        respondents = tree.text(survey.get("respondents"))
        tables = mapping(data.get("tables"))
        questionnaires = mapping(data.get("questionnaires"))
        if respondents is not None and respondents not in tables:
            self.unknown("table", str(respondents), tables, ("survey", "respondents"))
            respondents = None
        unit = tree.text(survey.get("unit"))
        if respondents and unit is not None and unit not in self.catalog.links.get(respondents, {}):
            self.unknown(f"link of '{respondents}'", str(unit),
                         self.catalog.links.get(respondents, {}), ("survey", "unit"))
        for code, rule in mapping(survey.get("exclude")).items():
            if respondents and isinstance(mapping(rule).get("when"), str):
                self.survey_formula(rule["when"], respondents, ("survey", "exclude", code, "when"))
        if questionnaires and not survey:
            self.report("S205", "questionnaires need a 'survey' section naming the respondents "
                        "table and the unit link", ("questionnaires",), key=True)
        used_items: set[str] = set()
        used_criteria: set[str] = set()
        for channel, raw in questionnaires.items():
            raw = mapping(raw)
            base = ("questionnaires", channel)
            if respondents and isinstance(raw.get("when"), str):
                self.survey_formula(raw["when"], respondents, (*base, "when"))
            source = raw.get("items_from")
            if source is not None and (source not in questionnaires or source == channel or
                                       "items_from" in mapping(questionnaires.get(source))):
                self.unknown("questionnaire to take items from", str(source),
                             [q for q in questionnaires if q != channel], (*base, "items_from"))
            for old, new in mapping(raw.get("zone_map")).items():
                for zone, path in ((old, (*base, "zone_map", old)),
                                   (new, (*base, "zone_map", old))):
                    if zone not in zones:
                        self.unknown("zone", str(zone), zones, path)
            if not raw.get("items") and source is None:
                self.report("S111", "a questionnaire needs items: or items_from:", base,
                            key=True)
            for item, entry in mapping(raw.get("items")).items():
                entry = mapping(entry)
                path = (*base, "items", item)
                used_items.add(item)
                if items and item not in items:
                    self.report("S201", f"unknown item '{item}'", path, key=True,
                                hint=did_you_mean(item, items) or "declare it under items:")
                criterion = entry.get("criterion")
                if isinstance(criterion, str):
                    used_criteria.add(criterion)
                    if criterion not in criteria:
                        self.unknown("criterion", criterion, criteria, (*path, "criterion"))
                zone = entry.get("zone")
                if isinstance(zone, str) and zone not in zones:
                    self.unknown("zone", zone, zones, (*path, "zone"))
                if respondents and isinstance(entry.get("asked_if"), str):
                    self.survey_formula(entry["asked_if"], respondents, (*path, "asked_if"))
        if questionnaires:
            own_file = str(self.path)
            for item in items:
                place = self.document.place(("items", item), key=True)
                if place is not None and place.file != own_file:
                    continue  # a shared vocabulary: items of other methods are not unused here
                if item not in used_items:
                    self.report("S210", f"item '{item}' is asked in no questionnaire, so it "
                                "belongs to no criterion", ("items", item), key=True,
                                severity="warning")
            for criterion in criteria:
                if criterion not in used_criteria:
                    self.report("S211", f"criterion '{criterion}' has no item in any "
                                "questionnaire", ("criteria", criterion), key=True,
                                severity="warning")

    def check_levels(self) -> None:
        """Each declared level of the hierarchy: its rule's keys, weights that name members of
        that level, every member weighted, and weights adding up to sum_to."""
        questionnaires = mapping(self.data.get("questionnaires"))
        zones = mapping(self.data.get("zones"))
        items = {i for q in questionnaires.values() for i in mapping(mapping(q).get("items"))}
        members = {
            "item": items,
            "criterion": {c for q in questionnaires.values()
                          for i in mapping(mapping(q).get("items")).values()
                          if isinstance(c := mapping(i).get("criterion"), str)},
            "channel": {q for q, raw in questionnaires.items()
                        if mapping(raw).get("counts_in_total", True)},
            "zone": {z for z, raw in zones.items() if not mapping(raw).get("shared")},
        }
        for name, raw in mapping(mapping(self.data.get("survey")).get("levels")).items():
            raw = mapping(raw)
            path = ("survey", "levels", name)
            rule = raw.get("rule", "mean")
            if raw.get("of") is not None and name != "unit":
                self.report("S232", f"'of' chooses the members of the unit level only, not of "
                            f"'{name}'", (*path, "of"), key=True)
            kind = "zone" if name == "unit" and raw.get("of") == "zones" else \
                LEVEL_MEMBERS.get(name, "item")
            for key, needs in (("weights", "weighted"), ("sum_to", "weighted"),
                               ("missing", "weighted"), ("score", "formula"),
                               ("satisfaction", "formula")):
                if key in raw and rule != needs:
                    self.report("S232", f"'{key}' applies to the {needs} rule; the {name} level "
                                f"is {rule}", (*path, key), key=True,
                                hint=f"add rule: {needs}, or remove the key")
            if rule == "formula":
                self.check_level_formulas(name, raw, path)
            if rule != "weighted":
                continue
            weights = mapping(raw.get("weights"))
            if not weights:
                self.report("S232", f"the weighted {name} level needs weights: one per {kind}",
                            path, key=True)
                continue
            for member in weights:
                if member not in members[kind]:
                    known = sorted(members[kind])
                    self.report("S201", f"unknown {kind} '{member}' (the members of the {name} "
                                "level)", (*path, "weights", member), key=True,
                                hint=did_you_mean(str(member), known)
                                or f"its members: {', '.join(known)}")
            unweighted = sorted(members[kind] - set(weights))
            if unweighted:
                self.report("S233", f"the weighted {name} level gives no weight to "
                            f"{kind} {', '.join(repr(m) for m in unweighted)}",
                            (*path, "weights"), key=True,
                            hint="give each a weight (0 leaves it out of this level)")
            target = raw.get("sum_to")
            numbers = [w for w in weights.values() if isinstance(w, int | float)]
            if isinstance(target, int | float) and abs(sum(numbers) - target) > 1e-9:
                self.report("S230", f"the weights of the {name} level add up to "
                            f"{sum(numbers):g}, not {target:g} as sum_to says",
                            (*path, "weights"))

    def check_level_formulas(self, name: str, raw: dict[str, Any], path: PathKey) -> None:
        """A formula level's score and satisfaction, over its members' statistics only."""
        catalog = level_catalog(_scale_codes(self.data))
        for stat in ("score", "satisfaction"):
            if not isinstance(raw.get(stat), str):
                self.report("S232", f"the {name} level's rule is formula: give its {stat} as a "
                            "formula over its members, e.g. mean(members." + stat + ")", path,
                            key=True)
                continue
            self.compile(raw[stat], LEVEL_NODE, (*path, stat), "number", catalog)

    def survey_formula(self, text: str, respondents: str, path: PathKey) -> None:
        _, reads = self.compile(text, respondents, path, expect="bool")
        self.survey_reads |= reads

    def check_ratings(self) -> None:
        tables = mapping(self.data.get("tables"))
        ratings = mapping(self.data.get("ratings"))
        for rating_id, raw in ratings.items():
            raw = mapping(raw)
            base = ("ratings", rating_id)
            if "rows" in raw:
                self.check_composed(rating_id, raw, ratings)
                continue
            for needed in ("table", "columns"):
                if needed not in raw:
                    self.report("S111", f"missing required key '{needed}' (or give 'rows' to "
                                "compose other ratings' totals)", base)
            table = tree.text(raw.get("table"))
            if table is None:
                continue
            if table not in tables and table not in self.survey_tables:
                self.unknown("table", str(table), [*tables, *self.survey_tables],
                             (*base, "table"))
                continue
            if isinstance(raw.get("where"), str):
                self.compile(raw["where"], table, (*base, "where"), expect="bool")
            for part in ("unit", "name"):
                if isinstance(raw.get(part), str):
                    self.compile(raw[part], table, (*base, part))
            columns = mapping(raw.get("columns"))
            for column, value in columns.items():
                text, suffix = formula_of(value)
                if text:
                    self.compile(text, table, (*base, "columns", column, *suffix))
            for i, rank in enumerate(tree.items(raw.get("rank_by"))):
                column = tree.text(mapping(rank).get("column"))
                if column is not None and column not in columns:
                    self.unknown(f"column of rating '{rating_id}'", str(column), columns,
                                 (*base, "rank_by", i, "column"))
            for i, column in enumerate(tree.items(mapping(raw.get("total")).get("sum"))):
                if not isinstance(column, str) or column not in columns:
                    self.unknown(f"column of rating '{rating_id}'", str(column), columns,
                                 (*base, "total", "sum", i))
            self.check_total_columns(rating_id, raw, table)
            if "unit" not in raw and table in tables and len(
                    keys(mapping(tables[table]).get("key"))) != 1:
                self.report("S206", f"rating '{rating_id}' needs 'unit:' because '{table}' has a "
                            "composite key", base, key=True)

    def check_total_columns(self, rating_id: str, raw: dict[str, Any], table: str) -> None:
        """Closing-row formulas read the closing row's own columns (their means or sums)."""
        formulas = mapping(mapping(raw.get("total")).get("columns"))
        if not formulas:
            return
        base = ("ratings", rating_id)
        own: dict[str, Type] = {"unit": "string", "name": "string"}
        for column, value in mapping(raw.get("columns")).items():
            _, suffix = formula_of(value)
            plan = self.plans.get((*base, "columns", column, *suffix))
            own[column] = plan.type if plan is not None else "number"
        pseudo = f"ratings.{rating_id}.total"
        self.catalog.columns[pseudo] = own
        for column, text in formulas.items():
            if column not in own:
                self.unknown(f"column of rating '{rating_id}'", str(column), own,
                             (*base, "total", "columns", column))
            elif isinstance(text, str):
                self.compile(text, pseudo, (*base, "total", "columns", column))

    def check_composed(self, rating_id: str, raw: dict[str, Any], ratings: dict[str, Any]
                       ) -> None:
        base = ("ratings", rating_id)
        for clash in ("table", "columns", "where", "unit", "name", "total"):
            if clash in raw:
                self.report("S207", f"a composed rating (rows:) takes no '{clash}'",
                            (*base, clash), key=True)
        columns: set[str] = set()
        for i, row in enumerate(raw.get("rows") or []):
            source = mapping(row).get("total_of")
            other = mapping(ratings.get(source))
            if source not in ratings or source == rating_id or "rows" in other:
                self.unknown("rating with a table", str(source),
                             [r for r in ratings if r != rating_id], (*base, "rows", i, "total_of"))
            elif "total" not in other:
                self.report("S207", f"rating '{source}' has no total row to take",
                            (*base, "rows", i, "total_of"), hint=f"give '{source}' a total:")
            else:
                columns |= set(mapping(other.get("columns")))
        for i, rank in enumerate(raw.get("rank_by") or []):
            column = mapping(rank).get("column")
            if columns and column not in columns:
                self.unknown(f"column of rating '{rating_id}'", str(column), columns,
                             (*base, "rank_by", i, "column"))

    def check_published(self) -> None:
        """Each published table maps onto a rating; its file is where the spec says."""
        published = mapping(self.data.get("published"))
        ratings = mapping(self.data.get("ratings"))
        folder = folder_of(self.document, ("published", "folder"), self.path.parent) / str(
            published.get("folder", "."))
        for table_id, raw in mapping(published.get("tables")).items():
            raw = mapping(raw)
            base = ("published", "tables", table_id)
            rating = raw.get("rating")
            if rating not in ratings:
                self.unknown("rating", str(rating), ratings, (*base, "rating"))
            elif "pivot" not in raw:
                own = mapping(mapping(ratings[rating]).get("columns"))
                known = {"rank", "unit", "name", *own}
                if "rows" in mapping(ratings[rating]):
                    known |= {c for r in mapping(ratings[rating]).get("rows") or []
                              for c in mapping(mapping(ratings.get(mapping(r).get("total_of")))
                                                .get("columns"))}
                for column in mapping(raw.get("columns")):
                    if column not in known:
                        self.unknown(f"column of rating '{rating}'", column, known,
                                     (*base, "columns", column))
            if isinstance(raw.get("file"), str) and not is_file(folder / raw["file"]):
                self.report("S252", f"published table not found: {folder / raw['file']}",
                            (*base, "file"))

    def check_synthesis(self) -> None:
        """The names a `synthesis:` plan uses are the spec's: channels are questionnaires (each
        with its contact value), routed criteria and mapped zones exist, the respondents'
        columns it fills are declared."""
        plan = mapping(self.data.get("synthesis"))
        if not plan:
            return
        questionnaires = mapping(self.data.get("questionnaires"))
        criteria, zones = mapping(self.data.get("criteria")), mapping(self.data.get("zones"))
        respondents, _ = self.survey_parts()
        columns = self.catalog.columns.get(respondents or "", {})
        contact = mapping(plan.get("contact"))
        contacts = mapping(contact.get("values"))

        def names(part: str, kind: str, known: Mapping[str, Any], keys: bool = False) -> None:
            *parents, last = part.split(".")
            node = plan
            for key in parents:
                node = mapping(mapping(node).get(key))
            entries = mapping(mapping(node).get(last))
            path = ("synthesis", *parents, last)
            for key, value in entries.items():
                name = key if keys else value
                if isinstance(name, str) and name not in known:
                    self.unknown(kind, name, known, (*path, key))

        names("channels.map", "questionnaire", questionnaires)
        names("channel_shares", "questionnaire", questionnaires, keys=True)
        names("contact.values", "questionnaire", questionnaires, keys=True)
        names("criteria.criterion_map", "criterion", criteria)
        names("zones.map", "zone", zones)
        names("zones.questionnaire", "zone", zones, keys=True)
        names("zones.questionnaire", "questionnaire", questionnaires)
        for channel, name in mapping(mapping(plan.get("channels")).get("map")).items():
            if name in questionnaires and name not in contacts:
                self.report("S201", f"channel '{name}' has no value in synthesis.contact.values",
                            ("synthesis", "channels", "map", channel),
                            hint="each questionnaire a channel maps to needs its contact value")
        for flag, rule in mapping(plan.get("routing")).items():
            if columns and flag not in columns:
                self.unknown(f"column of '{respondents}'", flag, columns,
                             ("synthesis", "routing", flag))
            for i, criterion in enumerate(tree.items(mapping(rule).get("criteria"))):
                if isinstance(criterion, str) and criterion not in criteria:
                    self.unknown("criterion", criterion, criteria,
                                 ("synthesis", "routing", flag, "criteria", i))
        for part in ("contact", "regions"):
            column = mapping(plan.get(part)).get("column")
            if columns and isinstance(column, str) and column not in columns:
                self.unknown(f"column of '{respondents}'", column, columns,
                             ("synthesis", part, "column"))

    def check_resampling(self) -> None:
        """`survey.resample_within` names columns of the respondents."""
        within = mapping(self.data.get("survey")).get("resample_within")
        respondents, _ = self.survey_parts()
        columns = self.catalog.columns.get(respondents or "", {})
        for i, column in enumerate(within if isinstance(within, list) else []):
            if columns and isinstance(column, str) and column not in columns:
                self.unknown(f"column of '{respondents}'", column, columns,
                             ("survey", "resample_within", i))

    def check_labels(self) -> None:
        """A spec that declares its languages has every user-facing name in each (S240)."""
        if not mapping(self.data.get("methodology")).get("languages"):
            return
        wanted = labels.languages(self.data)
        for path, label in labels.user_facing(self.data):
            missing = labels.missing_languages(label, wanted)
            if not missing:
                continue
            where = path
            while where and self.document.place(where) is None:
                where = where[:-1]
            what = ".".join(str(p) for p in path)
            self.report("S240", f"{what} has no label in {', '.join(missing)}", where,
                        key=where == path, severity="warning",
                        hint="give it {" + ", ".join(f"{lang}: …" for lang in missing) + "}"
                        + (" (or in the glossary, labels:)" if path[0] == "labels" else ""))

    def check_crosswalks(self) -> None:
        """Each crosswalk names a table of this spec and a file that is there (its codes are
        checked against the data by `sapa validate`)."""
        tables = mapping(self.data.get("tables"))
        for name, raw in mapping(self.data.get("crosswalks")).items():
            raw, base = mapping(raw), ("crosswalks", name)
            table = raw.get("table")
            if isinstance(table, str) and table not in tables:
                self.unknown("table", table, tables, (*base, "table"))
            file = raw.get("file")
            folder = folder_of(self.document, (*base, "file"), self.path.parent)
            if isinstance(file, str) and not is_file(folder / file):
                self.report("S253", f"crosswalk file not found: {folder / file}", (*base, "file"))

    def check_alternatives(self) -> None:
        """Each alternative of `sensitivity:` gives its values one way: listed, or a range
        rated at a number of steps."""
        for name, raw in mapping(self.data.get("sensitivity")).items():
            raw = mapping(raw)
            given = [key for key in ("values", "range", "steps") if key in raw]
            if given not in (["values"], ["range", "steps"]):
                gives = " and ".join(given) or "no values"
                self.report("S254", f"alternative '{name}' gives {gives}: give either values, "
                            "or range and steps",
                            ("sensitivity", name), key=True,
                            hint="values: [a, b, …]  or  range: [low, high], steps: n")
            elif "range" in raw and isinstance(raw["range"], list) and len(raw["range"]) == 2 \
                    and all(isinstance(v, int | float) for v in raw["range"]) \
                    and raw["range"][0] >= raw["range"][1]:
                self.report("S254", f"alternative '{name}': its range must go from low to high",
                            ("sensitivity", name, "range"))

    def check_tests(self) -> None:
        tables = mapping(self.data.get("tables"))
        ratings = mapping(self.data.get("ratings"))
        tests = self.data.get("tests") if isinstance(self.data.get("tests"), list) else []
        for i, test in enumerate(tests):
            test = mapping(test)
            items_table = f"{mapping(self.data.get('survey')).get('results', 'survey')}_items"
            given_known = [*tables, items_table] if self.survey_tables else list(tables)
            sections = [("given", test.get("given"), given_known, "table"),
                        ("expect", mapping(test.get("expect")).get("tables"),
                         [*tables, *self.survey_tables], "table"),
                        ("expect", mapping(test.get("expect")).get("ratings"), ratings,
                         "rating")]
            for section, given, known, kind in sections:
                for name, rows in mapping(given).items():
                    path: PathKey = ("tests", i, section, name) if section == "given" else (
                        "tests", i, "expect", "tables" if kind == "table" else "ratings", name)
                    if name not in known:
                        self.report("S201", f"unknown {kind} '{name}'", path, key=True,
                                    hint=did_you_mean(name, known))
                        continue
                    if isinstance(rows, dict) and isinstance(rows.get("csv"), str):
                        folder = folder_of(self.document, (*path, "csv"), self.path.parent)
                        if not is_file(folder / rows["csv"]):
                            self.report("S251", f"test data file not found: {rows['csv']} "
                                        f"(looked in {folder})", (*path, "csv"))
                    elif isinstance(rows, list):
                        self.check_test_columns(kind, name, rows, path)

    def check_test_columns(self, kind: str, name: str, rows: list[Any], path: PathKey) -> None:
        if kind == "table":
            known = set(self.catalog.columns.get(name, ITEM_STATISTICS))
        else:
            raw = mapping(mapping(self.data.get("ratings")).get(name))
            known = {"rank", "unit", "name", *mapping(raw.get("columns"))}
        for r, row in enumerate(rows):
            for column in mapping(row):
                if column not in known:
                    self.report("S250", f"'{column}' is not a column of {kind} '{name}'",
                                (*path, r, column), key=True, hint=did_you_mean(column, known))

    # ------------------------------------------------------------------------------ build
def _result_columns(data: dict[str, Any]) -> list[str]:
    zones = [z for z, raw in mapping(data.get("zones")).items() if not mapping(raw).get("shared")]
    exclusions = list(mapping(mapping(data.get("survey")).get("exclude")))
    questionnaires = mapping(data.get("questionnaires"))

    def criteria(q: dict[str, Any]) -> list[str]:
        inherited = criteria(mapping(questionnaires.get(q.get("items_from")))) \
            if q.get("items_from") in questionnaires and q.get("items_from") != q else []
        own = [mapping(i).get("criterion") for i in mapping(q.get("items")).values()]
        return list(dict.fromkeys(c for c in [*inherited, *own] if isinstance(c, str)))

    return result_columns({name: criteria(mapping(q)) for name, q in questionnaires.items()},
                          zones, exclusions, _scale_codes(data))


def _compared_texts(expr: Any) -> list[tuple[str, fa.String]]:
    """(column, text) for every bare column compared with a text (==, !=, in, not in)."""
    found: list[tuple[str, fa.String]] = []
    if isinstance(expr, fa.Binary) and expr.op in ("==", "!="):
        for a, b in ((expr.left, expr.right), (expr.right, expr.left)):
            if isinstance(a, fa.Name) and len(a.parts) == 1 and isinstance(b, fa.String):
                found.append((a.parts[0], b))
    if isinstance(expr, fa.Membership) and isinstance(expr.value, fa.Name) \
            and len(expr.value.parts) == 1:
        found += [(expr.value.parts[0], o) for o in expr.options if isinstance(o, fa.String)]
    for field in dataclasses.fields(expr) if dataclasses.is_dataclass(expr) else ():
        value = getattr(expr, field.name)
        for part in value if isinstance(value, tuple) else (value,):
            if dataclasses.is_dataclass(part):
                found += _compared_texts(getattr(part, "value", part)
                                         if isinstance(part, fa.Keyword) else part)
    return found


def _scale_codes(data: dict[str, Any]) -> list[float]:
    """The scale's marks and non-answer codes, sorted (each is counted: count_<code>)."""
    scale = mapping(data.get("scale"))
    return sorted({float(v) for v in [*tree.items(scale.get("ratings")),
                                      *mapping(scale.get("non_answers"))]
                   if _number(v) is not None})


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


