"""Crosswalks: how the units of one catalogue (a year's services, bodies, regions) pair with
another's, so that a rating can be set beside the other year's unit by unit.

A crosswalk is a CSV file, one row per pair: `from` (a code of the earlier catalogue), `to` (of
the later), `kind` and, where a unit splits or merges, the `rule` that gives the paired value;
`from_name`, `to_name`, `evidence` and `note` say why. Kinds: `same`, `renamed`, `moved` (to
another body) pair one unit with one; `split` pairs one with several (rule `copy`: each part
is set beside the whole's value); `merged` pairs several with one (rule `mean`: the plain mean
of the parts' values, or `pooled`: their mean weighted by the rating's `n`); `new` (no `from`)
and `discontinued` (no `to`) pair nothing and say why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sapa.engine.data import Locate, csv_locator, read_csv
from sapa.engine.diagnostics import CannotRun, Diagnostic, SapaError, did_you_mean, has_errors

ONE_TO_ONE = ("same", "renamed", "moved")
KINDS = (*ONE_TO_ONE, "split", "merged", "new", "discontinued")
RULES = {"split": ("copy",), "merged": ("mean", "pooled")}
COLUMNS = ("from", "to", "kind", "rule", "from_name", "to_name", "evidence", "note")
REQUIRED = ("from", "to", "kind")


@dataclass(frozen=True)
class Crosswalk:
    """The checked pairs of one crosswalk file (text cells; "" where empty)."""

    path: Path
    pairs: pd.DataFrame  # COLUMNS, one row per data row of the file
    locate: Locate  # a cell's place in the file

    @property
    def label(self) -> str:
        return self.path.name


def read_crosswalk(path: Path) -> Crosswalk:
    """A crosswalk file, checked: every problem located (file:line:col), all in one run."""
    try:
        frame = read_csv(path).astype("string").fillna("")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CannotRun([Diagnostic("X600", f"cannot read the crosswalk {path}: {reason}")]
                        ) from None
    locate = csv_locator(path, frame)
    problems = [Diagnostic("X601", f"the crosswalk has no column '{c}'", locate(-1, None),
                           hint=f"its columns: {', '.join(COLUMNS)} ({', '.join(REQUIRED)} "
                           "required)") for c in REQUIRED if c not in frame.columns]
    problems += [Diagnostic("X601", f"unknown column '{c}' in the crosswalk", locate(-1, c),
                            "warning", hint=did_you_mean(c, COLUMNS)) for c in frame.columns
                 if c not in COLUMNS]
    if not has_errors(problems):
        pairs = frame.reindex(columns=list(COLUMNS), fill_value="")
        pairs = pairs.apply(lambda column: column.astype(str).str.strip())
        problems += _pair_problems(pairs, locate)
    if has_errors(problems):
        raise SapaError(problems, f"{path}: the crosswalk has problems")
    return Crosswalk(path, pairs, locate)


def _pair_problems(pairs: pd.DataFrame, locate: Locate) -> list[Diagnostic]:
    """Kinds and rules known; each kind's sides given; a code paired twice only by a split
    (its `from`) or a merge (its `to`)."""
    out: list[Diagnostic] = []
    kind, rule = pairs["kind"], pairs["rule"]

    def report(mask: pd.Series, column: str, message: str, hint: str | None = None) -> None:
        for row in np.flatnonzero(mask.to_numpy()):
            out.append(Diagnostic("X602", message.format(**pairs.iloc[row].to_dict()),
                                  locate(int(row), column), hint=hint))

    known = kind.isin(KINDS)
    report(~known, "kind", "unknown kind '{kind}'", f"kinds: {', '.join(KINDS)}")
    report(known & (kind != "new") & (pairs["from"] == ""), "from",
           "a '{kind}' pair needs a 'from' code")
    report(known & (kind != "discontinued") & (pairs["to"] == ""), "to",
           "a '{kind}' pair needs a 'to' code")
    report((kind == "new") & (pairs["from"] != ""), "from", "a 'new' unit has no 'from' code")
    report((kind == "discontinued") & (pairs["to"] != ""), "to",
           "a 'discontinued' unit has no 'to' code")
    for many, allowed in RULES.items():
        report((kind == many) & (rule == ""), "rule",
               f"a '{many}' pair needs its rule: {' or '.join(allowed)}")
        report((kind == many) & (rule != "") & ~rule.isin(allowed), "rule",
               f"unknown rule '{{rule}}' for a '{many}' pair", f"rules: {', '.join(allowed)}")
    report(known & ~kind.isin(list(RULES)) & (rule != ""), "rule",
           "a '{kind}' pair takes no rule ('{rule}')")
    for side, many in (("from", "split"), ("to", "merged")):
        given = pairs[side] != ""
        twice = given & pairs[side].duplicated(keep="first") & (kind != many)
        report(twice, side, f"'{{{side}}}' is paired twice without being a '{many}'",
               f"mark every row of a one-to-many pair '{many}'")
    return out


@dataclass(frozen=True)
class Paired:
    """A rating set in the later catalogue's units, and what could not be paired, with why."""

    table: pd.DataFrame
    unpaired: pd.DataFrame  # unit, name, kind, reason


