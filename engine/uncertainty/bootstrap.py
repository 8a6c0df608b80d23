"""The bootstrap. Each replicate draws, within every unit, as many of its counted respondents
as it has, with replacement: a matrix of how often each respondent is drawn (replicates x
respondents). The survey step counts answers with those weights for all replicates in one pass;
every other table is repeated once per replicate (numbered by REPLICATE), so the spec's
variables and ratings run once over all replicates. No loop over replicates or respondents:
replicates run in batches as large as memory allows (BATCH_CELLS), each batch at once; the
draws come from one stream, so the intervals do not depend on the batch size."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sapa.engine.diagnostics import CannotRun, Diagnostic
from sapa.engine.formula import REPLICATE, Frames, Node, evaluate_rows, evaluate_together
from sapa.engine.rating import evaluate_tables, tie_ranks
from sapa.engine.spec import Rating, Spec
from sapa.engine.survey import cells_per_replicate, counted_respondents

#: Item cells (groups x items) a batch of replicates may hold: about 10 arrays of this many
#: numbers (the counts, x the scale's codes) are alive at once.
BATCH_CELLS = 8_000_000


@dataclass(frozen=True)
class Intervals:
    """Per rating over a table: each unit's interval of every printed figure and of its rank
    (`<column>_low`, `<column>_high`, `rank_low`, `rank_high`), at `level`."""

    replicates: int
    seed: int
    level: float
    tables: dict[str, pd.DataFrame]


def bootstrap(spec: Spec, tables: Mapping[str, pd.DataFrame], replicates: int = 200,
              seed: int = 0, level: float = 0.9) -> Intervals:
    """Intervals of every rating over a table, from `replicates` bootstrap replicates."""
    if not 0 < level < 1:
        raise CannotRun([Diagnostic("C116", "--level must be between 0 and 1")])
    low, high = (1 - level) / 2, 1 - (1 - level) / 2
    values = replicate_values(spec, tables, replicates, seed)
    return Intervals(replicates, seed, level,
                     {rid: _intervals(found, low, high) for rid, found in values.items()})


def replicate_values(spec: Spec, tables: Mapping[str, pd.DataFrame], replicates: int,
                     seed: int) -> dict[str, pd.DataFrame]:
    """Per rating over a table, each unit's printed figures and rank in every replicate
    (`unit`, REPLICATE, the figures, `rank`). Replicate r draws the same respondents for any
    spec over the same data and seed (common random numbers: `sapa sensitivity --reps`)."""
    survey = spec.survey
    if survey is None:
        raise CannotRun([Diagnostic("C116", f"{spec.id} has no survey: there are no "
                                    "respondents to resample")])
    if replicates < 10:
        raise CannotRun([Diagnostic("C116", "--reps must be 10 or more")])
    frames = Frames(tables)
    strata, counted = _strata(spec, frames), counted_respondents(survey, frames)
    rng = np.random.default_rng(seed)
    ratings = {rid: r for rid, r in spec.ratings.items() if r.table is not None}
    values: dict[str, list[pd.DataFrame]] = {rid: [] for rid in ratings}
    items = sum(len(q.items) for q in survey.questionnaires)
    batch = max(1, BATCH_CELLS // max(1, cells_per_replicate(survey, frames) * items))
    by_table: dict[str, list[Node]] = {}
    for rating in ratings.values():
        by_table.setdefault(rating.table, []).extend(_read(rating))  # type: ignore[arg-type]
    for first in range(0, replicates, batch):
        size = min(batch, replicates - first)
        weights = draws(strata, counted, size, rng)
        copies = {name: frame if name == survey.respondents else _repeated(frame, size)
                  for name, frame in tables.items()}
        evaluated, _, _ = evaluate_tables(spec, copies, weights=weights)
        for table, plans in by_table.items():  # one query per table: shared parts made once
            evaluate_together(plans, evaluated, table)
        for rid, rating in ratings.items():
            values[rid].append(_replicate_values(rating, evaluated, first))
    return {rid: pd.concat(found, ignore_index=True) for rid, found in values.items()}


def replicate_ranks(spec: Spec, tables: Mapping[str, pd.DataFrame], replicates: int,
                    seed: int, rating_id: str) -> pd.DataFrame:
    """One rating's rank of each unit (columns) in every replicate (rows)."""
    found = replicate_values(spec, tables, replicates, seed)[rating_id]
    return found.pivot(index=REPLICATE, columns="unit", values="rank")


