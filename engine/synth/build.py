"""Building respondent-level data that reproduce published figures (`sapa synth`).

What to fit and where the figures are is declared in the spec (`synthesis:`); this module knows
no year, table or zone. Per unit:

1. respondents: the published N split into channels (sizes chosen so that the printed criterion
   and zone values are reachable, nearest the plan's default shares; the best few splits are
   fitted and the best fit kept), placed in the regions the unit publishes figures for (in
   shares balanced so that those figures average to the unit's own, `_balanced`), with
   routing flags (in those regions, one per region where the routed criterion pulls the
   score, `_pulled`); every item is asked where the spec's `asked_if` holds;
2. per item over the whole unit, a few respondents skip it or give a non-answer where a printed
   figure needs it (engine.synthesis_skips; for a small unit also random variations), shared out
   over the regions by size;
3. every published figure of the unit (criterion per channel, channel total, unit total, zone
   rows, a region's unit score) is written as an exact linear function of the answer cells'
   totals and top-mark counts (`_goals`, mirroring engine.survey), and `synthesis_fit` finds
   whole counts meeting as many as it can (an LP, then a small mixed-integer programme);
4. the marks are drawn to those counts, in random order.

Where a table pools items over every unit's respondents (`pooled.items`), answers are then
exchanged between a respondent's items of one criterion until the pools land on their prints,
no unit's figure leaving its own print (engine.synthesis_exchange; the fit report moves with
them).

With `alternatives` (unit attributes no table publishes, e.g. whether a service is paid) each
unit is fitted under every value (and candidate split, and shake) and keeps the way that
reproduces the most of its heaviest figures, stopping at the first that reproduces them all (the
regions are fitted after, for the way kept; `_best_way`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sapa.engine import lazy
from sapa.engine.data import build_frame
from sapa.engine.diagnostics import CannotRun, Diagnostic, SapaError, did_you_mean
from sapa.engine.formula import Frames, evaluate_rows
from sapa.engine.spec import Questionnaire, Spec
from sapa.engine.survey import ItemWeights
from sapa.engine.synth import pooled as pooled
from sapa.engine.synth import skips as skips
from sapa.engine.synth.exchange import Figures
from sapa.engine.synth.fit import Cells, Goal, fit, marks
from sapa.engine.synth.limits import check_fittable
from sapa.engine.synth.skips import Slot
from sapa.engine.synth.targets import (
    Targets,
    catalogue,
    read_targets,
    region_weights,
    unit_channels,
    unit_counts,
)

optimize = lazy.module("scipy.optimize")  # SciPy loads when a fit first runs

Progress = Callable[[int, int], None]
Sizes = dict[str, tuple[int, dict[str, int]]]  # channel -> respondents, flagged per routing field
SPLITS = 3  # channel splits tried per unit and variant, best reachability first
SHAKEN_UP_TO = 40  # units of at most this many respondents also try variations of their skips
SHAKES = 12  # how many variations


@dataclass(frozen=True)
class Synthesis:
    """The tables to write, and per unit how close each published figure came."""

    tables: dict[str, pd.DataFrame]
    report: pd.DataFrame
    pooled: pd.DataFrame | None = None  # a pooled table's figures (`pooled.items`), after
    exchanges: int = 0  # the answers exchanged between items to bring them there


def synthesize(spec: Spec, published: Path, seed: int = 0, progress: Progress | None = None,
               only: Collection[str] | None = None) -> Synthesis:
    """Catalogues and respondents for `spec`, fitted to the tables in `published`.

    With `alternatives` (unit attributes the report does not publish, such as whether a service
    is paid), every unit is fitted once per value and candidate channel split (`_sizes`) and
    keeps the way under which the most of its heaviest published figures are reproduced (the
    first on a tie; the first that reproduces all ends the search); its regional figures are
    fitted after, for the way kept only (that fit is the slow part). With `only`, just
    those units are built, each exactly as in the whole run before the exchanges between
    items (its random stream is its own; the exchanges need every unit, and are not made)."""
    plan = spec.synthesis
    assert plan is not None, "synthesize needs a spec with a synthesis: section"
    check_fittable(spec)
    survey = spec.survey
    assert survey is not None
    unit_table = survey.unit_link.parent
    raw = {name: catalogue(published, entry) for name, entry in plan["catalogues"].items()}
    catalogues = {name: _typed(spec, name, frame) for name, frame in raw.items()}
    options = plan.get("alternatives") or {}
    variants = [_typed(spec, unit_table, raw[unit_table].assign(**dict(zip(options, values,
                                                                          strict=True))))
                for values in itertools.product(*options.values())]
    unit_key = survey.unit_link.key[0]
    counts = unit_counts(published, plan["respondents"])
    channels = unit_channels(published, plan)
    targets = read_targets(published, plan, survey)
    regions = region_weights(published, plan["regions"])
    answering = pooled.answering_shares(published, plan, survey, targets, counts)
    routed = pooled.routed_counts(published, plan, survey, targets, counts)
    splits = pooled.item_splits(published, plan, survey, targets, counts, _items_asked(
        spec, plan, variants[0], list(targets))) if plan.get("pooled") else {}
    parts, reports = [], []
    figures: dict[str, Figures] = {}
    chosen: dict[str, int] = {}  # unit -> index of the variant it keeps
    surveyed = [u for u in catalogues[unit_table][unit_key]
                if counts.get(u, 0) > 0 and channels.get(u)]
    unknown = sorted(set(only or ()) - set(surveyed))
    if unknown:
        raise CannotRun([Diagnostic("D407", f"unit '{u}' has no respondents in the published "
                                    "tables", hint=did_you_mean(u, surveyed)) for u in unknown])
    todo = [(position, u) for position, u in enumerate(surveyed) if only is None or u in only]
    empty = Targets(criteria={}, items={}, totals={}, channel_zones={}, unit_zones={})
    for done, (position, code) in enumerate(todo):
        known = targets.get(code, empty)
        unit = _Unit(code, counts[code], channels[code], known, list(known.regional),
                     answering.get(code, {}), routed.get(code, {}), splits.get(code, {}))
        way, made = _best_way(spec, plan, unit, variants, regions, (seed, position))
        if made is None:  # the regions' fit is slow: it runs once, for the way kept
            made = _unit_respondents(spec, plan, unit, way, regions, variants[way.variant],
                                     np.random.default_rng([seed, position]))
        parts.append(made[0])
        reports.append(made[1])
        if made[2] is not None:
            figures[code] = made[2]
        chosen[code] = way.variant
        if progress:
            progress(done + 1, len(todo))
    catalogues[unit_table] = pd.concat(
        [variants[chosen.get(code, 0)].iloc[[i]]
         for i, code in enumerate(variants[0][unit_key])], ignore_index=True)
    respondents = pd.concat(parts, ignore_index=True)
    report = pd.concat(reports, ignore_index=True)
    pooled_figures, exchanges = None, 0
    if only is None and (plan.get("pooled") or {}).get("items"):
        pooled_figures, exchanges = pooled.exchanged(
            spec, plan, pooled.printed_criteria(published, plan, survey), respondents, report,
            figures, np.random.default_rng([seed, len(surveyed)]))
    respondents.insert(0, "respondent_id", [f"r{i:06d}" for i in range(len(respondents))])
    for item in dict.fromkeys(i.name for q in survey.questionnaires for i in q.items):
        if item not in respondents:
            respondents[item] = np.nan  # asked of nobody: an empty column, not a missing one
    return Synthesis({**catalogues, survey.respondents: respondents}, report, pooled_figures,
                     exchanges)


def _typed(spec: Spec, name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """A catalogue through the spec's data contract, as the rating run will read it."""
    typed, problems = build_frame(spec.tables[name], frame, lambda row, column: None,
                                  f"synthesized {name}")
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise SapaError(errors)
    return typed


