"""Comparing computed ratings with the published tables, cell by cell (`sapa conform`).

The mapping from a published table to a rating lives in the spec (`published:`), so the code
knows no table, column or year. A cell is `match` (within tolerance), `off` (both values given),
`missing_engine` or `missing_published`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sapa.engine.published.tables import number, read_table, select

DEFAULT_MIN_MATCH = 0.95


@dataclass(frozen=True)
class Conformance:
    cells: pd.DataFrame  # table, unit, column, engine, published, distance, status
    summary: pd.DataFrame  # per table: status, cells, match, off, missing..., rate, passed


def conform(published: Mapping[str, Any], folder: Path,
            ratings: Mapping[str, pd.DataFrame], reference_data: bool = False) -> Conformance:
    """Every mapped cell against the ratings. `reference_data`: the ratings are of the spec's
    bundled data, so a table they are not fitted to (reference_data: not_fitted) is shown but
    does not decide whether the run passes."""
    rows = []
    for table_id, mapping in published["tables"].items():
        frame = read_table(folder, mapping["file"])
        rows += _compare_table(table_id, mapping, frame, ratings[mapping["rating"]])
    cells = pd.DataFrame(rows, columns=["table", "unit", "column", "engine", "published",
                                        "distance", "status"])
    return Conformance(cells, _summary(published, cells, reference_data))


def _compare_table(table_id: str, mapping: Mapping[str, Any], frame: pd.DataFrame,
                   rating: pd.DataFrame) -> list[tuple]:
    tolerance = mapping.get("tolerance", {})
    key_map = mapping.get("key_map", {})
    computed = rating[rating["unit"].notna()].assign(unit=lambda f: f["unit"].astype(str))
    computed = computed.set_index("unit")
    pivot = mapping.get("pivot")
    published = frame.iloc[0:0] if mapping.get("only_total") else select(frame,
                                                                            mapping.get("rows"))
    out = []
    for _, row in published.iterrows():
        key = key_map.get(row[mapping["key"]], row[mapping["key"]])
        for column, source in mapping["columns"].items():
            if pivot:
                unit, target = pivot["unit"], f"{key}_{column}" if key else column
            else:
                unit, target = key, column
            engine = computed[target].get(unit) if target in computed.columns else None
            out.append(_cell(table_id, unit, target, engine, row[source], tolerance.get(column)))
    total = mapping.get("total")
    if total is not None:
        closing = rating[rating["unit"].isna()]
        for _, row in select(frame, total).iterrows():
            for column, source in mapping["columns"].items():
                engine = closing[column].iloc[0] if len(closing) and column in closing else None
                out.append(_cell(table_id, "(total)", column, engine, row[source],
                                 tolerance.get(column)))
    return out


def _cell(table: str, unit: Any, column: str, engine: Any, published: Any,
          tolerance: float | None) -> tuple:
    engine_value = None if engine is None or pd.isna(engine) else float(engine)
    published_value = number(published)
    if published_value is None:
        return (table, unit, column, engine_value, None, None, "missing_published")
    if engine_value is None:
        return (table, unit, column, None, published_value, None, "missing_engine")
    distance = abs(engine_value - published_value)
    allowed = (tolerance if tolerance is not None else 0.0) + 1e-9
    return (table, unit, column, engine_value, published_value, distance,
            "match" if distance <= allowed else "off")


def _summary(published: Mapping[str, Any], cells: pd.DataFrame, reference_data: bool
             ) -> pd.DataFrame:
    rows = []
    for table_id, mapping in published["tables"].items():
        mine = cells[cells["table"] == table_id]
        counts = mine["status"].value_counts()
        compared = int(counts.get("match", 0) + counts.get("off", 0) +
                       counts.get("missing_engine", 0))
        rate = counts.get("match", 0) / compared if compared else float("nan")
        needed = mapping.get("min_match", DEFAULT_MIN_MATCH)
        not_fitted = reference_data and mapping.get("reference_data") == "not_fitted"
        verified = mapping["status"] == "verified" and not not_fitted
        rows.append({
            "table": table_id, "title": mapping.get("title", table_id),
            "status": mapping["status"] + (" (data not fitted)" if not_fitted else ""),
            "cells": len(mine),
            "match": int(counts.get("match", 0)), "off": int(counts.get("off", 0)),
            "missing_engine": int(counts.get("missing_engine", 0)),
            "missing_published": int(counts.get("missing_published", 0)),
            "match_rate": rate, "max_distance": mine["distance"].max(),
            "required": needed if verified else None,
            "passed": (not verified) or (compared > 0 and rate >= needed)})
    return pd.DataFrame(rows)
