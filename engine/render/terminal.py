"""Results for people at a terminal: rich tables, figures rounded as the spec prints them, and
one line saying why a rating has no rows instead of an empty table."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from sapa.engine.analysis import Change, RatingComparison
from sapa.engine.explain import Explanation
from sapa.engine.formula import round_half_up
from sapa.engine.published import Conformance
from sapa.engine.render.present import shown, whole_numbers
from sapa.engine.spec import Spec


def console(width: int) -> Console:
    """A console as wide as the terminal, or `width` when the output is piped."""
    return Console(width=None if sys.stdout.isatty() else width)


def cell(value: Any, digits: int | None) -> str:
    """A value as a table shows it: missing as '—', numbers rounded half up to `digits`."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return "—"
    if isinstance(value, float):
        if digits is not None:
            return f"{float(round_half_up(value, digits)):.{digits}f}"
        return f"{value:g}" if value.is_integer() else f"{value:.6g}"
    return str(value)


def ratings(spec: Spec, frames: dict[str, pd.DataFrame], language: str) -> None:
    """Every rating as a table in `language`, in the digits its columns declare; a long name
    is cut to one line (the files keep it whole)."""
    out = console(200)
    for rating in shown(spec, frames, language):
        if rating.frame.empty:  # say why, rather than print an empty table
            out.print(f"{rating.title} ({rating.id}): no rows, {why_empty(spec, rating.id)}",
                      markup=False)
            continue
        table = Table(title=f"{rating.title} ({rating.id})", title_justify="left")
        for column in rating.frame.columns:
            text = column == "name"
            table.add_column(rating.headers[column], justify="left" if text else "right",
                             no_wrap=text, overflow="ellipsis", max_width=60 if text else None)
        digits = {c: 0 if rating.whole(c) else rating.digits[c] for c in rating.frame.columns}
        for row in rating.frame.itertuples(index=False):
            table.add_row(*(cell(v, digits[c]) for c, v in zip(rating.frame.columns, row,
                                                                 strict=True)))
        out.print(table)


def why_empty(spec: Spec, rid: str) -> str:
    """The rule that left a rating without rows, in the spec's own words."""
    rating = spec.ratings[rid]
    if not rating.table:
        return "none of the ratings it is composed of has rows in these data"
    if rating.where_text:
        return f"no row of '{rating.table}' meets `{rating.where_text}` in these data"
    return f"'{rating.table}' has no rows in these data"


def conformance(result: Conformance, show_off: int) -> None:
    """The match per published table, the overall share, and the first cells off per table."""
    out = console(200)
    table = Table(title="Conformance with the published tables", title_justify="left")
    for column in ("table", "status", "cells", "match", "off", "missing engine",
                   "missing published", "match rate", "max distance", "passed"):
        table.add_column(column, justify="left" if column in ("table", "status") else "right")
    for row in result.summary.itertuples(index=False):
        table.add_row(row.title, row.status, str(row.cells), str(row.match), str(row.off),
                      str(row.missing_engine), str(row.missing_published),
                      "—" if row.match_rate != row.match_rate else f"{row.match_rate:.1%}",
                      "—" if row.max_distance != row.max_distance else f"{row.max_distance:.3f}",
                      "yes" if row.passed else "NO")
    out.print(table)
    compared = result.cells[result.cells["status"].isin(["match", "off", "missing_engine"])]
    overall = (compared["status"] == "match").mean() if len(compared) else float("nan")
    out.print(f"overall: {int((compared['status'] == 'match').sum())} of {len(compared)} "
              f"cells match ({overall:.1%})")
    for table_id, cells in result.cells.groupby("table", sort=False):
        off = cells[cells["status"].isin(["off", "missing_engine"])].head(show_off)
        for c in off.itertuples(index=False):
            engine = "—" if c.engine is None or c.engine != c.engine else f"{c.engine:.4f}"
            out.print(f"  {table_id} {c.unit} {c.column}: engine {engine}, "
                      f"published {c.published}")


def comparisons(results: list[RatingComparison], label_a: str, label_b: str,
                movers: int) -> None:
    """Each pair of ratings: the correlations, units rated under one side only, the units side
    by side and the largest movers."""
    out = console(160)
    for r in results:
        pair = r.rating_a if r.rating_a == r.rating_b else f"{r.rating_a} → {r.rating_b}"
        agreement = (f"Spearman {cell(r.spearman, 3)}, Kendall {cell(r.kendall, 3)}"
                     if r.common >= 2 else "no rank correlation (it needs 2 units ranked under "
                     "both)")
        out.print(f"[bold]{pair}[/bold]: {r.common} units under both; {agreement}; "
                  f"{r.moved} changed rank")
        if r.unpaired is not None:
            unpaired(r.unpaired)
        for side, label in (("only_a", label_a), ("only_b", label_b)) * (r.unpaired is None):
            alone = r.units[r.units["present"] == side]
            if len(alone):
                names = ", ".join(str(n) for n in alone["name"].fillna(alone["unit"]))
                out.print(f"  rated only under {label}: {names}")
        columns = [c for c in ("rank_a", "rank_b", "rank_change", "score_a", "score_b",
                               "score_change", "satisfaction_a", "satisfaction_b",
                               "satisfaction_change") if c in r.units.columns]
        table = Table(title_justify="left")
        table.add_column("unit")
        table.add_column("name", overflow="ellipsis", max_width=32, no_wrap=True)
        for column in columns:
            table.add_column(column.replace("_a", f" {label_a}").replace("_b", f" {label_b}")
                             .replace("_change", " Δ"), justify="right")
        digits = {"score": 2, "satisfaction": 1}
        for row in r.units.itertuples(index=False):
            values = row._asdict()
            table.add_row(str(values["unit"]), str(values["name"] or ""), *(
                cell(values[c], 0 if c.startswith("rank") else digits[c.split("_")[0]])
                for c in columns))
        out.print(table)
        top = r.movers(movers)
        if len(top):
            out.print("  largest movers: " + "; ".join(
                f"{n} {int(a)}→{int(b)}" for n, a, b in
                zip(top["name"].fillna(top["unit"]), top["rank_a"], top["rank_b"], strict=True)))


