"""Choices for a table pooled over every unit's respondents (`synthesis.pooled`, `sapa synth`).

A pooled table weighs the units by how many answered, which the report does not publish per
unit and no unit's own fit sees. Before the units are built: how many of each unit's
respondents answer each criterion (`answering_shares`), how many it routes to a routed
criterion (`routed_counts`), and where a criterion's items are asked of different units, how
far each item starts from the unit's printed criterion (`item_splits`). After: answers
exchanged between a respondent's items (`exchanged`, engine.synthesis_exchange)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sapa.engine import lazy
from sapa.engine.published import number
from sapa.engine.spec import Spec, Survey
from sapa.engine.synth import skips as skips
from sapa.engine.synth.exchange import Figures, Pooled, exchange
from sapa.engine.synth.fit import solver_output_hidden, within
from sapa.engine.synth.targets import Targets, read

optimize = lazy.module("scipy.optimize")  # SciPy loads when a fit first runs


def answering_shares(folder: Path, plan: Mapping[str, Any], survey: Survey,
                      targets: Mapping[str, Targets], counts: Mapping[str, int]
                      ) -> dict[str, dict[str, float]]:
    """Per unit and criterion: the share of its respondents who answer the criterion, so that
    the criterion pooled over every respondent (`synthesis.pooled`, a national table) comes
    out. Pooled, a criterion is the units' values weighted by how many answered; with everyone
    answering it is their size-weighted mean, which a national table need not print (one prints
    92.4 % against a mean of 91.7 %) when the valid-answer counts per unit are not published. A
    linear programme per criterion keeps as many answers as it can, each unit's share 50-100 %.
    Left as they are: criteria with an item asked of some respondents only (asked_if), whose
    pooled weights are not the units' sizes, and criteria of one item, whose askers
    `skips.skip_some` already chooses."""
    raw = plan.get("pooled")
    if not raw:
        return {}
    printed = skips.printing(plan, survey)
    items = [(q.name, i.criterion) for q in survey.questionnaires for i in q.items]
    routed = {(q.name, i.criterion) for q in survey.questionnaires for i in q.items
              if i.asked_if is not None} | {key for key in items if items.count(key) == 1}
    out: dict[str, dict[str, float]] = {}
    for _, row in read(folder, raw).iterrows():
        criterion = row[raw["criterion"]]
        pooled = (number(row[raw["score"]]), number(row[raw["satisfaction"]]))
        keys = [(u, key) for u, t in targets.items() for key in t.criteria
                if key[1] == criterion and key not in routed and counts.get(u, 0) > 0]
        if None in pooled or not keys:
            continue
        n = np.array([counts[u] for u, _ in keys], dtype=float)
        values = np.array([targets[u].criteria[key] for u, key in keys])
        rows, bound = [], []
        for k, stat in enumerate(("score", "satisfaction")):
            if np.isnan(values[:, k]).any():
                continue
            slack = printed.half[stat] / 2  # sum n x (value - pooled) within +- slack * sum n x
            gap = values[:, k] - pooled[k]
            rows += [n * (gap - slack), -n * (gap + slack)]
            bound += [0.0, 0.0]
        found = optimize.linprog(-n, A_ub=np.array(rows), b_ub=np.array(bound),
                                 bounds=[(0.5, 1.0)] * len(n), method="highs") if rows else None
        if found is not None and found.status == 0:
            for (unit, _), share in zip(keys, found.x, strict=True):
                out.setdefault(unit, {})[criterion] = float(share)
    return out


def item_splits(folder: Path, plan: Mapping[str, Any], survey: Survey,
                   targets: Mapping[str, Targets], counts: Mapping[str, int],
                   asked: Mapping[str, set[str]]) -> dict[str, dict[str, tuple[float, float]]]:
    """Per unit and item: how far the item starts from its criterion's printed value, so that
    the items pooled over every respondent (`synthesis.pooled.items`) come out, for a criterion
    whose items are asked of different units (an item asked in some units pools those units,
    an item asked of all pools every unit). A unit prints the criterion only, the mean of its
    items, so a unit's moves sum to nothing and keep its items on the scale; a linear programme
    per statistic moves as little as it can while every item's pool, weighted by the units'
    sizes, meets its print (as near as it can)."""
    raw = plan.get("pooled")
    if not raw or "items" not in raw:
        return {}
    top = float(skips.printing(plan, survey).top)
    printed = {row[raw["items"]["key"]]: (number(row[raw["score"]]),
                                          number(row[raw["satisfaction"]]))
               for _, row in read(folder, {"file": raw["file"], **raw["items"]}).iterrows()}
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for q in survey.questionnaires:
        for criterion in dict.fromkeys(i.criterion for i in q.items):
            members = [i.name for i in q.items if i.criterion == criterion]
            units = [u for u, t in targets.items() if (q.name, criterion) in t.criteria
                     and counts.get(u, 0) > 0 and asked.get(u, set()) & set(members)]
            kinds = {tuple(i for i in members if i in asked[u]) for u in units}
            if len(kinds) < 2 or any(i not in printed or None in printed[i] for i in members):
                continue
            columns = [(u, i) for u in units for i in members if i in asked[u]]
            moves = np.zeros((len(columns), 2))
            for k, (low, high) in enumerate(((1.0, top), (0.0, 100.0))):
                value = {u: targets[u].criteria[(q.name, criterion)][k] for u in units}
                if any(np.isnan(v) for v in value.values()):
                    continue
                size = np.array([counts[u] for u, _ in columns], dtype=float)
                m, r = len(columns), len(members)
                equal, wanted = [], []
                for u in units:  # the unit's moves sum to nothing
                    equal.append([1.0 * (c[0] == u) for c in columns] + [0.0] * (2 * m + 2 * r))
                    wanted.append(0.0)
                for j, i in enumerate(members):  # the item's pool meets its print, or misses
                    mine = np.array([item == i for _, item in columns])
                    mean = (size * [value[u] for u, _ in columns])[mine].sum() / size[mine].sum()
                    miss = [0.0] * (2 * r)
                    miss[j], miss[r + j] = 1.0, -1.0
                    equal.append(list(np.where(mine, size / size[mine].sum(), 0.0))
                                 + [0.0] * (2 * m) + miss)
                    wanted.append(printed[i][k] - mean)
                # variables: moves | their size up | down | each pool's miss up | down
                cost = np.concatenate([np.zeros(m), np.ones(2 * m), np.full(2 * r, 1e4)])
                link = np.hstack([np.eye(m), -np.eye(m), np.eye(m), np.zeros((m, 2 * r))])
                found = optimize.linprog(cost, A_eq=np.vstack([np.array(equal), link]),
                                         b_eq=np.concatenate([wanted, np.zeros(m)]),
                                         bounds=[(low - value[u], high - value[u])
                                                 for u, _ in columns]
                                         + [(0, None)] * (2 * m + 2 * r), method="highs")
                if found.status == 0:
                    moves[:, k] = found.x[:m]
            for (u, i), move in zip(columns, moves, strict=True):
                out.setdefault(u, {})[i] = (float(move[0]), float(move[1]))
    return out


def routed_counts(folder: Path, plan: Mapping[str, Any], survey: Survey,
                   targets: Mapping[str, Targets], counts: Mapping[str, int]
                   ) -> dict[str, dict[str, float]]:
    """Per unit and routing flag: how many respondents to route, so that a routed criterion
    pooled over every respondent (`synthesis.pooled`) comes out: pooled, the units' values weigh
    by how many were routed and rated. Each unit's count is one that reaches its own printed
    figures (as `_sizes` requires), between 2 and a tenth of its respondents (or the least that
    reaches them); a small integer programme per routed criterion picks them nearest the
    routing share."""
    raw = plan.get("pooled")
    if not raw:
        return {}
    flags = {c: flag for flag, rule in plan.get("routing", {}).items() if isinstance(rule, Mapping)
             for c in rule.get("criteria", ())}
    items = [(q.name, i.criterion) for q in survey.questionnaires for i in q.items]
    printed = skips.printing(plan, survey)
    out: dict[str, dict[str, float]] = {}
    for _, row in read(folder, raw).iterrows():
        criterion, flag = row[raw["criterion"]], flags.get(row[raw["criterion"]])
        pooled = (number(row[raw["score"]]), number(row[raw["satisfaction"]]))
        units = [(u, key) for u, t in targets.items() for key in t.criteria
                 if key[1] == criterion and counts.get(u, 0) > 0]
        if flag is None or None in pooled or not units:
            continue
        share = plan["routing"][flag]["share"]
        choices = []  # per unit: the counts that reach its figures, and how many of them rate
        for u, key in units:
            s, p = targets[u].criteria[key]
            m = items.count(key)
            fits = [k for k in range(2, counts[u] + 1)
                    if (ok := skips.printable(s, p, m, k, printed))[0]
                    and (ok[1] or np.isnan(p))]
            ks = [k for k in fits if k <= max(2, counts[u] // 10)] or fits[:1] or [2]
            choices.append([(k, skips.raters(m * k, s, p, printed) / m) for k in ks])
        columns = [(j, k, rated) for j, options in enumerate(choices) for k, rated in options]
        values = np.array([targets[u].criteria[key] for u, key in units])
        values[:, 1] = np.where(np.isnan(values[:, 1]),
                                np.maximum(values[:, 0] - (printed.top - 1), 0) * 100,
                                values[:, 1])  # no % printed: the fewest top marks the score
        #                                        allows (what the fit, with no % to meet, gives)
        rows, lower, upper = [], [], []
        for j in range(len(units)):  # one count per unit
            rows.append([1.0 if c[0] == j else 0.0 for c in columns])
            lower.append(1.0)
            upper.append(1.0)
        for k, stat in enumerate(("score", "satisfaction")):
            slack = printed.half[stat] / 2
            for sign in (1.0, -1.0):  # sign * sum w (value - pooled) <= slack * sum w
                weights = [0.0 if np.isnan(values[j, k]) else (rated if k == 0 else count)
                           for j, count, rated in columns]
                rows.append([w * (sign * (values[j, k] - pooled[k]) - slack) if w else 0.0
                             for w, (j, _, _) in zip(weights, columns, strict=True)])
                lower.append(-np.inf)
                upper.append(0.0)
        cost = np.array([abs(count - share * counts[units[j][0]]) for j, count, _ in columns])
        with solver_output_hidden():
            limits = optimize.LinearConstraint(np.array(rows), lower, upper)
            found = optimize.milp(cost, constraints=limits,
                                  integrality=np.ones(len(columns)), bounds=optimize.Bounds(0, 1),
                                  options={"node_limit": 2000})
        if found.x is not None:
            for (j, count, _), picked in zip(columns, found.x, strict=True):
                if picked > 0.5:
                    out.setdefault(units[j][0], {})[flag] = float(count)
    return out


def printed_criteria(folder: Path, plan: Mapping[str, Any], survey: Survey) -> list[Pooled]:
    """The criteria of the pooled table with their items' prints (`synthesis.pooled.items`)."""
    raw = plan["pooled"]
    pair = (raw["score"], raw["satisfaction"])
    printed = {row[raw["items"]["key"]]: [number(row[c]) for c in pair]
               for _, row in read(folder, {"file": raw["file"], **raw["items"]}).iterrows()}
    out = []
    for _, row in read(folder, raw).iterrows():
        criterion, value = row[raw["criterion"]], [number(row[c]) for c in pair]
        items = list(dict.fromkeys(i.name for q in survey.questionnaires for i in q.items
                                   if i.criterion == criterion))
        if items and None not in value:
            out.append(Pooled(criterion, items, np.array([[np.nan if v is None else v for v in
                                                printed.get(i, [None, None])] for i in items]),
                              (float(value[0]), float(value[1]))))
    return out


