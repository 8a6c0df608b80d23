"""Exchanges of answers between the items of a criterion, after every unit is built, so that a
table pooled over all respondents comes out (`synthesis.pooled.items` in `sapa synth`).

Each unit is fitted alone, to its own printed figures. A pooled table weighs the units by how
many answered each item, which no unit's fit sees: an item asked in some units only pools those
units, and the share of raters behind an item's % differs from item to item (a lower score with
a lower % can mean fewer raters per respondent asked). So the pools can land off their print
while every unit meets its own.

An exchange swaps one respondent's answers to two items of the same criterion (a 5 and a
non-answer, say). The respondent stays asked both, so every % over those asked keeps its
denominator; the unit's figures move a little, and an exchange is made only where none of them
leaves its print (or its tolerance, or gets further off where it already was). Greedily, each
step makes the exchange that brings the pooled criterion, and less so its items, nearest their
prints, until no exchange does. A step is vectorised over every candidate exchange (unit, pair
of items, pair of answers); the respondent it falls on is drawn at random among those with that
pair of answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sapa.engine.spec import Survey
from sapa.engine.synth.fit import within
from sapa.engine.synth.skips import Printing

AIM = 0.5  # inside this fraction of a print's half-width, a pool needs no exchange
ITEM_WEIGHT = 0.005  # an item's pool, against its criterion's, in what an exchange should improve
TRIED = 50  # best candidates checked against their unit's figures per step
STEPS = 5000  # at most this many exchanges per criterion


@dataclass(frozen=True)
class Figures:
    """A unit's published figures (the rows of its fit report, in order) as linear functions of
    its item values over the whole unit: figure k is the sum over j of weights[k, j] times the
    score (or %) of slots[j], an item of a questionnaire."""

    slots: list[tuple[str, str]]
    weights: np.ndarray
    score: np.ndarray  # per figure: a score (else a %)
    value: np.ndarray
    half_width: np.ndarray
    tolerance: np.ndarray


@dataclass(frozen=True)
class Pooled:
    """One criterion of a pooled table: its items' names and printed (score, %), and its own."""

    name: str
    items: list[str]
    printed_items: np.ndarray  # items x 2, NaN where not printed
    printed: tuple[float, float]


@dataclass(frozen=True)
class Exchanged:
    """How many exchanges were made, and the pooled items' scores and % after them."""

    made: int
    score: np.ndarray
    share: np.ndarray


ASKED, RATED, TOTAL, TOP = range(4)  # the last axis of a count array: per item, how many were
#                                      asked, how many rated, their marks' sum, the top marks


