"""Survey aggregation: respondent rows -> item statistics -> criteria -> channels -> units, and
zones of responsibility, each level combined by the rule the spec declares (Survey.levels: mean,
weighted or pooled; unweighted means by default).

Per item, one vectorised pass over the respondents: counts and sums per group (a unit, or a unit
and a breakdown value such as a region) with np.bincount. Everything above the item level works on
arrays of item figures, nodes x groups (levels.py). The spec names criteria, zones and channels;
this module knows none of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from sapa.engine.formula import REPLICATE, Frames, Node, evaluate_rows
from sapa.engine.spec import TOTALS, Breakdown, Survey, count_column, level_columns, result_columns
from sapa.engine.survey.levels import Figures, Nodes, Sums, all_levels, hierarchy, long_table

POOLED = "all"  # the group label of a pooled breakdown without `by`


@dataclass
class SurveyResults:
    """`table`: one row per unit (or unit x breakdown value), the columns formulas can read.
    `long`: every level (item, criterion, zone, channel) per group, for output and tests, with
    the sums over every answer beneath each row (TOTALS) and the count of each mark and code;
    None where it was not asked for (a bootstrap whose formulas do not read it).
    `ignored`: answers present where the item was not to be asked, per item (reported)."""

    table: pd.DataFrame
    long: pd.DataFrame | None
    ignored: dict[str, int]


@dataclass
class _Grouping:
    """How respondents are grouped for one results table."""

    labels: pd.DataFrame  # one row per group: unit (and the breakdown value)
    position: np.ndarray  # group of each respondent, -1 for none
    included: np.ndarray  # respondents counted in this table
    weights: np.ndarray | None = None  # respondents x replicates: times drawn (a bootstrap)

    @property
    def groups(self) -> int:
        """Groups per replicate (all of them without a bootstrap)."""
        return len(self.labels) // (1 if self.weights is None else self.weights.shape[1])

    def count(self, rows: np.ndarray, slot: np.ndarray | None = None, slots: int = 1
              ) -> np.ndarray:
        """How many of `rows` (respondent numbers) fall in each cell (and in each `slot`,
        0..slots-1: slots x cells), each respondent counted as often as it is drawn. A cell is
        a group, or a group in one replicate (group by group, replicates within)."""
        slot = np.zeros(len(rows), dtype=np.int64) if slot is None else slot
        at = slot * self.groups + self.position[rows]
        if self.weights is None:
            return np.bincount(at, minlength=self.groups * slots).astype(float)
        # (slot, group) x replicates = a one-hot matrix of these respondents' places times
        # their draws: one sparse product, laid out as slots x cells with no copy
        one_hot = sparse.csr_matrix((np.ones(len(rows)), (at, rows)),
                                    shape=(self.groups * slots, self.weights.shape[0]))
        return np.asarray(one_hot @ self.weights).ravel()


def run_surveys(survey: Survey, frames: Frames, weights: np.ndarray | None = None,
                levels_table: bool = True) -> dict[str, SurveyResults]:
    """The results table and every breakdown table, from one pass over the items. With
    `weights` (replicates x respondents: how often each is drawn), every table is computed once
    per replicate at once, its rows numbered by REPLICATE; the unit table then holds one copy
    per replicate (uncertainty.bootstrap). Without `levels_table`, the long table of every
    level is not built (a bootstrap whose formulas do not read it)."""
    reason = _exclusion_reasons(survey, frames)
    groupings = _groupings(survey, frames, reason, 1 if weights is None else len(weights))
    if weights is not None:
        groupings = {name: _replicated(g, weights) for name, g in groupings.items()}
    tree = hierarchy(survey)
    items, ignored = _item_statistics(survey, frames, groupings)
    out = {}
    for name, grouping in groupings.items():
        levels = all_levels(tree, items[name])
        table = _wide(survey, grouping, tree, levels, reason)
        table = table[list(grouping.labels.columns) + _columns(survey)]
        if name != survey.results:
            table = table[table["n"] > 0].reset_index(drop=True)
        long = _labelled(long_table(tree, levels, _totals(survey)), grouping.labels) \
            if levels_table else None
        out[name] = SurveyResults(table, long, ignored)
    return out


def _groupings(survey: Survey, frames: Frames, reason: np.ndarray, copies: int = 1
               ) -> dict[str, _Grouping]:
    """How respondents are grouped for the results table and each breakdown. `copies`: how
    many times the unit table is repeated (a bootstrap's replicates); the first copy is used."""
    unit_pos = frames.positions(survey.unit_link)
    units = frames.tables[survey.unit_link.parent][survey.unit_link.key[0]].astype(
        str).to_numpy()
    units = units[: len(units) // copies]  # positions join on the key alone: the first copy
    included = (reason < 0) & (unit_pos >= 0)
    groupings = {survey.results: _Grouping(pd.DataFrame({"unit": units}), unit_pos, included)}
    for breakdown in survey.breakdowns:
        codes, values = _key_codes(breakdown, frames, survey.respondents)
        kept = included & (codes >= 0)
        if breakdown.where is not None:
            kept &= evaluate_rows(breakdown.where, frames, survey.respondents).fillna(
                False).to_numpy(dtype=bool)
        if breakdown.pooled:
            position = np.where(unit_pos >= 0, codes, -1)
            labels = values
        else:
            position = np.where((unit_pos >= 0) & (codes >= 0),
                                unit_pos * len(values) + codes, -1)
            labels = pd.concat([pd.DataFrame({"unit": np.repeat(units, len(values))}),
                                values.iloc[np.tile(np.arange(len(values)), len(units))]
                                .reset_index(drop=True)], axis=1)
        groupings[breakdown.name] = _pruned(labels, position, kept)
    return groupings


def cells_per_replicate(survey: Survey, frames: Frames) -> int:
    """Groups in the results table and every breakdown: the cells one bootstrap replicate adds
    to every level's arrays (to size its batches)."""
    reason = _exclusion_reasons(survey, frames)
    return sum(len(g.labels) for g in _groupings(survey, frames, reason).values())


def _pruned(labels: pd.DataFrame, position: np.ndarray, kept: np.ndarray) -> _Grouping:
    """A breakdown's grouping with only the groups some counted respondent falls in (its table
    keeps no other): a unit x region breakdown has every combination as a label."""
    used = np.unique(position[kept & (position >= 0)])
    return _Grouping(labels.iloc[used].reset_index(drop=True),
                     pd.Index(used).get_indexer(position), kept)


def _replicated(grouping: _Grouping, weights: np.ndarray) -> _Grouping:
    """The grouping once per replicate: each group's label repeated and numbered by
    REPLICATE, the draws held respondent by respondent (what the counting reads)."""
    replicates, size = len(weights), len(grouping.labels)
    labels = grouping.labels.iloc[np.repeat(np.arange(size), replicates)].reset_index(
        drop=True)
    labels[REPLICATE] = np.tile(np.arange(replicates), size)
    return _Grouping(labels, grouping.position, grouping.included,
                     np.ascontiguousarray(weights.T))


def _key_codes(breakdown: Breakdown, frames: Frames, respondents: str
               ) -> tuple[np.ndarray, pd.DataFrame]:
    """Each respondent's combination of key values as a code (-1 when a key is missing), and
    the combinations in the order first met, one column per key."""
    n = frames.length(respondents)
    if not breakdown.keys:
        return np.zeros(n, dtype=np.int64), pd.DataFrame({"group": [POOLED]})
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
                pd.DataFrame(columns=[*label, *level_columns(list(_codes(survey)))]), {})
    tree = hierarchy(survey)
    for name, labels in targets.items():
        rows = items[items["table"].fillna(survey.results) == name]
        keys = rows["unit"] if name == survey.results else pd.Series(POOLED, index=rows.index)
        index = {label: i for i, label in enumerate(labels.iloc[:, 0].astype(str))}
        group = keys.astype(str).map(index).to_numpy(dtype=np.int64)
        levels = all_levels(tree, *_given_statistics(survey, tree, rows, group, len(labels)))
        none = np.zeros(0, dtype=np.int64)
        grouping = _Grouping(labels, none, np.zeros(0, dtype=bool))
        table = _wide(survey, grouping, tree, levels, none)
        out[name] = SurveyResults(table[[*labels.columns, *_columns(survey)]],
                                  _labelled(long_table(tree, levels, _totals(survey)), labels),
                                  {})
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


def _item_statistics(survey: Survey, frames: Frames, groupings: dict[str, _Grouping]
                     ) -> tuple[dict[str, Figures], dict[str, int]]:
    """Per item: how many of each group were asked it and gave each mark or code, counted in
    one np.bincount (or sparse product, for replicates) per grouping over the respondents asked
    (every statistic follows from those counts). Conditions are evaluated once."""
    respondents = frames.tables[survey.respondents]
    codes = _codes(survey)
    marks = np.isin(codes, survey.ratings)
    satisfied = np.isin(codes, survey.satisfied)
    size = sum(len(q.items) for q in survey.questionnaires)
    roles = np.stack([np.ones(len(codes)), marks, np.where(marks, codes, 0.0), satisfied],
                     axis=1).astype(float)
    out = {name: Figures(np.empty((size, len(g.labels)), dtype=bool),
                         np.empty((size, len(g.labels))), np.empty((size, len(g.labels))),
                         sparse.identity(size, format="csr"),
                         Sums(_totals(survey), np.empty((size, len(codes), len(g.labels))),
                              roles, survey.base))
           for name, g in groupings.items()}
    ignored: dict[str, int] = {}
    holds: dict[Node, np.ndarray] = {}  # each condition evaluated once, however many ask it

    def true_for(plan: Node) -> np.ndarray:
        if plan not in holds:
            holds[plan] = evaluate_rows(plan, frames, survey.respondents).fillna(
                False).to_numpy(dtype=bool)
        return holds[plan]

    row = 0
    for q in survey.questionnaires:
        member = true_for(q.when)
        for item in q.items:
            values = respondents[item.name].to_numpy(dtype=float)
            present = ~np.isnan(values)
            applies = member
            if item.asked_if is not None:
                applies = member & true_for(item.asked_if)
                stray = int((member & present & ~applies & groupings[survey.results].included)
                            .sum())
                if stray:
                    ignored[f"{q.name}.{item.name}"] = stray
            asked = np.flatnonzero(applies & present)
            code = np.minimum(np.searchsorted(codes, values[asked]), len(codes) - 1)
            known = codes[code] == values[asked]  # the data contract admits no other value
            asked, code = asked[known], code[known]
            for name, grouping in groupings.items():
                _count(out[name], row, grouping, asked, code)
            row += 1
    return out, ignored


def _codes(survey: Survey) -> np.ndarray:
    """The scale's marks and non-answer codes, sorted: each is counted (count_<code>)."""
    return np.unique(np.asarray([*survey.ratings, *survey.non_answers], dtype=float))


def _count(figures: Figures, row: int, grouping: _Grouping, asked: np.ndarray,
           code: np.ndarray) -> None:
    """One item's figures in every cell (row `row`; score missing where nobody rated), from
    the count of each code per cell: `asked` are the respondents asked (row numbers), `code`
    the place of each one's answer in the scale's codes (the columns of `figures.sums`)."""
    counts, roles = figures.sums.counts, figures.sums.roles
    assert counts is not None and roles is not None
    keep = grouping.included[asked]
    counts[row] = grouping.count(asked[keep], code[keep], counts.shape[1]).reshape(
        counts.shape[1:])
    n_asked, n_rated, total, n_top = roles.T @ counts[row]  # whole numbers: exact
    denominator = n_asked if figures.sums.base == "asked" else n_rated
    with np.errstate(invalid="ignore", divide="ignore"):
        figures.score[row] = np.where(n_rated > 0, total / n_rated, np.nan)
        figures.satisfaction[row] = np.where(n_rated > 0, 100.0 * n_top / denominator, np.nan)
    figures.exists[row] = n_asked > 0


def _wide(survey: Survey, grouping: _Grouping, tree: dict[str, Nodes],
          levels: dict[str, Figures], reason: np.ndarray) -> pd.DataFrame:
    """One row per cell, one column per level figure formulas read (built in one go)."""
    group_pos = grouping.position
    columns: dict[str, np.ndarray] = {
        "n": grouping.count(np.flatnonzero(grouping.included & (group_pos >= 0)))}
    cells = len(grouping.labels)

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
        columns[f"excluded_{code}"] = grouping.count(np.flatnonzero((reason == i)
                                                                    & (group_pos >= 0)))
    # sums over every answer of the unit: 0 where nobody answered
    put("unit", ("", "total"), "", tuple(_totals(survey)))
    return pd.concat([grouping.labels.reset_index(drop=True), pd.DataFrame(columns)], axis=1)


def _totals(survey: Survey) -> list[str]:
    """The sums every level carries: TOTALS, then the count of each code."""
    return [*TOTALS, *(count_column(v) for v in _codes(survey))]
