"""The levels above the items as arrays: each node of a level (an item, a criterion, a channel's
total, a zone, the unit) against each cell (a group of respondents, or a group in one bootstrap
replicate). The hierarchy is the spec's (hierarchy.node_members), known before any data, so a
level is a sparse product of its members' arrays by the level's rule: a mean, a weighted mean,
pooled sums, or the level's own formulas. One cell per group and a thousand replicates of every
group run through the same code; nothing loops over groups or replicates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from sapa.engine.formula import Frames, evaluate_rows
from sapa.engine.spec import LEVEL_MEMBERS_TABLE, LEVEL_NODE, TOTALS, Level, Survey, level_columns
from sapa.engine.survey.hierarchy import counted, node_members, required

#: The levels in the order the long table lists them.
ORDER = ("item", "criterion", "zone", "channel", "unit_zone", "unit")
FIGURES = ("score", "satisfaction", "asked", "rated")


@dataclass
class Figures:
    """One level's figures, nodes x cells. `exists`: someone beneath was asked; score and
    satisfaction are missing where the rule gives none (then asked and rated are too, above the
    items). `totals`: the sums over every answer beneath (TOTALS, then each code's count), 0
    where nothing exists."""

    exists: np.ndarray
    score: np.ndarray
    satisfaction: np.ndarray
    asked: np.ndarray
    rated: np.ndarray
    totals: dict[str, np.ndarray]

    @classmethod
    def empty(cls, nodes: int, cells: int, totals: list[str]) -> Figures:
        def missing() -> np.ndarray:
            return np.full((nodes, cells), np.nan)
        return cls(np.zeros((nodes, cells), dtype=bool), missing(), missing(), missing(),
                   missing(), {t: np.zeros((nodes, cells)) for t in totals})

    def get(self, stat: str) -> np.ndarray:
        return getattr(self, stat) if stat in FIGURES else self.totals[stat]

    def set_node(self, row: int, cells: np.ndarray, given: dict[str, np.ndarray]) -> None:
        """Given figures of one node at some cells (the statistics a report publishes)."""
        self.exists[row, cells] = True
        for stat, values in given.items():
            self.get(stat)[row, cells] = values


@dataclass(frozen=True)
class Nodes:
    """One level's nodes, each (questionnaire, name) as the long table names it, with its
    members: their rows in the level below and their names (what weights and formulas see)."""

    level: Level | None  # None for the items
    keys: list[tuple[str, str]]
    below: str | None
    members: list[list[int]]
    names: list[list[str]]
    needs: np.ndarray  # weighted members a node must have (weighted, missing="missing")

    def index(self) -> dict[tuple[str, str], int]:
        return {key: i for i, key in enumerate(self.keys)}


def hierarchy(survey: Survey) -> dict[str, Nodes]:
    """Every level's nodes and members, from the spec alone (in ORDER)."""
    unit = survey.level("unit")
    below = {"criterion": "item", "zone": "item", "channel": "criterion", "unit_zone": "zone",
             "unit": "unit_zone" if unit.of == "zones" else "channel"}
    items = [(q.name, i.name) for q in survey.questionnaires for i in q.items]
    out = {"item": Nodes(None, items, None, [], [], np.zeros(0, dtype=np.int64))}
    for name in ORDER[1:]:
        level, index = survey.level(name), out[below[name]].index()
        needs = required(survey, level)
        keys, members, names, wanted = [], [], [], []
        for node, declared in node_members(survey, level).items():
            if name == "unit_zone":
                declared = [q for q in declared if q in counted(survey)]
            found = [(index[key], m) for m in declared
                     if (key := _member_key(name, below[name], node, m)) in index]
            keys.append(_node_key(name, node))
            members.append([row for row, _ in found])
            names.append([m for _, m in found])
            wanted.append(needs.get(node, 0))
        out[name] = Nodes(level, keys, below[name], members, names, np.asarray(wanted))
    return out


def _node_key(level: str, node: tuple[str, ...]) -> tuple[str, str]:
    """(questionnaire, name) of a node as the long table lists it."""
    if level in ("criterion", "zone"):
        return node[0], node[1]
    if level == "channel":
        return node[0], "total"
    return ("", node[0]) if level == "unit_zone" else ("", "total")


def _member_key(level: str, below: str, node: tuple[str, ...], member: str) -> tuple[str, str]:
    """The key, in the level below, of a member a node declares by name."""
    if level in ("criterion", "zone", "channel"):
        return node[0], member  # an item or criterion of the node's questionnaire
    if level == "unit_zone":
        return member, node[0]  # the zone within each counted channel
    return ("", member) if below == "unit_zone" else (member, "total")


def combine(nodes: Nodes, below: Figures) -> Figures:
    """One level from the level below by the level's rule. The sums beneath (totals) are added
    up whatever the rule; a node exists where any member does."""
    level = nodes.level
    assert level is not None
    parent = np.repeat(np.arange(len(nodes.keys)), [len(m) for m in nodes.members])
    child = np.asarray([row for rows in nodes.members for row in rows], dtype=np.int64)
    names = [n for names in nodes.names for n in names]
    shape = (len(nodes.keys), len(below.exists))

    def matrix(values: np.ndarray) -> sparse.csr_matrix:
        return sparse.csr_matrix((values, (parent, child)), shape=shape)

    ones = matrix(np.ones(len(child)))
    exists = (ones @ below.exists.astype(float)) > 0
    totals = {t: ones @ v for t, v in below.totals.items()}
    scored = ~np.isnan(below.score)
    with np.errstate(invalid="ignore", divide="ignore"):
        if level.rule == "formula":
            score, satisfaction = _by_formula(level, below, parent, child, names, exists)
            counting = below.exists
        elif level.rule == "pooled":
            has = (ones @ scored.astype(float)) > 0
            score = np.where(has, totals["total_marks"] / totals["total_rated"], np.nan)
            satisfaction = np.where(
                has, 100.0 * totals["total_satisfied"] / totals["total_base"], np.nan)
            counting = scored
        else:
            plain = level.rule != "weighted"
            weights = np.ones(len(child)) if plain else np.asarray(
                [level.weights.get(n, 0.0) for n in names], dtype=float)
            score, satisfaction = _weighted_mean(matrix(weights), below, scored, plain)
            if level.rule == "weighted" and nodes.needs.any():
                present = matrix((weights > 0).astype(float)) @ scored.astype(float)
                short = present < nodes.needs[:, None]
                score[short] = satisfaction[short] = np.nan
            counting = scored
    has = ~np.isnan(score)
    asked, rated = (np.where(has, _maximum(nodes.members, child, below.get(s), counting),
                             np.nan) for s in ("asked", "rated"))
    return Figures(exists, score, satisfaction, asked, rated, totals)


def _weighted_mean(weights: sparse.csr_matrix, below: Figures, scored: np.ndarray,
                   plain: bool) -> tuple[np.ndarray, np.ndarray]:
    """Score and satisfaction as the weighted mean of the scored members, missing where their
    weights add up to nothing. `plain` (unit weights): the mean of the satisfactions there are;
    weighted, a missing satisfaction adds nothing and its weight still counts."""
    total = weights @ scored.astype(float)
    score = (weights @ np.where(scored, below.score, 0.0)) / total
    known = scored & ~np.isnan(below.satisfaction)
    satisfaction = (weights @ np.where(known, below.satisfaction, 0.0)) \
        / (weights @ known.astype(float) if plain else total)
    missing = ~(total > 0)
    score[missing] = satisfaction[missing] = np.nan
    return score, satisfaction


def _maximum(members: list[list[int]], child: np.ndarray, values: np.ndarray,
             counting: np.ndarray) -> np.ndarray:
    """Per node and cell, the largest value among the members that count (missing: none)."""
    sizes = np.asarray([len(m) for m in members])
    out = np.full((len(members), values.shape[1]), np.nan)
    if len(child):
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        picked = np.where(counting[child], values[child], np.nan)
        out[sizes > 0] = np.fmax.reduceat(picked, starts[sizes > 0], axis=0)
    return out


def _by_formula(level: Level, below: Figures, parent: np.ndarray, child: np.ndarray,
                names: list[str], exists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A formula level: its score and satisfaction formulas run over one row per node and cell,
    each aggregating that node's members there (a table of their statistics, spec.level_catalog)."""
    assert level.score is not None and level.satisfaction is not None
    cells = below.exists.shape[1]
    pair, cell = np.nonzero(below.exists[child])  # member rows: node by node, cell by cell
    node_cells = np.flatnonzero(exists)
    node = np.searchsorted(node_cells, parent[pair] * cells + cell)
    statistics = [*level_columns()[3:], *(t for t in below.totals if t.startswith("count_"))]
    members = pd.DataFrame({s: below.get(s)[child[pair], cell] for s in statistics})
    members["node"] = node.astype(float)
    members["name"] = np.asarray(names, dtype=object)[pair]
    tables = Frames({LEVEL_NODE: pd.DataFrame({"node": np.arange(len(node_cells), dtype=float)}),
                     LEVEL_MEMBERS_TABLE: members})
    out = []
    for plan in (level.score, level.satisfaction):
        values = np.full(exists.shape, np.nan)
        values.flat[node_cells] = evaluate_rows(plan, tables, LEVEL_NODE).to_numpy(dtype=float)
        out.append(values)
    score, satisfaction = out
    satisfaction[np.isnan(score)] = np.nan
    return score, satisfaction


def all_levels(tree: dict[str, Nodes], items: Figures,
               given_criteria: tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]] | None = None
               ) -> dict[str, Figures]:
    """Every level, items first. `given_criteria` (rows, cells, figures): criteria whose
    figures a report gives where no item is (they stand in for their items)."""
    out = {"item": items}
    for name in ORDER[1:]:
        out[name] = combine(tree[name], out[tree[name].below or "item"])
        if name == "criterion" and given_criteria is not None:
            rows, cells, figures = given_criteria
            out[name].exists[rows, cells] = True
            for stat, values in figures.items():
                out[name].get(stat)[rows, cells] = values
    return out


def long_table(tree: dict[str, Nodes], levels: dict[str, Figures], totals: list[str]
               ) -> pd.DataFrame:
    """Every node of every level where it exists, one row per cell (`group`), levels in ORDER,
    nodes in the spec's order, cells ascending: the `<results>_levels` table before labels."""
    parts = []
    for name in ORDER:
        figures, keys = levels[name], tree[name].keys
        node, cell = np.nonzero(figures.exists)
        names = np.asarray(keys, dtype=object).reshape(-1, 2) if keys else np.zeros((0, 2))
        part = {"level": np.full(len(node), name, dtype=object), "group": cell,
                "questionnaire": names[node, 0], "name": names[node, 1]}
        part.update({s: figures.get(s)[node, cell] for s in (*FIGURES, *totals)})
        parts.append(pd.DataFrame(part))
    return pd.concat(parts, ignore_index=True)


__all__ = ["ORDER", "TOTALS", "Figures", "Nodes", "all_levels", "combine", "hierarchy",
           "long_table"]