# ----------------------------------------------------------------------------- published figures
@dataclass(frozen=True)
class _Way:
    """One way to build a unit where the report leaves a choice: the value of its unpublished
    attributes (index into the variants), its respondents per channel, and a shake of its
    skips (0: none; k: the k-th random variation, for small units)."""

    variant: int
    sizes: Sizes
    shake: int = 0


Made = tuple[pd.DataFrame, pd.DataFrame, Figures | None]  # respondents, fit report, and its
#                                     figures as functions of item values (None: by region too)


def _best_way(spec: Spec, plan: Mapping[str, Any], unit: _Unit, variants: list[pd.DataFrame],
              regions: tuple[np.ndarray, np.ndarray], key: tuple[int, int]
              ) -> tuple[_Way, Made | None]:
    """The way that reproduces the most of the unit's own figures (the most of the heaviest
    first; the first on a tie; the first that reproduces all ends the search), and what it made,
    unless the unit has regions still to fit (None). Tried: every variant with each of its
    candidate channel splits; then, for a unit of at most SHAKEN_UP_TO respondents still short,
    SHAKES variations of the best one's skips (the first two: one or two respondents answer
    none of the items, `skips.leave_out`; then also a few respondents more skip an item or give
    a non-answer, `skips.shake`): a 0.1 pp print over a dozen respondents is reached or not by which
    items have one answer less."""
    whole = replace(unit, groups=[])
    ways = [_Way(k, sizes) for k, units in enumerate(variants)
            for sizes in _sizes(spec, plan, whole, units)]
    small = unit.n <= SHAKEN_UP_TO
    if len(ways) == 1 and unit.groups and not small:
        return ways[0], None
    tried: list[tuple[_Way, Made]] = []

    def reached(way: _Way) -> bool:
        made = _unit_respondents(spec, plan, whole, way, regions, variants[way.variant],
                                 np.random.default_rng(list(key)))  # the ways share draws
        tried.append((way, made))
        return bool(made[1]["reproduced"].all())

    def best() -> tuple[_Way, Made]:
        return max(tried, key=lambda t: (*_reproduced_by_weight(t[1][1]), -tried.index(t)))

    if not any(reached(way) for way in ways) and small:
        base = best()[0]
        any(reached(replace(base, shake=k)) for k in range(1, SHAKES + 1))
    way, made = best()
    return way, (None if unit.groups else made)


