"""One conformance test per operator and per function of docs/formula-language.md.

The tiny world (conftest.world): bodies A, B, C, D with x = 1, missing, 30, 0 and
flag = true, false, missing, true; services (A: 10, 20; B: missing; Z: 5 - an orphan row).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from sapa.engine.formula import Frames, compile_formula, evaluate_rows, parse
from sapa.engine.spec import load_spec
from sapa.engine.testing import run_tests
from tests.conftest import problems_of, run, world


# ----------------------------------------------------------------------------- literals, names
def test_number_string_boolean_literals() -> None:
    assert run("2.5 + 0 * x") == [2.5, None, 2.5, 2.5]
    assert run('kind == "x"') == [True, True, False, None]
    assert run("true and flag") == [True, False, None, True]


def test_name_reads_a_column_and_a_parameter() -> None:
    assert run("x") == [1.0, None, 30.0, 0.0]
    assert run("k + x") == [16.0, None, 45.0, 15.0]


def test_dotted_name_follows_a_link_to_the_parent() -> None:
    assert run("body.x", "services") == [1.0, 1.0, None, None]


def test_parameter_group_entry_and_index() -> None:
    assert run("points.a + x") == [11.0, None, 40.0, 10.0]
    assert run('points[if(x > 5, "a", "b")]') == [5.0, None, 10.0, 5.0]


# ----------------------------------------------------------------------------------- arithmetic
@pytest.mark.parametrize(("formula", "expected"), [
    ("x + 1", [2.0, None, 31.0, 1.0]),
    ("x - 1", [0.0, None, 29.0, -1.0]),
    ("x * 2", [2.0, None, 60.0, 0.0]),
    ("x / 2", [0.5, None, 15.0, 0.0]),
    ("x ^ 2", [1.0, None, 900.0, 0.0]),
    ("-x", [-1.0, None, -30.0, -0.0]),
])
def test_arithmetic_propagates_missing(formula: str, expected: list[object]) -> None:
    assert run(formula) == expected


def test_division_by_zero_is_missing_not_infinite() -> None:
    assert run("1 / x") == [1.0, None, pytest.approx(1 / 30), None]
    assert problems_of("x / 0") == ["F308"]  # a constant zero divisor: an error at validate


def test_precedence_power_binds_tighter_than_unary_minus_and_product() -> None:
    assert run("2 + 3 * 2 ^ 2 + 0 * x") == [14.0, None, 14.0, 14.0]
    assert run("-2 ^ 2 + 0 * x") == [-4.0, None, -4.0, -4.0]  # as in mathematics: -(2^2)
    assert run("(-2) ^ 2 + 0 * x") == [4.0, None, 4.0, 4.0]


# ---------------------------------------------------------------------------------- comparison
@pytest.mark.parametrize(("formula", "expected"), [
    ("x == 1", [True, None, False, False]),
    ("x != 1", [False, None, True, True]),
    ("x < 1", [False, None, False, True]),
    ("x <= 1", [True, None, False, True]),
    ("x > 1", [False, None, True, False]),
    ("x >= 1", [True, None, True, False]),
])
def test_comparison_with_missing_is_missing(formula: str, expected: list[object]) -> None:
    assert run(formula) == expected


def test_membership_in_and_not_in() -> None:
    assert run('kind in ("x", "z")') == [True, True, False, None]
    assert run('kind not in ("x", "z")') == [False, False, True, None]


@pytest.mark.parametrize(("formula", "expected"), [
    ('kind == "x"', [True, True, False, None]),
    ('"x" == kind', [True, True, False, None]),
    ('kind != "x"', [False, False, True, None]),
    ('kind in ("y", "none of them")', [False, False, True, None]),
    ('kind not in ("y", "none of them")', [True, True, False, None]),
    ("is_missing(kind)", [False, False, False, True]),
])
def test_text_compared_by_its_distinct_values_as_row_by_row(formula: str,
                                                            expected: list[object]) -> None:
    """A text column compared with given values is compared once per distinct value; the
    same comparison with a computed side (coalesce) is made row by row: both agree."""
    assert run(formula) == expected
    computed = formula.replace('"x"', 'coalesce("x", kind)').replace('"y"', 'coalesce("y", kind)')
    if computed != formula:
        assert run(computed) == expected


# ------------------------------------------------------------------------------------- logic
def test_and_or_not_use_three_valued_logic() -> None:
    assert run("flag and x > 0") == [True, False, None, False]  # false and missing = false
    assert run("flag or x > 0") == [True, None, True, True]
    assert run("not flag") == [False, True, None, False]


# ---------------------------------------------------------------------------------- functions
def test_if_chooses_per_row_and_missing_condition_gives_missing() -> None:
    assert run("if(flag, 1, 2)") == [1.0, 2.0, None, 1.0]


def test_coalesce_takes_the_first_present_value() -> None:
    assert run("coalesce(x, -1)") == [1.0, -1.0, 30.0, 0.0]


def test_is_missing_is_never_missing() -> None:
    assert run("is_missing(x)") == [False, True, False, False]


def test_abs() -> None:
    assert run("abs(x - 2)") == [1.0, None, 28.0, 2.0]


def test_round_is_half_up_on_the_decimal_value() -> None:
    assert run("round(4.745, 2) + 0 * x")[0] == 4.75
    assert run("round(2.5) + 0 * x")[0] == 3.0
    assert run("round(-2.5) + 0 * x")[0] == -3.0
    assert run("round(82.75, 1) + 0 * x")[0] == 82.8
    # from 2^52 on a number is whole: left as it is, never scaled past float range
    assert run("round(x * 1e300, 3)") == [1e300, None, 3e301, 0.0]


def test_clamp() -> None:
    assert run("clamp(x, 0.5, 10)") == [1.0, None, 10.0, 0.5]


def test_variadic_min_max_mean_sum_skip_missing() -> None:
    assert run("min(x, 5)") == [1.0, 5.0, 5.0, 0.0]
    assert run("max(0, x - 10)") == [0.0, 0.0, 20.0, 0.0]
    assert run("mean(x, 3)") == [2.0, 3.0, 16.5, 1.5]
    assert run("sum(x, 1)") == [2.0, 1.0, 31.0, 1.0]


def test_aggregates_over_a_child_table() -> None:
    assert run("sum(services.total)") == [30.0, 0.0, 0.0, 0.0]  # sum of nothing is 0
    assert run("mean(services.total)") == [15.0, None, None, None]
    assert run("min(services.total)") == [10.0, None, None, None]
    assert run("max(services.total)") == [20.0, None, None, None]
    assert run("count(services.total)") == [2.0, 0.0, 0.0, 0.0]  # non-missing values
    assert run("count(services.ok)") == [1.0, 1.0, 0.0, 0.0]  # true values
    assert run("share(services.ok)") == [0.5, 1.0, None, None]
    assert run("any(services.ok)") == [True, True, False, False]
    assert run("all(services.ok)") == [False, True, True, True]


def test_aggregate_where_filters_rows_and_reads_the_parent() -> None:
    assert run("sum(services.total, where=services.total > x * 15)") == [20.0, 0.0, 0.0, 0.0]


def test_aggregate_over_the_same_table_broadcasts_per_group() -> None:
    assert run("mean(x, by=kind)") == [1.0, 1.0, 30.0, 0.0]
    assert run("sum(x)") == [31.0] * 4
    assert run("count(flag)") == [2.0] * 4


def test_rank_with_ties_methods_and_groups() -> None:
    assert run("rank(x)") == [2.0, None, 1.0, 3.0]
    assert run("rank(x, descending=false)") == [2.0, None, 3.0, 1.0]
    assert run("rank(x, by=kind)") == [1.0, None, 1.0, 1.0]
    assert run("rank(round(x / 100), method=\"dense\")") == [1.0, None, 1.0, 1.0]
    assert run("rank(x, where=x > 0)") == [2.0, None, 1.0, None]


def test_minmax_scales_within_groups_and_handles_a_degenerate_group() -> None:
    assert run("minmax(x)") == [pytest.approx(1 / 30), None, 1.0, 0.0]
    assert run("minmax(x, by=kind)") == [None, None, None, None]
    assert run("minmax(x, by=kind, degenerate=1)") == [1.0, None, 1.0, 1.0]


def test_band_looks_up_the_label() -> None:
    assert run("band(x * 3, grade)") == ["low", None, "high", "low"]
    assert run("band(x + 49, grade)") == ["high", None, "high", "low"]
    assert run("band(x * 100, grade)") == ["high", None, None, "low"]  # above every band


# ------------------------------------------------------------------------------- type errors
@pytest.mark.parametrize(("formula", "code"), [
    ("kind + 1", "F304"),
    ("if(x, 1, 2)", "F304"),
    ("x and flag", "F304"),
    ('kind < "b"', "F304"),
    ("if(flag, 1, \"a\")", "F304"),
    ("undefined_name", "F301"),
    ("body.x", "F301"),
    ("services", "F301"),
    ("points.zzz", "F301"),
    ("nosuch(x)", "F302"),
    ("round(x, 1, 2)", "F303"),
    ("mean(x, when=flag)", "F303"),
    ("services.total", "F306"),
    ("sum(services.total) + services.total", "F306"),
    ("rank(x, method=\"odd\")", "F304"),
    ("band(x, nothing)", "F301"),
])
def test_static_errors(formula: str, code: str) -> None:
    assert code in problems_of(formula)


def test_nan_comparisons_never_leak_as_false() -> None:
    values = run("x > -1")
    assert values[1] is None and not any(isinstance(v, float) and math.isnan(v) for v in values)


def test_documented_correction_coefficient_example(tmp_path: Path) -> None:
    """The example of docs/formula-language.md, on loads 0.1, 0.5, 0.9, 0.9, 1.0 (mean 0.68)."""
    spec_text = """
