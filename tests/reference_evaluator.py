"""The reference the engine's SQL is checked against: a compiled formula run over whole
columns with pandas/NumPy, written from the formula language's rules independently of the
lowering to SQL (tests compare the two to the last bit, on DuckDB and on Spark).

Values are pandas Series aligned to the rows of one table: float64 for numbers (NaN = missing),
the nullable "boolean" dtype for conditions (three-valued: true, false, missing) and object for
strings (None = missing). Constants stay Python scalars until an operation broadcasts them.
Every aggregate is a reduction of sums, counts, minima or maxima per group.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from sapa.engine.formula.frames import REPLICATE, Frames
from sapa.engine.formula.numbers import SPLIT, round_half_up
from sapa.engine.formula.plan import Banding, Column, Const, Lookup, Node, Op, Reduce, Up, Window

Value = Any  # pd.Series or a Python scalar


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


def _plain(value: Value, fill: object, absent: np.ndarray | bool | None = None) -> Any:
    """Values as a NumPy array (or scalar) with missing entries replaced by `fill`. `absent`:
    where they are missing, when already known."""
    if isinstance(value, pd.Series):
        if pd.api.types.is_bool_dtype(value.dtype):
            return value.fillna(False).to_numpy(dtype=bool)
        if pd.api.types.is_numeric_dtype(value.dtype):
            return value.to_numpy(dtype=float)
        values = value.to_numpy(dtype=object)
        absent = missing(value) if absent is None else absent
        return np.where(absent, fill, values) if np.any(absent) else values
    return fill if missing(value) else value


def _boolean(values: np.ndarray, mask: np.ndarray) -> pd.Series:
    out = pd.array(values.astype(bool), dtype="boolean")
    out[mask] = pd.NA
    return pd.Series(out)


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "^": operator.pow,
}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}


def _arithmetic(op: str, a: pd.Series, b: pd.Series) -> pd.Series:
    """Missing in, missing out (also for 1 ^ missing); division by zero gives missing."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        result = _ARITHMETIC[op](a.astype("float64"), b.astype("float64"))
    result = result.replace([np.inf, -np.inf], np.nan)
    return result.mask(a.isna().to_numpy() | b.isna().to_numpy())


def _to_float(value: Value) -> Value:
    if isinstance(value, pd.Series):
        return value.astype("float64")
    return np.nan if missing(value) else float(value)


#: What a missing value is compared as, masked afterwards (a value of each kind).
_FILL: dict[str, object] = {"number": np.nan, "string": "", "bool": False}


def _compare(op: str, a: Value, b: Value, kind: str, n: int) -> pd.Series:
    """A comparison over `n` rows; a constant side is compared as one value, never copied into
    a column."""
    fill = _FILL[kind]
    absent_a, absent_b = missing(a), missing(b)
    with np.errstate(invalid="ignore"):
        values = _COMPARE[op](_plain(a, fill, absent_a), _plain(b, fill, absent_b))
    return _boolean(np.broadcast_to(np.asarray(values), (n,)),
                    np.broadcast_to(np.asarray(absent_a | absent_b), (n,)))


def _op(node: Op, frames: Frames) -> Value:
    """Every operation runs on Series; an all-constant one on one row, unwrapped at the end.
    Arithmetic that gives no number from two numbers is flagged on the frames (`if` keeps only
    the flags of the branch each row takes)."""
    n = frames.length(node.table) if node.table else 1
    if node.op in _CODED and (coded := _coded(node, frames)) is not None:
        return coded
    if node.op == "if":
        args = _if_arguments(node, frames, n)
    elif node.op in _COMPARISONS:  # a constant side stays one value
        args = [evaluate(a, frames) for a in node.args]
    else:
        args = [broadcast(evaluate(a, frames), n, a.type) for a in node.args]
    result = _COMPARISONS[node.op](node, args, n) if node.op in _COMPARISONS \
        else _OPERATIONS[node.op](node, args)
    if node.op in _ARITHMETIC:
        given = args[0].notna().to_numpy() & args[1].notna().to_numpy()
        frames.flag_undefined(node.table, given & result.isna().to_numpy())
    if node.table is not None:
        return result
    value = result.iloc[0]
    return None if pd.isna(value) else value


