"""Building respondent-level data that reproduce published figures (`sapa synth`).

What to fit and where the figures are is declared in the spec (`synthesis:`); this module knows
no year, table or zone. Per unit and questionnaire:

1. every item starts at its criterion's published value (score and satisfaction separately);
2. a least-squares correction, as small as possible, moves the items so that each criterion's
   mean stays put and each published zone value is met (zone membership, shared zones included,
   comes from the spec's questionnaires); values are kept inside the scale;
3. integer answers are drawn per item: the share of top marks over everyone asked, the rest of
   the marks summing to the item's score over those who rated; non-answers are added where a
   (score, %) pair needs them (e.g. 4.96 with 89.2 % fives).

Routing fields (e.g. complained) are drawn with the declared share (at least two respondents
where an item depends on them), and every item is answered only where the spec's `asked_if` holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.data import build_frame
from engine.diagnostics import SapaError
from engine.formula_eval import Frames, evaluate_rows
from engine.published import number, read_table, select
from engine.spec import Questionnaire, Spec, Survey

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Targets:
    """Published values for one unit: criterion values per questionnaire, zone values."""

    criteria: dict[tuple[str, str], tuple[float, float]]  # (questionnaire, criterion) -> (s, p)
    items: dict[tuple[str, str], list[tuple[float, float]]]  # criteria printed item by item
    totals: dict[str, tuple[float, float]]  # questionnaire total, where that is all there is
    channel_zones: dict[tuple[str, str], tuple[float, float]]  # (questionnaire, zone) -> (s, p)
    unit_zones: dict[str, tuple[float, float]]  # zone over all questionnaires -> (s, p)


def synthesize(spec: Spec, published: Path, seed: int = 0, progress: Progress | None = None
               ) -> dict[str, pd.DataFrame]:
    """Catalogues and respondents for `spec`, fitted to the tables in `published`."""
    plan = spec.data["synthesis"]
    survey = spec.survey
    assert survey is not None
    rng = np.random.default_rng(seed)
    catalogues = {name: _typed(spec, name, _catalogue(published, raw))
                  for name, raw in plan["catalogues"].items()}
    units = catalogues[survey.unit_link.parent]
    unit_key = survey.unit_link.key[0]
    counts = _unit_counts(published, plan["respondents"])
    channels = _unit_channels(published, plan)
    targets = _targets(published, plan, survey)
    regions = _region_weights(published, plan["regions"])
    parts = []
    todo = [u for u in units[unit_key] if counts.get(u, 0) > 0 and channels.get(u)]
    for done, unit in enumerate(todo):
        parts.append(_unit_respondents(spec, plan, unit, counts[unit], channels[unit],
                                       targets.get(unit), regions, units, rng))
        if progress:
            progress(done + 1, len(todo))
    respondents = pd.concat(parts, ignore_index=True)
    respondents.insert(0, "respondent_id", [f"r{i:06d}" for i in range(len(respondents))])
    for item in dict.fromkeys(i.name for q in survey.questionnaires for i in q.items):
        if item not in respondents:
            respondents[item] = np.nan  # asked of nobody: an empty column, not a missing one
    return {**catalogues, survey.respondents: respondents}


def _typed(spec: Spec, name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """A catalogue through the spec's data contract, as the rating run will read it."""
    typed, problems = build_frame(spec.tables[name], frame, lambda row, column: None,
                                  f"synthesized {name}")
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise SapaError(errors)
    return typed


# ----------------------------------------------------------------------------- published figures
def _catalogue(folder: Path, raw: Mapping[str, Any]) -> pd.DataFrame:
    """A catalogue table from a published file: rows kept or dropped, columns renamed, values
    mapped ("*" = any other value), constants added, columns joined from another file."""
    frame = _read(folder, raw)
    out = pd.DataFrame({target: frame[source].to_numpy()
                        for target, source in raw["columns"].items()})
    join = raw.get("join")
    if join:
        other = _read(folder, join)
        other = other.drop_duplicates(subset=[join["on"]]).set_index(join["on"])
        key = out[join["key"]]
        for target, source in join["columns"].items():
            out[target] = key.map(other[source]).where(key.isin(other.index), "")
    for column, mapping in (raw.get("map") or {}).items():
        out[column] = out[column].map(lambda v, m=mapping: m.get(v, m.get("*", v)))
    for column, value in (raw.get("constant") or {}).items():
        out[column] = value
    key = raw.get("unique")
    return out.drop_duplicates(subset=[key]).reset_index(drop=True) if key else out


