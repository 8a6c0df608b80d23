"""Survey aggregation: respondent rows -> item statistics -> criteria -> channels -> units, and
zones of responsibility, each level combined by the rule the spec declares (Survey.levels: mean,
weighted or pooled; unweighted means by default).

Per item, one vectorised pass over the respondents: counts and sums per group (a unit, or a unit
and a breakdown value such as a region) with np.bincount. Everything above the item level works on
the small table of item statistics. The spec names criteria, zones and channels; this module
knows none of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from sapa.engine.formula import REPLICATE, Frames, evaluate_rows
from sapa.engine.spec import (
    LEVEL_MEMBERS_TABLE,
    LEVEL_NODE,
    TOTALS,
    Breakdown,
    Level,
    Survey,
    count_column,
    level_columns,
    result_columns,
)
from sapa.engine.survey.hierarchy import Node, counted, required, zone_targets

POOLED = "all"  # the group label of a pooled breakdown without `by`


@dataclass
class SurveyResults:
    """`table`: one row per unit (or unit x breakdown value), the columns formulas can read.
    `long`: every level (item, criterion, zone, channel) per group, for output and tests, with
    the sums over every answer beneath each row (TOTALS) and the count of each mark and code.
    `ignored`: answers present where the item was not to be asked, per item (reported)."""

    table: pd.DataFrame
    long: pd.DataFrame
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
        """How many of `rows` (respondent numbers) fall in each group (and in each `slot`
        of it, 0..slots-1), each respondent counted as often as it is drawn."""
        slot = np.zeros(len(rows), dtype=np.int64) if slot is None else slot
        cells = self.position[rows] * slots + slot
        if self.weights is None:
            return np.bincount(cells, minlength=self.groups * slots).astype(float)
        # replicates x cells = the draws of these respondents times a one-hot matrix of their
        # cells: one sparse product, no index array per replicate
        one_hot = sparse.csr_matrix((np.ones(len(rows)), (cells, rows)),
                                    shape=(self.groups * slots, self.weights.shape[0]))
        return np.asarray(one_hot @ self.weights).T.ravel()


def run_surveys(survey: Survey, frames: Frames, weights: np.ndarray | None = None
                ) -> dict[str, SurveyResults]:
    """The results table and every breakdown table, from one pass over the items. With
    `weights` (replicates x respondents: how often each is drawn), every table is computed once
    per replicate at once, its rows numbered by REPLICATE; the unit table then holds one copy
    per replicate (uncertainty.bootstrap)."""
    unit_pos = frames.positions(survey.unit_link)
    units = frames.tables[survey.unit_link.parent][survey.unit_link.key[0]].astype(
        str).to_numpy()
    if weights is not None:  # the first copy: positions join on the key alone and find it
        units = units[: len(units) // len(weights)]
    reason = _exclusion_reasons(survey, frames)
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
        groupings[breakdown.name] = _Grouping(labels, position, kept)
    if weights is not None:
        groupings = {name: _replicated(g, weights) for name, g in groupings.items()}
    items, ignored = _item_statistics(survey, frames, groupings)
    out = {}
    for name, grouping in groupings.items():
        long = _levels(survey, items[name])
        table = _wide(survey, grouping, long, reason)
        table = table[list(grouping.labels.columns) + _columns(survey)]
        if name != survey.results:
            table = table[table["n"] > 0].reset_index(drop=True)
        out[name] = SurveyResults(table, _labelled(long, grouping.labels), ignored)
    return out


def _replicated(grouping: _Grouping, weights: np.ndarray) -> _Grouping:
    """The grouping once per replicate: its labels repeated and numbered by REPLICATE, the
    draws held respondent by respondent (what the counting reads)."""
    replicates, size = len(weights), len(grouping.labels)
    labels = pd.concat([grouping.labels] * replicates, ignore_index=True)
    labels[REPLICATE] = np.repeat(np.arange(replicates), size)
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
    for name, labels in targets.items():
        rows = items[items["table"].fillna(survey.results) == name]
        keys = rows["unit"] if name == survey.results else pd.Series(POOLED, index=rows.index)
        index = {label: i for i, label in enumerate(labels.iloc[:, 0].astype(str))}
        long = _levels(survey, *_given_statistics(survey, rows, keys.astype(str).map(index)))
        none = np.zeros(0, dtype=int)
        table = _wide(survey, _Grouping(labels, none, np.zeros(0, dtype=bool)), long, none)
        out[name] = SurveyResults(table[[*labels.columns, *_columns(survey)]],
                                  _labelled(long, labels), {})
    return out


def _given_statistics(survey: Survey, items: pd.DataFrame, group: pd.Series
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Given rows split into item statistics (with their criterion and zone) and criteria."""
    given = pd.DataFrame({
        "group": group.to_numpy(), "questionnaire": items["questionnaire"].to_numpy(),
        "name": items["item"].where(items["item"].notna(), items["criterion"]).to_numpy(),
        "is_item": items["item"].notna().to_numpy(),
        "score": pd.to_numeric(items["score"]).to_numpy(dtype=float),
        "satisfaction": pd.to_numeric(items["satisfaction"]).to_numpy(dtype=float),
        "asked": 1.0, "rated": 1.0})
    given = given.assign(total_asked=1.0, total_rated=1.0, total_marks=given["score"],
                         total_satisfied=given["satisfaction"] / 100.0, total_base=1.0)
    known = pd.DataFrame([(q.name, i.name, i.criterion, i.zone) for q in survey.questionnaires
                          for i in q.items], columns=["questionnaire", "name", "criterion", "zone"])
    item_rows = given[given["is_item"]].drop(columns="is_item").merge(
        known, on=["questionnaire", "name"], how="inner")
    return item_rows, given[~given["is_item"]].drop(columns="is_item")