def pair_units(table: pd.DataFrame, crosswalk: Crosswalk, later_units: pd.Series,
               values: list[str], earlier_units: pd.Series | None = None) -> Paired:
    """`table` (a rating: unit, name, rank and `values`) in the later catalogue's units.

    Every code of the crosswalk must be a unit of its side (SapaError, located, otherwise):
    `from` of `table` (or of `earlier_units`, the earlier catalogue, when `table` was paired
    into it from a period before), `to` of `later_units`. A rating unit the crosswalk does not
    name is unpaired ("not in the crosswalk"), as are new and discontinued units."""
    pairs = crosswalk.pairs
    rated = table[table["unit"].notna()].copy()
    rated["unit"] = rated["unit"].astype(str)
    earlier = set(rated["unit"] if earlier_units is None else earlier_units.dropna().astype(str))
    later = set(later_units.dropna().astype(str))
    linked = pairs.loc[(pairs["from"] != "") & (pairs["to"] != ""), ["from", "to", "kind", "rule"]]
    joined = linked.rename(columns={"from": "_from", "to": "_to", "kind": "_kind",
                                    "rule": "_rule"}).merge(rated, left_on="_from",
                                                            right_on="unit", how="inner")
    joined["weight"] = 1.0
    pooled = joined["_rule"] == "pooled"
    if pooled.any():
        if "n" not in joined.columns:
            raise CannotRun([Diagnostic("X604", f"{crosswalk.label}: a 'pooled' merge weighs its "
                                        "parts by the rating's n, and this rating has none",
                                        hint="use rule 'mean'")])
        joined.loc[pooled, "weight"] = joined.loc[pooled, "n"].astype(float)
    numeric = list(dict.fromkeys(c for c in ["rank", "n", *values] if c in joined.columns))
    for column in numeric:
        joined[column] = joined[column].astype(float)
    merged = joined["_kind"] == "merged"
    whole, parts = joined[~merged], joined[merged]
    by = parts["_to"]
    combined = pd.DataFrame({"_to": by.unique(), "rank": np.nan})
    for column in (c for c in values if c in parts.columns and c not in ("rank", "n")):
        known = parts[column].notna()
        weight = parts["weight"].where(known, 0.0)
        total = (parts[column].fillna(0.0) * weight).groupby(by, sort=False).sum()
        share = weight.groupby(by, sort=False).sum()
        combined[column] = (total / share.where(share > 0)).reindex(combined["_to"]).to_numpy()
    if "n" in parts.columns:  # a merged unit's respondents are its parts'
        combined["n"] = parts["n"].groupby(by, sort=False).sum().reindex(combined["_to"]).to_numpy()
    out = pd.concat([whole[["_to", *numeric]], combined], ignore_index=True)
    out = out.rename(columns={"_to": "unit"})
    names = pairs.set_index("to")["to_name"].to_dict() if "to_name" in pairs else {}
    out.insert(1, "name", out["unit"].map(names).replace("", np.nan))
    return Paired(out, _unpaired(rated, pairs, earlier, later))


def _unpaired(rated: pd.DataFrame, pairs: pd.DataFrame, earlier: set[str], later: set[str]
              ) -> pd.DataFrame:
    """New and discontinued units with the crosswalk's reason, pairs with a side not rated
    (a unit not surveyed that period, or a code no catalogue has: `sapa validate` checks
    them), and rated units the crosswalk does not name."""
    alone = pairs[pairs["kind"].isin(["new", "discontinued"])]
    new = alone["kind"] == "new"
    listed = pd.DataFrame({
        "unit": alone["to"].where(new, alone["from"]),
        "name": alone["to_name"].where(new, alone["from_name"]),
        "kind": alone["kind"],
        "reason": alone["note"].where(alone["note"] != "", alone["evidence"])})
    pairing = pairs[~pairs["kind"].isin(["new", "discontinued"])]
    sides = []
    for side, known, period in (("from", earlier, "earlier"), ("to", later, "later")):
        alone = pairing[~pairing[side].isin(known)].drop_duplicates(side)
        sides.append(pd.DataFrame({"unit": alone[side], "name": alone[f"{side}_name"],
                                   "kind": alone["kind"],
                                   "reason": f"not rated in the {period} period"}))
    missing = rated.loc[~rated["unit"].isin(set(pairs["from"])), ["unit", "name"]]
    missing = missing.assign(kind="unknown", reason="not in the crosswalk")
    return pd.concat([listed, *sides, missing], ignore_index=True)


def check_codes(crosswalk: Crosswalk, earlier: set[str], later: set[str]) -> list[Diagnostic]:
    """Each code names a unit of its catalogue (`earlier` for `from`, `later` for `to`): a
    misspelt code is a located error, with the code it may have meant."""
    problems = []
    for side, known, what in (("from", earlier, "the earlier catalogue"),
                              ("to", later, "the later catalogue")):
        codes = crosswalk.pairs[side]
        for row in np.flatnonzero(((codes != "") & ~codes.isin(known)).to_numpy()):
            problems.append(Diagnostic(
                "X603", f"'{codes.iloc[row]}' is no unit of {what}",
                crosswalk.locate(int(row), side), hint=did_you_mean(codes.iloc[row], known)))
    return problems


def chain(tables: Mapping[str, pd.DataFrame], crosswalks: list[Crosswalk],
          values: list[str]) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Ratings of successive periods all in the last period's units: period i is paired
    through crosswalks i, i+1, …; the unpaired units of each step, by period."""
    labels = list(tables)
    out, unpaired = {}, []
    for i, label in enumerate(labels):
        table = tables[label]
        for step, crosswalk in enumerate(crosswalks[i:], start=i):
            paired = pair_units(table, crosswalk, tables[labels[step + 1]]["unit"], values,
                                tables[labels[step]]["unit"])
            unpaired.append(paired.unpaired.assign(period=label, step=f"{labels[step]} → "
                                                   f"{labels[step + 1]}"))
            table = paired.table
        out[label] = table
    columns = ["period", "step", "unit", "name", "kind", "reason"]
    found = pd.concat(unpaired, ignore_index=True) if unpaired else pd.DataFrame()
    return out, found.reindex(columns=columns).drop_duplicates(
        subset=["step", "unit", "kind"]).reset_index(drop=True)
