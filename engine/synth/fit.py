"""Integer answer counts that reproduce published aggregates: the fit behind `sapa synth`.

A unit's answers are described per *cell* (one item of one questionnaire, within one group of
respondents, e.g. a region): `asked` respondents, `rated` of them give a mark, `top` give the top
mark and the marks add up to `total`. Every published figure the survey aggregation produces from
those cells (a criterion, a channel, a zone, the unit, a region's unit score) is an unweighted
mean of means of item values, and an item value is `total / rated` (score) or `top / asked`
(satisfaction) summed over the cells of that view. With the raters fixed, each published figure
is therefore an exact *linear* function of the integer totals and top counts; a `Goal` is one such
function with the printed value and its rounding interval.

1. A linear programme (HiGHS, through scipy) finds real totals and top counts that meet every goal
   inside its rounding interval where the goals allow it, moving as little as possible from the
   start values. Goals that cannot all hold together, even in real numbers, are found one by one
   (the heaviest `weight` secured first) and priced low, so that a contradicting figure does not
   drag the consistent ones off.
2. Whole counts: a small mixed-integer programme near the real solution counts the goals missed
   by more than their tolerance (0/1 per goal, by weight) and, far less, the distance outside
   the printed rounding. It is solved on the items' totals over the whole unit first; then the
   same two steps run over the groups' cells (regions) for the groups' figures, with each item's
   totals over the groups held at the whole-unit counts.

The goals whose interval is not reached are returned, so a report can say which published figures
the data cannot reproduce, and by how much; with each, the range of values it could take in real
numbers while every goal the counts do meet stays inside its print (`_possible`). A printed value
outside that range contradicts the figures kept (no counts, whole or not, give them all); one
inside it was lost to whole counts.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from sapa.engine import lazy

sparse = lazy.module("scipy.sparse")
optimize = lazy.module("scipy.optimize")  # SciPy loads when a fit first runs

MISS_WEIGHT = 1000.0  # cost of one rounding half-width outside a goal, against moving by 0.01
AIM = 0.6  # the programme aims inside this fraction of each rounding interval (integer slack)
INNER = 0.9  # the integer step aims inside this fraction of each interval (float noise)
NODE_LIMIT = 300  # branch-and-bound nodes per integer search: bounds the time, same answer each run
GROUP_NODE_LIMIT = 500  # the same over groups (with 50, 2.55 reached 7 of its 17 regions)
HELD = 1000.0  # the price factor that keeps goals already secured from giving way to lighter ones


@dataclass(frozen=True)
class Cells:
    """Answer cells of one unit, as parallel arrays."""

    slot: np.ndarray  # which item (index into the caller's item list)
    group: np.ndarray  # which respondent group (0 when there is one)
    asked: np.ndarray  # respondents asked
    rated: np.ndarray  # of them giving a mark (the rest give a non-answer)
    score: np.ndarray  # start value of the score
    share: np.ndarray  # start value of the satisfaction, in %


@dataclass(frozen=True)
class Goal:
    """One published figure as a linear function of item values in one view."""

    label: str
    stat: str  # "score" or "satisfaction"
    view: int  # -1: every group; g: group g only
    weights: np.ndarray  # per item: its weight in the figure (a mean of means)
    value: float
    half_width: float  # the printed rounding: 0.005 for 2 decimals
    tolerance: float  # how far off still counts as reproduced (conformance)
    weight: float = 1.0


@dataclass(frozen=True)
class Fit:
    total: np.ndarray  # per cell: the sum of the marks
    top: np.ndarray  # per cell: the number of top marks
    achieved: np.ndarray  # per goal: the value the counts give
    met: np.ndarray  # per goal: inside its rounding interval
    reproduced: np.ndarray  # per goal: within its tolerance
    possible: np.ndarray  # per goal (lowest, highest) in real counts with the met goals kept;
    #                       NaN for a goal met


@dataclass(frozen=True)
class Sums:
    """Fixed sums over groups of cells: cell c belongs to group owner[c], whose cells' totals
    add up to total[owner] and top counts to top[owner]."""

    owner: np.ndarray
    total: np.ndarray
    top: np.ndarray

    def matrix(self, n: int) -> sparse.csr_matrix:
        return sparse.csr_matrix((np.ones(n), (self.owner, np.arange(n))),
                                 shape=(len(self.total), n))


def fit(cells: Cells, goals: list[Goal], top_mark: int) -> Fit:
    """Integer totals and top counts per cell meeting `goals` (see the module docstring).

    With respondent groups, the whole-unit figures are fitted first on the items' totals over
    every group (a small problem), then the groups' figures on the groups' cells, with each
    item's totals held: two problems instead of one larger, slower one."""
    whole = np.array([g.view < 0 for g in goals], dtype=bool)
    merged, owner = _merged(cells)
    total, top = _solve(merged, _where(goals, whole), top_mark)
    held = None
    if len(merged.slot) < len(cells.slot):
        held = Sums(owner, total, top)
        total, top = _solve(cells, _where(goals, ~whole), top_mark, held)
    score_map, share_map = _maps(cells, goals)
    achieved = _achieved(goals, score_map, share_map, total, top)
    distance = np.abs(achieved - [g.value for g in goals])
    met = within(distance, np.array([g.half_width for g in goals]))
    reproduced = within(distance, np.array([g.tolerance for g in goals]))
    possible = np.full((len(goals), 2), np.nan)
    possible[whole] = _possible(merged, _where(goals, whole), met[whole], top_mark)
    if held is not None:
        possible[~whole] = _possible(cells, _where(goals, ~whole), met[~whole], top_mark, held)
    return Fit(total, top, achieved, met, reproduced, possible)


