"""Comparing ratings: one rating under two methodologies or two years, unit by unit; the bridge
that splits a change into method and performance; a rating's history over several years.

Everything here works on rating tables as `compute_ratings` returns them (rank, unit, name and
the rating's columns, the closing total row last with no unit), so it knows no methodology.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sapa.engine.analysis.crosswalk import Crosswalk, chain, pair_units

VALUES = ("score", "satisfaction")  # the columns compared when both ratings have them


@dataclass(frozen=True)
class RatingComparison:
    """One rating under A and B. `units` has one row per unit of either side: the values and
    ranks under A and B, their differences and the rank change (positive: higher under B);
    `present` says whether a unit is rated under both, only A or only B."""

    rating_a: str
    rating_b: str
    units: pd.DataFrame
    spearman: float
    kendall: float
    common: int
    moved: int
    unpaired: pd.DataFrame | None = None  # with a crosswalk: A's units it pairs with none, why

    def movers(self, count: int = 5) -> pd.DataFrame:
        both = self.units[self.units["present"] == "both"]
        order = both["rank_change"].abs().sort_values(ascending=False, kind="stable").index
        return both.loc[order].head(count)


def rated_units(table: pd.DataFrame) -> pd.DataFrame:
    """The unit rows of a rating table (without the closing total row)."""
    return table[table["unit"].notna()].reset_index(drop=True)


def compare(a: pd.DataFrame, b: pd.DataFrame, rating_a: str, rating_b: str,
            crosswalk: Crosswalk | None = None) -> RatingComparison:
    """Unit by unit comparison of two rating tables, matched by unit code (A's codes paired
    with B's through `crosswalk` first, when given)."""
    unpaired = None
    if crosswalk is not None:
        paired = pair_units(a, crosswalk, rated_units(b)["unit"], list(VALUES))
        a, unpaired = paired.table, paired.unpaired
    a, b = rated_units(a), rated_units(b)
    values = [c for c in VALUES if c in a.columns and c in b.columns]
    left = a[["unit", "name", "rank", *values]].rename(
        columns={c: f"{c}_a" for c in ["rank", *values]})
    right = b[["unit", "name", "rank", *values]].rename(
        columns={c: f"{c}_b" for c in ["rank", *values]})
    left["unit"], right["unit"] = left["unit"].astype(str), right["unit"].astype(str)
    units = left.merge(right, on="unit", how="outer", suffixes=("", "_of_b"), indicator=True)
    units["name"] = units["name"].where(units["name"].notna(), units.pop("name_of_b"))
    units["present"] = units.pop("_merge").map(
        {"both": "both", "left_only": "only_a", "right_only": "only_b"}).astype(str)
    for column in values:
        units[f"{column}_change"] = units[f"{column}_b"] - units[f"{column}_a"]
    units["rank_a"] = units["rank_a"].astype(float)
    units["rank_b"] = units["rank_b"].astype(float)
    units["rank_change"] = units["rank_a"] - units["rank_b"]
    order = units["rank_b"].fillna(np.inf) + units["rank_a"].fillna(np.inf) * 1e-6
    units = units.loc[order.sort_values(kind="stable").index].reset_index(drop=True)
    both = units[(units["present"] == "both") & units["rank_a"].notna()
                 & units["rank_b"].notna()]
    spearman = kendall = float("nan")
    if len(both) >= 2:
        from scipy import stats  # here: the CLI starts without SciPy's statistics (0.7 s)

        spearman = float(stats.spearmanr(both["rank_a"], both["rank_b"]).statistic)
        kendall = float(stats.kendalltau(both["rank_a"], both["rank_b"]).statistic)
    return RatingComparison(rating_a, rating_b, units, spearman, kendall, len(both),
                            int((both["rank_change"] != 0).sum()), unpaired)


def bridge(first: pd.DataFrame, second_old_method: pd.DataFrame, second: pd.DataFrame,
           column: str = "score", crosswalk: Crosswalk | None = None
           ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Each unit's change from year 1 (method 1) to year 2 (method 2), split in two:
    performance = method 1 on year 2 minus method 1 on year 1, method = method 2 minus method 1
    on year 2's data. The two add up to the total change (up to float rounding, < 1e-12).
    With a crosswalk, year 1's units are paired with year 2's first; the units it could not
    pair come back with the reason."""
    unpaired = None
    if crosswalk is not None:
        paired = pair_units(first, crosswalk, rated_units(second)["unit"], [column])
        first, unpaired = paired.table, paired.unpaired
    out = _side_by_side({"year1_method1": first, "year2_method1": second_old_method,
                         "year2_method2": second}, column)
    out["total_change"] = out["year2_method2"] - out["year1_method1"]
    out["performance"] = out["year2_method1"] - out["year1_method1"]
    out["method"] = out["year2_method2"] - out["year2_method1"]
    return out.sort_values("total_change", ascending=False, kind="stable",
                           na_position="last").reset_index(drop=True), unpaired


def history(tables: Mapping[str, pd.DataFrame], column: str = "score",
            crosswalks: Sequence[Crosswalk] = ()) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """A rating's values per period (in the given order), the change between the last two
    periods and the mean of the periods each unit has (like the reports' dynamics tables),
    best first by the last period (the lowest first for ranks).
    With crosswalks (one per step between periods), every period is paired into the last
    period's units; the units a step could not pair come back with the reason."""
    unpaired = None
    if crosswalks:
        tables, unpaired = chain(tables, list(crosswalks), [column])
    periods = list(tables)
    out = _side_by_side(tables, column)
    if len(periods) >= 2:
        out["change"] = out[periods[-1]] - out[periods[-2]]
    out["mean"] = out[periods].mean(axis=1, skipna=True)
    out["periods"] = out[periods].notna().sum(axis=1)
    return out.sort_values(periods[-1], ascending=column == "rank", kind="stable",
                           na_position="last").reset_index(drop=True), unpaired


def _side_by_side(tables: Mapping[str, pd.DataFrame], column: str) -> pd.DataFrame:
    """unit, name and one column per table (its `column`), over the units of any table."""
    out: pd.DataFrame | None = None
    for label, table in tables.items():
        rows = rated_units(table)
        part = pd.DataFrame({"unit": rows["unit"].astype(str), "name": rows["name"],
                             label: rows[column].astype(float)})
        if out is None:
            out = part
        else:
            out = out.merge(part, on="unit", how="outer", suffixes=("", "_later"))
            out["name"] = out["name"].where(out["name"].notna(), out.pop("name_later"))
    assert out is not None
    return out