def _reproduced_by_weight(report: pd.DataFrame) -> tuple[int, ...]:
    """How many figures are reproduced at each weight, heaviest first: three criterion rows
    (which feed no published rating) do not outweigh a provider row (which does)."""
    counts = report.groupby("weight")["reproduced"].sum()
    return tuple(int(counts[w]) for w in sorted(counts.index, reverse=True))


def _items_asked(spec: Spec, plan: Mapping[str, Any], units: pd.DataFrame, codes: list[str]
                 ) -> dict[str, set[str]]:
    """Per unit: the items its respondents are asked when no routing flag is set (the spec's
    asked_if evaluated on one respondent of each unit)."""
    survey = spec.survey
    assert survey is not None
    probe = pd.DataFrame({plan["unit_column"]: codes,
                          **{flag: False for flag in plan.get("routing", {})}})
    out: dict[str, set[str]] = {code: set() for code in codes}
    for questionnaire in survey.questionnaires:
        for item, where in _asked(spec, questionnaire, probe, units).items():
            for code in np.array(codes)[where]:
                out[code].add(item)
    return out


# ------------------------------------------------------------------------------ one unit


@dataclass(frozen=True)
class _Unit:
    """What is known about one unit before its answers are chosen."""

    code: str
    n: int
    channels: list[str]
    targets: Targets
    groups: list[str]  # regions with published figures for this unit ([] = none)
    answering: Mapping[str, float] = field(default_factory=dict)  # criterion -> share answering
    routed: Mapping[str, float] = field(default_factory=dict)  # routing flag -> how many, wanted
    splits: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # item -> start move


