"""The plan lowered to SQL (Ibis on DuckDB) gives what the pandas reference gives, to the last
bit: for any well-typed formula (random formulas over a world with ties, missing values,
orphans and childless parents); and how compiled queries are kept."""

from __future__ import annotations

import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from sapa.engine.formula import (
    Band,
    Catalog,
    Frames,
    Link,
    compile_formula,
    lowering,
    parse,
    queries,
)
from tests import reference_evaluator

LINK = Link("body", "services", "bodies", ("body_id",), ("body_id",))
CATALOG = Catalog(
    columns={
        "bodies": {"body_id": "string", "kind": "string", "x": "number", "y": "number",
                   "flag": "bool"},
        "services": {"body_id": "string", "total": "number", "ok": "bool"},
    },
    links={"services": {"body": LINK}},
    parameters={"k": 15.0, "label": "high"},
    groups={"points": {"a": 10.0, "b": 5.0, "x": 2.5}},
    bands={"grade": (Band("low", None, 2.0), Band("mid", 2.0, 10.0),
                     Band("high", 10.0, 100.0, True))},
)
TABLES = {
    "bodies": pd.DataFrame({
        "body_id": pd.Series(list("ABCDEFGH"), dtype=object),
        "kind": pd.Series(["x", "x", "y", None, "a", "y", "x", "b"], dtype=object),
        "x": [1.0, np.nan, 30.0, 0.0, 1.0, -2.5, 30.0, 7.0],
        "y": [2.0, 0.0, np.nan, 0.0, -1.0, 4.0, 2.0, 1e300],
        "flag": pd.array([True, False, pd.NA, True, False, True, pd.NA, False], dtype="boolean"),
    }),
    "services": pd.DataFrame({
        "body_id": pd.Series(["A", "A", "B", "Z", "C", "C", "C", None, "E", "F"], dtype=object),
        "total": [10.0, 20.0, np.nan, 5.0, 0.0, 3.0, 3.0, 1.0, np.nan, -4.0],
        "ok": pd.array([True, False, True, pd.NA, False, pd.NA, True, True, pd.NA, False],
                       dtype="boolean"),
    }),
}

numbers = st.sampled_from(["0", "1", "2", "0.5", "3", "1e300", "k", "points.a"])
texts = st.sampled_from(['"x"', '"y"', '"a"', '""', "label"])


