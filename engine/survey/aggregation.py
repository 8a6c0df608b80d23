"""Survey aggregation: respondent rows -> item statistics -> criteria -> channels -> units, and
zones of responsibility, each level combined by the rule the spec declares (Survey.levels: mean,
weighted or pooled; unweighted means by default).

Respondents are tallied, not kept: one vectorised pass over a batch of them counts each code of
each item per group (a unit, or a unit and a breakdown value such as a region) with np.bincount.
Tallies of batches add up (`merged`), so a file far larger than memory is read a batch at a
time and gives the same results as one pass over all of it. Everything above the item level
works on arrays of item figures from those counts, nodes x groups (levels.py). The spec names
criteria, zones and channels; this module knows none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property, partial, reduce

import numpy as np
import pandas as pd
from scipy import sparse

from sapa.engine.formula import REPLICATE, Column, Frames, Node, evaluate_rows, evaluate_together
from sapa.engine.spec import TOTALS, Breakdown, Survey, count_column, level_columns, result_columns
from sapa.engine.survey.levels import Figures, Nodes, Sums, all_levels, hierarchy, long_table

POOLED = "all"  # the group label of a pooled breakdown without `by`


@dataclass
class SurveyResults:
    """`table`: one row per unit (or unit x breakdown value), the columns formulas can read.
    `long`: every level (item, criterion, zone, channel) per group, for output and tests, with
    the sums over every answer beneath each row (TOTALS) and the count of each mark and code;
    built by `levels` when first read (a run that neither writes nor reads it never builds
    it); None where it was not asked for (a bootstrap whose formulas do not read it).
    `ignored`: answers present where the item was not to be asked, per item (reported)."""

    table: pd.DataFrame
    levels: Callable[[], pd.DataFrame] | None
    ignored: dict[str, int]

    @cached_property
    def long(self) -> pd.DataFrame | None:
        return None if self.levels is None else self.levels()


@dataclass
class Tally:
    """What some respondents add to one results table, group by group. A group is a unit
    (`unit`: its row in the unit table, -1 in a pooled breakdown) with a breakdown value
    (`value`: its row in `values`, which holds the values in the order first met); groups are
    sorted by (unit, value). Per cell (a group, or a group in one bootstrap replicate: group by
    group, replicates within): the count of each code of each item (items x codes x cells),
    the respondents counted (`n`) and those each exclusion rule left out (rules x cells).
    `kept`: per group, whether any respondent of it is counted; a group only left-out
    respondents fall in is carried for their counts (a later batch may count some of it)
    and dropped at the end, as when the respondents are counted at once."""

    unit: np.ndarray
    value: np.ndarray
    values: pd.DataFrame
    counts: np.ndarray
    n: np.ndarray
    excluded: np.ndarray
    kept: np.ndarray
    pooled: bool = False


@dataclass
class Tallies:
    """A batch's tallies, one per results table, and the answers given where their item was
    not to be asked (per item). `replicates`: cells per group in a bootstrap (None: none)."""

    tables: dict[str, Tally]
    ignored: dict[str, int] = field(default_factory=dict)
    replicates: int | None = None


@dataclass
class _Grouping:
    """How respondents are grouped for one results table: the groups (as in Tally), the group
    of each respondent (-1 for none) and the respondents counted."""

    unit: np.ndarray
    value: np.ndarray
    values: pd.DataFrame
    position: np.ndarray
    included: np.ndarray
    kept: np.ndarray  # per group: some respondent of it is counted
    pooled: bool = False
    weights: np.ndarray | None = None  # respondents x replicates: times drawn (a bootstrap)

    @property
    def groups(self) -> int:
        return len(self.unit)

    @property
    def cells(self) -> int:
        return self.groups * (1 if self.weights is None else self.weights.shape[1])

    @cached_property
    def counted(self) -> np.ndarray:
        """The group of each respondent counted, -1 for the others."""
        return np.where(self.included, self.position, -1)

    def count(self, group: np.ndarray, slot: np.ndarray | None = None, slots: int = 1,
              rows: np.ndarray | None = None) -> np.ndarray:
        """How many respondents fall in each cell (and in each `slot`, 0..slots-1: slots x
        cells), each counted as often as it is drawn. `group`: the group of each (-1: not
        counted); `rows`: which respondents they are (default: all, in order)."""
        if self.weights is None:  # each slot's bin 0 takes the ones not counted (group -1)
            at = group + 1 if slot is None else slot * (self.groups + 1)
            if slot is not None:
                np.add(at, group, out=at)
                at += 1
            found = np.bincount(at, minlength=(self.groups + 1) * slots)
            return found.reshape(slots, self.groups + 1)[:, 1:].astype(float).ravel()
        at = group if slot is None else slot * self.groups + group
        keep = group >= 0
        rows = np.flatnonzero(keep) if rows is None else rows[keep]
        # (slot, group) x replicates = a one-hot matrix of these respondents' places times
        # their draws: one sparse product, laid out as slots x cells with no copy
        one_hot = sparse.csr_matrix((np.ones(len(rows)), (at[keep], rows)),
                                    shape=(self.groups * slots, self.weights.shape[0]))
        return np.asarray(one_hot @ self.weights).ravel()


def run_surveys(survey: Survey, frames: Frames, weights: np.ndarray | None = None,
                levels_table: bool = True) -> dict[str, SurveyResults]:
    """The results table and every breakdown table, from one pass over the respondents in
    `frames`. With `weights` (replicates x respondents: how often each is drawn), every table
    is computed once per replicate at once, its rows numbered by REPLICATE; the unit table
    then holds one copy per replicate (uncertainty.bootstrap). Without `levels_table`, the long
    table of every level is not built (a bootstrap whose formulas do not read it)."""
    return survey_results(survey, frames, tally(survey, frames, weights), levels_table)


def tally(survey: Survey, frames: Frames, weights: np.ndarray | None = None) -> Tallies:
    """Count one batch of respondents (the survey's table in `frames`) for every results
    table: one np.bincount (or sparse product, for replicates) per item and table."""
    evaluate_together(_conditions(survey), frames, survey.respondents)
    reason = _exclusion_reasons(survey, frames)
    replicates = None if weights is None else len(weights)
    groupings = _groupings(survey, frames, reason, replicates or 1)
    if weights is not None:
        drawn = np.ascontiguousarray(weights.T)
        for grouping in groupings.values():
            grouping.weights = drawn
    counts, ignored = _item_counts(survey, frames, groupings)
    tables = {}
    for name, g in groupings.items():
        excluded = np.zeros((len(survey.exclusions), g.cells))
        for i in range(len(survey.exclusions)):
            excluded[i] = g.count(np.where(reason == i, g.position, -1))
        tables[name] = Tally(g.unit, g.value, g.values, counts[name], g.count(g.counted),
                             excluded, g.kept, g.pooled)
    return Tallies(tables, ignored, replicates)


def _conditions(survey: Survey) -> list[Node]:
    """Every formula the survey evaluates over each respondent."""
    return [*(plan for _, plan in survey.exclusions),
            *(b.where for b in survey.breakdowns if b.where is not None),
            *(plan for b in survey.breakdowns for _, plan in b.keys
              if not isinstance(plan, Column)),
            *(q.when for q in survey.questionnaires),
            *(i.asked_if for q in survey.questionnaires for i in q.items
              if i.asked_if is not None)]


def merged(batches: Iterable[Tallies]) -> Tallies:
    """The tallies of several batches of respondents as one: counts add up group by group;
    breakdown values keep the order they were first met in, over all batches."""
    def add(a: Tallies, b: Tallies) -> Tallies:
        assert a.replicates is b.replicates is None, "replicates are tallied in one batch"
        ignored = {k: a.ignored.get(k, 0) + b.ignored.get(k, 0)
                   for k in dict.fromkeys([*a.ignored, *b.ignored])}
        return Tallies({name: _added(t, b.tables[name]) for name, t in a.tables.items()},
                       ignored)

    return reduce(add, batches)


def _added(a: Tally, b: Tally) -> Tally:
    """Two tallies of one results table as one (groups in the order of Tally). `a` is the
    running total of `merged`: when `b` has no group it lacks, `b` is added to it in place."""
    if a.values.columns.empty:  # the unit table's own groups: the same in every batch
        values, remap = a.values, np.zeros(1, dtype=np.int64)
    else:
        values = pd.concat([a.values, b.values], ignore_index=True).drop_duplicates(
            ignore_index=True)
        remap = pd.MultiIndex.from_frame(values).get_indexer(pd.MultiIndex.from_frame(b.values))
    size = max(len(values), 1)
    key_a = (a.unit + 1) * size + a.value
    key_b = (b.unit + 1) * size + remap[b.value]
    keys = np.union1d(key_a, key_b)
    if len(keys) == len(key_a) and len(values) == len(a.values):
        out = a  # no new group, as in most batches: no new arrays
    else:
        out = Tally(keys // size - 1, keys % size, values,
                    np.zeros((*a.counts.shape[:2], len(keys))), np.zeros(len(keys)),
                    np.zeros((len(a.excluded), len(keys))), np.zeros(len(keys), dtype=bool),
                    a.pooled)
        _add_into(out, np.searchsorted(keys, key_a), a)
    _add_into(out, np.searchsorted(keys, key_b), b)
    return out


def _add_into(total: Tally, at: np.ndarray, part: Tally) -> None:
    """`part`'s counts added to `total`'s groups `at`."""
    total.counts[..., at] += part.counts
    total.n[at] += part.n
    total.excluded[:, at] += part.excluded
    total.kept[at] |= part.kept


def survey_results(survey: Survey, frames: Frames, tallies: Tallies,
                   levels_table: bool = True) -> dict[str, SurveyResults]:
    """Every results table from the tallies: item figures from the counts, then the levels."""
    tree = hierarchy(survey)
    units = _unit_names(survey, frames, tallies.replicates or 1)
    out = {}
    for name, counted in tallies.tables.items():
        counted = _kept(counted, tallies.replicates or 1)
        labels = _labels(counted, units, tallies.replicates)
        levels = all_levels(tree, _item_figures(survey, counted.counts))
        table = _wide(survey, labels, tree, levels, counted.n, counted.excluded)
        table = table[list(labels.columns) + _columns(survey)]
        if name != survey.results:
            table = table[table["n"] > 0].reset_index(drop=True)
        long = partial(_long, survey, tree, levels, labels) if levels_table else None
        out[name] = SurveyResults(table, long, tallies.ignored)
    return out


def _kept(tally: Tally, replicates: int) -> Tally:
    """The tally without the groups no respondent is counted in."""
    if tally.kept.all():
        return tally
    cells = np.repeat(tally.kept, replicates)
    return Tally(tally.unit[tally.kept], tally.value[tally.kept], tally.values,
                 tally.counts[..., cells], tally.n[cells], tally.excluded[:, cells],
                 tally.kept[tally.kept], tally.pooled)


def _unit_names(survey: Survey, frames: Frames, copies: int) -> np.ndarray:
    """The units' keys as text; in a bootstrap the unit table is repeated once per replicate
    and respondents join the first copy."""
    units = frames.tables[survey.unit_link.parent][survey.unit_link.key[0]]
    names = units.astype(str).to_numpy()
    return names[: len(names) // copies]


def _labels(counted: Tally, units: np.ndarray, replicates: int | None) -> pd.DataFrame:
    """What each cell stands for: the unit and the breakdown value (and the replicate)."""
    parts = []
    if not counted.pooled:
        parts.append(pd.DataFrame({"unit": units[counted.unit]}))
    if not counted.values.columns.empty:
        parts.append(counted.values.iloc[counted.value].reset_index(drop=True))
    labels = pd.concat(parts, axis=1)
    if replicates is not None:
        labels = labels.iloc[np.repeat(np.arange(len(labels)), replicates)].reset_index(
            drop=True)
        labels[REPLICATE] = np.tile(np.arange(replicates), len(counted.unit))
    return labels


def _groupings(survey: Survey, frames: Frames, reason: np.ndarray, copies: int = 1
               ) -> dict[str, _Grouping]:
    """How respondents are grouped for the results table and each breakdown. `copies`: how
    many times the unit table is repeated (a bootstrap's replicates); the first copy is used."""
    unit_pos = frames.positions(survey.unit_link)
    size = frames.length(survey.unit_link.parent) // copies
    included = (reason < 0) & (unit_pos >= 0)
    units = np.arange(size)
    groupings = {survey.results: _Grouping(units, np.zeros(size, dtype=np.int64),
                                           pd.DataFrame(index=range(1)), unit_pos, included,
                                           np.ones(size, dtype=bool))}
    for breakdown in survey.breakdowns:
        codes, values = _key_codes(breakdown, frames, survey.respondents)
        kept = included & (codes >= 0)
        if breakdown.where is not None:
            kept &= evaluate_rows(breakdown.where, frames, survey.respondents).fillna(
                False).to_numpy(dtype=bool)
        width = max(len(values), 1)
        position = np.where(unit_pos >= 0, codes, -1) if breakdown.pooled else \
            np.where((unit_pos >= 0) & (codes >= 0), unit_pos * width + codes, -1)
        # groups with respondents counted or left out (those only left out: see Tally.kept)
        grouped = (kept | ((reason >= 0) & (codes >= 0))) & (position >= 0)
        used = np.unique(position[grouped])
        unit = np.full(len(used), -1) if breakdown.pooled else used // width
        groupings[breakdown.name] = _Grouping(unit, used % width, values,
                                              pd.Index(used).get_indexer(position), kept,
                                              np.isin(used, position[kept]), breakdown.pooled)
    return groupings


def cells_per_replicate(survey: Survey, frames: Frames) -> int:
    """Groups in the results table and every breakdown: the cells one bootstrap replicate adds
    to every level's arrays (to size its batches)."""
    reason = _exclusion_reasons(survey, frames)
    return sum(g.groups for g in _groupings(survey, frames, reason).values())


def _key_codes(breakdown: Breakdown, frames: Frames, respondents: str
               ) -> tuple[np.ndarray, pd.DataFrame]:
    """Each respondent's combination of key values as a code (-1 when a key is missing), and
    the combinations in the order first met, one column per key."""
    n = frames.length(respondents)
    if not breakdown.keys:
        return np.zeros(n, dtype=np.int64), pd.DataFrame({"group": [POOLED]})
    if len(breakdown.keys) == 1 and isinstance(breakdown.keys[0][1], Column):
        name, column = breakdown.keys[0]
        codes, values = frames.codes(column.table, column.name)
        return codes, pd.DataFrame({name: np.asarray(values, dtype=object)})
    keys = pd.DataFrame({name: evaluate_rows(plan, frames, respondents).astype(object)
                         for name, plan in breakdown.keys})
    if len(keys.columns) == 1:
        codes, values = pd.factorize(keys.iloc[:, 0])
        return codes, pd.DataFrame({keys.columns[0]: np.asarray(values, dtype=object)})
    complete = keys.notna().all(axis=1).to_numpy()
    codes = np.full(n, -1, dtype=np.int64)
    codes[complete] = keys[complete].groupby(list(keys.columns), sort=False).ngroup().to_numpy()
    return codes, keys[complete].drop_duplicates().reset_index(drop=True)


def run_survey_from_items(survey: Survey, frames: Frames, items: pd.DataFrame
                          ) -> dict[str, SurveyResults]:
    """The levels above the item from given statistics: rows (unit, questionnaire, item, score,
    satisfaction) for items, or with `criterion` instead of `item` for criteria. The reports
    publish their worked examples at item level and most services only at criterion level.
    A `table` column may name a pooled breakdown (its rows need no unit)."""
    unit_table = frames.tables[survey.unit_link.parent]
    units = unit_table[survey.unit_link.key[0]].astype(str).to_numpy()
    for column in ("item", "criterion", "table", "unit"):
        if column not in items.columns:
            items = items.assign(**{column: None})
    targets = {survey.results: pd.DataFrame({"unit": units})}
    out = {}
    for breakdown in survey.breakdowns:
        if breakdown.pooled and not breakdown.keys:
            targets[breakdown.name] = pd.DataFrame({"group": [POOLED]})
        else:  # statistics per breakdown value cannot be given: an empty table
            names = [name for name, _ in breakdown.keys]
            label = names if breakdown.pooled else ["unit", *names]
            out[breakdown.name] = SurveyResults(
                pd.DataFrame(columns=[*label, *_columns(survey)]),
                partial(pd.DataFrame, columns=[*label, *level_columns(list(_codes(survey)))]),
                {})
    tree = hierarchy(survey)
    for name, labels in targets.items():
        rows = items[items["table"].fillna(survey.results) == name]
        keys = rows["unit"] if name == survey.results else pd.Series(POOLED, index=rows.index)
        index = {label: i for i, label in enumerate(labels.iloc[:, 0].astype(str))}
        group = keys.astype(str).map(index).to_numpy(dtype=np.int64)
        levels = all_levels(tree, *_given_statistics(survey, tree, rows, group, len(labels)))
        nobody = np.zeros(len(labels))
        table = _wide(survey, labels, tree, levels, nobody,
                      np.zeros((len(survey.exclusions), len(labels))))
        out[name] = SurveyResults(table[[*labels.columns, *_columns(survey)]],
                                  partial(_long, survey, tree, levels, labels), {})
    return out


def _given_statistics(survey: Survey, tree: dict[str, Nodes], given: pd.DataFrame,
                      group: np.ndarray, cells: int
                      ) -> tuple[Figures, tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]]:
    """Given rows as item figures, and the criteria given without their items. A given row
    counts as one rater (its score is its marks' sum); counts of each code are unknown. The
    sums' leaves are the items, then the criteria."""
    score = pd.to_numeric(given["score"]).to_numpy(dtype=float)
    satisfaction = pd.to_numeric(given["satisfaction"]).to_numpy(dtype=float)
    one = np.ones(len(given))
    figures = {"score": score, "satisfaction": satisfaction, "asked": one, "rated": one}
    sums = {"total_asked": one, "total_rated": one, "total_marks": score,
            "total_satisfied": satisfaction / 100.0, "total_base": one,
            **{count_column(v): np.full(len(given), np.nan) for v in _codes(survey)}}
    questionnaire = given["questionnaire"].astype(str).to_numpy()
    is_item = given["item"].notna().to_numpy()
    n_items, n_criteria = len(tree["item"].keys), len(tree["criterion"].keys)
    leaves = Sums(_totals(survey), given={name: np.zeros((n_items + n_criteria, cells))
                                          for name in _totals(survey)})
    found = []
    for level, column, offset in (("item", "item", 0), ("criterion", "criterion", n_items)):
        index = tree[level].index
        rows = np.asarray([index.get((q, str(n)), -1) for q, n in
                           zip(questionnaire, given[column].to_numpy(), strict=True)],
                          dtype=np.int64)
        keep = (rows >= 0) & (is_item if level == "item" else ~is_item)
        for name, values in sums.items():
            leaves.given[name][offset + rows[keep], group[keep]] = values[keep]
        found.append((rows[keep], group[keep], {k: v[keep] for k, v in figures.items()}))
    (item_rows, item_cells, item_figures), criteria = found
    items = Figures(np.zeros((n_items, cells), dtype=bool), np.full((n_items, cells), np.nan),
                    np.full((n_items, cells), np.nan),
                    sparse.eye(n_items, n_items + n_criteria, format="csr"), leaves)
    items.exists[item_rows, item_cells] = True
    items.score[item_rows, item_cells] = item_figures["score"]
    items.satisfaction[item_rows, item_cells] = item_figures["satisfaction"]
    return items, criteria


def _long(survey: Survey, tree: dict[str, Nodes], levels: dict[str, Figures],
          labels: pd.DataFrame) -> pd.DataFrame:
    """The `<results>_levels` table of one results table (SurveyResults.long)."""
    return _labelled(long_table(tree, levels, _totals(survey)), labels)


def _labelled(long: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Group numbers replaced by what they stand for (unit, and the breakdown value); the
    statistics as float64, as formulas read them (the `<results>_levels` table)."""
    named = labels.iloc[long["group"].to_numpy(dtype=np.int64)].reset_index(drop=True)
    out = pd.concat([named, long.drop(columns="group").reset_index(drop=True)], axis=1)
    numbers = out.columns[len(labels.columns) + 3:]
    return out.astype(dict.fromkeys(numbers, "float64"))


def _columns(survey: Survey) -> list[str]:
    return result_columns(_criteria_of(survey), list(survey.zones),
                          [code for code, _ in survey.exclusions], list(_codes(survey)))


def _criteria_of(survey: Survey) -> dict[str, list[str]]:
    return {q.name: list(dict.fromkeys(i.criterion for i in q.items))
            for q in survey.questionnaires}


def counted_respondents(survey: Survey, frames: Frames) -> np.ndarray:
    """The respondents the survey counts: linked to a unit and left out by no exclusion."""
    return (_exclusion_reasons(survey, frames) < 0) & (frames.positions(survey.unit_link) >= 0)


def _exclusion_reasons(survey: Survey, frames: Frames) -> np.ndarray:
    """Index of the first exclusion rule each respondent meets, -1 for none."""
    n = frames.length(survey.respondents)
    reason = np.full(n, -1)
    for i, (_, plan) in enumerate(survey.exclusions):
        hit = evaluate_rows(plan, frames, survey.respondents).fillna(False).to_numpy(dtype=bool)
        reason[hit & (reason < 0)] = i
    return reason


def _codes(survey: Survey) -> np.ndarray:
    """The scale's marks and non-answer codes, sorted: each is counted (count_<code>)."""
    return np.unique(np.asarray([*survey.ratings, *survey.non_answers], dtype=float))


def _item_counts(survey: Survey, frames: Frames, groupings: dict[str, _Grouping]
                 ) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Per item and results table: how many of each cell were asked it and gave each mark or
    code (items x codes x cells), counted in one np.bincount (or sparse product) per item over
    the respondents asked. Conditions are evaluated once, however many items ask them."""
    respondents = frames.tables[survey.respondents]
    codes = _codes(survey)
    size = sum(len(q.items) for q in survey.questionnaires)
    out = {name: np.empty((size, len(codes), g.cells)) for name, g in groupings.items()}
    ignored: dict[str, int] = {}
    holds: dict[Node, np.ndarray] = {}

    def true_for(plan: Node) -> np.ndarray:
        if plan not in holds:
            holds[plan] = evaluate_rows(plan, frames, survey.respondents).fillna(
                False).to_numpy(dtype=bool)
        return holds[plan]

    place = _places(codes)
    counted = groupings[survey.results].included
    row = 0
    for q in survey.questionnaires:
        members = np.flatnonzero(true_for(q.when))  # each item looks at these rows only
        groups = {name: g.counted[members] for name, g in groupings.items()}
        for item in q.items:
            values = respondents[item.name].to_numpy(dtype=float)[members]
            present = ~np.isnan(values)
            if item.asked_if is not None:
                applies = true_for(item.asked_if)[members]
                stray = int((present & ~applies & counted[members]).sum())
                if stray:
                    ignored[f"{q.name}.{item.name}"] = stray
                present &= applies
            asked = np.flatnonzero(present)  # among the members
            code = place(values[asked])
            asked, code = asked[code >= 0], code[code >= 0]  # the contract admits no other
            for name, grouping in groupings.items():
                rows = members[asked] if grouping.weights is not None else None
                out[name][row] = grouping.count(groups[name][asked], code, len(codes),
                                                rows).reshape(len(codes), grouping.cells)
            row += 1
    return out, ignored


def _places(codes: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """What finds each answer's place among the scale's codes (sorted), -1 for none: a lookup
    table when the codes are small whole numbers, as scales are; a binary search otherwise."""
    if len(codes) and (codes == np.floor(codes)).all() and 0 <= codes[0] and codes[-1] < 1024:
        table = np.full(int(codes[-1]) + 2, -1, dtype=np.int64)
        table[codes.astype(np.int64)] = np.arange(len(codes))

        def lookup(values: np.ndarray) -> np.ndarray:
            whole = values.astype(np.int64)
            inside = (whole == values) & (whole >= 0) & (whole <= codes[-1])
            return table[np.where(inside, whole, len(table) - 1)]
        return lookup

    def search(values: np.ndarray) -> np.ndarray:
        found = np.minimum(np.searchsorted(codes, values), len(codes) - 1)
        return np.where(codes[found] == values, found, -1)
    return search


def _item_figures(survey: Survey, counts: np.ndarray) -> Figures:
    """Every item's figures in every cell from the count of each code (items x codes x
    cells): score missing where nobody rated."""
    codes = _codes(survey)
    marks = np.isin(codes, survey.ratings)
    roles = np.stack([np.ones(len(codes)), marks, np.where(marks, codes, 0.0),
                      np.isin(codes, survey.satisfied)], axis=1).astype(float)
    n_asked, n_rated, total, n_top = np.einsum("kr,ikc->ric", roles, counts)  # whole: exact
    denominator = n_asked if survey.base == "asked" else n_rated
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(n_rated > 0, total / n_rated, np.nan)
        satisfaction = np.where(n_rated > 0, 100.0 * n_top / denominator, np.nan)
    return Figures(n_asked > 0, score, satisfaction,
                   sparse.identity(len(counts), format="csr"),
                   Sums(_totals(survey), counts, roles, survey.base))


def _wide(survey: Survey, labels: pd.DataFrame, tree: dict[str, Nodes],
          levels: dict[str, Figures], n: np.ndarray, excluded: np.ndarray) -> pd.DataFrame:
    """One row per cell, one column per level figure formulas read (built in one go)."""
    columns: dict[str, np.ndarray] = {"n": n}
    cells = len(labels)

    def put(level: str, key: tuple[str, str], prefix: str,
            stats: tuple[str, ...] = ("score", "satisfaction")) -> None:
        row = tree[level].index.get(key)
        for stat in stats:
            columns[f"{prefix}{stat}"] = levels[level].get(stat)[row] if row is not None \
                else np.full(cells, np.nan)

    put("unit", ("", "total"), "")
    for q, criteria in _criteria_of(survey).items():
        put("channel", (q, "total"), f"{q}_")
        for criterion in criteria:
            put("criterion", (q, criterion), f"{q}_{criterion}_")
    for zone in survey.zones:
        put("unit_zone", ("", zone), f"{zone}_")
    for i, (code, _) in enumerate(survey.exclusions):
        columns[f"excluded_{code}"] = excluded[i]
    # sums over every answer of the unit: 0 where nobody answered
    put("unit", ("", "total"), "", tuple(_totals(survey)))
    return pd.concat([labels.reset_index(drop=True), pd.DataFrame(columns)], axis=1)


def _totals(survey: Survey) -> list[str]:
    """The sums every level carries: TOTALS, then the count of each code."""
    return [*TOTALS, *(count_column(v) for v in _codes(survey))]