def _unit_respondents(spec: Spec, plan: Mapping[str, Any], unit: _Unit, way: _Way,
                      regions: tuple[np.ndarray, np.ndarray], units: pd.DataFrame,
                      rng: np.random.Generator) -> Made:
    """The unit's respondents with their answers, and how close each published figure came."""
    survey = spec.survey
    assert survey is not None
    frames = _unit_frames(spec, plan, unit, way.sizes, regions, rng)
    shake = (way.shake, np.random.default_rng([way.shake, int(rng.integers(2**32))])
             ) if way.shake else None
    slots, cells, who = _cells(spec, frames, unit, units, plan["regions"]["column"], shake)
    goals = _goals(spec, plan, slots, cells, unit)
    top = int(max(survey.satisfied))
    result = fit(cells, goals, top)
    non_answer = min(survey.non_answers) if survey.non_answers else np.nan
    answers: dict[str, dict[str, np.ndarray]] = {q.name: {} for q, _ in frames}
    sizes = {q.name: len(frame) for q, frame in frames}
    for c, (slot, members) in enumerate(zip(cells.slot, who, strict=True)):
        questionnaire, item = slots[slot]
        column = answers[questionnaire.name].setdefault(
            item.name, np.full(sizes[questionnaire.name], np.nan))
        given = np.concatenate([marks(int(result.total[c]), int(result.top[c]),
                                      int(cells.rated[c]), top),
                                np.full(cells.asked[c] - cells.rated[c], non_answer)])
        column[members] = rng.permutation(given)
    out = pd.concat([pd.concat([frame, pd.DataFrame(answers[q.name], index=frame.index)], axis=1)
                     for q, frame in frames], ignore_index=True)
    value, half = (np.array([getattr(g, a) for g in goals]) for a in ("value", "half_width"))
    with np.errstate(invalid="ignore"):  # NaN range: the goal is met
        contradicted = ((value + half < result.possible[:, 0] - 1e-9)
                        | (value - half > result.possible[:, 1] + 1e-9))
    report = pd.DataFrame({
        "unit": unit.code, "figure": [g.label for g in goals],
        "statistic": [g.stat for g in goals], "published": [g.value for g in goals],
        "synthesized": result.achieved, "met": result.met, "reproduced": result.reproduced,
        "weight": [g.weight for g in goals], "possible_low": result.possible[:, 0],
        "possible_high": result.possible[:, 1], "contradicted": contradicted})
    figures = None
    if all(g.view < 0 for g in goals):
        figures = Figures([(q.name, i.name) for q, i in slots],
                          np.array([g.weights for g in goals]).reshape(len(goals), len(slots)),
                          np.array([g.stat == "score" for g in goals], dtype=bool), value,
                          half, np.array([g.tolerance for g in goals]))
    return out, report, figures


def _unit_frames(spec: Spec, plan: Mapping[str, Any], unit: _Unit, sizes: Sizes,
                 regions: tuple[np.ndarray, np.ndarray],
                 rng: np.random.Generator) -> list[tuple[Questionnaire, pd.DataFrame]]:
    """The unit's respondents per channel: contact, region and routing fields, no answers."""
    survey = spec.survey
    assert survey is not None
    questionnaires = {q.name: q for q in survey.questionnaires}
    region_weight = dict(zip(regions[0], regions[1], strict=True))
    if unit.groups:
        region_weight = _balanced(unit, region_weight, _weights(
            (plan.get("regional") or {}).get("weight", 1.0)), skips.printing(plan, survey))
    frames = []
    for name, (size, flagged) in sizes.items():
        if size == 0:
            continue
        if unit.groups:  # respondents only in the regions the unit publishes figures for
            counts = skips.shared_out(size, unit.groups, region_weight)
            drawn = np.repeat(list(counts), list(counts.values()))
        else:
            drawn = rng.choice(regions[0], size=size, p=regions[1])
        frame = pd.DataFrame({
            plan["unit_column"]: [unit.code] * size,
            plan["contact"]["column"]: plan["contact"]["values"][name],
            plan["regions"]["column"]: drawn})
        for flag, rule in plan.get("routing", {}).items():
            chosen = np.zeros(size, dtype=bool)
            order = _pulled(unit, name, rule) if unit.groups else None
            if order is None:
                chosen[rng.choice(size, flagged[flag], replace=False)] = True
            else:
                chosen[_spread(drawn, order, flagged[flag])] = True
            frame[flag] = chosen
        frames.append((questionnaires[name], frame))
    return frames