def _where(goals: list[Goal], chosen: np.ndarray) -> list[Goal]:
    return [g for g, keep in zip(goals, chosen, strict=True) if keep]


def _possible(cells: Cells, goals: list[Goal], met: np.ndarray, top_mark: int,
              sums: Sums | None = None) -> np.ndarray:
    """Per goal not met: the lowest and highest value it can take with real (not whole) counts
    while every met goal stays inside its printed rounding (and the groups' counts add up to
    `sums`). Two linear programmes per goal missed; NaN for the goals met."""
    out = np.full((len(goals), 2), np.nan)
    if met.all():
        return out
    n, r = len(cells.slot), cells.rated.astype(float)
    low = top_mark - 1
    score_map, share_map = _maps(cells, goals)
    figure = np.hstack([score_map, share_map])  # per goal, over t | f
    value = np.array([g.value for g in goals])
    half = np.array([g.half_width for g in goals])
    identity = sparse.identity(n, format="csr")
    kept = sparse.csr_matrix(figure[met])
    rows = sparse.vstack([sparse.hstack([-identity, low * identity]),  # marks exist
                          sparse.hstack([identity, -identity]), kept, -kept])
    slack = half[met] + 1e-7  # a met goal may sit on the edge of its print, give or take noise
    bound = np.concatenate([-r, low * r, value[met] + slack, slack - value[met]])
    equal: dict[str, Any] = {}
    if sums is not None:
        block = sums.matrix(n)
        equal = {"A_eq": sparse.block_diag([block, block]),
                 "b_eq": np.concatenate([sums.total, sums.top]).astype(float)}
    bounds = [(ri, top_mark * ri) for ri in r] + [(0, ri) for ri in r]
    for k in np.flatnonzero(~met):
        ends = [optimize.linprog(sign * figure[k], A_ub=rows, b_ub=bound, bounds=bounds,
                                 method="highs", **equal) for sign in (1.0, -1.0)]
        if all(end.status == 0 for end in ends):
            out[k] = (ends[0].fun, -ends[1].fun)
    return out


def _merged(cells: Cells) -> tuple[Cells, np.ndarray]:
    """One cell per item over every group, and for each cell the merged cell it belongs to."""
    slots, owner = np.unique(cells.slot, return_inverse=True)
    asked = np.bincount(owner, weights=cells.asked).astype(int)
    rated = np.bincount(owner, weights=cells.rated).astype(int)
    score = np.bincount(owner, weights=cells.score * cells.rated) / np.maximum(rated, 1)
    share = np.bincount(owner, weights=cells.share * cells.asked) / np.maximum(asked, 1)
    return Cells(slots, np.zeros(len(slots), dtype=int), asked, rated, score, share), owner