def exchanged(spec: Spec, plan: Mapping[str, Any], criteria: list[Pooled],
               respondents: pd.DataFrame, report: pd.DataFrame, figures: Mapping[str, Figures],
               rng: np.random.Generator) -> tuple[pd.DataFrame, int]:
    """Answers exchanged between the items of each pooled criterion (engine.synthesis_exchange)
    in `respondents`, and the fit `report` of the units they move, in place; the pooled
    figures after (in the report's columns), and how many exchanges were made. Units fitted by
    region too do not exchange: their figures are not functions of the whole unit's items."""
    survey = spec.survey
    assert survey is not None
    questionnaire = respondents[plan["contact"]["column"]].map(
        {contact: q for q, contact in plan["contact"]["values"].items()})
    units = list(figures)
    position = {u: k for k, u in enumerate(units)}
    rows = report.groupby("unit").indices
    achieved = [report["synthesized"].to_numpy(dtype=float, copy=True)[rows[u]] for u in units]
    keys = [(u, q.name) for u in units for q in survey.questionnaires]
    owner = (pd.MultiIndex.from_tuples(keys).get_indexer(pd.MultiIndex.from_arrays(
        [respondents[plan["unit_column"]].astype(str), questionnaire]))
        if keys else np.full(len(respondents), -1))
    pooled_rows, made = [], 0
    for pooled in criteria:
        if not set(pooled.items) <= set(respondents):
            continue  # an item asked of nobody
        owners = [(position[u], np.array([figures[u].slots.index((q, i))
                                             if (q, i) in figures[u].slots else -1
                                             for i in pooled.items])) for u, q in keys]
        answers = respondents[pooled.items].to_numpy(dtype=float, copy=True)
        done = exchange(answers, owner, owners, [figures[u] for u in units], achieved, pooled,
                        survey, skips.printing(plan, survey), rng)
        if done.made:
            respondents[pooled.items] = answers
        made += done.made
        values = np.column_stack([done.score, done.share])
        for name, published, value in [(pooled.name, pooled.printed, values.mean(axis=0)),
                                       *zip(pooled.items, pooled.printed_items, values,
                                            strict=True)]:
            for k, stat in enumerate(("score", "satisfaction")):
                if not np.isnan(published[k]):
                    pooled_rows.append((name, stat, published[k], value[k]))
    for u, values in zip(units, achieved, strict=True):
        f = figures[u]
        off = np.abs(values - f.value)
        report.loc[rows[u], "synthesized"] = values
        report.loc[rows[u], "met"] = within(off, f.half_width)
        report.loc[rows[u], "reproduced"] = within(off, f.tolerance)
    out = pd.DataFrame(pooled_rows, columns=["figure", "statistic", "published", "synthesized"])
    off = (out["synthesized"] - out["published"]).abs()
    stat = out["statistic"]
    out["met"] = within(off, stat.map(skips.printing(plan, survey).half))
    out["reproduced"] = within(off, stat.map(plan["tolerance"]))
    return out, made