def _pulled(unit: _Unit, questionnaire: str, rule: Any) -> list[str] | None:
    """The regions where respondents routed to some criteria (`routing`, e.g. only those who
    complained are asked some items) go first: a region's score includes such a criterion only
    where they are, and it pulls the score toward its own value. So a criterion printed below
    the channel's total goes to the regions printed lowest (a criterion at 2,75 beside a region
    at 3,84), one printed above to the highest. None where no criterion or total says which
    way."""
    criteria = rule.get("criteria") if isinstance(rule, Mapping) else None
    scores = [unit.targets.criteria[(questionnaire, c)][0] for c in criteria or ()
              if (questionnaire, c) in unit.targets.criteria]
    total = unit.targets.totals.get(questionnaire, unit.targets.unit_total)
    if not scores or total is None or np.mean(scores) == total[0]:
        return None
    lowest_first = np.mean(scores) < total[0]
    return sorted(unit.groups, key=lambda g: unit.targets.regional[g][0],
                  reverse=not lowest_first)


def _spread(drawn: np.ndarray, order: list[str], count: int) -> np.ndarray:
    """`count` respondents, one per region in `order`, then a second per region, and so on."""
    members = [np.flatnonzero(drawn == region) for region in order]
    picked = [m[depth] for depth in range(max(map(len, members), default=0))
              for m in members if depth < len(m)]
    return np.array(picked[:count], dtype=int)


def _balanced(unit: _Unit, shares: Mapping[str, float], weight: Mapping[str, float],
              printed: skips.Printing) -> dict[str, float]:
    """The unit's regional shares, as near the sample's (`regions`) as can be while the regions'
    published figures, weighted by the shares, average to the unit's own (its total is their
    share-weighted mean when every channel splits alike). At the sample's shares they often do
    not: one region then absorbs the difference and misses its figure far.
    A linear programme: the least relative change of the shares, each kept at a third of its
    sample share or more; where both averages cannot be balanced, the heavier is."""
    start = np.array([shares.get(g, 0.0) for g in unit.groups])
    start = start / start.sum() if start.sum() > 0 else np.full(len(start), 1 / len(start))
    total = unit.targets.unit_total
    figures = np.array([unit.targets.regional[g] for g in unit.groups], dtype=float)
    stats = [k for k, stat in enumerate(("score", "satisfaction"))
             if total is not None and not np.isnan(total[k]) and not np.isnan(figures[:, k]).any()
             and weight[stat] > 0]
    if not stats or len(unit.groups) < 2:
        return dict(zip(unit.groups, start.tolist(), strict=True))
    g, m = len(start), len(stats)
    half = np.array([printed.half[skips.STATISTICS[k]] for k in stats])
    heavier = np.array([weight[("score", "satisfaction")[k]] for k in stats])
    price = 1000.0 ** np.searchsorted(np.unique(heavier), heavier) / half
    # variables: shares w | rise above the start | fall below it | miss of each average
    cost = np.concatenate([np.zeros(g), 1 / start, 1 / start, 1000 * price])
    equal = np.vstack([np.concatenate([np.ones(g), np.zeros(2 * g + m)]),
                       np.hstack([np.eye(g), -np.eye(g), np.eye(g), np.zeros((g, m))])])
    rows, bound = [], []
    for j, k in enumerate(stats):
        miss = np.zeros(m)
        miss[j] = -1.0
        for sign in (1.0, -1.0):  # sign * (sum w * figure - total) <= half / 2 + miss
            rows.append(np.concatenate([sign * figures[:, k], np.zeros(2 * g), miss]))
            bound.append(half[j] / 2 + sign * total[k])
    found = optimize.linprog(cost, A_ub=np.array(rows), b_ub=np.array(bound), A_eq=equal,
                             b_eq=np.concatenate([[1.0], start]),
                             bounds=[(w / 3, 1) for w in start] + [(0, None)] * (2 * g + m),
                             method="highs")
    chosen = found.x[:g] if found.status == 0 else start
    return dict(zip(unit.groups, chosen.tolist(), strict=True))


