"""The tables a formula plan runs over, and the row positions behind each link (a key join done
once per link). The data contract uses the same join to find rows whose link points nowhere."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from sapa.engine.formula.plan import Link

#: In a bootstrap, every table but the respondents' is repeated once per replicate and this
#: column numbers the copies: links join within a replicate, and table-wide aggregates and
#: windows stay within it.
REPLICATE = "_replicate_"


class Frames:
    """The tables a plan runs over, and the row positions behind each link (computed once)."""

    def __init__(self, tables: Mapping[str, pd.DataFrame]) -> None:
        self.tables = dict(tables)
        self._positions: dict[Link, np.ndarray] = {}
        self._undefined: dict[str | None, np.ndarray] = {}

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
            if len(key) == 1:
                index = pd.Index(parent[key[0]])
                wanted = pd.Index(child[on[0]])
            else:
                index = pd.MultiIndex.from_frame(parent[key])
                wanted = pd.MultiIndex.from_frame(child[on])
            first = ~index.duplicated()  # duplicated keys are a data error reported elsewhere
            found = index[first].get_indexer(wanted)
            positions = np.full(len(found), -1, dtype=np.int64)
            hit = found >= 0
            positions[hit] = np.flatnonzero(first)[found[hit]]
            self._positions[link] = positions
        return self._positions[link]