_CODED = ("==", "!=", "in", "not in", "is_missing")


def _coded(node: Op, frames: Frames) -> pd.Series | None:
    """A text column compared with given values (or found missing) by its distinct values,
    then spread to its rows by their codes (Frames.codes): channels, regions and services
    repeat a few values over many rows. None where the operation is not of that form."""
    column, *given = node.args
    if node.op in ("==", "!=") and isinstance(given[0], Column):
        column, given = given[0], [column]
    if not (isinstance(column, Column) and column.type == "string"
            and all(isinstance(g, Const) and g.value is not None for g in given)):
        return None
    codes, values = frames.codes(column.table, column.name)
    absent = codes < 0
    if node.op == "is_missing":
        return pd.Series(absent, dtype="boolean")
    wanted = {g.value for g in given}
    hit = np.fromiter((v in wanted for v in values), dtype=bool, count=len(values))
    if node.op in ("!=", "not in"):
        hit = ~hit
    return _boolean(np.append(hit, False)[codes], absent)  # code -1 takes the last


def _if_arguments(node: Op, frames: Frames, n: int) -> list[pd.Series]:
    """The condition and both branches; a branch's flags kept only on the rows that take it."""
    condition = broadcast(evaluate(node.args[0], frames), n, "bool")
    earlier = frames.take_undefined()
    args = [condition]
    for branch, taken in zip(node.args[1:], (condition == True, condition == False)):  # noqa: E712
        args.append(broadcast(evaluate(branch, frames), n, branch.type))
        for table, rows in frames.take_undefined().items():
            if table == node.table:
                rows = rows & taken.fillna(False).to_numpy(dtype=bool)
            earlier[table] = rows if table not in earlier else earlier[table] | rows
    for table, rows in earlier.items():
        frames.flag_undefined(table, rows)
    return args


def _membership(node: Op, args: list[Value], n: int) -> pd.Series:
    """`x in (a, b, ...)`: true where x equals an option, missing where x is (or where no
    option matches and one is missing). Options that are all given values are looked up in
    one pass."""
    value, options = args[0], args[1:]
    kind = node.args[0].type
    if isinstance(value, pd.Series) and not any(isinstance(o, pd.Series) or missing(o)
                                                for o in options):
        absent = missing(value)
        plain = _plain(value, _FILL[kind], absent)
        result = _boolean(pd.Series(plain, copy=False).isin(list(options)).to_numpy() & ~absent,
                          absent)
    else:
        result = _compare("==", value, options[0], kind, n)
        for option in options[1:]:
            result = result | _compare("==", value, option, kind, n)
    return ~result if node.op == "not in" else result


def _if(_node: Op, args: list[pd.Series]) -> pd.Series:
    condition, yes, no = args
    take_yes = condition.fillna(False).to_numpy(dtype=bool)
    return no.where(~take_yes, yes).mask(condition.isna().to_numpy())


def _coalesce(_node: Op, args: list[pd.Series]) -> pd.Series:
    result = args[0]
    for other in args[1:]:
        result = result.where(result.notna(), other)
    return result


def _clamp(_node: Op, args: list[pd.Series]) -> pd.Series:
    x, low, high = (a.astype("float64") for a in args)
    clipped = np.minimum(np.maximum(x, low), high)
    return clipped.mask(x.isna() | low.isna() | high.isna())


def _rowwise(node: Op, args: list[pd.Series]) -> pd.Series:
    """sum/mean/min/max of several values in each row, skipping missing ones."""
    frame = pd.concat([a.astype("float64") for a in args], axis=1)
    if node.op == "sum":
        return frame.sum(axis=1, min_count=1)
    return getattr(frame, node.op)(axis=1, skipna=True)


