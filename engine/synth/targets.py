"""What the published tables say, read as a spec's `synthesis:` section declares (`sapa synth`):
the catalogues, each unit's respondents and channels, the regions' sizes, and per unit the
printed figures its data are fitted to (`Targets`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sapa.engine.published import number, read_table, select
from sapa.engine.spec import Survey


@dataclass
class Targets:
    """Published values for one unit: criterion values per questionnaire, zone values."""

    criteria: dict[tuple[str, str], tuple[float, float]]  # (questionnaire, criterion) -> (s, p)
    items: dict[tuple[str, str], list[tuple[float, float]]]  # criteria printed item by item
    totals: dict[str, tuple[float, float]]  # questionnaire total, where that is all there is
    channel_zones: dict[tuple[str, str], tuple[float, float]]  # (questionnaire, zone) -> (s, p)
    unit_zones: dict[str, tuple[float, float]]  # zone over all questionnaires -> (s, p)
    unit_total: tuple[float, float] | None = None  # the unit's row in a rating table
    regional: dict[str, tuple[float, float]] = field(default_factory=dict)  # region -> (s, p)


def catalogue(folder: Path, raw: Mapping[str, Any]) -> pd.DataFrame:
    """A catalogue table from a published file: rows kept or dropped, columns renamed, values
    mapped ("*" = any other value), constants added, columns joined from other files (a key with
    no row there gets "")."""
    frame = read(folder, raw)
    out = pd.DataFrame({target: frame[source].to_numpy()
                        for target, source in raw["columns"].items()})
    joins = raw.get("join") or []
    for join in [joins] if isinstance(joins, Mapping) else joins:
        other = read(folder, join)
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


def read(folder: Path, raw: Mapping[str, Any]) -> pd.DataFrame:
    """A published file with the rows the plan keeps (rows:) and drops (exclude:)."""
    return select(read_table(folder, raw["file"]), raw.get("rows"), raw.get("exclude"))


def unit_counts(folder: Path, raw: Mapping[str, Any]) -> dict[str, int]:
    """Per unit: its published number of respondents."""
    frame = read_table(folder, raw["file"])
    return {row[raw["unit"]]: int(number(row[raw["n"]]) or 0) for _, row in frame.iterrows()}


def unit_channels(folder: Path, plan: Mapping[str, Any]) -> dict[str, list[str]]:
    """Per unit: the questionnaires its respondents answer."""
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


def read_targets(folder: Path, plan: Mapping[str, Any], survey: Survey) -> dict[str, Targets]:
    """Per unit: every figure printed for it (criteria, channel totals, zones, its own row,
    its regions), as the plan's parts say where they are."""
    raw = plan["criteria"]
    frame = read(folder, raw)
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
    for part in ("unit_totals", "regional"):
        raw = plan.get(part)
        if not raw:
            continue
        for _, row in read(folder, raw).iterrows():
            score = number(row[raw["score"]])
            if score is None or row[raw["unit"]] in raw.get("ignore", {}):
                continue  # ignored: a report defect the spec names, with its reason
            satisfaction = number(row[raw["satisfaction"]]) if "satisfaction" in raw else None
            value = (score, np.nan if satisfaction is None else satisfaction)
            if part == "unit_totals":
                of(row[raw["unit"]]).unit_total = value
            else:
                of(row[raw["unit"]]).regional[row[raw["region"]]] = value
    return targets


def region_weights(folder: Path, raw: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The regions and their shares of the sample."""
    frame = read(folder, raw)
    weights = (frame[raw["n"]].map(number).fillna(0).to_numpy(dtype=float) if "n" in raw
               else np.ones(len(frame)))  # no published sizes: evenly
    return frame[raw["region"]].to_numpy(), weights / weights.sum()