def _sizes(spec: Spec, plan: Mapping[str, Any], unit: _Unit, units: pd.DataFrame
           ) -> list[Sizes]:
    """Per channel: how many respondents, and per routing field how many are flagged; up to
    SPLITS candidate splits over the channels, the likeliest first.

    A printed figure is a mean of fractions of whole respondents, so it is reachable only for
    some sizes (82.0 % over 3 items of 106 respondents is not). The splits are ranked by how
    many of the unit's published criterion and zone figures they make reachable one by one (by
    the figures' weights), then by nearness to the plan's default shares (channel_shares,
    routing share). One figure at a time is not all of them together (four office respondents
    reach 75 % but not a zone's 90.3 % beside it), so the caller fits more than one."""
    survey = spec.survey
    assert survey is not None
    questionnaires = {q.name: q for q in survey.questionnaires}
    routing = {field: (rule, None) if not isinstance(rule, Mapping) else
               (rule["share"], rule.get("criteria"))
               for field, rule in plan.get("routing", {}).items()}
    default = skips.shared_out(unit.n, unit.channels, plan.get("channel_shares", {}))

    shared = survey.shared_zones
    printed = skips.printing(plan, survey)
    weight = {part: _weights((plan.get(part) or {}).get("weight", 1.0))["score"]
              for part in ("criteria", "zones")}

    def items_per_figure(name: str, flags: dict[str, bool]) -> dict[tuple[str, str], int]:
        """Items asked per criterion and per zone (a zone counts the shared items too)."""
        probe = pd.DataFrame({**{f: [v] for f, v in flags.items()},
                              plan["unit_column"]: [unit.code]})
        asked = _asked(spec, questionnaires[name], probe, units)
        items = questionnaires[name].items
        own = {i.zone for i in items if i.zone and i.zone not in shared}
        out: dict[tuple[str, str], int] = {}
        for item in items:
            n = int(asked[item.name][0])
            keys = [("criteria", item.criterion)]
            keys += [("zones", z) for z in (own if item.zone in shared else {item.zone} & own)]
            for key in keys:
                out[key] = out.get(key, 0) + n
        return out

    def reachable(name: str, size: int, counts: dict[tuple[str, str], int],
                  only: list[str] | None = None) -> float:
        """How many of the channel's printed criterion and zone figures a mean over `size`
        respondents can print, by the figures' weights."""
        found = 0.0
        for (part, key), m in counts.items():
            known = unit.targets.criteria if part == "criteria" else unit.targets.channel_zones
            value = known.get((name, key))
            if not m or value is None or (only is not None and key not in only):
                continue
            found += weight[part] * sum(skips.printable(*value, m, size, printed))
        return found

    always = {name: items_per_figure(name, dict.fromkeys(routing, False))
              for name in unit.channels}
    def flagged(split: dict[str, int]) -> Sizes:
        out = {}
        for name, size in split.items():
            chosen = {}
            for flag, (share, needed_by) in routing.items():
                wanted = needed_by is None or any((name, c) in unit.targets.criteria
                                                  for c in needed_by)
                if not wanted or size < 2:
                    chosen[flag] = int(round(share * size)) if needed_by is None else 0
                    continue
                only_flag = {f: f == flag for f in routing}
                counts = {key: m - always[name].get(key, 0)
                          for key, m in items_per_figure(name, only_flag).items()
                          if key[0] == "criteria"}
                wanted_count = unit.routed.get(flag, share * size)
                chosen[flag] = max(range(2, size + 1), key=lambda k: (
                    reachable(name, k, counts, needed_by), -abs(k - wanted_count)))
            out[name] = (size, chosen)
        return out

    @cache
    def reach(name: str, size: int) -> float:
        return reachable(name, size, always[name]) if size > 0 else 0.0

    # candidates: the default split with respondents moved between two of the channels (every
    # split, for two channels), ranked by what they make reachable, then by nearness
    ranks: dict[tuple[int, ...], tuple[float, int, int]] = {}
    for first, second in itertools.combinations(unit.channels, 2) if unit.n > 2 else ():
        pair = default[first] + default[second]
        for k in range(1, pair):
            split = {**default, first: k, second: pair - k}
            sizes = tuple(split[c] for c in unit.channels)
            ranks.setdefault(sizes, (-sum(reach(c, split[c]) for c in unit.channels),
                                     abs(k - default[first]), len(ranks)))
    ranked = sorted(ranks, key=ranks.__getitem__)[:SPLITS]
    splits = [dict(zip(unit.channels, sizes, strict=True)) for sizes in ranked] or [default]
    return [flagged(split) for split in splits]


