"""The levels above the items as arrays: each node of a level (an item, a criterion, a channel's
total, a zone, the unit) against each cell (a group of respondents, or a group in one bootstrap
replicate). The hierarchy is the spec's (hierarchy.node_members), known before any data, so a
level is a sparse product of its members' arrays by the level's rule: a mean, a weighted mean,
pooled sums, or the level's own formulas. One cell per group and a thousand replicates of every
group run through the same code; nothing loops over groups or replicates."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

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
class Sums:
    """The answers beneath every node, held once, leaf by leaf (leaves x cells): the items, and
    the criteria a report gives without their items. From respondents, the count of each code
    (`counts`, leaves x codes x cells) and every sum follows from it; given statistics give
    the sums themselves (`given`). A level collects them through a matrix (nodes x leaves)."""

    names: list[str]  # TOTALS, then the count of each code
    counts: np.ndarray | None = None
    roles: np.ndarray | None = None  # codes x (asked, rated, marks, satisfied)
    base: str = "asked"
    given: dict[str, np.ndarray] = field(default_factory=dict)

    def collect(self, through: sparse.csr_matrix) -> dict[str, np.ndarray]:
        """Every sum at the nodes `through` collects (sums of whole counts: exact)."""
        if self.counts is None:
            return {name: through @ self.given[name] for name in self.names}
        leaves, k, cells = self.counts.shape
        assert self.roles is not None
        counts = (through @ self.counts.reshape(leaves, k * cells)).reshape(
            through.shape[0], k, cells)
        n_asked, n_rated, marks, satisfied = np.moveaxis(self.roles.T @ counts, 1, 0)
        sums = (n_asked, n_rated, marks, satisfied, n_asked if self.base == "asked" else n_rated)
        out = dict(zip(TOTALS, sums, strict=True))
        out.update({name: counts[:, i] for i, name in enumerate(self.names[len(TOTALS):])})
        return out


@dataclass
class Figures:
    """One level's figures, nodes x cells. `exists`: someone beneath was asked; score and
    satisfaction are missing where the rule gives none. The sums beneath (TOTALS and counts, 0
    where nothing exists) and `asked` and `rated` (for an item, how many; above, the most of
    the members that count) are found when first read: most runs read few of them."""

    exists: np.ndarray
    score: np.ndarray
    satisfaction: np.ndarray
    through: sparse.csr_matrix  # nodes x leaves of `sums`
    sums: Sums
    members: tuple[Nodes, Figures, np.ndarray] | None = None  # this level, below, counting
    found: dict[str, np.ndarray] = field(default_factory=dict)

    def get(self, stat: str) -> np.ndarray:
        if stat in ("score", "satisfaction"):
            return getattr(self, stat)
        if stat not in self.found:
            if stat in ("asked", "rated") and self.members is None:
                self.found[stat] = np.where(self.exists, self.get(f"total_{stat}"), np.nan)
            elif stat in ("asked", "rated"):
                nodes, below, counting = self.members
                self.found[stat] = np.where(np.isnan(self.score), np.nan,
                                            _maximum(nodes, below.get(stat), counting))
            else:
                self.found.update(self.sums.collect(self.through))
        return self.found[stat]


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

    @cached_property
    def index(self) -> dict[tuple[str, str], int]:
        """Each node's row, by its key."""
        return {key: i for i, key in enumerate(self.keys)}

    @cached_property
    def parent(self) -> np.ndarray:
        """For every (node, member) pair, in order: the node's row."""
        return np.repeat(np.arange(len(self.keys)), [len(m) for m in self.members])

    @cached_property
    def child(self) -> np.ndarray:
        """For every (node, member) pair, in order: the member's row in the level below."""
        return np.asarray([row for rows in self.members for row in rows], dtype=np.int64)

    @cached_property
    def member_names(self) -> list[str]:
        """For every (node, member) pair, in order: the member's name."""
        return [name for names in self.names for name in names]


