"""Survey aggregation: respondent rows -> item statistics -> criteria -> channels -> units, and
zones of responsibility, all as unweighted means of the level below.

Per item, one vectorised pass over the respondents: counts and sums per group (a unit, or a unit
and a breakdown value such as a region) with np.bincount. Everything above the item level works on
the small table of item statistics. The spec names criteria, zones and channels; this module
knows none of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sapa.engine.formula import Frames, evaluate_rows
from sapa.engine.spec import Survey, result_columns

POOLED = "all"  # the group label of a pooled breakdown without `by`
LEVEL_COLUMNS = ["group", "questionnaire", "name", "score", "satisfaction", "asked", "rated"]


@dataclass
class SurveyResults:
    """`table`: one row per unit (or unit x breakdown value), the columns formulas can read.
    `long`: every level (item, criterion, zone, channel) per group, for output and tests.
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


def run_surveys(survey: Survey, frames: Frames) -> dict[str, SurveyResults]:
    """The results table and every breakdown table, from one pass over the items."""
    respondents = frames.tables[survey.respondents]
    unit_pos = frames.positions(survey.unit_link)
    units = frames.tables[survey.unit_link.parent][survey.unit_link.key[0]].astype(
        str).to_numpy()
    reason = _exclusion_reasons(survey, frames)
    included = (reason < 0) & (unit_pos >= 0)
    groupings = {survey.results: _Grouping(pd.DataFrame({"unit": units}), unit_pos, included)}
    for breakdown in survey.breakdowns:
        if breakdown.by is None:
            codes, values = np.zeros(len(respondents), dtype=np.int64), np.array([POOLED])
        else:
            codes, values = pd.factorize(respondents[breakdown.by].astype(object))
        values = np.asarray(values, dtype=object)
        column = breakdown.by or "group"
        if breakdown.pooled:
            position = np.where(unit_pos >= 0, codes, -1)
            labels = pd.DataFrame({column: values})
        else:
            position = np.where((unit_pos >= 0) & (codes >= 0),
                                unit_pos * len(values) + codes, -1)
            labels = pd.DataFrame({"unit": np.repeat(units, len(values)),
                                   column: np.tile(values, len(units))})
        groupings[breakdown.name] = _Grouping(labels, position, included & (codes >= 0))
    items, ignored = _item_statistics(survey, frames, groupings)
    out = {}
    for name, grouping in groupings.items():
        long = _levels(survey, items[name])
        table = _wide(survey, grouping.labels, long, grouping.position, grouping.included,
                      reason, len(grouping.labels))
        table = table[list(grouping.labels.columns) + _columns(survey)]
        if name != survey.results:
            table = table[table["n"] > 0].reset_index(drop=True)
        out[name] = SurveyResults(table, _labelled(long, grouping.labels), ignored)
    return out


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
        if breakdown.pooled and breakdown.by is None:
            targets[breakdown.name] = pd.DataFrame({"group": [POOLED]})
        else:  # statistics per breakdown value cannot be given: an empty table
            label = [breakdown.by] if breakdown.pooled else ["unit", breakdown.by]
            out[breakdown.name] = SurveyResults(
                pd.DataFrame(columns=[*label, *_columns(survey)]), pd.DataFrame(), {})
    for name, labels in targets.items():
        rows = items[items["table"].fillna(survey.results) == name]
        keys = rows["unit"] if name == survey.results else pd.Series(POOLED, index=rows.index)
        index = {label: i for i, label in enumerate(labels.iloc[:, 0].astype(str))}
        long = _levels(survey, *_given_statistics(survey, rows, keys.astype(str).map(index)))
        n_groups = len(labels)
        none = np.zeros(0, dtype=int)
        table = _wide(survey, labels, long, none, np.zeros(0, dtype=bool), none, n_groups)
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
    known = pd.DataFrame([(q.name, i.name, i.criterion, i.zone) for q in survey.questionnaires
                          for i in q.items], columns=["questionnaire", "name", "criterion", "zone"])
    item_rows = given[given["is_item"]].drop(columns="is_item").merge(
        known, on=["questionnaire", "name"], how="inner")
    return item_rows, given[~given["is_item"]].drop(columns="is_item")


