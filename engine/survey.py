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

from engine.formula_eval import Frames, evaluate_rows
from engine.spec import Survey

LEVEL_COLUMNS = ["group", "questionnaire", "name", "score", "satisfaction", "asked", "rated"]


@dataclass
class SurveyResults:
    """`table`: one row per unit (or unit x breakdown value), the columns formulas can read.
    `long`: every level (item, criterion, zone, channel) per group, for output and tests.
    `ignored`: answers present where the item was not to be asked, per item (reported)."""

    table: pd.DataFrame
    long: pd.DataFrame
    ignored: dict[str, int]


def run_survey(survey: Survey, frames: Frames, breakdown: str | None = None) -> SurveyResults:
    respondents = frames.tables[survey.respondents]
    unit_table = frames.tables[survey.unit_link.parent]
    unit_pos = frames.positions(survey.unit_link)
    units = unit_table[survey.unit_link.key[0]].astype(str).to_numpy()
    reason = _exclusion_reasons(survey, frames)
    included = (reason < 0) & (unit_pos >= 0)
    if breakdown is None:
        group_pos, labels = unit_pos, pd.DataFrame({"unit": units})
    else:
        by = respondents[breakdown].astype(object)
        by_codes, by_values = pd.factorize(by, use_na_sentinel=True)
        included &= by_codes >= 0
        group_pos = np.where((unit_pos >= 0) & (by_codes >= 0),
                             unit_pos * len(by_values) + by_codes, -1)
        labels = pd.DataFrame({"unit": np.repeat(units, len(by_values)),
                               breakdown: np.tile(np.asarray(by_values, dtype=object),
                                                  len(units))})
    n_groups = len(labels)
    items, ignored = _item_statistics(survey, frames, group_pos, n_groups, included)
    long = _levels(survey, items)
    table = _wide(survey, labels, long, group_pos, included, reason, n_groups)
    long = _labelled(long, labels)
    table = table[list(labels.columns) + _columns(survey)]
    if breakdown is not None:
        table = table[table["n"] > 0].reset_index(drop=True)
    return SurveyResults(table, long, ignored)


def run_survey_from_items(survey: Survey, frames: Frames, items: pd.DataFrame) -> SurveyResults:
    """The levels above the item from given statistics: rows (unit, questionnaire, item, score,
    satisfaction) for items, or with `criterion` instead of `item` for criteria. The reports
    publish their worked examples at item level and most services only at criterion level."""
    unit_table = frames.tables[survey.unit_link.parent]
    units = unit_table[survey.unit_link.key[0]].astype(str).to_numpy()
    index = {u: i for i, u in enumerate(units)}
    for column in ("item", "criterion"):
        if column not in items.columns:
            items = items.assign(**{column: None})
    given = pd.DataFrame({
        "group": items["unit"].astype(str).map(index).to_numpy(),
        "questionnaire": items["questionnaire"].to_numpy(),
        "name": items["item"].where(items["item"].notna(), items["criterion"]).to_numpy(),
        "is_item": items["item"].notna().to_numpy(),
        "score": pd.to_numeric(items["score"]).to_numpy(dtype=float),
        "satisfaction": pd.to_numeric(items["satisfaction"]).to_numpy(dtype=float),
        "asked": 1.0, "rated": 1.0})
    known = pd.DataFrame([(q.name, i.name, i.criterion, i.zone) for q in survey.questionnaires
                          for i in q.items], columns=["questionnaire", "name", "criterion", "zone"])
    item_rows = given[given["is_item"]].drop(columns="is_item").merge(
        known, on=["questionnaire", "name"], how="inner")
    criterion_rows = given[~given["is_item"]].drop(columns="is_item")
    long = _levels(survey, item_rows, criterion_rows)
    n_groups = len(units)
    none = np.zeros(0, dtype=int)
    table = _wide(survey, pd.DataFrame({"unit": units}), long, none, np.zeros(0, dtype=bool),
                  none, n_groups)
    labels = pd.DataFrame({"unit": units})
    return SurveyResults(table[["unit", *_columns(survey)]], _labelled(long, labels), {})