def formulas(table: str) -> st.SearchStrategy[str]:
    """Formulas over the rows of `table` (those that do not type-check are discarded)."""
    number_leaves = {"bodies": ["x", "y"], "services": ["total", "body.x", "body.y"]}[table]
    bool_leaves = {"bodies": ["flag"], "services": ["ok", "body.flag"]}[table]
    text_leaves = {"bodies": ["kind", "body_id"], "services": ["body.kind", "body_id"]}[table]

    def number(depth: int) -> st.SearchStrategy[str]:
        leaf = st.one_of(st.sampled_from(number_leaves), numbers)
        if depth == 0:
            return leaf
        n, b, s = number(depth - 1), condition(depth - 1), text(depth - 1)
        options = [
            leaf,
            st.tuples(n, st.sampled_from("+-*/^"), n).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            n.map(lambda e: f"(-{e})"),
            st.tuples(b, n, n).map(lambda t: f"if({t[0]}, {t[1]}, {t[2]})"),
            st.lists(n, min_size=2, max_size=3).map(lambda a: f"coalesce({', '.join(a)})"),
            st.tuples(st.sampled_from(["sum", "mean", "min", "max"]),
                      st.lists(n, min_size=2, max_size=3)).map(
                lambda t: f"{t[0]}({', '.join(t[1])})"),
            n.map(lambda e: f"abs({e})"),
            st.tuples(n, st.integers(0, 3)).map(lambda t: f"round({t[0]}, {t[1]})"),
            st.tuples(n, n, n).map(lambda t: f"clamp({t[0]}, {t[1]}, {t[2]})"),
            s.map(lambda e: f"points[{e}]"),
            st.tuples(st.sampled_from(["sum", "mean", "min", "max", "count"]), n,
                      st.sampled_from(["", ", by=kind", ", by=flag"]), _where(b)).map(
                lambda t: f"{t[0]}({t[1]}{t[2] if table == 'bodies' else ''}{t[3]})"),
            st.tuples(st.sampled_from(["count", "share"]), b, _where(b)).map(
                lambda t: f"{t[0]}({t[1]}{t[2]})"),
            st.tuples(n, st.sampled_from(["min", "max", "dense", "average", "first"]),
                      st.booleans(), st.sampled_from(["", ", by=kind"]), _where(b)).map(
                lambda t: f'rank({t[0]}, method="{t[1]}", descending={str(t[2]).lower()}'
                          f"{t[3]}{t[4]})"),
            st.tuples(n, st.sampled_from(["", ", degenerate=1", ", degenerate=0"]),
                      st.sampled_from(["", ", by=kind"]), _where(b)).map(
                lambda t: f"minmax({t[0]}{t[1]}{t[2]}{t[3]})"),
        ]
        if table == "bodies":
            child = formulas_child(depth - 1)
            options.append(st.tuples(st.sampled_from(["sum", "mean", "min", "max", "count"]),
                                     child[0], _where(child[1])).map(
                lambda t: f"{t[0]}({t[1]}{t[2]})"))
            options.append(st.tuples(st.sampled_from(["count", "share"]), child[1]).map(
                lambda t: f"{t[0]}({t[1]})"))
        return st.one_of(*options)

    def condition(depth: int) -> st.SearchStrategy[str]:
        leaf = st.one_of(st.sampled_from([*bool_leaves, "true", "false"]))
        if depth == 0:
            return leaf
        n, b, s = number(depth - 1), condition(depth - 1), text(depth - 1)
        options = [
            leaf,
            st.tuples(n, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), n).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(s, st.sampled_from(["==", "!="]), s).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(b, st.sampled_from(["and", "or"]), b).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"),
            b.map(lambda e: f"(not {e})"),
            st.tuples(s, st.sampled_from(["in", "not in"]), st.lists(s, min_size=1,
                                                                      max_size=3)).map(
                lambda t: f"({t[0]} {t[1]} ({', '.join(t[2])}))"),
            st.tuples(n, st.sampled_from(["in", "not in"]), st.lists(n, min_size=1,
                                                                      max_size=2)).map(
                lambda t: f"({t[0]} {t[1]} ({', '.join(t[2])}))"),
            st.one_of(n, s, b).map(lambda e: f"is_missing({e})"),
            st.tuples(b, b, b).map(lambda t: f"if({t[0]}, {t[1]}, {t[2]})"),
        ]
        if table == "bodies":
            child = formulas_child(depth - 1)
            options.append(st.tuples(st.sampled_from(["any", "all"]), child[1]).map(
                lambda t: f"{t[0]}({t[1]})"))
        return st.one_of(*options)

    def text(depth: int) -> st.SearchStrategy[str]:
        leaf = st.one_of(st.sampled_from(text_leaves), texts)
        if depth == 0:
            return leaf
        n, b, s = number(depth - 1), condition(depth - 1), text(depth - 1)
        return st.one_of(
            leaf,
            st.tuples(b, s, s).map(lambda t: f"if({t[0]}, {t[1]}, {t[2]})"),
            st.lists(s, min_size=2, max_size=3).map(lambda a: f"coalesce({', '.join(a)})"),
            n.map(lambda e: f"band({e}, grade)"),
        )

    def _where(b: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(st.just(""), b.map(lambda e: f", where={e}"))

    def formulas_child(depth: int) -> tuple[st.SearchStrategy[str], st.SearchStrategy[str]]:
        """A number and a condition over the child rows (services), to aggregate."""
        return (st.sampled_from(["services.total", "(services.total * body.x)",
                                 "if(services.ok, services.total, 1)"]),
                st.sampled_from(["services.ok", "(services.total > 2)",
                                 "(services.body_id == body_id)", "is_missing(services.total)"]))

    return st.one_of(number(2), condition(2), text(2))


def _same(lowered: pd.Series, evaluated: pd.Series) -> bool:
    """The same values to the last bit (the same rounding, the sums split alike), missing
    where missing."""
    if len(lowered) != len(evaluated):
        return False
    return all(pd.isna(a) and pd.isna(b) if pd.isna(a) or pd.isna(b) else a == b
               for a, b in zip(lowered.tolist(), evaluated.tolist(), strict=True))


EXAMPLES = [
    ("bodies", "is_missing(x / x)"),  # a flag under an operation that is not arithmetic
    ("bodies", "if(x > 1, 1 / y, y / x)"),  # each row keeps its branch's flags
    ("bodies", "mean(1 / services.total, where=services.ok)"),  # child rows skipped
    ("services", "body.y / body.x"),
    ("bodies", "x + if(true, 1, 1e300 * 1e300)"),  # a constant part's flags
    ("bodies", 'rank(x, method="first") + rank(x, method="max", by=kind)'),  # ties
    ("bodies", "round(y * 0.1, 3)"),  # 1e299: no room to scale
    ("bodies", "coalesce(count(services.ok), share(services.ok))"),  # the same sums twice
    ("bodies", "sum(0.1, 0.2) * 10 == 3"),  # constants are doubles, not SQL's decimals
    ("bodies", "sum(services.total * 0.1) + mean(x * 0.1, by=kind)"),  # split sums
    ("bodies", "is_missing(is_missing(kind))"),  # Spark cannot read x IS NULL IS NULL
    ("bodies", "y * 1e300"),  # overflow to infinity in one row (Ibis's isinf fails on Spark)
]
CASES = st.sampled_from(["bodies", "services"]).flatmap(
    lambda t: st.tuples(st.just(t), formulas(t)))


def with_examples(test):  # noqa: ANN001, ANN201 - a test decorator
    """The random test, with the cases that once found a difference always among them."""
    for case in reversed(EXAMPLES):
        test = example(case)(test)
    return test


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@with_examples
@given(CASES)
def test_a_formula_lowered_to_sql_gives_what_the_reference_gives(case: tuple[str, str]) -> None:
    lowered_as_evaluated(case, "duckdb")


def lowered_as_evaluated(case: tuple[str, str], engine: str) -> None:
    """A formula run by `engine` gives the reference's values and flags the same rows."""
    table, formula = case
    node, problems, _ = compile_formula(parse(formula), table, CATALOG)
    assume(not problems)
    frames, in_sql = Frames(TABLES), Frames(TABLES)
    evaluated = reference_evaluator.evaluate_rows(node, frames, table)
    lowered = queries.evaluate_rows(node, in_sql, table, engine)
    assert _same(lowered, evaluated), (formula, lowered.tolist(), evaluated.tolist())
    flagged = {t: rows.tolist() for t, rows in frames.take_undefined().items()}
    assert {t: rows.tolist() for t, rows in in_sql.take_undefined().items()} == flagged, formula


def test_a_sum_is_the_same_whatever_the_order_of_its_rows() -> None:
    """Sums of fractional values are split on a grid and so correctly rounded: neither the
    order of the rows nor the engine changes them. DuckDB adding the child rows in another
    order gives the reference's bits (split_sum, the same grid). A plain sum of the same
    values depends on the order."""
    rng = np.random.default_rng(0)
    n = 500
    values = rng.normal(size=n) * 10.0 ** rng.integers(-6, 7, size=n)
    codes = rng.integers(0, 5, size=n)
    order = rng.permutation(n)
    plain = np.bincount(codes, values, 5), np.bincount(codes[order], values[order], 5)
    assert (plain[0] != plain[1]).any()  # the order does matter to a plain sum of these
    split = reference_evaluator.split_sum(values, codes, 5)
    assert split.tolist() == reference_evaluator.split_sum(values[order], codes[order], 5).tolist()
    assert split.tolist() == [math.fsum(values[codes == g]) for g in range(5)]
    services = pd.DataFrame({"body_id": pd.Series(np.array(list("ABCDE"))[codes], dtype=object),
                             "total": values, "ok": pd.array([True] * n, dtype="boolean")})
    shuffled = services.iloc[order].reset_index(drop=True)
    for formula in ("sum(services.total)", "mean(services.total, where=services.ok)"):
        node, problems, _ = compile_formula(parse(formula), "bodies", CATALOG)
        assert not problems
        evaluated = reference_evaluator.evaluate_rows(
            node, Frames({**TABLES, "services": services}), "bodies")
        lowered = queries.evaluate_rows(node, Frames({**TABLES, "services": shuffled}), "bodies")
        assert _same(lowered, evaluated), formula
    assert evaluated[:5].tolist() == [math.fsum(values[codes == g]) / (codes == g).sum()
                                      for g in range(5)]


def test_columns_that_sql_would_take_for_others_are_told_apart() -> None:
    """`N` and `n` are one column (and `T` and `t` one table) to DuckDB and Spark, and a
    column of the data may be named as one the query adds (the row numbers, a part, a
    value): each is still itself."""
    link = Link("up", "t", "T", ("n",), ("n",))
    catalog = Catalog(columns={"t": {"n": "number", "N": "number", "_row_": "number",
                                     "_part0_": "number", "value0": "number"},
                               "T": {"n": "number", "x": "number"}},
                      links={"t": {"up": link}})
    tables = {"t": pd.DataFrame({"n": [1.0, 2.0], "N": [10.0, 20.0], "_row_": [5.0, 6.0],
                                 "_part0_": [100.0, 200.0], "value0": [0.5, 0.25]}),
              "T": pd.DataFrame({"n": [2.0, 1.0], "x": [0.0625, 0.125]})}
    formula = "n + N * 2 + _row_ * 1000 + (_part0_ + value0) * n + up.x"
    node, problems, _ = compile_formula(parse(formula), "t", catalog)
    assert not problems
    lowered = queries.evaluate_rows(node, Frames(tables), "t")
    reference = reference_evaluator.evaluate_rows(node, Frames(tables), "t")
    assert lowered.tolist() == reference.tolist() == [5121.625, 6442.5625]


def test_an_engine_chosen_for_a_block_is_the_threads_own(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`--backend spark` chooses Spark for its own run: a run on another thread meanwhile
    keeps the embedded DuckDB."""
    node, _, _ = compile_formula(parse("sum(services.total)"), "bodies", CATALOG)
    runner = queries._runner
    asked: list[str] = []

    def recorded(engine: str) -> queries.Runner:  # every engine asked for, run by DuckDB
        asked.append(engine)
        return runner("duckdb")

    monkeypatch.setattr(queries, "_runner", recorded)

    def evaluated() -> str:
        queries.evaluate_rows(node, Frames(TABLES), "bodies")
        return asked.pop()

    with queries.evaluated_by("spark"):
        assert evaluated() == "spark"
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(evaluated).result() == "duckdb"
    assert evaluated() == "duckdb"


def test_nested_arithmetic_is_written_once_per_operation() -> None:
    """Each arithmetic result is read three times (infinity and NaN made missing) and for
    its flags: written in place, the SQL of a sum of n terms would grow as 3^n (ten terms
    took two minutes to bind). Made a column each, one projection each, it grows as n^2 at
    most."""
    def size(terms: int) -> int:
        node, _, _ = compile_formula(parse(" + ".join(["x"] * terms)), "bodies", CATALOG)
        inputs = queries._inputs(Frames(TABLES), [node], "bodies")
        schemas = tuple((name, queries.schema(frame)) for name, frame in inputs.items())
        return len(lowering.compile_plans((node,), "bodies", schemas).values)

    assert size(12) < 10 * size(6)  # no more than quadratic (each layer names the columns)


def test_a_compiled_query_is_kept_on_disk_and_compiled_again_when_unreadable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run reads the queries the last run of the same plans compiled, from a folder it may
    not write to: no Ibis, the same values. A file it cannot read is compiled again and
    rewritten; another plan has its own."""
    monkeypatch.setenv("SAPA_CACHE", str(tmp_path))
    node, _, _ = compile_formula(parse("sum(services.total) / x"), "bodies", CATALOG)
    first = queries.evaluate_rows(node, Frames(TABLES), "bodies")
    kept = sorted((tmp_path / "queries").glob("*/*.json"))
    assert len(kept) == 1

    def not_compiled(*args: object) -> None:
        raise AssertionError("compiled again")

    def read_only(*args: object) -> None:
        raise PermissionError("a folder others keep")

    queries.compiled.cache_clear()
    with monkeypatch.context() as patch:
        patch.setattr(lowering, "compile_plans", not_compiled)
        patch.setattr(os, "utime", read_only)  # a read is marked where it can be, no more
        again = queries.evaluate_rows(node, Frames(TABLES), "bodies")
    assert again.equals(first)

    kept[0].write_text("{", encoding="utf-8")
    queries.compiled.cache_clear()
    assert queries.evaluate_rows(node, Frames(TABLES), "bodies").equals(first)
    assert json.loads(kept[0].read_text(encoding="utf-8"))["values"].startswith("SELECT")

    other, _, _ = compile_formula(parse("sum(services.total) * x"), "bodies", CATALOG)
    queries.evaluate_rows(other, Frames(TABLES), "bodies")
    assert len(list((tmp_path / "queries").glob("*/*.json"))) == 2


def test_queries_are_kept_in_the_users_cache_folder_unless_the_setting_is_empty(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAPA_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user"))
    node, _, _ = compile_formula(parse("x - y"), "bodies", CATALOG)
    queries.compiled.cache_clear()
    queries.evaluate_rows(node, Frames(TABLES), "bodies")
    assert len(list((tmp_path / "user" / "sapa" / "queries").glob("*/*.json"))) == 1

    monkeypatch.setenv("SAPA_CACHE", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "other"))
    monkeypatch.setenv("HOME", str(tmp_path / "other"))
    queries.compiled.cache_clear()
    queries.evaluate_rows(node, Frames(TABLES), "bodies")
    assert queries._cache_folder() is None
    assert not (tmp_path / "other").exists()


def test_kept_queries_unused_for_long_are_removed_and_an_unwritable_folder_is_no_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAPA_CACHE", str(tmp_path))
    old, used = (tmp_path / "queries" / "00" / f"{name}.json" for name in ("old", "used"))
    old.parent.mkdir(parents=True)
    for path in (old, used):
        path.write_text("{}", encoding="utf-8")
    long_ago = time.time() - (queries.UNUSED_DAYS + 1) * 86400
    os.utime(old, (long_ago, long_ago))
    node, _, _ = compile_formula(parse("x + y"), "bodies", CATALOG)
    queries.compiled.cache_clear()
    queries._prune.cache_clear()
    expected = queries.evaluate_rows(node, Frames(TABLES), "bodies")
    assert not old.exists() and used.exists()

    blocked = tmp_path / "a file"
    blocked.write_text("", encoding="utf-8")
    monkeypatch.setenv("SAPA_CACHE", str(blocked))  # its queries folder cannot be made
    queries.compiled.cache_clear()
    assert queries.evaluate_rows(node, Frames(TABLES), "bodies").equals(expected)
