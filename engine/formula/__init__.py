"""The formula language: text in, a typed plan out, and the plan run over whole columns.

syntax (the tree) <- parser (lark, grammar/formula.lark; readable syntax errors) -> compiler
(names bound against a `Catalog`, types checked) -> plan (the IR) -> lowering (the plan as SQL,
through Ibis) -> queries (run by DuckDB, or Spark, over `Frames`, the tables and their links).
Problems are `Diagnostic`s placed inside the formula text; the spec checker moves them to the
file."""

import importlib
from typing import TYPE_CHECKING, Any

from sapa.engine.formula.compiler import compile_formula
from sapa.engine.formula.parser import FormulaSyntaxError, parse
from sapa.engine.formula.plan import (
    Band,
    Catalog,
    Column,
    Link,
    Node,
    Type,
    aggregates_over,
    columns_read,
    tables_read,
)
from sapa.engine.formula.syntax import names, shape

__all__ = [
    "REPLICATE", "Band", "Catalog", "Column", "FormulaSyntaxError", "Frames", "Link", "Node",
    "Type", "aggregates_over", "columns_read", "compile_formula", "evaluate_rows",
    "evaluate_together", "evaluated_by", "names", "parse", "round_half_up", "shape",
    "spark_session", "tables_read",
]

#: What runs a plan, imported when first named: checking a spec needs no pandas.
_EVALUATION = {"evaluate_rows": "queries",
               "evaluate_together": "queries", "evaluated_by": "queries",
               "round_half_up": "numbers",
               "REPLICATE": "frames", "Frames": "frames", "spark_session": "spark"}

if TYPE_CHECKING:
    from sapa.engine.formula.frames import REPLICATE, Frames
    from sapa.engine.formula.numbers import round_half_up
    from sapa.engine.formula.queries import evaluate_rows, evaluate_together, evaluated_by
    from sapa.engine.formula.spark import spark_session


def __getattr__(name: str) -> Any:
    if name in _EVALUATION:
        module = importlib.import_module(f"sapa.engine.formula.{_EVALUATION[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
