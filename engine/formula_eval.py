"""Running a compiled formula over whole columns (pandas/NumPy), never row by row.

Values are pandas Series aligned to the rows of one table: float64 for numbers (NaN = missing),
the nullable "boolean" dtype for conditions (three-valued: true, false, missing) and object for
strings (None = missing). Constants stay Python scalars until an operation broadcasts them.
Every aggregate is a reduction of sums, counts, minima or maxima per group, so another backend
could run the same plan.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from engine.formula_compile import (
    Banding,
    Column,
    Const,
    Link,
    Lookup,
    Node,
    Op,
    Reduce,
    Up,
    Window,
)

Value = Any  # pd.Series or a Python scalar


class Frames:
    """The tables a plan runs over, and the row positions behind each link (computed once)."""

    def __init__(self, tables: Mapping[str, pd.DataFrame]) -> None:
        self.tables = dict(tables)
        self._positions: dict[Link, np.ndarray] = {}

    def length(self, table: str) -> int:
        return len(self.tables[table])

    def positions(self, link: Link) -> np.ndarray:
        """For each row of link.child, the row number of its parent (-1 when there is none)."""
        if link not in self._positions:
            parent, child = self.tables[link.parent], self.tables[link.child]
            if len(link.key) == 1:
                index = pd.Index(parent[link.key[0]])
                wanted = pd.Index(child[link.on[0]])
            else:
                index = pd.MultiIndex.from_frame(parent[list(link.key)])
                wanted = pd.MultiIndex.from_frame(child[list(link.on)])
            first = ~index.duplicated()  # duplicated keys are a data error reported elsewhere
            found = index[first].get_indexer(wanted)
            rows = np.flatnonzero(first)
            self._positions[link] = np.where(found >= 0, rows[np.maximum(found, 0)], -1)
        return self._positions[link]


def evaluate(node: Node, frames: Frames) -> Value:
    """Evaluate a plan; a constant plan gives a scalar, any other a Series."""
    return _EVALUATORS[type(node)](node, frames)


def evaluate_rows(node: Node, frames: Frames, table: str) -> pd.Series:
    """Evaluate and broadcast to one value per row of `table`."""
    return broadcast(evaluate(node, frames), frames.length(table), node.type)


def broadcast(value: Value, n: int, kind: str) -> pd.Series:
    if isinstance(value, pd.Series):
        return value.reset_index(drop=True)
    dtype = {"number": "float64", "bool": "boolean", "string": object}[kind]
    if value is None:
        value = {"number": np.nan, "bool": pd.NA, "string": None}[kind]
    return pd.Series([value] * n, dtype=dtype)


# -------------------------------------------------------------------------------- primitives
def missing(value: Value) -> np.ndarray | bool:
    if isinstance(value, pd.Series):
        return value.isna().to_numpy()
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _plain(value: Value, fill: object) -> Any:
    """Values as a NumPy array (or scalar) with missing entries replaced by `fill`."""
    if isinstance(value, pd.Series):
        if pd.api.types.is_bool_dtype(value.dtype):
            return value.fillna(False).to_numpy(dtype=bool)
        if pd.api.types.is_numeric_dtype(value.dtype):
            return value.to_numpy(dtype=float)
        return value.astype(object).where(value.notna(), fill).to_numpy()
    return fill if missing(value) else value


def _length(*values: Value) -> int | None:
    return next((len(v) for v in values if isinstance(v, pd.Series)), None)


def _boolean(values: Any, mask: Any, n: int | None) -> Value:
    if n is None:
        return pd.NA if mask else bool(values)
    out = pd.array(np.broadcast_to(values, (n,)).astype(bool), dtype="boolean")
    out[np.broadcast_to(mask, (n,))] = pd.NA
    return pd.Series(out)


def _as_boolean(value: Value) -> Value:
    if isinstance(value, pd.Series):
        return value.astype("boolean")
    return pd.NA if missing(value) else bool(value)


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "^": operator.pow,
}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}


def _arithmetic(op: str, a: Value, b: Value) -> Value:
    """Missing in, missing out (also for 1 ^ missing); division by zero gives missing."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        result = _ARITHMETIC[op](_to_float(a), _to_float(b))
    if isinstance(result, pd.Series):
        result = result.replace([np.inf, -np.inf], np.nan)
        return result.mask(np.logical_or(missing(a), missing(b)))
    if isinstance(result, complex) or missing(a) or missing(b):
        return np.nan
    return np.nan if np.isinf(result) else float(result)


def _to_float(value: Value) -> Value:
    if isinstance(value, pd.Series):
        return value.astype("float64")
    return np.nan if missing(value) else float(value)


def _safe_scalar_arithmetic(op: str, a: Value, b: Value) -> Value:
    try:
        return _arithmetic(op, a, b)
    except ZeroDivisionError:
        return np.nan