def _labelled(long: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Group numbers replaced by what they stand for (unit, and the breakdown value); the
    statistics as float64, as formulas read them (the `<results>_levels` table)."""
    named = labels.iloc[long["group"].to_numpy(dtype=int)].reset_index(drop=True)
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
                     ) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """Per item: how many of each group were asked it and gave each mark or code, counted in
    one np.bincount per grouping over the respondents asked (every statistic follows from
    those counts). Conditions are evaluated once."""
    respondents = frames.tables[survey.respondents]
    codes = _codes(survey)
    marks = np.isin(codes, survey.ratings)
    satisfied = np.isin(codes, survey.satisfied)
    parts: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in groupings}
    ignored: dict[str, int] = {}
    for q in survey.questionnaires:
        member = evaluate_rows(q.when, frames, survey.respondents).fillna(False).to_numpy(
            dtype=bool)
        for item in q.items:
            values = respondents[item.name].to_numpy(dtype=float)
            present = ~np.isnan(values)
            applies = member
            if item.asked_if is not None:
                condition = evaluate_rows(item.asked_if, frames, survey.respondents)
                applies = member & condition.fillna(False).to_numpy(dtype=bool)
                stray = int((member & present & ~applies & groupings[survey.results].included)
                            .sum())
                if stray:
                    ignored[f"{q.name}.{item.name}"] = stray
            asked = np.flatnonzero(applies & present)
            code = np.minimum(np.searchsorted(codes, values[asked]), len(codes) - 1)
            known = codes[code] == values[asked]  # the data contract admits no other value
            asked, code = asked[known], code[known]
            names = {"questionnaire": q.name, "name": item.name, "criterion": item.criterion,
                     "zone": item.zone}
            for name, grouping in groupings.items():
                stats = _count(grouping, asked, code, codes, marks, satisfied, survey.base)
                if stats is not None:
                    size = len(stats["group"])
                    parts[name].append({**stats, **{k: np.full(size, v, dtype=object)
                                                    for k, v in names.items()}})
    columns = [*_statistics(survey), "criterion", "zone"]
    return {name: pd.DataFrame({c: np.concatenate([p[c] for p in found]) for c in columns})
            if found else pd.DataFrame(columns=columns) for name, found in parts.items()}, ignored


def _codes(survey: Survey) -> np.ndarray:
    """The scale's marks and non-answer codes, sorted: each is counted (count_<code>)."""
    return np.unique(np.asarray([*survey.ratings, *survey.non_answers], dtype=float))


def _statistics(survey: Survey) -> list[str]:
    """The columns of every row of the long table, after `level` (group first)."""
    return ["group", *level_columns(list(_codes(survey)))[1:]]


def _count(grouping: _Grouping, asked: np.ndarray, code: np.ndarray, codes: np.ndarray,
           marks: np.ndarray, satisfied: np.ndarray, base: str
           ) -> dict[str, np.ndarray] | None:
    """One item's statistics per group that was asked it (score missing where nobody rated),
    from the count of each code per group: `asked` are the respondents asked (row numbers),
    `code` the place of each one's answer in `codes`."""
    n_groups, k = len(grouping.labels), len(codes)
    keep = grouping.included[asked]
    by_code = grouping.count(asked[keep], code[keep], k).reshape(n_groups, k)
    has = np.flatnonzero(by_code.any(axis=1))
    if not len(has):
        return None
    by_code = by_code[has].astype(float)
    n_asked = by_code.sum(axis=1)
    n_rated = by_code[:, marks].sum(axis=1)
    total = by_code[:, marks] @ codes[marks]  # whole marks: the sum is exact
    n_top = by_code[:, satisfied].sum(axis=1)
    denominator = n_asked if base == "asked" else n_rated
    with np.errstate(invalid="ignore", divide="ignore"):
        stats = {"group": has, "score": np.where(n_rated > 0, total / n_rated, np.nan),
                 "satisfaction": np.where(n_rated > 0, 100.0 * n_top / denominator, np.nan),
                 "asked": n_asked, "rated": n_rated, "total_asked": n_asked,
                 "total_rated": n_rated, "total_marks": total, "total_satisfied": n_top,
                 "total_base": denominator}
    stats.update({count_column(v): by_code[:, i] for i, v in enumerate(codes)})
    return stats


def _combine(frame: pd.DataFrame, keys: list[str], level: Level, member: str,
             needs: dict[Node, int], name: str | None = None) -> pd.DataFrame:
    """One level: its members' rows grouped by `keys` and combined by the level's rule; the
    sums over every answer beneath (TOTALS, counts) are added up whatever the rule. A node
    that was asked but has no combined score comes last, its score missing (so the level
    above, which combines scored rows only, sums them in the same order as without it).
    `needs` (weighted, missing="missing"): how many weighted members each node must have, by
    the keys after the group."""
    counts = [c for c in frame.columns if c in TOTALS or c.startswith("count_")]
    sums = frame.groupby(keys, sort=False, dropna=False)[counts].sum(min_count=1).reset_index()
    if level.rule == "pooled":
        out = frame[frame["score"].notna()].groupby(keys, sort=False, dropna=False).agg(
            asked=("asked", "max"), rated=("rated", "max")).reset_index().merge(
            sums, on=keys, how="left")
        with np.errstate(invalid="ignore", divide="ignore"):
            out["score"] = out["total_marks"] / out["total_rated"]
            out["satisfaction"] = 100.0 * out["total_satisfied"] / out["total_base"]
    elif level.rule == "formula":
        out = _by_formula(frame, keys, level, member).merge(sums, on=keys, how="left")
    elif level.rule == "weighted":
        rated = frame[frame["score"].notna()]
        weight = rated[member].map(dict(level.weights)).fillna(0.0).to_numpy(dtype=float)
        out = rated.assign(_w=weight, _ws=weight * rated["score"],
                           _wp=weight * rated["satisfaction"], _n=weight > 0).groupby(
            keys, sort=False, dropna=False).agg(
            _w=("_w", "sum"), _ws=("_ws", "sum"), _wp=("_wp", "sum"), _n=("_n", "sum"),
            asked=("asked", "max"), rated=("rated", "max")).reset_index()
        short = np.zeros(len(out), dtype=bool)
        if needs:
            node = list(zip(*(out[k] for k in keys[1:]), strict=True)) if len(keys) > 1 \
                else [()] * len(out)
            short = out["_n"].to_numpy() < np.array([needs.get(n, 0) for n in node])
        out = out[(out["_w"] > 0).to_numpy() & ~short]
        out = out.assign(score=out["_ws"] / out["_w"], satisfaction=out["_wp"] / out["_w"])
        out = out.drop(columns=["_w", "_ws", "_wp", "_n"]).merge(sums, on=keys, how="left")
    else:
        out = _mean(frame, keys).merge(sums, on=keys, how="left")
    unscored = sums.merge(out[keys], on=keys, how="left", indicator=True)
    out = pd.concat([out, unscored[unscored["_merge"] == "left_only"].drop(columns="_merge")],
                    ignore_index=True) if (unscored["_merge"] == "left_only").any() else out
    if name is not None:
        out["name"] = name
    return out.reset_index(drop=True)


def _by_formula(frame: pd.DataFrame, keys: list[str], level: Level, member: str
                ) -> pd.DataFrame:
    """A formula level: its score and satisfaction formulas run over one row per node, each
    aggregating that node's members (a table of their statistics, spec.level_catalog)."""
    assert level.score is not None and level.satisfaction is not None
    grouped = frame.groupby(keys, sort=False, dropna=False)
    nodes = grouped.agg(asked=("asked", "max"), rated=("rated", "max")).reset_index()
    statistics = [*level_columns()[3:], *(c for c in frame.columns if c.startswith("count_"))]
    members = frame.reindex(columns=statistics).astype(float).assign(
        node=grouped.ngroup().to_numpy(dtype=float), name=frame[member].to_numpy())
    tables = Frames({LEVEL_NODE: pd.DataFrame({"node": np.arange(len(nodes), dtype=float)}),
                     LEVEL_MEMBERS_TABLE: members})
    for stat, plan in (("score", level.score), ("satisfaction", level.satisfaction)):
        nodes[stat] = evaluate_rows(plan, tables, LEVEL_NODE).to_numpy(dtype=float)
    return nodes[nodes["score"].notna()]


def _mean(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Unweighted mean of score and satisfaction per key; only rows that have a score count."""
    rated = frame[frame["score"].notna()]
    return rated.groupby(keys, sort=False, dropna=False).agg(
        score=("score", "mean"), satisfaction=("satisfaction", "mean"),
        asked=("asked", "max"), rated=("rated", "max")).reset_index()


def _levels(survey: Survey, items: pd.DataFrame,
            given_criteria: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every level above the items, each by its declared rule (hierarchy.py names the members)."""
    level = survey.level
    criteria = _combine(items, ["group", "questionnaire", "criterion"], level("criterion"),
                        "name", _needs(survey, "criterion")).rename(
        columns={"criterion": "name"})
    if given_criteria is not None and len(given_criteria):
        criteria = pd.concat([criteria, given_criteria.reindex(columns=criteria.columns)],
                             ignore_index=True)
    channels = _combine(criteria, ["group", "questionnaire"], level("channel"), "name",
                        _needs(survey, "channel"), "total")
    zones = _zone_rows(survey, items)
    counts = counted(survey)
    unit_zones = _combine(zones[zones["questionnaire"].isin(counts)], ["group", "name"],
                          level("unit_zone"), "questionnaire", _needs(survey, "unit_zone"))
    unit_zones["questionnaire"] = ""
    if level("unit").of == "zones":
        units = _combine(unit_zones, ["group"], level("unit"), "name", _needs(survey, "unit"),
                         "total")
    else:
        units = _combine(channels[channels["questionnaire"].isin(counts)], ["group"],
                         level("unit"), "questionnaire", _needs(survey, "unit"), "total")
    units["questionnaire"] = ""
    columns = ["level", *_statistics(survey)]
    frames = [items.assign(level="item"), criteria.assign(level="criterion"),
              zones.assign(level="zone"), channels.assign(level="channel"),
              unit_zones.assign(level="unit_zone"), units.assign(level="unit")]
    present = [f.reindex(columns=columns) for f in frames if len(f)]
    if not present:
        return pd.DataFrame(columns=columns)
    return pd.concat(present, ignore_index=True)


def _needs(survey: Survey, name: str) -> dict[Node, int]:
    return required(survey, survey.level(name))


def _zone_rows(survey: Survey, items: pd.DataFrame) -> pd.DataFrame:
    """Zone within a channel: its items plus the shared items (hierarchy.zone_targets), combined
    by the zone level's rule."""
    rows = items[items["zone"].notna()]
    if rows.empty:
        return pd.DataFrame(columns=_statistics(survey))
    mapping = pd.DataFrame(zone_targets(survey), columns=["questionnaire", "name", "target"])
    expanded = rows.merge(mapping, on=["questionnaire", "name"])
    return _combine(expanded, ["group", "questionnaire", "target"], survey.level("zone"),
                    "name", _needs(survey, "zone")).rename(columns={"target": "name"})


def _wide(survey: Survey, grouping: _Grouping, long: pd.DataFrame, reason: np.ndarray
          ) -> pd.DataFrame:
    """One row per group, one column per level figure formulas read (built in one go)."""
    labels, n_groups = grouping.labels, len(grouping.labels)
    group_pos = grouping.position
    columns: dict[str, np.ndarray] = {
        "n": grouping.count(np.flatnonzero(grouping.included & (group_pos >= 0)))}
    rows = long.groupby(["level", "questionnaire", "name"], sort=False).indices
    groups = long["group"].to_numpy(dtype=int)
    counts = (*TOTALS, *(count_column(v) for v in _codes(survey)))
    values = {stat: long[stat].to_numpy(dtype=float)
              for stat in ("score", "satisfaction", *counts)}  # converted once, read per node

    def put(node: tuple[str, str, str], prefix: str,
            stats: tuple[str, ...] = ("score", "satisfaction"), empty: float = np.nan) -> None:
        at = rows.get(node, np.zeros(0, dtype=int))
        for stat in stats:
            column = np.full(n_groups, empty)
            column[groups[at]] = values[stat][at]
            columns[f"{prefix}{stat}"] = column

    put(("unit", "", "total"), "")
    for q, criteria in _criteria_of(survey).items():
        put(("channel", q, "total"), f"{q}_")
        for criterion in criteria:
            put(("criterion", q, criterion), f"{q}_{criterion}_")
    for zone in survey.zones:
        put(("unit_zone", "", zone), f"{zone}_")
    for i, (code, _) in enumerate(survey.exclusions):
        columns[f"excluded_{code}"] = grouping.count(np.flatnonzero((reason == i)
                                                                    & (group_pos >= 0)))
    # counts of a unit nobody answered are 0, not missing
    put(("unit", "", "total"), "", counts, 0.0)
    return pd.concat([labels.reset_index(drop=True), pd.DataFrame(columns)], axis=1)
