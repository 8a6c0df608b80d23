"""How much a rating depends on the method's own choices. A spec declares alternatives (a key
and the values it could take); every combination is rated (a full factorial design), and each
unit's ranks over the combinations give its median rank, its rank range and, per choice, the
first-order effect of the variance-based sensitivity analysis of composite indicators: the share
of the variance of the rank explained by that choice alone, Var(E[rank | choice]) / Var(rank)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Sensitivity:
    """`units`: per unit its rank under the spec as written, the median rank over the
    combinations, the lowest and highest rank, and one first-order effect per choice.
    `effects`: per choice its mean first-order effect over the units, largest first."""

    units: pd.DataFrame
    effects: pd.DataFrame


def sensitivity(ranks: pd.DataFrame, design: pd.DataFrame, baseline: pd.DataFrame
                ) -> Sensitivity:
    """`ranks`: one row per combination, one column per unit; `design`: one row per
    combination, one column per choice (the index of the value taken); `baseline`: the rating
    under the spec as written (each unit's `rank`, and its `name` where the rating has one)."""
    values = ranks.to_numpy(dtype=float)
    total = np.nanvar(values, axis=0)
    base = baseline.assign(unit=baseline["unit"].astype(str)).set_index("unit")
    units = pd.DataFrame({"unit": ranks.columns.astype(str),
                          **({"name": base["name"].reindex(ranks.columns).to_numpy()}
                             if "name" in base.columns else {}),
                          "rank": base["rank"].reindex(ranks.columns).to_numpy(dtype=float),
                          "median_rank": np.nanmedian(values, axis=0),
                          "rank_low": np.nanmin(values, axis=0),
                          "rank_high": np.nanmax(values, axis=0)})
    effects = {}
    for choice in design.columns:
        means = ranks.groupby(design[choice].to_numpy()).mean()  # E[rank | choice] per value
        share = np.nanvar(means.to_numpy(dtype=float), axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            first_order = np.where(total > 0, share / np.where(total > 0, total, 1), 0.0)
        units[f"effect_{choice}"] = first_order
        effects[choice] = float(np.nanmean(first_order)) if len(first_order) else 0.0
    summary = pd.DataFrame({"choice": list(effects), "mean_effect": list(effects.values())})
    return Sensitivity(units, summary.sort_values("mean_effect", ascending=False,
                                                  kind="stable").reset_index(drop=True))


def combinations(choices: Mapping[str, Sequence[object]]) -> pd.DataFrame:
    """The full factorial design: one row per combination, the index of each choice's value."""
    sizes = [len(values) for values in choices.values()]
    grid = np.indices(sizes).reshape(len(sizes), -1).T if sizes else np.zeros((1, 0), int)
    return pd.DataFrame(grid, columns=list(choices))
