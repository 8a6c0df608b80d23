"""The tables a formula plan runs over, and the row positions behind each link (a key join done
once per link). The data contract uses the same join to find rows whose link points nowhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from sapa.engine.formula.plan import Link

#: In a bootstrap, every table but the respondents' is repeated once per replicate and this
#: column numbers the copies: links join within a replicate, and table-wide aggregates and
#: windows stay within it.
REPLICATE = "_replicate_"


class Frames:
    """The tables a plan runs over, and the row positions behind each link (computed once)."""

    def __init__(self, tables: Mapping[str, pd.DataFrame],
                 codes: Mapping[tuple[str, str], tuple[np.ndarray, Any]] | None = None) -> None:
        """`codes`: columns' codes already known (as `codes` gives them), by table and column."""
        self.tables = dict(tables)
        self._positions: dict[Link, np.ndarray] = {}
        self._codes: dict[tuple[str, str], tuple[np.ndarray, Any]] = dict(codes or {})
        self._undefined: dict[str | None, np.ndarray] = {}
        #: what queries.evaluate_rows keeps for these tables (their inputs and results)
        self.lowered: dict[str, Any] = {}

    def flag_undefined(self, table: str | None, rows: np.ndarray) -> None:
        """Note rows of `table` where arithmetic gave no number (a division by zero, a result
        beyond float range): the caller that knows the formula says so (`take_undefined`)."""
        if rows.any():
            seen = self._undefined.get(table)
            self._undefined[table] = rows if seen is None else seen | rows

    def take_undefined(self) -> dict[str | None, np.ndarray]:
        """The rows flagged since the last call, per table (None: a constant part)."""
        taken, self._undefined = self._undefined, {}
        return taken

    def length(self, table: str) -> int:
        return len(self.tables[table])

    def positions(self, link: Link) -> np.ndarray:
        """For each row of link.child, the row number of its parent (-1 when there is none)."""
        if link not in self._positions:
            parent, child = self.tables[link.parent], self.tables[link.child]
            key, on = list(link.key), list(link.on)
            if REPLICATE in parent.columns and REPLICATE in child.columns:
                key, on = [*key, REPLICATE], [*on, REPLICATE]
            single = len(key) == 1
            index = pd.Index(parent[key[0]]) if single else pd.MultiIndex.from_frame(parent[key])
            first = ~index.duplicated()  # duplicated keys are a data error reported elsewhere
            if single:  # each distinct value looked up once (Frames.codes)
                codes, values = self.codes(link.child, on[0])
                found = np.append(index[first].get_indexer(pd.Index(values)), -1)[codes]
            else:
                found = index[first].get_indexer(pd.MultiIndex.from_frame(child[on]))
            positions = np.full(len(found), -1, dtype=np.int64)
            hit = found >= 0
            positions[hit] = np.flatnonzero(first)[found[hit]]
            self._positions[link] = positions
        return self._positions[link]

    def codes(self, table: str, column: str) -> tuple[np.ndarray, Any]:
        """A column as codes (-1: missing) into its distinct values (of the column's dtype), in
        the order first met; found once per column (a column never changes once read: variables
        add columns), so that every comparison, grouping and link over it hashes its rows once,
        not once each."""
        if (table, column) not in self._codes:
            self._codes[table, column] = pd.factorize(self.tables[table][column])
        return self._codes[table, column]