def _values(counts: np.ndarray, rated_base: bool) -> tuple[np.ndarray, np.ndarray]:
    """Item scores and % from count arrays (..., items, 4)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (counts[..., TOTAL] / counts[..., RATED],
                100.0 * counts[..., TOP] / counts[..., RATED if rated_base else ASKED])


def exchange(answers: np.ndarray, owner: np.ndarray, owners: list[tuple[int, np.ndarray]],
             figures: list[Figures], achieved: list[np.ndarray], pooled: Pooled, survey: Survey,
             printed: Printing, rng: np.random.Generator) -> Exchanged:
    """Exchange answers in `answers` (respondents x the criterion's items, NaN: not asked) in
    place, and move the units' `achieved` figures with them.
    `owner[r]` indexes respondent r's owner, a questionnaire of a unit that may exchange:
    `owners[o]` is (its unit's index into `figures`, and per item the figures' slot of that
    item in the questionnaire, -1 for none); -1 where the unit may not exchange (its answers
    still count in the pool)."""
    values = np.unique(answers[~np.isnan(answers)])
    k, m = len(values), answers.shape[1]
    rating = np.isin(values, survey.ratings)
    mark = np.where(rating, values, 0.0)
    top = np.isin(values, survey.satisfied)
    code = np.full(answers.shape, -1)
    code[~np.isnan(answers)] = np.searchsorted(values, answers[~np.isnan(answers)])
    rated_base = survey.base == "rated"
    differ = np.arange(k * k) // k != np.arange(k * k) % k  # an exchange of unequal answers
    half = np.array([printed.half["score"], printed.half["satisfaction"]])
    aim, aim_items = np.array(pooled.printed, dtype=float), pooled.printed_items

    def counts(rows: np.ndarray, groups: int, index: np.ndarray) -> np.ndarray:
        """Count arrays (groups, items, 4) of `rows`, grouped by `index`."""
        c = code[rows]
        asked = c >= 0
        safe = np.where(asked, c, 0)
        rated = asked & rating[safe]
        parts = np.stack([asked, rated, np.where(rated, mark[safe], 0.0), asked & top[safe]],
                         axis=2).astype(float)
        return np.stack([np.stack([np.bincount(index, weights=parts[:, j, p], minlength=groups)
                                   for p in range(4)], axis=1) for j in range(m)], axis=1)

    def off(value: np.ndarray, printed: np.ndarray | float, stat: int) -> np.ndarray:
        """How far outside the aimed part of the print, in half-widths, squared (NaN: 0)."""
        return np.nan_to_num(np.maximum(np.abs(value - printed) / half[stat] - AIM, 0.0) ** 2)

    def objective(score: np.ndarray, share: np.ndarray) -> np.ndarray:
        """The criterion's distance from its print and (far less) its items', per row of item
        values."""
        own = off(score.mean(axis=1), aim[0], 0) + off(share.mean(axis=1), aim[1], 1)
        items = off(score, aim_items[:, 0], 0) + off(share, aim_items[:, 1], 1)
        return own + ITEM_WEIGHT * items.sum(axis=1)

    def candidates(o: int) -> np.ndarray:
        """(owner, a, b, answer code of a, of b) for every exchange open in owner o."""
        rows = np.flatnonzero(owner == o)
        found = [np.zeros((0, 5), dtype=int)]
        for a in range(m):
            for b in range(a + 1, m):
                both = rows[(code[rows, a] >= 0) & (code[rows, b] >= 0)]
                pairs = np.bincount(code[both, a] * k + code[both, b], minlength=k * k)
                kinds = np.flatnonzero((pairs > 0) & differ)
                found.append(np.column_stack([np.full(len(kinds), o), np.full(len(kinds), a),
                                              np.full(len(kinds), b), kinds // k, kinds % k]))
        return np.concatenate(found)

    pool = counts(np.arange(len(answers)), 1, np.zeros(len(answers), dtype=int))
    mine = np.flatnonzero(owner >= 0)
    units = counts(mine, len(owners), owner[mine])
    open_ = [candidates(o) for o in range(len(owners))]
    made = 0
    while made < STEPS:
        table = np.concatenate([np.zeros((0, 5), dtype=int), *open_])
        o, a, b, xa, xb = table.T
        rows = np.arange(len(table))
        change = np.zeros((len(table), m, 4))  # nobody newly asked: ASKED stays 0
        change[rows, a, RATED:] = np.column_stack([rating[xb].astype(float) - rating[xa],
                                                   mark[xb] - mark[xa],
                                                   top[xb].astype(float) - top[xa]])
        change[rows, b, RATED:] = -change[rows, a, RATED:]
        after = pool + change
        unit_rated = units[o, :, RATED] + change[..., RATED]
        usable = ((after[..., RATED].min(axis=1) >= 1) & (unit_rated[rows, a] >= 1)
                  & (unit_rated[rows, b] >= 1))
        better = np.where(usable, objective(*_values(after, rated_base)), np.inf)
        now = objective(*_values(pool, rated_base))[0]
        chosen = None
        for c in np.argsort(better, kind="stable")[:TRIED]:
            if not better[c] < now - 1e-9:
                break
            u, slot = owners[o[c]]
            moved = _moved(units[o[c]], change[c], figures[u], slot, achieved[u], rated_base)
            if _keeps(figures[u], achieved[u], moved):
                chosen, achieved[u] = c, moved
                break
        if chosen is None:
            break
        c = chosen
        respondent = rng.choice(np.flatnonzero((owner == o[c]) & (code[:, a[c]] == xa[c])
                                               & (code[:, b[c]] == xb[c])))
        for array in (answers, code):
            array[respondent, [a[c], b[c]]] = array[respondent, [b[c], a[c]]]
        pool[0] += change[c]
        units[o[c]] += change[c]
        open_[o[c]] = candidates(int(o[c]))
        made += 1
    return Exchanged(made, *_values(pool[0], rated_base))


def _moved(counts: np.ndarray, change: np.ndarray, figures: Figures, slot: np.ndarray,
           before: np.ndarray, rated_base: bool) -> np.ndarray:
    """A unit's figures after its item counts (items x 4, one questionnaire's) change by
    `change`: each figure moves by its weights times the items' changes in value."""
    old, new = _values(counts, rated_base), _values(counts + change, rated_base)
    present = slot >= 0
    move = np.zeros((2, len(figures.slots)))
    for stat in range(2):
        move[stat, slot[present]] = np.nan_to_num(new[stat] - old[stat])[present]
    return before + np.where(figures.score, figures.weights @ move[0], figures.weights @ move[1])


def _keeps(figures: Figures, before: np.ndarray, after: np.ndarray) -> bool:
    """No figure leaves its print or its tolerance, nor gets further off where it was off."""
    was = np.abs(before - figures.value)
    now = np.abs(after - figures.value)
    return bool(np.all(np.where(within(was, figures.half_width), within(now, figures.half_width),
                                np.where(within(was, figures.tolerance),
                                         within(now, figures.tolerance), within(now, was)))))