def hierarchy(survey: Survey) -> dict[str, Nodes]:
    """Every level's nodes and members, from the spec alone (in ORDER)."""
    unit = survey.level("unit")
    below = {"criterion": "item", "zone": "item", "channel": "criterion", "unit_zone": "zone",
             "unit": "unit_zone" if unit.of == "zones" else "channel"}
    items = [(q.name, i.name) for q in survey.questionnaires for i in q.items]
    out = {"item": Nodes(None, items, None, [], [], np.zeros(0, dtype=np.int64))}
    for name in ORDER[1:]:
        level, index = survey.level(name), out[below[name]].index
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
    """One level from the level below by the level's rule; a node exists where any member
    does, and collects the sums of every leaf beneath its members."""
    level = nodes.level
    assert level is not None
    parent, child, names = nodes.parent, nodes.child, nodes.member_names
    shape = (len(nodes.keys), len(below.exists))

    def matrix(values: np.ndarray) -> sparse.csr_matrix:
        return sparse.csr_matrix((values, (parent, child)), shape=shape)

    ones = matrix(np.ones(len(child)))
    exists = (ones @ below.exists.astype(float)) > 0
    scored = ~np.isnan(below.score)
    out = Figures(exists, np.empty(0), np.empty(0), sparse.csr_matrix(ones @ below.through),
                  below.sums, (nodes, below, below.exists if level.rule == "formula"
                               else scored))
    with np.errstate(invalid="ignore", divide="ignore"):
        if level.rule == "formula":
            out.score, out.satisfaction = _by_formula(level, below, parent, child, names,
                                                      exists)
        elif level.rule == "pooled":
            missing = ~((ones @ scored.astype(float)) > 0)
            out.score = out.get("total_marks") / out.get("total_rated")
            out.satisfaction = 100.0 * out.get("total_satisfied") / out.get("total_base")
            out.score[missing] = out.satisfaction[missing] = np.nan
        else:
            plain = level.rule != "weighted"
            weights = np.ones(len(child)) if plain else np.asarray(
                [level.weights.get(n, 0.0) for n in names], dtype=float)
            out.score, out.satisfaction = _weighted_mean(matrix(weights), below, scored, plain)
            if level.rule == "weighted" and nodes.needs.any():
                present = matrix((weights > 0).astype(float)) @ scored.astype(float)
                short = present < nodes.needs[:, None]
                out.score[short] = out.satisfaction[short] = np.nan
    return out


def _weighted_mean(weights: sparse.csr_matrix, below: Figures, scored: np.ndarray,
                   plain: bool) -> tuple[np.ndarray, np.ndarray]:
    """Score and satisfaction as the weighted mean of the scored members, missing where their
    weights add up to nothing. `plain` (unit weights): the mean of the satisfactions there are;
    weighted, a missing satisfaction adds nothing and its weight still counts."""
    total = weights @ scored.astype(float)
    score = (weights @ np.where(scored, below.score, 0.0)) / total
    known = scored & ~np.isnan(below.satisfaction)
    every = not plain or np.array_equal(known, scored)  # then the count of known is `total`
    satisfaction = (weights @ np.where(known, below.satisfaction, 0.0)) \
        / (total if every else weights @ known.astype(float))
    missing = ~(total > 0)
    score[missing] = satisfaction[missing] = np.nan
    return score, satisfaction


def _maximum(nodes: Nodes, values: np.ndarray, counting: np.ndarray) -> np.ndarray:
    """Per node and cell, the largest value among the members that count (missing: none)."""
    sizes = np.asarray([len(m) for m in nodes.members])
    out = np.full((len(sizes), values.shape[1]), np.nan)
    if len(nodes.child):
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        picked = np.where(counting[nodes.child], values[nodes.child], np.nan)
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
    statistics = [*level_columns()[3:], *below.sums.names[len(TOTALS):]]
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
    figures a report gives where no item is: they stand in for their items, and their sums
    are leaves of their own (after the items' in `items.sums`)."""
    out = {"item": items}
    for name in ORDER[1:]:
        out[name] = combine(tree[name], out[tree[name].below or "item"])
        if name == "criterion" and given_criteria is not None:
            rows, cells, figures = given_criteria
            criteria = out[name]
            count, leaves = criteria.through.shape
            criteria.through = criteria.through + sparse.csr_matrix(
                (np.ones(count), (np.arange(count), leaves - count + np.arange(count))),
                shape=(count, leaves))
            criteria.exists[rows, cells] = True
            for stat in ("score", "satisfaction", "asked", "rated"):
                criteria.get(stat)[rows, cells] = figures[stat]
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


__all__ = ["Figures", "Nodes", "Sums", "all_levels", "hierarchy", "long_table"]