def frame(table: pd.DataFrame, title: str, digits: int) -> None:
    """A plain frame as a table (bridge, history); a column of whole numbers (ranks, counts)
    without decimals."""
    out = Table(title=title, title_justify="left")
    for c in table.columns:
        out.add_column(str(c), justify="left" if c in ("unit", "name") else "right")
    shown = [0 if whole_numbers(table[c]) else digits for c in table.columns]
    for row in table.itertuples(index=False):
        out.add_row(*(cell(v, d) if isinstance(v, float) else str(v)
                      for v, d in zip(row, shown, strict=True)))
    console(160).print(out)


def unpaired(units: pd.DataFrame | None) -> None:
    """The units a crosswalk paired with none, by kind and reason, each by its code (the
    names are in the JSON and CSV forms and in the crosswalk)."""
    if units is None or units.empty:
        return
    out = console(160)
    out.print(f"  not paired by the crosswalk: {len(units)} unit{'s' * (len(units) != 1)}")
    keys = [c for c in ("step", "kind", "reason") if c in units.columns]
    for key, group in units.fillna("").groupby(keys, sort=False):
        step, kind, reason = key if len(keys) == 3 else ("", *key)
        codes = ", ".join(str(u) for u in group["unit"])
        out.print(f"    {step + ': ' if step else ''}{kind} ({len(group)}"
                  f"{', ' + reason if reason else ''}): {codes}")


def changes(found: list[Change], first: Spec, second: Spec, label_a: str, label_b: str) -> None:
    """What changed between two specs, one row per change."""
    out = console(160)
    out.print(f"{len(found)} changes from {first.id} to {second.id}")
    if not found:
        return
    table = Table(title_justify="left")
    for c in ("section", "where", "kind", label_a, label_b):
        table.add_column(c, overflow="fold")
    for c in found:
        table.add_row(c.section, c.where, c.kind, c.before, c.after)
    out.print(table)


@contextmanager
def progress(what: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr; yields the callback (done, total) that moves it."""
    with Progress(console=Console(stderr=True)) as bar:
        task = bar.add_task(what, total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield step


def explanation(found: Explanation) -> None:
    """The explanation as an indented tree: the columns and what they read, then the survey
    levels from the unit to its items, then the flags."""
    out = console(160)
    rank = f", rank {found.rank} of {found.of}" if found.rank is not None else ""
    out.print(f"[bold]{found.title}[/bold] ({found.rating}): {found.unit} "
              f"{found.name or ''}{rank}", highlight=False)
    if found.source:
        out.print(f"  source: {found.source}", markup=False, highlight=False)
    for column in found.columns:
        out.print(f"  {column['column']} = {cell(column['value'], None)}"
                  + (f"   ← {column['formula']}" if column.get("formula") else ""),
                  markup=False, highlight=False)
        reads = column.get("reads", [])
        if [r["name"] for r in reads] == [column.get("formula")] and "reads" not in reads[0]:
            continue  # the column is the one value it reads
        _reads(out, reads, 2)
    if found.survey:
        survey = found.survey
        left = ", ".join(f"{code} {n}" for code, n in survey["excluded"].items())
        out.print(f"  survey: {survey['n']} respondents counted; left out: {left or 'none'}",
                  markup=False, highlight=False)
        for node in [survey["tree"], *survey["zones"]]:
            if node:
                _node(out, node, 2)
    for flag in found.flags:
        out.print(f"  flag: {flag}", markup=False, highlight=False)


def _reads(out: Console, reads: list[dict[str, Any]], depth: int) -> None:
    for read in reads:
        pad = "  " * (depth + 1)
        if "rows" in read:
            values = ", ".join(f"{r['unit']}: {cell(r['value'], None)}" for r in read["rows"])
            out.print(f"{pad}{read['name']} over {len(read['rows'])} rows: {values}",
                      markup=False, highlight=False)
        else:
            formula = f"   ← {read['formula']}" if read.get("formula") else ""
            out.print(f"{pad}{read['name']} = {cell(read.get('value'), None)}{formula}",
                      markup=False, highlight=False)
        _reads(out, read.get("reads", []), depth + 1)


def _node(out: Console, node: dict[str, Any], depth: int) -> None:
    where = f" {node['questionnaire']}" if node.get("questionnaire") else ""
    name = "" if node["name"] == "total" else f" {node['name']}"
    rule = f" ({node['rule']} of its members)" if node.get("rule") else ""
    label = f" «{node['label']}»" if node.get("label") else ""
    out.print(f"{'  ' * depth}{node['level']}{where}{name}{label}{rule}: "
              f"{cell(node['score'], 3)} / {cell(node['satisfaction'], 1)} %, "
              f"{node['asked']} asked, {node['rated']} rated", markup=False, highlight=False)
    for member in node.get("members", []):
        _node(out, member, depth + 1)
