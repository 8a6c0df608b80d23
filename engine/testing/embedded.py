"""Running a spec's embedded tests: given small tables, expect values within a tolerance."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sapa.engine.data import Locate, csv_locator, load_tables, read_csv, rows_frame
from sapa.engine.diagnostics import Span, has_errors
from sapa.engine.rating import rate
from sapa.engine.spec import PathKey, Spec, TestCase, resolve


@dataclass
class TestResult:
    name: str
    span: Span | None
    failures: list[str] = field(default_factory=list)
    checked: int = 0

    @property
    def passed(self) -> bool:
        return not self.failures


def run_tests(spec: Spec) -> list[TestResult]:
    return [run_test(spec, case) for case in spec.tests]


def _given(spec: Spec, case: TestCase, section: tuple[str | int, ...], value: Any
           ) -> tuple[pd.DataFrame, Locate, str]:
    if isinstance(value, Mapping):
        path = resolve(spec, (*section, "csv"), value["csv"])
        frame = read_csv(path)
        return frame, csv_locator(path, frame), path.name

    def locate(row: int, column: str | None) -> Span | None:
        where = (*section, row) if row >= 0 else section
        if column is not None and row >= 0:
            return spec.document.place((*where, column), key=True)
        return spec.document.place(where)

    return rows_frame(value), locate, f"test '{case.name}'"


def run_test(spec: Spec, case: TestCase) -> TestResult:
    """One embedded test: its given tables checked under the data contract and rated (the same
    stages `sapa rate` runs), then every expected value compared within its tolerance."""
    result = TestResult(case.name, case.span)
    raw, locators, origins = {}, {}, {}
    survey_items = None
    for table, value in case.given.items():
        section = ("tests", case.index, "given", table)
        if spec.survey is not None and table == f"{spec.survey.results}_items":
            survey_items = pd.DataFrame(_expected(spec, value, section))
            continue
        if isinstance(value, list) and not value:
            continue  # no rows: the table is empty
        raw[table], locators[table], origins[table] = _given(spec, case, section, value)
    frames, problems = load_tables(spec, raw, locators, origins)
    if has_errors(problems):
        result.failures += [f"bad test data: {p.message}" for p in problems
                            if p.severity == "error"]
        return result
    rated = rate(spec, frames, survey_items)
    expect = ("tests", case.index, "expect")
    for table, expected in case.expect_tables.items():
        key = list(spec.tables[table].key) if table in spec.tables else _survey_key(spec, table)
        _compare_keyed(result, f"{table}", rated.tables.tables[table],
                       _expected(spec, expected, (*expect, "tables", table)), key, case.tolerance)
    if case.expect_levels is not None and spec.survey is not None:
        long = rated.surveys[spec.survey.results].long
        _compare_keyed(result, "levels", long,
                       _expected(spec, case.expect_levels, (*expect, "levels")),
                       ["unit", "level", "questionnaire", "name"], case.tolerance)
    for rating_id, expected in case.expect_ratings.items():
        rows = _expected(spec, expected, (*expect, "ratings", rating_id))
        _compare_keyed(result, f"rating {rating_id}", rated.ratings[rating_id], rows, ["unit"],
                       case.tolerance)
    return result


def _survey_key(spec: Spec, table: str) -> list[str]:
    """The columns that name a row of a survey results table: the unit, and a breakdown's keys
    (a pooled breakdown's keys alone; `group` for one without keys)."""
    assert spec.survey is not None
    for breakdown in spec.survey.breakdowns:
        if breakdown.name == table:
            keys = [name for name, _ in breakdown.keys] or ["group"]
            return keys if breakdown.pooled else ["unit", *keys]
    return ["unit"]


def _expected(spec: Spec, value: Any, where: PathKey) -> list[dict[str, Any]]:
    """Expected rows; only the cells written are checked (an empty CSV cell is not)."""
    if not isinstance(value, Mapping):
        return [dict(row) for row in value]
    frame = read_csv(resolve(spec, (*where, "csv"), value["csv"]))
    return [{k: _number_or_text(v) for k, v in row.items() if v != ""}
            for row in frame.to_dict("records")]


def _number_or_text(cell: str) -> Any:
    try:
        return float(cell)
    except ValueError:
        return cell


def _compare_keyed(result: TestResult, what: str, actual: pd.DataFrame,
                   expected: list[dict[str, Any]], key: list[str],
                   tolerance: Mapping[str, float]) -> None:
    for i, row in enumerate(expected):
        row = {"questionnaire": "", **row} if "level" in key else row
        row_key = key
        if key == ["unit"] and "name" in row:  # a closing row by its label; a row of a long
            if row.get("unit") is None:  # rating (a unit on several rows) by unit and name
                row_key = ["name"]
            elif (actual["unit"].astype(str).to_numpy() == _key_text(row["unit"])).sum() > 1:
                row_key = ["unit", "name"]
        missing_keys = [k for k in row_key if k not in row or row[k] is None]
        if missing_keys:
            result.failures.append(f"{what}, expected row {i + 1}: give its key "
                                   f"{', '.join(missing_keys)}")
            continue
        match = np.ones(len(actual), dtype=bool)
        for k in row_key:
            match &= actual[k].astype(str).to_numpy() == _key_text(row[k])
        label = f"{what}[{', '.join(_key_text(row[k]) for k in row_key)}]"
        if not match.any():
            result.failures.append(f"{label}: no such row in the result")
            continue
        found = actual[match].iloc[0]
        for column, want in row.items():
            if column in row_key:
                continue
            result.checked += 1
            got = found[column] if column in found.index else None
            allowed = _tolerance_for(str(column), tolerance)
            if column not in found.index:
                result.failures.append(f"{label}.{column}: no such column in the result")
            elif not _same(got, want, allowed):
                result.failures.append(f"{label}.{column}: expected {_show(want)}, "
                                       f"got {_show(got)} (tolerance {allowed:g})")


def _tolerance_for(column: str, tolerance: Mapping[str, float]) -> float:
    """A tolerance key applies to the column of that name and to columns ending in _<key>
    (so `score` covers `state_body_score`)."""
    for key, value in tolerance.items():
        if key and (column == key or column.endswith(f"_{key}")):
            return value
    return tolerance[""]


def _key_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _same(got: Any, want: Any, tolerance: float) -> bool:
    got_missing = got is None or got is pd.NA or (isinstance(got, float) and np.isnan(got))
    if want is None:
        return got_missing
    if got_missing:
        return False
    if isinstance(want, bool) or isinstance(got, bool | np.bool_):
        return bool(got) == bool(want)
    if isinstance(want, int | float):
        try:
            return abs(float(got) - float(want)) <= tolerance
        except (TypeError, ValueError):
            return False
    return str(got) == str(want)


def _show(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "missing"
    if isinstance(value, float | np.floating):
        return f"{float(value):.10g}"
    return repr(value) if isinstance(value, str) else str(value)
