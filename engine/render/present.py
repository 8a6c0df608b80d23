"""How a rating is shown to people, whatever the medium (terminal, workbook, HTML): its title
and headers in one language, and the digits each column is printed with."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from sapa.engine.spec import Spec, labels


@dataclass(frozen=True)
class Shown:
    """One rating ready to show: the frame, its title, a header and digits per column."""

    id: str
    title: str
    frame: pd.DataFrame
    headers: dict[str, str]
    digits: dict[str, int | None]
    source: str | None

    def whole(self, column: str) -> bool:
        """A column of whole numbers (ranks, counts): shown without decimals."""
        values = self.frame[column]
        if values.dtype.kind not in "if" or self.digits.get(column) is not None:
            return False
        known = values.dropna()
        return bool(len(known)) and bool((known % 1 == 0).all())


def shown(spec: Spec, frames: dict[str, pd.DataFrame], language: str) -> list[Shown]:
    """Every rating of `frames` as it is shown in `language`."""
    out = []
    for rid, frame in frames.items():
        rating = spec.ratings[rid]
        used = [rating, *(spec.ratings[row.total_of] for row in rating.rows)]
        digits = {c.name: c.digits for r in used for c in r.columns}
        headers = {c: labels.header(spec, rating, str(c), language) for c in frame.columns}
        source = ((spec.data.get("ratings") or {}).get(rid) or {}).get("source")
        out.append(Shown(rid, labels.title(spec, rating, language), frame, headers,
                         {str(c): digits.get(str(c)) for c in frame.columns},
                         str(source) if source else None))
    return out