def _cells(spec: Spec, frames: list[tuple[Questionnaire, pd.DataFrame]], unit: _Unit,
           units: pd.DataFrame, region_column: str,
           shake: tuple[int, np.random.Generator] | None = None
           ) -> tuple[list[Slot], Cells, list[np.ndarray]]:
    """One cell per targeted item and region group: who was asked, how many rate, and the
    start values (the criterion's published figure, or the item's where it is printed).

    Who skips an item and how many give a non-answer are decided per item over the whole unit
    (where the published figures are), then shared out over the groups by size."""
    survey = spec.survey
    assert survey is not None
    printed = skips.printing(spec.synthesis or {}, survey)
    slots: list[Slot] = []
    items: list[skips.Item] = []
    groups = []
    for questionnaire, frame in frames:
        start = _start_values(unit.targets, questionnaire)
        asked = _asked(spec, questionnaire, frame, units)
        group = (pd.Categorical(frame[region_column], categories=unit.groups).codes
                 if unit.groups else np.zeros(len(frame), dtype=int))
        for item in questionnaire.items:
            if item.name not in start or not asked[item.name].any():
                continue
            slots.append((questionnaire, item))
            score, share = start[item.name]
            score = float(np.clip(score, 1.0, printed.top))
            share = (score - 1) / 4 * 100 if np.isnan(share) else share
            members = np.flatnonzero(asked[item.name])
            items.append(skips.Item(len(slots) - 1, members, score, share))
            groups.append(group)
    skips.answering(slots, items, unit.answering)
    if shake is not None:  # before the skips, which are decided on who is left
        skips.leave_out(slots, items, shake[0] % 3, shake[1])
    skips.skip_some(slots, items, printed)
    if shake is not None and shake[0] > 2:
        skips.shake(items, shake[1], printed)
    for item in items:  # after the counts, which are decided on the printed values
        move = unit.splits.get(slots[item.slot][1].name)
        if move is not None:
            item.score = float(np.clip(item.score + move[0], 1.0, printed.top))
            item.share = float(np.clip(item.share + move[1], 0.0, 100.0))
    rows, who = [], []
    for item, group in zip(items, groups, strict=True):
        present = [g for g in range(max(len(unit.groups), 1)) if (group[item.who] == g).any()]
        sizes = [int((group[item.who] == g).sum()) for g in present]
        silent = skips.shared_out(len(item.who) - item.rated, present, dict(zip(present, sizes,
                                                                      strict=True)))
        for g, size in zip(present, sizes, strict=True):
            who.append(item.who[group[item.who] == g])
            rows.append((item.slot, g, size, size - min(silent[g], size - 1), item.score,
                         item.share))
    table = np.array(rows, dtype=float).reshape(-1, 6)
    cells = Cells(slot=table[:, 0].astype(int), group=table[:, 1].astype(int),
                  asked=table[:, 2].astype(int), rated=table[:, 3].astype(int),
                  score=table[:, 4], share=table[:, 5])
    return slots, cells, who


