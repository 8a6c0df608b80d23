"""How a rating is shown to people, whatever the medium (terminal, workbook, HTML): its title
and headers in one language, and the digits each column is printed with."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from sapa.engine.analysis import RatingComparison, Sensitivity
from sapa.engine.spec import Spec, labels


@dataclass(frozen=True)
class Shown:
    """One rating ready to show: the frame, its title, a header and digits per column."""

    id: str
    title: str
    frame: pd.DataFrame
    headers: dict[str, str]
    digits: dict[str, int | None]
    source: str | None
    chart: str = "bars"  # bars of the first printed figure; "slope": rank under A and B;
    #                      "lines": a value over periods (columns `periods`); "intervals":
    #                      each unit's rank and its range (rank_low, rank_high)
    periods: tuple[str, ...] = ()

    def whole(self, column: str) -> bool:
        """A column of whole numbers (ranks, counts) the spec gives no digits: no decimals."""
        return self.digits.get(column) is None and whole_numbers(self.frame[column])


def whole_numbers(values: pd.Series) -> bool:
    """Numbers that are all whole (ranks, counts), shown without decimals."""
    known = values.dropna()
    return values.dtype.kind in "if" and bool(len(known)) and bool((known % 1 == 0).all())


def shown(spec: Spec, frames: dict[str, pd.DataFrame], language: str) -> list[Shown]:
    """Every rating of `frames` as it is shown in `language`."""
    out = []
    for rid, frame in frames.items():
        rating = spec.ratings[rid]
        used = [rating, *(spec.ratings[row.total_of] for row in rating.rows)]
        digits = {c.name: c.digits for r in used for c in r.columns}
        headers = {c: labels.header(spec, rating, str(c), language) for c in frame.columns}
        source = ((spec.data.get("ratings") or {}).get(rid) or {}).get("source")
        out.append(Shown(rid, labels.title(spec, rating, language), frame, headers,
                         {str(c): digits.get(labels.interval_end(str(c))[0])
                          for c in frame.columns},
                         str(source) if source else None))
    return out


COMPARED = ("rank_a", "rank_b", "rank_change", "score_a", "score_b", "score_change",
            "satisfaction_a", "satisfaction_b", "satisfaction_change")


def comparison_shown(spec: Spec, result: RatingComparison, side_a: str, side_b: str,
                     language: str) -> Shown:
    """One compared rating: the units side by side, headers as `Score A`, `Score Δ`."""
    rating = spec.ratings.get(result.rating_b)
    columns = ["unit", "name", *(c for c in COMPARED if c in result.units.columns)]
    frame = result.units[columns]
    digits = {c.name: c.digits for c in rating.columns} if rating is not None else {}
    headers, shown_digits = {}, {}
    for column in columns:
        base, _, side = column.rpartition("_") if column not in ("unit", "name") else (
            column, "", "")
        word = labels.header(spec, rating, base, language)
        headers[column] = {"a": f"{word} {side_a}", "b": f"{word} {side_b}",
                           "change": f"{word} Δ"}.get(side, word)
        shown_digits[column] = None if base in ("unit", "name", "rank") else digits.get(base)
    title = labels.title(spec, rating, language) if rating is not None else result.rating_b
    pair = result.rating_b if result.rating_a == result.rating_b else \
        f"{result.rating_a} → {result.rating_b}"
    return Shown(pair, f"{title}: {side_a} → {side_b}", frame, headers, shown_digits, None,
                 chart="slope", periods=(side_a, side_b))


def history_shown(table: pd.DataFrame, rating: str, column: str, periods: list[str],
                  language: str) -> Shown:
    """A rating's history: the value per period, the change and the mean."""
    headers = {c: labels.text_of(labels.COMMON.get(str(c)), language) or str(c)
               for c in table.columns}
    digits: dict[str, int | None] = {str(c): None for c in table.columns}
    return Shown(rating, f"{rating}: {column}", table, headers, digits, None, chart="lines",
                 periods=tuple(periods))


def sensitivity_shown(spec: Spec, rating_id: str, found: Sensitivity, language: str
                      ) -> list[Shown]:
    """`sapa sensitivity` as two sections: each choice's mean first-order effect (bars), and
    each unit's rank with its range over the combinations (a rank-interval chart)."""
    rating = spec.ratings[rating_id]
    title = f"{labels.title(spec, rating, language)}: " \
        f"{labels.text_of(labels.COMMON['sensitivity'], language)}"
    effects = found.effects.rename(columns={"choice": "unit"})
    effect_headers = {"unit": labels.text_of(labels.COMMON["choice"], language),
                      "mean_effect": labels.text_of(labels.COMMON["mean_effect"], language)}
    word = labels.text_of(labels.COMMON["effect"], language)
    headers = {str(c): f"{word}: {str(c)[len('effect_'):]}" if str(c).startswith("effect_")
               else labels.header(spec, rating, str(c), language) for c in found.units.columns}
    digits: dict[str, int | None] = {str(c): 3 if str(c).startswith("effect_") else None
                                     for c in found.units.columns}
    return [Shown(f"{rating_id}-effects", title, effects, effect_headers,
                  {"unit": None, "mean_effect": 3}, None),
            Shown(f"{rating_id}-ranks", labels.title(spec, rating, language),
                  found.units.sort_values("rank", kind="stable").reset_index(drop=True),
                  headers, digits, None, chart="intervals")]