def _labelled(long: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Group numbers replaced by what they stand for (unit, and the breakdown value)."""
    named = labels.iloc[long["group"].to_numpy(dtype=int)].reset_index(drop=True)
    return pd.concat([named, long.drop(columns="group").reset_index(drop=True)], axis=1)


def _columns(survey: Survey) -> list[str]:
    return result_columns([q.name for q in survey.questionnaires], list(survey.zones),
                          [code for code, _ in survey.exclusions])


def _exclusion_reasons(survey: Survey, frames: Frames) -> np.ndarray:
    """Index of the first exclusion rule each respondent meets, -1 for none."""
    n = frames.length(survey.respondents)
    reason = np.full(n, -1)
    for i, (_, plan) in enumerate(survey.exclusions):
        hit = evaluate_rows(plan, frames, survey.respondents).fillna(False).to_numpy(dtype=bool)
        reason[hit & (reason < 0)] = i
    return reason


def _item_statistics(survey: Survey, frames: Frames, group_pos: np.ndarray, n_groups: int,
                     included: np.ndarray) -> tuple[pd.DataFrame, dict[str, int]]:
    respondents = frames.tables[survey.respondents]
    ratings = np.asarray(survey.ratings, dtype=float)
    satisfied = np.asarray(survey.satisfied, dtype=float)
    parts, ignored = [], {}
    for q in survey.questionnaires:
        member = included & evaluate_rows(q.when, frames, survey.respondents).fillna(
            False).to_numpy(dtype=bool)
        for item in q.items:
            values = respondents[item.name].to_numpy(dtype=float)
            present = ~np.isnan(values)
            applies = member
            if item.asked_if is not None:
                condition = evaluate_rows(item.asked_if, frames, survey.respondents)
                applies = member & condition.fillna(False).to_numpy(dtype=bool)
                stray = int((member & present & ~applies).sum())
                if stray:
                    ignored[f"{q.name}.{item.name}"] = stray
            asked = applies & present
            rated = asked & np.isin(values, ratings)
            top = rated & np.isin(values, satisfied)

            def per_group(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
                return np.bincount(group_pos[mask], weights=None if weights is None
                                   else weights[mask], minlength=n_groups)

            n_rated = per_group(rated)
            has = np.flatnonzero(n_rated > 0)
            if not len(has):
                continue
            n_asked = per_group(asked)[has]
            total = per_group(rated, values)[has]
            base = n_asked if survey.base == "asked" else n_rated[has]
            parts.append(pd.DataFrame({
                "group": has, "questionnaire": q.name, "name": item.name,
                "criterion": item.criterion, "zone": item.zone,
                "score": total / n_rated[has], "satisfaction": 100.0 * per_group(top)[has] / base,
                "asked": n_asked, "rated": n_rated[has]}))
    columns = [*LEVEL_COLUMNS, "criterion", "zone"]
    items = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return items, ignored


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
    return pd.concat([f[["level", *LEVEL_COLUMNS]] for f in frames if len(f)],
                     ignore_index=True)


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
    for q in survey.questionnaires:
        put("channel", q.name, None, f"{q.name}_")
    for zone in survey.zones:
        put("unit_zone", None, zone, f"{zone}_")
    for i, (code, _) in enumerate(survey.exclusions):
        hit = (reason == i) & (group_pos >= 0)
        table[f"excluded_{code}"] = np.bincount(group_pos[hit], minlength=n_groups).astype(float)
    return table


def result_columns(questionnaires: list[str], zones: list[str], exclusions: list[str]
                   ) -> list[str]:
    """The columns of a results table (what validation offers to formulas), in order."""
    columns = ["n", "score", "satisfaction"]
    columns += [f"{q}_{s}" for q in questionnaires for s in ("score", "satisfaction")]
    columns += [f"{z}_{s}" for z in zones for s in ("score", "satisfaction")]
    columns += [f"excluded_{code}" for code in exclusions]
    return columns