def _start_values(targets: Targets, questionnaire: Questionnaire
                  ) -> dict[str, tuple[float, float]]:
    """Each targeted item's starting (score, %): its criterion's figure, the item's own where
    the criterion is printed item by item, the channel total where only that is published."""
    q = questionnaire.name
    criteria = {c: v for (name, c), v in targets.criteria.items() if name == q}
    if not criteria and q in targets.totals:
        criteria = {i.criterion: targets.totals[q] for i in questionnaire.items}
    out = {i.name: criteria[i.criterion] for i in questionnaire.items if i.criterion in criteria}
    for (name, criterion), values in targets.items.items():
        members = [i.name for i in questionnaire.items if i.criterion == criterion]
        if name == q and len(values) > 1 and len(members) == len(values):
            out.update(zip(members, values, strict=True))
    return out


def _goals(spec: Spec, plan: Mapping[str, Any], slots: list[Slot], cells: Cells,
           unit: _Unit) -> list[Goal]:
    """Every published figure of the unit as a linear function of its item values."""
    survey = spec.survey
    assert survey is not None
    targets = unit.targets
    weight = {part: _weights((plan.get(part) or {}).get("weight", 1.0))
              for part in ("criteria", "zones", "unit_totals", "regional")}
    half = skips.printing(plan, survey).half
    tolerance = plan["tolerance"]
    goals: list[Goal] = []

    def add(label: str, view: int, weights: np.ndarray | None, value: tuple[float, float],
            part: str) -> None:
        for stat, figure in zip(("score", "satisfaction"), value, strict=True):
            if weights is not None and figure is not None and not np.isnan(figure):
                goals.append(Goal(label, stat, view, weights, float(figure), half[stat],
                                  tolerance[stat], weight[part][stat]))

    for view in [-1, *range(len(unit.groups))]:
        inside = cells.group == view if view >= 0 else np.ones(len(cells.slot), dtype=bool)
        present = np.zeros(len(slots), dtype=bool)
        present[np.unique(cells.slot[inside])] = True
        tree = ItemWeights(survey, slots, present)
        if view >= 0:
            region = unit.groups[view]
            add(f"{region}: total", view, tree.unit(), targets.regional[region],
                "regional")
            continue
        for (q, criterion), value in targets.criteria.items():
            add(f"{q}.{criterion}", view, tree.criterion(q, criterion), value, "criteria")
        for q, value in targets.totals.items():
            add(f"{q}: total", view, tree.channel(q), value, "criteria")
        if targets.unit_total is not None:
            add("total", view, tree.unit(), targets.unit_total, "unit_totals")
        for (q, zone), value in targets.channel_zones.items():
            add(f"{q}: {zone} zone", view, tree.zone(q, zone), value, "zones")
        for zone, value in targets.unit_zones.items():
            add(f"{zone} zone", view, tree.unit_zone(zone), value, "zones")
    return goals


def _weights(raw: float | Mapping[str, float]) -> dict[str, float]:
    """A part's priority per statistic: one number for both, or one each (a part whose scores
    a published rating verifies but whose % it does not gives way on the % first)."""
    if isinstance(raw, Mapping):
        return {stat: float(raw.get(stat, 1.0)) for stat in ("score", "satisfaction")}
    return {"score": float(raw), "satisfaction": float(raw)}


def _asked(spec: Spec, questionnaire: Questionnaire, frame: pd.DataFrame,
           units: pd.DataFrame) -> dict[str, np.ndarray]:
    """Where each item's asked_if holds, evaluated by the engine on these respondents."""
    survey = spec.survey
    assert survey is not None
    tables = {survey.respondents: frame.reset_index(drop=True),
              survey.unit_link.parent: units}
    frames = Frames(tables)
    out = {}
    for item in questionnaire.items:
        if item.asked_if is None:
            out[item.name] = np.ones(len(frame), dtype=bool)
        else:
            out[item.name] = evaluate_rows(item.asked_if, frames, survey.respondents).fillna(
                False).to_numpy(dtype=bool)
    return out


def write(tables: Mapping[str, pd.DataFrame], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