def _compare(op: str, a: Value, b: Value, kind: str) -> Value:
    fill = {"number": np.nan, "string": "", "bool": False}[kind]
    mask = np.logical_or(missing(a), missing(b))
    with np.errstate(invalid="ignore"):
        values = _COMPARE[op](_plain(a, fill), _plain(b, fill))
    return _boolean(values, mask, _length(a, b))


def round_half_up(x: Value, digits: float) -> Value:
    """Half away from zero on the decimal value as written (4.745 -> 4.75), not on its binary
    approximation and not to even, which is what Python's and pandas' round do."""
    scale = 10.0 ** int(digits)
    scaled = np.round(_to_float(x) * scale, 9)
    return np.sign(scaled) * np.floor(np.abs(scaled) + 0.5) / scale


def _op(node: Op, frames: Frames) -> Value:
    args = [evaluate(a, frames) for a in node.args]
    op = node.op
    if op in _ARITHMETIC:
        return _safe_scalar_arithmetic(op, *args)
    if op == "neg":
        return -_to_float(args[0])
    if op in _COMPARE:
        return _compare(op, args[0], args[1], node.args[0].type)
    if op in ("and", "or"):
        a, b = _as_boolean(args[0]), _as_boolean(args[1])
        if not isinstance(a, pd.Series) and not isinstance(b, pd.Series):
            a = pd.array([a], dtype="boolean")
            b = pd.array([b], dtype="boolean")
            return (a & b if op == "and" else a | b)[0]
        return a & b if op == "and" else a | b
    if op == "not":
        value = _as_boolean(args[0])
        return pd.NA if value is pd.NA else (~value if isinstance(value, pd.Series) else not value)
    if op in ("in", "not in"):
        return _membership(node, args)
    if op == "if":
        return _if(node, args, frames)
    if op == "coalesce":
        n = frames.length(node.table) if node.table else None
        result = args[0] if n is None else broadcast(args[0], n, node.type)
        for other in args[1:]:
            if n is None:
                result = other if missing(result) else result
            else:
                result = result.where(~result.isna(), broadcast(other, n, node.type))
        return result
    if op == "is_missing":
        value = missing(args[0])
        return pd.Series(value, dtype="boolean") if isinstance(value, np.ndarray) else bool(value)
    if op == "abs":
        return np.abs(_to_float(args[0]))
    if op == "round":
        return round_half_up(args[0], args[1])
    if op == "clamp":
        x, low, high = (_to_float(a) for a in args)
        return _arithmetic_clamp(x, low, high)
    return _rowwise(op, args, frames.length(node.table) if node.table else 1)


def _arithmetic_clamp(x: Value, low: Value, high: Value) -> Value:
    n = _length(x, low, high)
    if n is None:
        return np.nan if any(map(missing, (x, low, high))) else min(max(x, low), high)
    frame = pd.DataFrame({"x": broadcast(x, n, "number"), "lo": broadcast(low, n, "number"),
                          "hi": broadcast(high, n, "number")})
    clipped = np.minimum(np.maximum(frame["x"], frame["lo"]), frame["hi"])
    return clipped.where(~frame.isna().any(axis=1))


def _rowwise(op: str, args: list[Value], n: int) -> Value:
    """sum/mean/min/max of several values in each row, skipping missing ones."""
    frame = pd.concat([broadcast(_to_float(a), n, "number") for a in args], axis=1)
    if op == "sum":
        result = frame.sum(axis=1, min_count=1)
    else:
        result = getattr(frame, op)(axis=1, skipna=True)
    return result if _length(*args) is not None else result.iloc[0]


def _membership(node: Op, args: list[Value]) -> Value:
    value, options = args[0], args[1:]
    kind = node.args[0].type
    result = _compare("==", value, options[0], kind)
    for option in options[1:]:
        other = _compare("==", value, option, kind)
        result = _as_boolean(result) | _as_boolean(other) if isinstance(
            result, pd.Series) or isinstance(other, pd.Series) else (result or other)
    if node.op == "not in":
        result = ~result if isinstance(result, pd.Series) else (
            pd.NA if result is pd.NA else not result)
    return result


def _if(node: Op, args: list[Value], frames: Frames) -> Value:
    condition, yes, no = args
    if not isinstance(condition, pd.Series) and node.table is None:
        if missing(condition):
            return None
        return yes if condition else no
    n = frames.length(node.table)  # type: ignore[arg-type]
    condition = broadcast(condition, n, "bool")
    yes, no = broadcast(yes, n, node.type), broadcast(no, n, node.type)
    take_yes = condition.fillna(False).to_numpy(dtype=bool)
    result = no.where(~take_yes, yes)
    return result.mask(condition.isna().to_numpy())