_OPERATIONS: dict[str, Callable[[Op, list[pd.Series]], pd.Series]] = {
    **{op: (lambda node, a: _arithmetic(node.op, a[0], a[1])) for op in _ARITHMETIC},
    "neg": lambda node, a: -a[0].astype("float64"),
    "and": lambda node, a: a[0].astype("boolean") & a[1].astype("boolean"),
    "or": lambda node, a: a[0].astype("boolean") | a[1].astype("boolean"),
    "not": lambda node, a: ~a[0].astype("boolean"),
    "if": _if,
    "coalesce": _coalesce,
    "is_missing": lambda node, a: pd.Series(a[0].isna().to_numpy(), dtype="boolean"),
    "abs": lambda node, a: a[0].astype("float64").abs(),
    "round": lambda node, a: round_half_up(a[0], float(node.args[1].value)),  # a constant
    "clamp": _clamp,
    **{op: _rowwise for op in ("sum", "mean", "min", "max")},
}


_COMPARISONS: dict[str, Callable[[Op, list[Value], int], pd.Series]] = {
    **{op: (lambda node, a, n: _compare(node.op, a[0], a[1], node.args[0].type, n))
       for op in _COMPARE},
    "in": _membership,
    "not in": _membership,
}


# ---------------------------------------------------------------------------------- grouping
def _groups(node: Reduce | Window, frames: Frames) -> tuple[np.ndarray, int]:
    """Group number of each row of the values being reduced, and the number of groups."""
    if isinstance(node, Reduce) and node.link is not None:
        return frames.positions(node.link), frames.length(node.link.parent)
    n = frames.length(node.table)  # type: ignore[arg-type]
    replicate = frames.tables[node.table].get(REPLICATE)  # type: ignore[index]
    if node.by is None and replicate is None:
        return np.zeros(n, dtype=np.int64), 1 if n else 0
    keys = [] if node.by is None else [evaluate_rows(node.by, frames, node.table)]  # type: ignore[arg-type]
    if replicate is not None:  # a bootstrap: groups stay within their replicate
        keys.append(replicate.reset_index(drop=True))
    if len(keys) == 1:
        codes, uniques = pd.factorize(keys[0], use_na_sentinel=False)
        return codes.astype(np.int64), len(uniques)
    codes = pd.MultiIndex.from_arrays(keys).factorize()[0]
    return codes.astype(np.int64), int(codes.max()) + 1 if len(codes) else 0


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
        totals = split_sum(numbers[present], codes[present], n_groups)
        if function == "sum":
            return totals
        n = counts(present)
        return np.where(n > 0, totals / np.where(n > 0, n, 1), np.nan)
    series = pd.Series(numbers[present]).groupby(codes[present])
    return getattr(series, function)().reindex(range(n_groups)).to_numpy(dtype=float)


def split_sum(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Each group's sum, the same whatever the order of its rows (and so on every engine and
    thread count, lowering.py summing alike). Floating-point addition is not associative: a
    plain sum depends on the order the rows arrive in, which SQL engines do not keep. Each
    value is split into parts on a grid set by the group's largest size (2^e above it): whole
    multiples of 2^(e-SPLIT), then of 2^(e-2*SPLIT), then the rest. The first two sums are
    exact; only the rest, below 2^-42 of the largest value, is summed inexactly, so the order
    can change the result only when the exact sum lies that close to a rounding boundary."""
    size = np.zeros(n_groups)
    np.maximum.at(size, codes, np.abs(values))
    with np.errstate(divide="ignore"):
        top = np.maximum(np.floor(np.log2(size)) + 1, -1000.0)  # 0 (log2: -inf): any grid
    coarse, fine = np.exp2(top - SPLIT)[codes], np.exp2(top - 2 * SPLIT)[codes]
    high = np.floor(values / coarse) * coarse
    rest = values - high  # exact: at most SPLIT bits of `values` are left
    middle = np.floor(rest / fine) * fine
    return ((np.bincount(codes, high, n_groups) + np.bincount(codes, middle, n_groups))
            + np.bincount(codes, rest - middle, n_groups))


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