def _labelled(long: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Group numbers replaced by what they stand for (unit, and the breakdown value)."""
    named = labels.iloc[long["group"].to_numpy(dtype=int)].reset_index(drop=True)
    return pd.concat([named, long.drop(columns="group").reset_index(drop=True)], axis=1)


def _columns(survey: Survey) -> list[str]:
    return result_columns(_criteria_of(survey), list(survey.zones),
                          [code for code, _ in survey.exclusions])


def _criteria_of(survey: Survey) -> dict[str, list[str]]:
    return {q.name: list(dict.fromkeys(i.criterion for i in q.items))
            for q in survey.questionnaires}


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
    """Per item: who was asked, who rated, the sum of ratings and the count of top marks,
    counted per group of every grouping (np.bincount). Conditions are evaluated once."""
    respondents = frames.tables[survey.respondents]
    ratings = np.asarray(survey.ratings, dtype=float)
    satisfied = np.asarray(survey.satisfied, dtype=float)
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in groupings}
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
            asked = applies & present
            rated = asked & np.isin(values, ratings)
            top = rated & np.isin(values, satisfied)
            for name, grouping in groupings.items():
                stats = _count(grouping, asked, rated, top, values, survey.base)
                if stats is not None:
                    parts[name].append(stats.assign(questionnaire=q.name, name=item.name,
                                                    criterion=item.criterion, zone=item.zone))
    columns = [*LEVEL_COLUMNS, "criterion", "zone"]
    return {name: pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=columns)
            for name, found in parts.items()}, ignored


def _count(grouping: _Grouping, asked: np.ndarray, rated: np.ndarray, top: np.ndarray,
           values: np.ndarray, base: str) -> pd.DataFrame | None:
    n_groups = len(grouping.labels)
    keep = asked & grouping.included
    position = grouping.position[keep]
    n_rated = np.bincount(position, weights=rated[keep], minlength=n_groups)
    has = np.flatnonzero(n_rated > 0)
    if not len(has):
        return None
    rated_values = np.where(rated[keep], values[keep], 0.0)
    n_asked = np.bincount(position, minlength=n_groups)[has]
    total = np.bincount(position, weights=rated_values, minlength=n_groups)[has]
    n_top = np.bincount(position, weights=top[keep], minlength=n_groups)[has]
    denominator = n_asked if base == "asked" else n_rated[has]
    return pd.DataFrame({"group": has, "score": total / n_rated[has],
                         "satisfaction": 100.0 * n_top / denominator, "asked": n_asked,
                         "rated": n_rated[has]})


def _mean(frame: pd.DataFrame, keys: list[str], name: str | None = None) -> pd.DataFrame:
    """Unweighted mean of score and satisfaction per key; only rows that have a score count."""
    rated = frame[frame["score"].notna()]
    out = rated.groupby(keys, sort=False, dropna=False).agg(
        score=("score", "mean"), satisfaction=("satisfaction", "mean"),
        asked=("asked", "max"), rated=("rated", "max")).reset_index()
    if name is not None:
        out["name"] = name
    return out


def _levels(survey: Survey, items: pd.DataFrame,
            given_criteria: pd.DataFrame | None = None) -> pd.DataFrame:
    criteria = _mean(items, ["group", "questionnaire", "criterion"]).rename(
        columns={"criterion": "name"})
    if given_criteria is not None and len(given_criteria):
        criteria = pd.concat([criteria, given_criteria[criteria.columns]], ignore_index=True)
    channels = _mean(criteria, ["group", "questionnaire"], "total")
    zones = _zone_rows(survey, items)
    counted = [q.name for q in survey.questionnaires if q.counts_in_total]
    units = _mean(channels[channels["questionnaire"].isin(counted)], ["group"], "total")
    units["questionnaire"] = ""
    unit_zones = _mean(zones[zones["questionnaire"].isin(counted)], ["group", "name"])
    unit_zones["questionnaire"] = ""
    frames = [items.assign(level="item"), criteria.assign(level="criterion"),
              zones.assign(level="zone"), channels.assign(level="channel"),
              unit_zones.assign(level="unit_zone"), units.assign(level="unit")]
    present = [f[["level", *LEVEL_COLUMNS]] for f in frames if len(f)]
    if not present:
        return pd.DataFrame(columns=["level", *LEVEL_COLUMNS])
    return pd.concat(present, ignore_index=True)


def _zone_rows(survey: Survey, items: pd.DataFrame) -> pd.DataFrame:
    """Zone within a channel = mean of the zone's items plus the shared items (shared items
    count for every zone of that channel)."""
    rows = items[items["zone"].notna()]
    if rows.empty:
        return pd.DataFrame(columns=["group", "questionnaire", "name", "score", "satisfaction",
                                     "asked", "rated"])
    targets = []
    for q in survey.questionnaires:
        own = sorted({i.zone for i in q.items if i.zone and i.zone not in survey.shared_zones})
        for item in q.items:
            if item.zone in survey.shared_zones:
                targets += [(q.name, item.name, z) for z in own]
            elif item.zone:
                targets.append((q.name, item.name, item.zone))
    mapping = pd.DataFrame(targets, columns=["questionnaire", "name", "target"])
    expanded = rows.merge(mapping, on=["questionnaire", "name"])
    return _mean(expanded, ["group", "questionnaire", "target"]).rename(
        columns={"target": "name"})


def _wide(survey: Survey, labels: pd.DataFrame, long: pd.DataFrame, group_pos: np.ndarray,
          included: np.ndarray, reason: np.ndarray, n_groups: int) -> pd.DataFrame:
    table = labels.copy()
    table["n"] = np.bincount(group_pos[included], minlength=n_groups).astype(float)

    def put(level: str, questionnaire: str | None, name: str | None, prefix: str) -> None:
        rows = long[long["level"] == level]
        if questionnaire is not None:
            rows = rows[rows["questionnaire"] == questionnaire]
        if name is not None:
            rows = rows[rows["name"] == name]
        for stat in ("score", "satisfaction"):
            column = np.full(n_groups, np.nan)
            column[rows["group"].to_numpy(dtype=int)] = rows[stat].to_numpy(dtype=float)
            table[f"{prefix}{stat}"] = column

    put("unit", None, None, "")
    for q, criteria in _criteria_of(survey).items():
        put("channel", q, None, f"{q}_")
        for criterion in criteria:
            put("criterion", q, criterion, f"{q}_{criterion}_")
    for zone in survey.zones:
        put("unit_zone", None, zone, f"{zone}_")
    for i, (code, _) in enumerate(survey.exclusions):
        hit = (reason == i) & (group_pos >= 0)
        table[f"excluded_{code}"] = np.bincount(group_pos[hit], minlength=n_groups).astype(float)
    return table
