"""Ratings: filter the units, compute the published columns, rank with the spec's tie rule."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sapa.engine.diagnostics import Diagnostic
from sapa.engine.formula import Frames, Node, evaluate_rows, evaluate_together
from sapa.engine.rating.evaluation import undefined_values
from sapa.engine.spec import Rating, Spec


def compute_ratings(spec: Spec, frames: Frames
                    ) -> tuple[dict[str, pd.DataFrame], list[Diagnostic]]:
    """Every rating of the spec, in declared order (composed ratings after the ones they use),
    and the values their formulas left missing (D414)."""
    done, warnings = {}, []
    by_table: dict[str, list[Node]] = {}
    for rating in spec.ratings.values():
        if not rating.rows:
            by_table.setdefault(rating.table, []).extend(_plans(rating))  # type: ignore[arg-type]
    for table, plans in by_table.items():
        evaluate_together(plans, frames, table)
    for rid, rating in spec.ratings.items():
        if not rating.rows:
            done[rid], more = compute_rating(spec, rating, frames)
            warnings += more
    for rid, rating in spec.ratings.items():
        if rating.rows:
            done[rid] = _composed(rating, done)
    return {rid: done[rid] for rid in spec.ratings}, warnings


def _plans(rating: Rating) -> list[Node]:
    """The formulas a rating evaluates over its table's rows."""
    return [plan for plan in (rating.unit, rating.name, rating.where,
                              *(c.plan for c in rating.columns)) if plan is not None]


def _composed(rating: Rating, done: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = []
    for row in rating.rows:
        total = done[row.total_of].iloc[-1].drop(labels=["rank"], errors="ignore").to_dict()
        total.update(unit=row.total_of, name=row.label, reproducible=row.reproducible)
        rows.append(total)
    return _ranked(pd.DataFrame(rows), rating)


def compute_rating(spec: Spec, rating: Rating, frames: Frames
                   ) -> tuple[pd.DataFrame, list[Diagnostic]]:
    """One row per unit: rank, unit, name and the rating's columns, best first (full precision;
    rounding is for display only), and the values its columns left missing (D414)."""
    table = rating.table
    assert table is not None and rating.unit is not None
    out = pd.DataFrame({"unit": evaluate_rows(rating.unit, frames, table)})
    out["name"] = (evaluate_rows(rating.name, frames, table) if rating.name
                   else pd.Series([None] * len(out), dtype=object))
    keep = None
    if rating.where is not None:
        keep = evaluate_rows(rating.where, frames, table).fillna(False).to_numpy(dtype=bool)
    frames.take_undefined()
    warnings = []
    for column in rating.columns:
        out[column.name] = evaluate_rows(column.plan, frames, table)
        warnings += undefined_values(spec, frames, table, out[column.name],
                                     f"rating {rating.id}, column {column.name}", keep)
    if keep is not None:
        out = out[keep]
    out = _ranked(out, rating)
    if rating.total is not None:
        out = pd.concat([out, _total_row(out, rating)], ignore_index=True)
    return out, warnings


def _ranked(out: pd.DataFrame, rating: Rating) -> pd.DataFrame:
    """Sorted by the rank keys, with a rank column; a table that is no ranking (no rank_by)
    keeps its order and has none."""
    if not rating.rank_by:
        return out.reset_index(drop=True)
    keys = [c for c, _ in rating.rank_by]
    ascending = [not descending for _, descending in rating.rank_by]
    out = out.sort_values(keys, ascending=ascending, na_position="last", kind="stable")
    ranks = tie_ranks(out[keys], rating.ties)
    out.insert(0, "rank", ranks if rating.ties == "average" else pd.array(ranks, dtype="Int64"))
    return out.reset_index(drop=True)


def _total_row(rows: pd.DataFrame, rating: Rating) -> pd.DataFrame:
    """The closing row: unweighted mean of every numeric column over the rated units (the
    columns in `total_sums` are added up); then each of `total_columns` from the row's own
    values (a pooled figure: marks / raters)."""
    sums = rating.total_sums
    total = {c: (rows[c].astype(float).agg("sum" if c in sums else "mean")
                 if pd.api.types.is_numeric_dtype(rows[c]) and c != "rank" else None)
             for c in rows.columns}
    total.update(unit=None, name=rating.total)
    if rating.total_columns:
        row = Frames({rating.total_table: pd.DataFrame([total]).drop(columns="rank",
                                                                     errors="ignore")})
        total.update({name: evaluate_rows(plan, row, rating.total_table).iloc[0]
                      for name, plan in rating.total_columns})
    if "rank" not in rows.columns:
        return pd.DataFrame([total])
    total["rank"] = pd.NA
    return pd.DataFrame([total]).astype({"rank": "Int64"})


def tie_ranks(keys: pd.DataFrame, ties: str, within: np.ndarray | None = None) -> np.ndarray:
    """Ranks of rows already sorted by `keys`; rows with equal keys share a rank per `ties`.
    Rows with a missing key get no rank. `within`: rows sorted by it first, ranked apart
    (the replicates of a bootstrap, all at once)."""
    n = len(keys)
    if n == 0:
        return np.array([], dtype=float)
    values = keys.to_numpy(dtype=float)
    within = np.zeros(n, dtype=np.int64) if within is None else np.asarray(within)
    starts = np.ones(n, dtype=bool)
    starts[1:] = within[1:] != within[:-1]
    changed = starts.copy()
    changed[1:] |= np.any(values[1:] != values[:-1], axis=1)
    group = np.cumsum(changed) - 1
    block = np.cumsum(starts) - 1
    offset = np.flatnonzero(starts)[block]  # the first row of each row's block
    position = np.arange(1, n + 1, dtype=float) - offset
    first = position[changed][group]
    last = pd.Series(position).groupby(group).transform("max").to_numpy()
    dense = group - group[offset] + 1.0
    ranks = {"min": first, "max": last, "dense": dense, "first": position,
             "average": (first + last) / 2}[ties]
    return np.where(np.isnan(values).any(axis=1), np.nan, ranks)