def _read(folder: Path, raw: Mapping[str, Any]) -> pd.DataFrame:
    """A published file with the rows the plan keeps (rows:) and drops (exclude:)."""
    return select(read_table(folder, raw["file"]), raw.get("rows"), raw.get("exclude"))


def _unit_counts(folder: Path, raw: Mapping[str, Any]) -> dict[str, int]:
    frame = read_table(folder, raw["file"])
    return {row[raw["unit"]]: int(number(row[raw["n"]]) or 0) for _, row in frame.iterrows()}


def _unit_channels(folder: Path, plan: Mapping[str, Any]) -> dict[str, list[str]]:
    raw = plan["channels"]
    if "questionnaires" in raw:  # the same questionnaires for every unit
        frame = read_table(folder, plan["respondents"]["file"])
        return {unit: list(raw["questionnaires"]) for unit in frame[plan["respondents"]["unit"]]}
    frame = read_table(folder, raw["file"])
    mapping = raw["map"]
    out = {}
    for _, row in frame.iterrows():
        names = [mapping[c] for c in row[raw["column"]].split(raw.get("separator", ";"))
                 if c in mapping]
        out[row[raw["unit"]]] = names
    return out


def _targets(folder: Path, plan: Mapping[str, Any], survey: Survey) -> dict[str, Targets]:
    raw = plan["criteria"]
    frame = _read(folder, raw)
    channel_map = plan["channels"].get("map", {})
    targets: dict[str, Targets] = {}

    def of(unit: str) -> Targets:
        return targets.setdefault(unit, Targets(criteria={}, items={}, totals={},
                                                channel_zones={}, unit_zones={}))

    for _, row in frame.iterrows():
        questionnaire = channel_map.get(row[raw["channel"]])
        score = number(row[raw["score"]])
        if raw.get("override") and number(row[raw["override"]]) is not None:
            score = number(row[raw["override"]])
        if questionnaire is None or score is None or score <= 0:
            continue  # a printed 0,00 means "no ratings"
        criterion = raw.get("criterion_map", {}).get(row[raw["criterion"]],
                                                     row[raw["criterion"]])
        satisfaction = number(row[raw["satisfaction"]])
        value = (score, satisfaction if satisfaction is not None else np.nan)
        unit = of(row[raw["unit"]])
        if criterion == raw.get("total"):
            unit.totals[questionnaire] = value
            continue
        unit.items.setdefault((questionnaire, criterion), []).append(value)
        unit.criteria[(questionnaire, criterion)] = value
    for unit in targets.values():  # a criterion printed item by item: its mean is the target
        for key, values in unit.items.items():
            if len(values) > 1:
                unit.criteria[key] = tuple(np.nanmean(np.array(values), axis=0))  # type: ignore
    zones = plan.get("zones")
    if zones:
        frame = read_table(folder, zones["file"])
        for _, row in frame.iterrows():
            zone = zones["map"].get(row[zones["zone"]])
            score, satisfaction = number(row[zones["score"]]), number(row[zones["satisfaction"]])
            if zone is None or score is None:
                continue
            value = (score, satisfaction if satisfaction is not None else np.nan)
            where = zones.get("questionnaire", {}).get(zone)
            unit = of(row[zones["unit"]])
            if where:
                unit.channel_zones[(where, zone)] = value
            else:
                unit.unit_zones[zone] = value
    return targets