def _solve(cells: Cells, goals: list[Goal], top_mark: int, sums: Sums | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    score_map, share_map = _maps(cells, goals)
    price = _priced(cells, goals, score_map, share_map, top_mark, sums)
    total, top, _ = _programme(cells, goals, score_map, share_map, top_mark, price, sums)
    whole = _integer(cells, goals, score_map, share_map, total, top, top_mark, price, sums)
    if whole is None:  # no whole counts found within the node limit (not seen so far)
        return _rounded(cells, goals, score_map, share_map, total, top, top_mark, sums)
    return whole


def _rounded(cells: Cells, goals: list[Goal], score_map: np.ndarray, share_map: np.ndarray,
             total: np.ndarray, top: np.ndarray, top_mark: int, sums: Sums | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Whole counts near the real ones without a search: each rounded to the nearest, or with
    groups shared out so that every item's sums stay exact."""
    if sums is not None:
        return _shared_out(cells, goals, score_map, share_map, sums, total, top, top_mark)
    r, low = cells.rated, top_mark - 1
    top = np.clip(np.rint(top), 0, r)
    return np.clip(np.rint(total), low * top + r, top + low * r).astype(int), top.astype(int)


def _shared_out(cells: Cells, goals: list[Goal], score_map: np.ndarray, share_map: np.ndarray,
                sums: Sums, total: np.ndarray, top: np.ndarray, top_mark: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Whole counts per group that add up exactly to each item's whole totals. Item by item,
    each group's real value is rounded down or up; which groups round up is chosen to keep the
    rounding error carried into each group's figures smallest (error diffusion)."""
    low = top_mark - 1
    r = cells.rated.astype(float)
    scale = np.array([g.half_width for g in goals])
    error = np.zeros(len(goals))
    new_top = np.zeros(len(r), dtype=int)
    new_total = np.zeros(len(r), dtype=int)
    for item in range(len(sums.total)):
        members = np.flatnonzero(sums.owner == item)
        new_top[members], error = _diffused(members, int(sums.top[item]), top, np.zeros(len(r)),
                                            r, share_map, error, scale)
        lowest, highest = low * new_top + r, new_top + low * r
        new_total[members], error = _diffused(members, int(sums.total[item]), total, lowest,
                                              highest, score_map, error, scale)
    return new_total, new_top


def _diffused(members: np.ndarray, wanted: int, real: np.ndarray, lowest: np.ndarray,
              highest: np.ndarray, goal_map: np.ndarray, error: np.ndarray, scale: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Integers for `members` within their bounds adding up to `wanted`, each its real value
    rounded down or up; the cells whose rounding best cancels the carried error move."""
    value = np.clip(np.floor(real[members]), lowest[members], highest[members]).astype(int)
    effect = goal_map[:, members]
    for step in (1, -1):
        while (gap := wanted - int(value.sum())) * step > 0:
            room = (highest[members] - value) if step > 0 else (value - lowest[members])
            after = error[:, None] + effect * (value + step - real[members])
            before = error[:, None] + effect * (value - real[members])
            change = (((after / scale[:, None]) ** 2) - ((before / scale[:, None]) ** 2)).sum(0)
            change = np.where(room > 0, change, np.inf)
            chosen = np.argsort(change, kind="stable")[: abs(gap)]
            chosen = chosen[np.isfinite(change[chosen])]
            if not len(chosen):
                break  # cannot happen: the item's whole totals obey the same bounds, summed
            value[chosen] += step
    error = error + effect @ (value - real[members])
    return value, error


def _maps(cells: Cells, goals: list[Goal]) -> tuple[np.ndarray, np.ndarray]:
    """Per goal and cell: how much one more mark point (score) or one more top mark
    (satisfaction) in that cell moves the goal's figure."""
    n_slots = int(cells.slot.max()) + 1 if len(cells.slot) else 0
    out = np.zeros((len(goals), len(cells.slot)))
    for k, goal in enumerate(goals):
        inside = np.ones(len(cells.slot), bool) if goal.view < 0 else cells.group == goal.view
        size = cells.rated if goal.stat == "score" else cells.asked
        per_slot = np.bincount(cells.slot[inside], weights=size[inside], minlength=n_slots)
        scale = 1.0 if goal.stat == "score" else 100.0
        with np.errstate(divide="ignore", invalid="ignore"):
            coefficient = np.where(per_slot > 0, goal.weights[:n_slots] * scale / per_slot, 0.0)
        out[k] = np.where(inside, coefficient[cells.slot], 0.0)
    is_score = np.array([g.stat == "score" for g in goals], dtype=bool)
    return np.where(is_score[:, None], out, 0.0), np.where(is_score[:, None], 0.0, out)


def _programme(cells: Cells, goals: list[Goal], score_map: np.ndarray, share_map: np.ndarray,
               top_mark: int, price: np.ndarray, sums: Sums | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The linear programme: variables are per cell the total t and top count f, their
    distances from the start (et, ef), and per goal its excess beyond the aimed interval (s)."""
    n, k = len(cells.slot), len(goals)
    r, a = cells.rated.astype(float), cells.asked.astype(float)
    low = top_mark - 1  # the highest mark that is not the top mark
    start_total, start_top = cells.score * r, cells.share / 100.0 * a
    # column blocks: t | f | et | ef | s
    t, f, et, ef, s, e = (np.arange(n), n + np.arange(n), 2 * n + np.arange(n),
                          3 * n + np.arange(n), 4 * n + np.arange(k), 4 * n + k + np.arange(k))
    rows, cols, vals, rhs = [], [], [], []
    row = 0

    def add(pairs: list[tuple[np.ndarray, np.ndarray | float]], bound: np.ndarray) -> None:
        nonlocal row
        count = len(bound)
        for column, value in pairs:
            rows.append(row + np.arange(count))
            cols.append(column)
            vals.append(np.broadcast_to(value, (count,)).astype(float))
        rhs.append(bound)
        row += count

    # a top count and a total that marks can make: (low)*f + r <= t <= f + low*r
    add([(t, -1.0), (f, float(low))], -r)
    add([(t, 1.0), (f, -1.0)], low * r)
    add([(t, 1.0), (et, -1.0)], start_total)  # et >= |t - start|
    add([(t, -1.0), (et, -1.0)], -start_total)
    add([(f, 1.0), (ef, -1.0)], start_top)
    add([(f, -1.0), (ef, -1.0)], -start_top)
    half = np.array([g.half_width for g in goals])
    aim = AIM * half
    centre = np.array([g.value for g in goals])
    for matrix, variable in ((score_map, t), (share_map, f)):
        used = np.flatnonzero(np.abs(matrix).sum(axis=1) > 0)
        for sign in (1.0, -1.0):
            for goal in used:
                members = np.flatnonzero(matrix[goal])
                rows.append(np.full(len(members) + 2, row))
                cols.append(np.concatenate([variable[members], [s[goal], e[goal]]]))
                vals.append(np.concatenate([sign * matrix[goal, members], [-1.0, -1.0]]))
                rhs.append(np.array([sign * centre[goal] + aim[goal]]))
                row += 1
    matrix = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                       np.concatenate(cols))),
                               shape=(row, 4 * n + 2 * k))
    cost = np.concatenate([np.zeros(2 * n), 100.0 / np.maximum(r, 1), 100.0 / np.maximum(a, 1),
                           0.01 * price / half, price / half])
    bounds = ([(ri, top_mark * ri) for ri in r] + [(0, ri) for ri in r]
              + [(0, None)] * (2 * n) + [(0, (1 - AIM) * h) for h in half] + [(0, None)] * k)
    equal: dict[str, Any] = {}
    if sums is not None:
        block = sums.matrix(n)
        zero = sparse.csr_matrix((block.shape[0], 2 * n + 2 * k))
        equal = {"A_eq": sparse.vstack([sparse.hstack([block, block * 0, zero]),
                                        sparse.hstack([block * 0, block, zero])]),
                 "b_eq": np.concatenate([sums.total, sums.top]).astype(float)}
    result = optimize.linprog(cost, A_ub=matrix, b_ub=np.concatenate(rhs), bounds=bounds,
                              method="highs", **equal)
    if result.status != 0:  # cannot happen for a bounded, always-feasible programme
        return start_total, np.minimum(start_top, r), np.full(k, np.inf)
    return result.x[:n], result.x[n:2 * n], result.x[4 * n + k:]


def _priced(cells: Cells, goals: list[Goal], score_map: np.ndarray, share_map: np.ndarray,
            top_mark: int, sums: Sums | None = None) -> np.ndarray:
    """Each goal's price per half-width missed. Goals that cannot all be met together are
    sorted out first, heaviest weight first: a tier's goals are met together with the goals
    kept so far where they can be, then one by one each contested goal is kept if it can be
    met together with every goal kept so far; the others are priced low, so that a figure that
    contradicts the rest does not drag the figures that agree with each other off their print.
    Tier by tier, because a distance is not a miss: a lighter goal far from reach must not hold
    a heavier one off merely because moving the lighter one would cost more distance."""
    weight = np.array([g.weight for g in goals])
    price = MISS_WEIGHT * weight
    kept = np.zeros(len(goals), dtype=bool)
    for tier in sorted(set(weight.tolist()), reverse=True):
        members = weight == tier
        _, _, excess = _programme(cells, goals, score_map, share_map, top_mark,
                                  np.where(kept, HELD * price, np.where(members, price, 0.0)),
                                  sums)
        if (excess[kept] <= 1e-9).all():  # else every goal of the tier is tried one by one
            kept |= members & (excess <= 1e-9)
        for goal in sorted(np.flatnonzero(members & ~kept), key=lambda k: excess[k]):
            trial = kept.copy()
            trial[goal] = True
            _, _, trial_excess = _programme(cells, goals, score_map, share_map, top_mark,
                                            np.where(trial, price, 0.0), sums)
            if (trial_excess[trial] <= 1e-9).all():
                kept = trial
    return np.where(kept, price, price * 1e-3)


def _integer(cells: Cells, goals: list[Goal], score_map: np.ndarray, share_map: np.ndarray,
             total: np.ndarray, top: np.ndarray, top_mark: int, price: np.ndarray,
             sums: Sums | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """Whole totals and top counts: a mixed-integer programme over the same goals, searched
    only near the real solution (each count within a few marks of it). It counts the goals
    missed by more than their tolerance (a 0/1 indicator per goal, priced by weight) and, far
    less, the distance outside the printed rounding; it stops at a node limit."""
    n, k = len(cells.slot), len(goals)
    r = cells.rated.astype(float)
    low = top_mark - 1
    # column blocks: t | f | z (goal missed) | e (excess beyond the printed rounding)
    t, f, z, e = np.arange(n), n + np.arange(n), 2 * n + np.arange(k), 2 * n + k + np.arange(k)
    half = np.array([g.half_width for g in goals])
    tolerance = np.array([g.tolerance for g in goals]) * INNER
    centre = np.array([g.value for g in goals])
    reach = np.maximum(3.0, np.ceil(0.15 * r))
    lowest = np.concatenate([np.maximum(r, np.floor(total) - reach),
                             np.maximum(0, np.floor(top) - reach)])
    highest = np.concatenate([np.minimum(top_mark * r, np.ceil(total) + reach),
                              np.minimum(r, np.ceil(top) + reach)])
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    lower: list[float] = []
    upper: list[float] = []

    def add(columns: list[int], values: list[float], below: float, above: float) -> None:
        rows.extend([len(lower)] * len(columns))
        cols.extend(columns)
        vals.extend(values)
        lower.append(below)
        upper.append(above)

    for c in range(n):  # marks exist: low*f + r <= t <= f + low*r
        add([t[c], f[c]], [1.0, -float(low)], r[c], np.inf)
        add([t[c], f[c]], [1.0, -1.0], -np.inf, low * r[c])
    for matrix, variable in ((score_map, t), (share_map, f)):
        for goal in np.flatnonzero(np.abs(matrix).sum(axis=1) > 0):
            members = np.flatnonzero(matrix[goal])
            weights = matrix[goal, members]
            bounds = (lowest[variable[members]], highest[variable[members]])
            most = np.where(weights > 0, weights * bounds[1], weights * bounds[0]).sum()
            least = np.where(weights > 0, weights * bounds[0], weights * bounds[1]).sum()
            for sign, reach_out in ((1.0, most - centre[goal]), (-1.0, centre[goal] - least)):
                big = max(reach_out, 0.0) + 1e-6  # sign * (figure - centre) <= tol + big * z
                add([*variable[members], z[goal]], [*(sign * weights), -big],
                    -np.inf, tolerance[goal] + sign * centre[goal])
                add([*variable[members], e[goal]], [*(sign * weights), -1.0],
                    -np.inf, half[goal] * INNER + sign * centre[goal])
    for owner in range(len(sums.total) if sums is not None else 0):  # the groups' counts add up
        members = np.flatnonzero(sums.owner == owner)
        add([*t[members]], [1.0] * len(members), sums.total[owner], sums.total[owner])
        add([*f[members]], [1.0] * len(members), sums.top[owner], sums.top[owner])
    matrix = sparse.csr_matrix((vals, (rows, cols)), shape=(len(lower), 2 * n + 2 * k))
    bounds = optimize.Bounds(np.concatenate([lowest, np.zeros(2 * k)]),
                             np.concatenate([highest, np.ones(k), np.full(k, np.inf)]))
    cost = np.concatenate([np.zeros(2 * n), price, 1e-3 * price / half])
    with solver_output_hidden():
        limit = NODE_LIMIT if sums is None else GROUP_NODE_LIMIT
        result = optimize.milp(cost, constraints=optimize.LinearConstraint(matrix, lower, upper),
                               bounds=bounds,
                               integrality=np.concatenate([np.ones(2 * n + k), np.zeros(k)]),
                               options={"node_limit": limit, "presolve": True})
    if result.x is None:
        return None
    return np.rint(result.x[:n]).astype(int), np.rint(result.x[n:2 * n]).astype(int)


def _achieved(goals: list[Goal], score_map: np.ndarray, share_map: np.ndarray,
              total: np.ndarray, top: np.ndarray) -> np.ndarray:
    if not goals:
        return np.zeros(0)
    return score_map @ total + share_map @ top


def within(distance: Any, width: Any) -> Any:
    """Whether a figure this far from its print is within `width` of it (float noise aside):
    the one test of "met" (width: the print's half-width) and "reproduced" (the tolerance)."""
    return distance <= width + 1e-9


def marks(total: int, top: int, rated: int, top_mark: int) -> np.ndarray:
    """`rated` marks with `top` top marks adding up to `total`, the others as even as can be."""
    others = rated - top
    if others <= 0:
        return np.full(top, float(top_mark))
    base, extra = divmod(total - top_mark * top, others)
    rest = np.full(others, float(base))
    rest[:extra] += 1
    return np.concatenate([np.full(top, float(top_mark)), rest])


@contextmanager
def solver_output_hidden() -> Iterator[None]:
    """HiGHS can print debugging lines straight to the process's standard output, past Python;
    they would land in the middle of a progress bar, so its output goes to the null device."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        _flush_c_output()
        os.dup2(saved, 1)
        os.close(saved)


def _flush_c_output() -> None:
    """Flush C's buffered standard output, so that nothing printed while hidden shows later."""
    library = _c_library()
    if library is not None:
        library.fflush(None)


@cache
def _c_library() -> ctypes.CDLL | None:
    """The process's C library, looked up once (not at every integer search)."""
    try:
        library = ctypes.CDLL(None)
        library.fflush  # noqa: B018 - present on Linux and macOS; raises elsewhere
    except (OSError, AttributeError):  # no C library to reach
        return None
    return library