# ---------------------------------------------------------------------------------- grouping
def _groups(node: Reduce | Window, frames: Frames) -> tuple[np.ndarray, int]:
    """Group number of each row of the values being reduced, and the number of groups."""
    if isinstance(node, Reduce) and node.link is not None:
        return frames.positions(node.link), frames.length(node.link.parent)
    n = frames.length(node.table)  # type: ignore[arg-type]
    if node.by is None:
        return np.zeros(n, dtype=np.int64), 1 if n else 0
    by = evaluate_rows(node.by, frames, node.table)  # type: ignore[arg-type]
    codes, uniques = pd.factorize(by, use_na_sentinel=False)
    return codes.astype(np.int64), len(uniques)


def _selected(node: Reduce | Window, frames: Frames, codes: np.ndarray) -> np.ndarray:
    keep = codes >= 0
    if node.where is not None:
        rows = node.arg.table
        where = evaluate_rows(node.where, frames, rows)  # type: ignore[arg-type]
        keep &= where.fillna(False).to_numpy(dtype=bool)
    return keep


def _reduce(node: Reduce, frames: Frames) -> Value:
    codes, n_groups = _groups(node, frames)
    values = evaluate_rows(node.arg, frames, node.arg.table)  # type: ignore[arg-type]
    keep = _selected(node, frames, codes)
    present = keep & ~values.isna().to_numpy()
    per_group = _per_group(node.function, values, codes, keep, present, n_groups)
    if node.link is not None:
        return pd.Series(per_group)
    return pd.Series(per_group[codes] if len(codes) else per_group[:0])


def _per_group(function: str, values: pd.Series, codes: np.ndarray, keep: np.ndarray,
               present: np.ndarray, n_groups: int) -> np.ndarray:
    def counts(mask: np.ndarray) -> np.ndarray:
        return np.bincount(codes[mask], minlength=n_groups).astype(float)

    if pd.api.types.is_bool_dtype(values.dtype):
        truth = values.fillna(False).to_numpy(dtype=bool)
        n_true, n_known = counts(present & truth), counts(present)
        if function == "count":
            return n_true
        if function == "share":
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(n_known > 0, n_true / np.where(n_known > 0, n_known, 1), np.nan)
        if function == "any":
            return pd.array(n_true > 0, dtype="boolean")
        return pd.array(n_true == n_known, dtype="boolean")  # all
    if function == "count":
        return counts(present)
    numbers = values.to_numpy(dtype=float)
    if function in ("sum", "mean"):
        totals = np.bincount(codes[present], weights=numbers[present], minlength=n_groups)
        if function == "sum":
            return totals
        n = counts(present)
        return np.where(n > 0, totals / np.where(n > 0, n, 1), np.nan)
    series = pd.Series(numbers[present]).groupby(codes[present])
    return getattr(series, function)().reindex(range(n_groups)).to_numpy(dtype=float)


def _window(node: Window, frames: Frames) -> Value:
    codes, n_groups = _groups(node, frames)
    values = evaluate_rows(node.arg, frames, node.table)  # type: ignore[arg-type]
    keep = _selected(node, frames, codes)
    masked = values.where(keep)
    options = dict(node.options)
    if node.function == "rank":
        return masked.groupby(codes).rank(method=options["method"],
                                          ascending=not options["descending"])
    low = masked.groupby(codes).transform("min")
    high = masked.groupby(codes).transform("max")
    spread = high - low
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = (masked - low) / spread.where(spread != 0)
    degenerate = options["degenerate"]
    fill = np.nan if degenerate is None else float(degenerate)
    return scaled.where(~((spread == 0) & masked.notna()), fill)


def _up(node: Up, frames: Frames) -> Value:
    inner = evaluate(node.inner, frames)
    if not isinstance(inner, pd.Series):
        return inner
    positions = frames.positions(node.link)
    return pd.Series(inner.array.take(positions, allow_fill=True))


def _lookup(node: Lookup, frames: Frames) -> Value:
    key = evaluate(node.key, frames)
    mapping = dict(node.mapping)
    if not isinstance(key, pd.Series):
        return mapping.get(key)
    mapped = key.map(mapping)
    return mapped.astype("float64") if node.type == "number" else mapped


def _banding(node: Banding, frames: Frames) -> Value:
    value = evaluate(node.value, frames)
    scalar = not isinstance(value, pd.Series)
    x = np.atleast_1d(_to_float(value)).astype(float)
    conditions, labels = [], []
    for band in node.bands:
        inside = np.ones(len(x), dtype=bool)
        if band.lower is not None:
            inside &= x >= band.lower
        if band.upper is not None:
            inside &= (x <= band.upper) if band.upper_closed else (x < band.upper)
        conditions.append(inside)
        labels.append(band.label)
    result = pd.Series(np.select(conditions, labels, default=None), dtype=object)
    result = result.where(~np.isnan(x), None)
    return result.iloc[0] if scalar else result


_EVALUATORS: dict[type, Callable[[Any, Frames], Value]] = {
    Const: lambda node, frames: node.value,
    Column: lambda node, frames: frames.tables[node.table][node.name].reset_index(drop=True),
    Up: _up,
    Op: _op,
    Reduce: _reduce,
    Window: _window,
    Lookup: _lookup,
    Banding: _banding,
}