def _region_weights(folder: Path, raw: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    frame = _read(folder, raw)
    weights = (frame[raw["n"]].map(number).fillna(0).to_numpy(dtype=float) if "n" in raw
               else np.ones(len(frame)))  # no published sizes: evenly
    return frame[raw["region"]].to_numpy(), weights / weights.sum()


# ------------------------------------------------------------------------------ one unit
def _split(n: int, names: list[str], shares: Mapping[str, float]) -> dict[str, int]:
    weights = np.array([shares.get(name, 1.0) for name in names], dtype=float)
    raw = n * weights / weights.sum()
    counts = np.floor(raw).astype(int)
    counts[np.argsort(raw - counts)[::-1][: n - counts.sum()]] += 1
    return dict(zip(names, counts.tolist(), strict=True))


def _unit_respondents(spec: Spec, plan: Mapping[str, Any], unit: str, n: int,
                      channels: list[str], targets: Targets | None,
                      regions: tuple[np.ndarray, np.ndarray], units: pd.DataFrame,
                      rng: np.random.Generator) -> pd.DataFrame:
    survey = spec.survey
    assert survey is not None
    questionnaires = {q.name: q for q in survey.questionnaires}
    sizes = _split(n, channels, plan.get("channel_shares", {}))
    frames = []
    for name, size in sizes.items():
        if size == 0:
            continue
        frame = pd.DataFrame({
            plan["unit_column"]: [unit] * size,
            plan["contact"]["column"]: plan["contact"]["values"][name],
            plan["regions"]["column"]: rng.choice(regions[0], size=size, p=regions[1])})
        for field, rule in plan.get("routing", {}).items():
            share, needed_by = (rule, None) if not isinstance(rule, Mapping) else (
                rule["share"], rule.get("criteria"))
            wanted = needed_by is None or (targets is not None and any(
                (name, c) in targets.criteria for c in needed_by))
            chosen = (rng.random(size) < share) & wanted
            if wanted and size >= 2 and chosen.sum() < 2:
                chosen[rng.choice(size, 2, replace=False)] = True
            frame[field] = chosen
        frames.append((questionnaires[name], frame))
    if targets is not None:
        targets = _spread_unit_zones(survey, [q for q, _ in frames], targets)
    answers = []
    for questionnaire, frame in frames:
        answers.append(_answers(spec, questionnaire, frame, targets, units, rng))
    return pd.concat(answers, ignore_index=True)


def _spread_unit_zones(survey: Survey, questionnaires: list[Questionnaire],
                       targets: Targets) -> Targets:
    """A zone published over all channels (their mean) becomes one target per channel: the
    channel's value implied by its criteria, shifted by a common amount so that the mean over
    the channels is the published figure."""
    channel_zones = dict(targets.channel_zones)
    for zone, published in targets.unit_zones.items():
        natural = {}
        for q in questionnaires:
            members = [i for i in q.items if i.zone == zone or (
                i.zone in survey.shared_zones and any(j.zone == zone for j in q.items))]
            values = [targets.criteria.get((q.name, i.criterion)) for i in members]
            values = [v for v in values if v is not None]
            if values and (q.name, zone) not in channel_zones:
                natural[q.name] = np.nanmean(np.array(values, dtype=float), axis=0)
        if not natural:
            continue
        shift = np.array(published, dtype=float) - np.nanmean(list(natural.values()), axis=0)
        for name, value in natural.items():
            channel_zones[(name, zone)] = tuple(value + shift)  # type: ignore[assignment]
    return Targets(criteria=targets.criteria, items=targets.items, totals=targets.totals,
                   channel_zones=channel_zones, unit_zones={})


def _answers(spec: Spec, questionnaire: Questionnaire, frame: pd.DataFrame,
             targets: Targets | None, units: pd.DataFrame, rng: np.random.Generator
             ) -> pd.DataFrame:
    survey = spec.survey
    assert survey is not None
    asked = _asked(spec, questionnaire, frame, units)
    items = [i for i in questionnaire.items if asked[i.name].any()]
    scores, shares = _item_values(survey, questionnaire, items, targets, asked)
    columns = {}
    top = max(survey.satisfied)
    non_answer = min(survey.non_answers) if survey.non_answers else None
    ratings = np.asarray(survey.ratings, dtype=float)
    # Rounding error is passed on: from item to item within a criterion (so the criterion keeps
    # its value) and what is left at a criterion's end to the next criterion of the channel (so
    # the channel total keeps its value).
    sizes = {c: sum(1 for i in items if i.criterion == c and scores.get(i.name) is not None)
             for c in dict.fromkeys(i.criterion for i in items)}
    owed = [0.0, 0.0]
    current = None
    for item in items:
        score, share = scores.get(item.name), shares.get(item.name)
        if score is None:
            continue
        if item.criterion != current:
            if current is not None:  # the last criterion's mean error, as a sum over this one
                owed = [o / sizes[current] * sizes[item.criterion] for o in owed]
            current = item.criterion
        target_score = score + owed[0]
        target_share = None if share is None or np.isnan(share) else share + owed[1]
        drawn = _draw(asked[item.name], target_score, target_share, top, non_answer, rng)
        given = drawn[asked[item.name] & ~np.isnan(drawn)]
        rated = given[np.isin(given, ratings)]
        if len(rated):
            owed[0] = target_score - rated.mean()
        if target_share is not None and len(given):
            owed[1] = target_share - 100.0 * np.mean(given == top)
        columns[item.name] = drawn
    return pd.concat([frame, pd.DataFrame(columns, index=frame.index)], axis=1)


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


def _item_values(survey: Survey, questionnaire: Questionnaire, items: list[Any],
                 targets: Targets | None, asked: Mapping[str, np.ndarray]
                 ) -> tuple[dict[str, float], dict[str, float]]:
    """Item scores and satisfactions meeting the criterion values and the zone values."""
    if targets is None or not items:
        return {}, {}
    criteria = {c: v for (q, c), v in targets.criteria.items() if q == questionnaire.name}
    if not criteria and questionnaire.name in targets.totals:
        # only the channel total is published: every criterion carries it
        criteria = {i.criterion: targets.totals[questionnaire.name] for i in questionnaire.items}
    items = [i for i in items if i.criterion in criteria]
    if not items:
        return {}, {}
    own_zones = sorted({i.zone for i in questionnaire.items
                        if i.zone and i.zone not in survey.shared_zones})
    zones = {z: v for (q, z), v in targets.channel_zones.items() if q == questionnaire.name}
    zones.update({z: v for z, v in targets.unit_zones.items()
                  if z in own_zones and z not in zones})
    groups = [np.array([k for k, i in enumerate(items) if i.criterion == c])
              for c in dict.fromkeys(i.criterion for i in items)]
    out = []
    printed = {c: v for (q, c), v in targets.items.items()
               if q == questionnaire.name and len(v) > 1}
    for position, bounds in ((0, (1.0, 5.0)), (1, (0.0, 100.0))):
        start = np.array([criteria[i.criterion][position] for i in items], dtype=float)
        for criterion, values in printed.items():  # item values as printed, in order
            members = [k for k, i in enumerate(items) if i.criterion == criterion]
            if len(members) == len(values):
                start[members] = [v[position] for v in values]
        rows, wanted = [], []
        for zone, value in zones.items():
            member = [1.0 if (i.zone == zone or i.zone in survey.shared_zones) else 0.0
                      for i in items]
            if sum(member) and not np.isnan(value[position]):
                rows.append(member)
                wanted.append(value[position])
        values = _fit(start, groups, np.array(rows), np.array(wanted), bounds)
        out.append({i.name: float(v) for i, v in zip(items, values, strict=True)
                    if not np.isnan(v)})
    return out[0], out[1]


def _fit(start: np.ndarray, groups: list[np.ndarray], rows: np.ndarray, wanted: np.ndarray,
         bounds: tuple[float, float], ridge: float = 1e-9) -> np.ndarray:
    """Values whose criterion means stay exactly at `start`'s (hard) and whose zone means come
    as close as least squares allows to `wanted`, moving the items as little as possible, kept
    inside `bounds` without changing any criterion mean."""
    if np.isnan(start).all():
        return start
    start = np.where(np.isnan(start), np.nanmean(start), start)
    basis = []  # moves that keep every criterion mean: e_j - e_last within a criterion
    for group in groups:
        for j in group[:-1]:
            move = np.zeros(len(start))
            move[j], move[group[-1]] = 1.0, -1.0
            basis.append(move)
    values = start.copy()
    if basis and len(rows):
        moves = np.array(basis).T
        means = rows / rows.sum(axis=1, keepdims=True)
        system = np.vstack([means @ moves, np.sqrt(ridge) * moves])
        target = np.concatenate([wanted - means @ start, np.zeros(len(start))])
        values = start + moves @ np.linalg.lstsq(system, target, rcond=None)[0]
    for _ in range(50):  # back inside the bounds, each criterion's total unchanged
        if ((values >= bounds[0] - 1e-12) & (values <= bounds[1] + 1e-12)).all():
            break
        for group in groups:
            total = values[group].sum()
            clipped = np.clip(values[group], *bounds)
            room = clipped < bounds[1] if total > clipped.sum() else clipped > bounds[0]
            if room.any():
                clipped[room] += (total - clipped.sum()) / room.sum()
            values[group] = clipped
    return values


def _draw(asked: np.ndarray, score: float, share: float | None, top: float,
          non_answer: float | None, rng: np.random.Generator) -> np.ndarray:
    """Integer answers for (some of) the respondents asked: of `a` asked, `n5` give the top mark
    and `r` rate at all (the rest give a non-answer), chosen so that n5 / a is the share and the
    raters' mean is the score as closely as integers allow (skipped respondents: not asked)."""
    out = np.full(len(asked), np.nan)
    who = np.flatnonzero(asked)
    if len(who) == 0:
        return out
    share = (score - 1) / 4 * 100 if share is None or np.isnan(share) else share
    a, n5, r, total = _counts(len(who), score, share / 100, int(top),
                              non_answer is not None)
    values = np.concatenate([np.full(n5, top), _spread(total - int(top) * n5, r - n5),
                             np.full(a - r, non_answer if non_answer is not None else np.nan)])
    chosen = rng.choice(who, size=a, replace=False)
    out[chosen] = rng.permutation(values)
    return out


def _counts(available: int, score: float, share: float, top: int, non_answers: bool
            ) -> tuple[int, int, int, int]:
    """(asked, top marks, raters, sum of the raters' marks) closest to (share, score)."""
    best: tuple[float, int, int, int, int, int] | None = None
    low_a = max(1, int(available * 0.7))
    for a in range(available, low_a - 1, -1):
        n5 = min(a, max(0, int(round(share * a))))
        share_error = abs(n5 / a - share) / 0.001
        lowest = max(n5, 1)
        if non_answers and score > 4 and n5 > 0:
            # at most n5 / (score - 4) raters can average `score` with n5 top marks
            centre = int(n5 / (score - 4))
            rater_counts = {min(max(r, lowest), a) for r in range(centre - 12, centre + 13)} | {a}
        else:
            rater_counts = {a} | (set(range(max(lowest, a - 24), a + 1)) if non_answers else set())
        for r in sorted(rater_counts, reverse=True):
            others = r - n5
            total = int(round(score * r))
            if others == 0:
                total = top * n5
            else:
                total = min(max(total, top * n5 + others), top * n5 + 4 * others)
            error = share_error + abs(total / r - score) / 0.01 if r else float("inf")
            candidate = (error, -a, a, n5, r, total)
            if best is None or candidate < best:
                best = candidate
        if best is not None and best[0] < 0.05:
            break
    assert best is not None
    return best[2], best[3], best[4], best[5]


def _spread(total: int, count: int) -> np.ndarray:
    """`count` marks from 1 to 4 adding up to `total`."""
    if count <= 0:
        return np.zeros(0)
    base, extra = divmod(total, count)
    marks = np.full(count, base, dtype=float)
    marks[:extra] += 1
    return marks


def write(tables: Mapping[str, pd.DataFrame], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