methodology: {id: doc-example, title: doc example}
tables:
  bodies:
    key: id
    columns: {id: {type: string}, body_type: {type: string}, load: {type: number}}
    variables:
      qualifies: "load >= mean(load, by=body_type)"
      step: "rank(load, by=body_type, where=qualifies, method=\\"dense\\", descending=false)"
      steps: "max(step, by=body_type)"
      coefficient: "if(qualifies, if(steps == 1, 1.10, 1.01 + 0.09 * (step - 1) / (steps - 1)), 1)"
tests:
  - name: evenly spread from the least to the most loaded
    given:
      bodies:
        - {id: a, body_type: c, load: 0.1}
        - {id: b, body_type: c, load: 0.5}
        - {id: c, body_type: c, load: 0.9}
        - {id: d, body_type: c, load: 1.0}
        - {id: e, body_type: c, load: 0.9}
        - {id: f, body_type: m, load: 0.3}
    expect:
      tables:
        bodies:
          - {id: a, qualifies: false, coefficient: 1}
          - {id: b, qualifies: false, coefficient: 1}
          - {id: c, qualifies: true, step: 1, coefficient: 1.01}
          - {id: e, step: 1, coefficient: 1.01}
          - {id: d, step: 2, steps: 2, coefficient: 1.10}
          - {id: f, qualifies: true, coefficient: 1.10}
    tolerance: 1.0e-12
"""
    path = tmp_path / "doc.yaml"
    path.write_text(spec_text, encoding="utf-8")
    spec, diagnostics = load_spec(path)
    assert spec is not None, [d.message for d in diagnostics]
    [result] = run_tests(spec)
    assert result.passed, result.failures


def test_every_function_runs_on_an_empty_table() -> None:
    """Found by the 2013 overlay test: a table with no rows must evaluate, not crash."""
    catalog, frames = world()
    empty = Frames({name: frame.iloc[0:0] for name, frame in frames.tables.items()})
    for formula in ["round(x, 2)", "clamp(x, 0, 1)", "if(flag, x, 0)", "coalesce(x, 1)",
                    "mean(x, by=kind)", "rank(x)", "minmax(x, degenerate=1)", "band(x, grade)",
                    "sum(services.total)", 'kind in ("x")', "max(x, 1)", "points[kind]"]:
        node, problems, _ = compile_formula(parse(formula), "bodies", catalog)
        assert not problems, (formula, problems)
        assert len(evaluate_rows(node, empty, "bodies")) == 0, formula
        assert isinstance(evaluate_rows(node, empty, "bodies"), pd.Series)