def _strata(spec: Spec, frames: Frames) -> np.ndarray:
    """The group each respondent is resampled within: its unit, and with
    `survey.resample_within` also its values of those columns (-1: no unit)."""
    survey = spec.survey
    assert survey is not None
    unit = frames.positions(survey.unit_link)
    within = (spec.data.get("survey") or {}).get("resample_within") or []
    if not within:
        return unit
    respondents = frames.tables[survey.respondents]
    keys = pd.MultiIndex.from_arrays([unit, *(respondents[c].astype(object).to_numpy()
                                              for c in within)])
    codes = keys.factorize()[0]
    return np.where(unit >= 0, codes, -1)


def draws(unit: np.ndarray, counted: np.ndarray, replicates: int,
          rng: np.random.Generator) -> np.ndarray:
    """How often each respondent is drawn in each replicate (replicates x respondents): within
    each unit, as many draws as it has counted respondents, each equally likely."""
    n = len(unit)
    rows = np.flatnonzero(counted & (unit >= 0))
    rows = rows[np.argsort(unit[rows], kind="stable")]
    units = unit[rows]
    starts = np.flatnonzero(np.r_[True, units[1:] != units[:-1]])
    sizes = np.diff(np.r_[starts, len(rows)])
    block = np.repeat(np.arange(len(starts)), sizes)  # each draw slot's unit
    picked = starts[block] + np.floor(rng.random((replicates, len(rows)))
                                      * sizes[block]).astype(np.int64)
    cells = (np.arange(replicates)[:, None] * n + rows[picked]).ravel()
    return np.bincount(cells, minlength=replicates * n).reshape(replicates, n).astype(
        np.float64)


def _repeated(frame: pd.DataFrame, replicates: int) -> pd.DataFrame:
    out = pd.concat([frame] * replicates, ignore_index=True)
    out[REPLICATE] = np.repeat(np.arange(replicates), len(frame))
    return out


def _read(rating: Rating) -> list[Node]:
    """The formulas `_replicate_values` reads."""
    figures = [c.plan for c in rating.columns if c.digits is not None]
    return [p for p in (rating.unit, *figures, rating.where) if p is not None]


def _replicate_values(rating: Rating, frames: Frames, first: int) -> pd.DataFrame:
    """Each unit's printed figures and rank in each replicate of a batch (numbered from
    `first`), by the rating's keys and tie rule."""
    table = rating.table
    assert table is not None and rating.unit is not None
    figures = [c for c in rating.columns if c.digits is not None]
    values = pd.DataFrame({"unit": evaluate_rows(rating.unit, frames, table).astype(str),
                           REPLICATE: frames.tables[table][REPLICATE].to_numpy() + first})
    for column in figures:
        values[column.name] = evaluate_rows(column.plan, frames, table).astype(float)
    if rating.where is not None:
        values = values[evaluate_rows(rating.where, frames, table).fillna(False).to_numpy(
            dtype=bool)]
    if rating.rank_by and all(key in values.columns for key, _ in rating.rank_by):
        keys = [key for key, _ in rating.rank_by]
        ascending = [True] + [not descending for _, descending in rating.rank_by]
        values = values.sort_values([REPLICATE, *keys], ascending=ascending,
                                    na_position="last", kind="stable")
        values["rank"] = tie_ranks(values[keys], rating.ties, values[REPLICATE].to_numpy())
    return values


def _intervals(values: pd.DataFrame, low: float, high: float) -> pd.DataFrame:
    """Each unit's quantiles over the replicates of every figure and of its rank."""
    names = [c for c in values.columns if c not in ("unit", REPLICATE)]
    grouped = values.groupby("unit", sort=False)[names]
    lows, highs = grouped.quantile(low), grouped.quantile(high)
    out = pd.DataFrame({"unit": lows.index.astype(str)})
    for name in names:
        out[f"{name}_low"] = lows[name].to_numpy()
        out[f"{name}_high"] = highs[name].to_numpy()
    return out
