"""The `sapa` command line: parse arguments, call the engine, render. No rules live here."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import pandas as pd
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from ruamel.yaml import YAML
from sapa.engine import __version__
from sapa.engine.analysis import comparison
from sapa.engine.analysis import diff as spec_diff
from sapa.engine.data import load_tables, read_source
from sapa.engine.diagnostics import CannotRun, Diagnostic, has_errors, render_json, render_text
from sapa.engine.formula import round_half_up
from sapa.engine.published import conformance
from sapa.engine.rating import compute_ratings, evaluate_tables
from sapa.engine.spec import Spec, bundled_names, load_document, load_spec, resolve_spec
from sapa.engine.synth import build as synthesis
from sapa.engine.testing import run_tests

DEFAULT_SPEC = "2020"
FORMATS = click.Choice(["text", "json"])


def _echo_problems(diagnostics: Sequence[Diagnostic], fmt: str = "text") -> None:
    if not diagnostics:
        return
    if fmt == "json":
        click.echo(render_json(diagnostics))
    else:
        click.echo(render_text(diagnostics), err=True)


def _guard(action: Callable[[], int]) -> int:
    """Run a command; a spec or data that cannot be read at all exits with 2, no traceback."""
    try:
        return action()
    except CannotRun as exc:
        click.echo(render_text(exc.diagnostics), err=True)
        return 2


def _load_or_exit(name: str) -> tuple[Spec, list[Diagnostic]]:
    spec, diagnostics = load_spec(resolve_spec(name))
    if spec is None:
        _echo_problems(diagnostics)
        click.echo(f"{name}: the spec has problems; run `sapa validate {name}`", err=True)
        sys.exit(1)
    return spec, diagnostics


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sapa")
def main() -> None:
    """sapa: rate the quality of public services by a methodology written in YAML.

    SPEC is a path to a spec file or the short name of a bundled methodology
    (see `sapa validate --help`).
    """


@main.command()
@click.argument("specs", nargs=-1, required=True)
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def validate(specs: tuple[str, ...], fmt: str) -> None:
    """Check SPEC files: structure, names, formulas, bands, weights, tests.

    Exit 0 when valid (warnings allowed), 1 when problems are found, 2 when a file cannot be read.
    """
    everything: list[Diagnostic] = []
    worst = 0
    summaries = []
    for name in specs:
        try:
            spec, diagnostics = load_spec(resolve_spec(name))
        except CannotRun as exc:
            diagnostics, worst = list(exc.diagnostics), 2
            spec = None
        everything += diagnostics
        errors = sum(d.severity == "error" for d in diagnostics)
        warnings = len(diagnostics) - errors
        if errors and worst < 2:
            worst = 1
        summaries.append(f"{name}: {'valid' if not errors else 'INVALID'} "
                         f"({errors} error{'s' * (errors != 1)}, "
                         f"{warnings} warning{'s' * (warnings != 1)})"
                         + (f" — {spec.id}" if spec else ""))
    if fmt == "json":
        click.echo(render_json(everything))
    else:
        if everything:
            click.echo(render_text(everything))
            click.echo()
        click.echo("\n".join(summaries))
    sys.exit(worst)


@main.command(name="test")
@click.argument("specs", nargs=-1, required=True)
def test_command(specs: tuple[str, ...]) -> None:
    """Run the embedded tests of each SPEC; prints 'N passed, M failed'."""
    def action() -> int:
        passed = failed = 0
        for name in specs:
            spec, _ = _load_or_exit(name)
            for result in run_tests(spec):
                where = f"{result.span}: " if result.span else ""
                if result.passed:
                    passed += 1
                    click.echo(f"PASS {spec.id}: {result.name} ({result.checked} values)")
                else:
                    failed += 1
                    click.echo(f"FAIL {where}{spec.id}: {result.name}")
                    for failure in result.failures:
                        click.echo(f"    {failure}")
        click.echo(f"{passed} passed, {failed} failed")
        return 1 if failed else 0
    sys.exit(_guard(action))


@main.command()
@click.argument("spec")
@click.option("--resolved", is_flag=True, help="Show the spec with its `extends:` chain merged.")
def show(spec: str, resolved: bool) -> None:
    """Print a spec as YAML (with --resolved: merged with the specs it extends)."""
    def action() -> int:
        path = resolve_spec(spec)
        if not resolved:
            click.echo(path.read_text(encoding="utf-8"), nl=False)
            return 0
        document = load_document(path)
        _echo_problems(document.diagnostics)
        click.echo(f"# {spec} resolved from: {' <- '.join(reversed(document.files))}")
        yaml = YAML()
        yaml.default_flow_style = False
        yaml.width = 100
        yaml.dump(document.data, sys.stdout)
        return 1 if has_errors(document.diagnostics) else 0
    sys.exit(_guard(action))


@main.command()
@click.argument("spec", required=False, default=DEFAULT_SPEC)
@click.option("--data", "data_path", type=click.Path(path_type=Path),
              help="A folder with <table>.csv|.xlsx|.parquet per table, or one .xlsx workbook "
                   "with a sheet per table. Default: the bundled data.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Write <rating id>.csv per rating and manifest.json here.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
def rate(spec: str, data_path: Path | None, out_dir: Path | None, fmt: str) -> None:
    """Compute the ratings of SPEC (default: the bundled 2020 methodology) over data."""
    def action() -> int:
        loaded, _ = _load_or_exit(spec)
        if not loaded.ratings:
            click.echo(f"{spec}: {loaded.id} declares no ratings yet; nothing to rate "
                       "(no --data given)" if data_path is None else
                       f"{spec}: {loaded.id} declares no ratings; nothing to rate", err=True)
            return 2
        folder = _data_folder(spec, loaded, data_path)
        computed = _compute(loaded, folder, quiet=False)
        if computed is None:
            return 1
        ratings, surveys = computed
        _render_ratings(loaded, ratings, fmt)
        if out_dir:
            _write_outputs(loaded, folder, ratings, out_dir, surveys)
            for name, result in surveys.items():
                result.table.to_csv(out_dir / f"{name}.results.csv", index=False)
                result.long.to_csv(out_dir / f"{name}.levels.csv", index=False)
        return 0
    sys.exit(_guard(action))


def _data_folder(name: str, spec: Spec, data_path: Path | None) -> Path:
    folder = data_path or _default_data(spec)
    if folder is None:
        raise CannotRun([Diagnostic("D400", f"{name}: no --data given and the spec names no "
                                    "bundled data (methodology.default_data)")])
    return folder


def _compute(spec: Spec, folder: Path, quiet: bool) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Read and check the data, evaluate, rate. None (problems shown) when the data are bad."""
    raw, locators, origins, problems = read_source(spec, folder)
    frames, more = load_tables(spec, raw, locators, origins)
    problems += more
    if has_errors(problems):
        _echo_problems(problems)
        click.echo("the data has problems; nothing was computed or written", err=True)
        return None
    if not quiet:
        _echo_problems(problems)
    evaluated, surveys = evaluate_tables(spec, frames)
    if not quiet:
        for result in list(surveys.values())[:1]:  # breakdowns re-count the same answers
            for where, count in result.ignored.items():
                click.echo(f"notice: {count} answers to {where} were not counted: the item "
                           "does not apply to those respondents (asked_if)", err=True)
    return compute_ratings(spec, evaluated), surveys


def _declared_in(spec: Spec, path: tuple[str, ...]) -> Path:
    """The folder of the file that wrote the setting at `path` (a variant that `extends:` a
    bundled spec inherits its paths relative to where they were written)."""
    place = spec.document.place(path)
    return Path(place.file).parent if place is not None else Path(spec.path).parent


def _published_folder(spec: Spec) -> Path:
    """The spec's published tables (published.folder, relative to the file that names it)."""
    folder = (spec.data.get("published") or {}).get("folder", ".")
    return _declared_in(spec, ("published", "folder")) / folder


def _default_data(spec: Spec) -> Path | None:
    default = (spec.data.get("methodology") or {}).get("default_data")
    if not default:
        return None
    folder = _declared_in(spec, ("methodology", "default_data")) / default
    if not folder.exists():
        raise CannotRun([Diagnostic("D400", f"the bundled data of {spec.id} is missing: {folder}")])
    return folder


def _render_ratings(spec: Spec, ratings: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps({rid: json.loads(frame.to_json(orient="records"))
                               for rid, frame in ratings.items()}, ensure_ascii=False, indent=2))
        return
    if fmt == "csv":
        for rid, frame in ratings.items():
            click.echo(f"# {rid}")
            click.echo(frame.to_csv(index=False), nl=False)
        return
    console = Console(width=None if sys.stdout.isatty() else 200)
    for rid, frame in ratings.items():
        rating = spec.ratings[rid]
        if frame.empty:  # say why, rather than print an empty table
            console.print(f"{rating.title} ({rid}): no rows, {_why_empty(spec, rid)}",
                          markup=False)
            continue
        used = [rating, *(spec.ratings[row.total_of] for row in rating.rows)]
        digits = {c.name: c.digits for r in used for c in r.columns}
        table = Table(title=f"{rating.title} ({rid})", title_justify="left")
        for column in frame.columns:
            table.add_column(str(column), justify="right" if column != "name" else "left")
        for row in frame.itertuples(index=False):
            table.add_row(*(_cell(v, digits.get(c)) for c, v in zip(frame.columns, row,
                                                                      strict=True)))
        console.print(table)


def _why_empty(spec: Spec, rid: str) -> str:
    """The rule that left a rating without rows, in the spec's own words."""
    raw = spec.data["ratings"][rid]
    if not raw.get("table"):
        return "none of the ratings it is composed of has rows in these data"
    if raw.get("where"):
        return f"no row of '{raw['table']}' meets `{raw['where']}` in these data"
    return f"'{raw['table']}' has no rows in these data"


def _cell(value: Any, digits: int | None) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return "—"
    if isinstance(value, float):
        if digits is not None:
            return f"{float(round_half_up(value, digits)):.{digits}f}"
        return f"{value:g}" if value.is_integer() else f"{value:.6g}"
    return str(value)


def _write_outputs(spec: Spec, data: Path, ratings: dict[str, Any], out_dir: Path,
                   surveys: dict[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for rid, frame in ratings.items():
        frame.to_csv(out_dir / f"{rid}.csv", index=False, encoding="utf-8")
    data_hash = hashlib.sha256()
    for path in sorted(data.rglob("*")) if data.is_dir() else [data]:
        if path.is_file() and out_dir.resolve() not in path.resolve().parents:
            data_hash.update(path.read_bytes())
    manifest = {
        "engine_version": __version__,
        "spec_id": spec.id,
        "spec_sha256": hashlib.sha256(Path(spec.path).read_bytes()).hexdigest(),
        "data_sha256": data_hash.hexdigest(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "ratings": sorted(ratings),
    }
    if spec.survey is not None and spec.survey.results in surveys:
        results = surveys[spec.survey.results].table
        manifest["respondents_counted"] = int(results["n"].sum())
        manifest["excluded"] = {code: int(results[f"excluded_{code}"].sum())
                                for code, _ in spec.survey.exclusions}
        manifest["not_counted_answers"] = surveys[spec.survey.results].ignored
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n",
                                           encoding="utf-8")


@main.command()
@click.argument("spec")
@click.option("--data", "data_path", type=click.Path(path_type=Path),
              help="Response data (as for rate). Default: the spec's bundled data.")
@click.option("--published", "published_path", type=click.Path(path_type=Path),
              help="Folder of the published tables. Default: the spec's published.folder.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--show", "show_off", type=int, default=5, show_default=True,
              help="Mismatched cells listed per table.")
def conform(spec: str, data_path: Path | None, published_path: Path | None, fmt: str,
            show_off: int) -> None:
    """Compare SPEC's ratings with the published tables, cell by cell.

    Exit 1 when a table the spec marks as verified falls below its required match rate.
    """
    def action() -> int:
        loaded, _ = _load_or_exit(spec)
        published = loaded.data.get("published")
        if not published:
            click.echo(f"{spec}: the spec maps no published tables (published:)", err=True)
            return 2
        computed = _compute(loaded, _data_folder(spec, loaded, data_path), quiet=True)
        if computed is None:
            return 1
        ratings = computed[0]
        tables = published_path or _published_folder(loaded)
        result = conformance.conform(published, tables, ratings)
        if fmt == "json":
            click.echo(json.dumps({
                "summary": json.loads(result.summary.to_json(orient="records")),
                "cells": json.loads(result.cells.to_json(orient="records"))},
                ensure_ascii=False, indent=2))
        else:
            _render_conformance(result, show_off)
        return 0 if result.summary["passed"].all() else 1
    sys.exit(_guard(action))


def _render_conformance(result: conformance.Comparison, show_off: int) -> None:
    console = Console(width=None if sys.stdout.isatty() else 200)
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
    console.print(table)
    compared = result.cells[result.cells["status"].isin(["match", "off", "missing_engine"])]
    overall = (compared["status"] == "match").mean() if len(compared) else float("nan")
    console.print(f"overall: {int((compared['status'] == 'match').sum())} of {len(compared)} "
                  f"cells match ({overall:.1%})")
    for table_id, cells in result.cells.groupby("table", sort=False):
        off = cells[cells["status"].isin(["off", "missing_engine"])].head(show_off)
        for cell in off.itertuples(index=False):
            engine = "—" if cell.engine is None or cell.engine != cell.engine else \
                f"{cell.engine:.4f}"
            console.print(f"  {table_id} {cell.unit} {cell.column}: engine {engine}, "
                          f"published {cell.published}")


@main.command()
@click.argument("spec")
@click.option("--published", "published_path", type=click.Path(path_type=Path),
              help="Folder of the published tables. Default: the spec's published.folder.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder to write the catalogues and respondents to (Parquet).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--report", "report_path", type=click.Path(path_type=Path),
              help="Write every fitted published figure with the value the data give, and "
                   "for each one missed the range real counts allow with the figures met "
                   "kept (CSV).")
@click.option("--unit", "only", multiple=True,
              help="Build only this unit (repeatable), exactly as in the whole run.")
def synth(spec: str, published_path: Path | None, out_dir: Path, seed: int,
          report_path: Path | None, only: tuple[str, ...]) -> None:
    """Build respondent-level data for SPEC that reproduce its published tables (synthesis:)."""
    def action() -> int:
        loaded, _ = _load_or_exit(spec)
        if not loaded.data.get("synthesis") or loaded.survey is None:
            click.echo(f"{spec}: the spec has no synthesis: section", err=True)
            return 2
        folder = published_path or _published_folder(loaded)
        with Progress(console=Console(stderr=True)) as progress:
            task = progress.add_task("fitting units", total=None)

            def step(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            made = synthesis.synthesize(loaded, folder, seed=seed, progress=step,
                                        only=set(only) or None)
        synthesis.write(made.tables, out_dir)
        sizes = ", ".join(f"{name} {len(frame):,}" for name, frame in made.tables.items())
        click.echo(f"wrote {out_dir}: {sizes} rows (seed {seed})")
        report = made.report
        click.echo(f"published figures fitted: {len(report)}; within tolerance "
                   f"{int(report['reproduced'].sum())}, within the printed rounding "
                   f"{int(report['met'].sum())}")
        off = report[~report["reproduced"]]
        contradicted = int(off["contradicted"].sum())
        click.echo(f"of the {len(off)} off: {contradicted} contradict the figures met (no "
                   "counts, whole or not, reach them with those kept), "
                   f"{len(off) - contradicted} reachable with real counts, missed with whole ones")
        if made.pooled is not None:
            pooled = made.pooled
            click.echo(f"pooled table: {made.exchanges:,} answers exchanged between items; "
                       f"within tolerance {int(pooled['reproduced'].sum())} of {len(pooled)} "
                       f"figures, within the printed rounding {int(pooled['met'].sum())}")
        if report_path:
            report.to_csv(report_path, index=False)
            click.echo(f"wrote {report_path}")
        return 0
    sys.exit(_guard(action))


# ----------------------------------------------------------------------------- comparisons
def _rated(name: str, spec: Spec, data_path: Path | None, default_from: Spec | None = None
           ) -> dict[str, pd.DataFrame]:
    """A spec's ratings over data (default: the bundled data of `default_from`, else its own)."""
    folder = data_path or _data_folder(name, default_from or spec, None)
    computed = _compute(spec, folder, quiet=True)
    if computed is None:
        raise CannotRun([Diagnostic("D400", f"{name}: the data in {folder} cannot be rated")])
    return computed[0]


def _pairs(spec_a: Spec, spec_b: Spec, maps: Sequence[str], only: Sequence[str]
           ) -> list[tuple[str, str]]:
    """The ratings both specs have (same id), plus the --map a=b pairs; --rating narrows."""
    mapped = dict(m.split("=", 1) for m in maps)
    for a, b in mapped.items():
        for rid, spec in ((a, spec_a), (b, spec_b)):
            if rid not in spec.ratings:
                raise CannotRun([Diagnostic("C100", f"--map {a}={b}: {spec.id} has no rating "
                                            f"'{rid}' (it has: {', '.join(spec.ratings)})")])
    pairs = [(rid, rid) for rid in spec_a.ratings if rid in spec_b.ratings and rid not in mapped]
    pairs += list(mapped.items())
    if only:
        pairs = [(a, b) for a, b in pairs if a in only or b in only]
    if not pairs:
        raise CannotRun([Diagnostic("C101", f"{spec_a.id} and {spec_b.id} share no rating; "
                                    "pair two with --map A_ID=B_ID")])
    return pairs


def _later(spec_a: Spec, spec_b: Spec) -> Spec:
    return spec_b if (spec_b.year or 0) >= (spec_a.year or 0) else spec_a


@main.command()
@click.argument("spec_a")
@click.argument("spec_b")
@click.option("--data", "data_path", type=click.Path(path_type=Path),
              help="Data rated under both specs. Default: the bundled data of the later year.")
@click.option("--data-b", "data_b", type=click.Path(path_type=Path),
              help="Other data for SPEC_B (two years: SPEC_A on --data, SPEC_B on --data-b).")
@click.option("--rating", "only", multiple=True, help="Compare only this rating (repeatable).")
@click.option("--map", "maps", multiple=True, metavar="A_ID=B_ID",
              help="Pair ratings with different ids (repeatable).")
@click.option("--movers", type=int, default=5, show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Write one CSV per compared rating.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
def compare(spec_a: str, spec_b: str, data_path: Path | None, data_b: Path | None,
            only: tuple[str, ...], maps: tuple[str, ...], movers: int, out_dir: Path | None,
            fmt: str) -> None:
    """Rate data under SPEC_A and SPEC_B and compare the ratings they share, unit by unit."""
    def action() -> int:
        first, _ = _load_or_exit(spec_a)
        second, _ = _load_or_exit(spec_b)
        default = _later(first, second)
        ratings_a = _rated(spec_a, first, data_path, default)
        ratings_b = _rated(spec_b, second, data_b or data_path, default)
        results = [comparison.compare(ratings_a[a], ratings_b[b], a, b)
                   for a, b in _pairs(first, second, maps, only)]
        if out_dir:
            out_dir.mkdir(parents=True, exist_ok=True)
            for result in results:
                name = result.rating_a if result.rating_a == result.rating_b else \
                    f"{result.rating_a}__{result.rating_b}"
                result.units.to_csv(out_dir / f"{name}.csv", index=False)
        labels = [name if "/" not in name and not name.endswith((".yaml", ".yml")) else side
                  for name, side in ((spec_a, "A"), (spec_b, "B"))]
        if labels[0] == labels[1]:
            labels = ["A", "B"]
        legend = [f"{label} = {name} ({spec.id})" for label, name, spec in
                  zip(labels, (spec_a, spec_b), (first, second), strict=True) if label != name]
        if fmt == "table" and legend:
            click.echo(", ".join(legend))
        _render_comparisons(results, labels[0], labels[1], movers, fmt)
        return 0
    sys.exit(_guard(action))


def _render_comparisons(results: list[comparison.Comparison], label_a: str, label_b: str,
                        movers: int, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps([{
            "rating_a": r.rating_a, "rating_b": r.rating_b, "spearman": r.spearman,
            "kendall": r.kendall, "common": r.common, "moved": r.moved,
            "units": json.loads(r.units.to_json(orient="records"))} for r in results],
            ensure_ascii=False, indent=2))
        return
    if fmt == "csv":
        for r in results:
            click.echo(f"# {r.rating_a} vs {r.rating_b}")
            click.echo(r.units.to_csv(index=False), nl=False)
        return
    console = Console(width=None if sys.stdout.isatty() else 160)
    for r in results:
        pair = r.rating_a if r.rating_a == r.rating_b else f"{r.rating_a} → {r.rating_b}"
        console.print(f"[bold]{pair}[/bold]: {r.common} units under both; Spearman "
                      f"{r.spearman:.3f}, Kendall {r.kendall:.3f}; {r.moved} changed rank")
        for side, label in (("only_a", label_a), ("only_b", label_b)):
            alone = r.units[r.units["present"] == side]
            if len(alone):
                names = ", ".join(str(n) for n in alone["name"].fillna(alone["unit"]))
                console.print(f"  rated only under {label}: {names}")
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
                _cell(values[c], 0 if c.startswith("rank") else digits[c.split("_")[0]])
                for c in columns))
        console.print(table)
        top = r.movers(movers)
        if len(top):
            console.print("  largest movers: " + "; ".join(
                f"{n} {int(a)}→{int(b)}" for n, a, b in
                zip(top["name"].fillna(top["unit"]), top["rank_a"], top["rank_b"], strict=True)))


@main.command()
@click.argument("spec_1")
@click.argument("data_1", type=click.Path(path_type=Path))
@click.argument("spec_2")
@click.argument("data_2", type=click.Path(path_type=Path))
@click.option("--rating", "rating", required=True, metavar="ID or ID_1=ID_2")
@click.option("--column", default="score", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
def bridge(spec_1: str, data_1: Path, spec_2: str, data_2: Path, rating: str, column: str,
           fmt: str) -> None:
    """Split each unit's change from year 1 (SPEC_1 on DATA_1) to year 2 (SPEC_2 on DATA_2)
    into the part due to the method and the part due to performance."""
    def action() -> int:
        rid_1, _, rid_2 = rating.partition("=")
        rid_2 = rid_2 or rid_1
        first, _ = _load_or_exit(spec_1)
        second, _ = _load_or_exit(spec_2)
        year1 = _rated(spec_1, first, data_1)
        year2_old = _rated(spec_1, first, data_2)
        year2 = _rated(spec_2, second, data_2)
        for rid, ratings, name in ((rid_1, year1, spec_1), (rid_2, year2, spec_2)):
            if rid not in ratings:
                raise CannotRun([Diagnostic("C100", f"{name} has no rating '{rid}' "
                                            f"(it has: {', '.join(ratings)})")])
        table = comparison.bridge(year1[rid_1], year2_old[rid_1], year2[rid_2], column)
        if fmt != "table":
            click.echo(table.to_csv(index=False) if fmt == "csv" else
                       table.to_json(orient="records", force_ascii=False, indent=2))
            return 0
        _print_frame(table, f"{column}: change = method + performance", digits=3)
        return 0
    sys.exit(_guard(action))


@main.command()
@click.argument("periods", nargs=-1, required=True, metavar="PERIOD=PATH...")
@click.option("--rating", required=True, help="The rating id (the CSV `sapa rate --out` wrote).")
@click.option("--column", default="score", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "csv"]), default="table",
              show_default=True)
def history(periods: tuple[str, ...], rating: str, column: str, fmt: str) -> None:
    """A rating over several periods from earlier results (`sapa rate --out DIR` folders or
    rating CSVs): the value per period, the last change and the mean of the periods present."""
    def action() -> int:
        tables = {}
        for given in periods:
            label, _, path = given.partition("=")
            file = Path(path) / f"{rating}.csv" if Path(path).is_dir() else Path(path)
            if not path or not file.exists():
                raise CannotRun([Diagnostic("C102", f"{given}: expected PERIOD=PATH with "
                                            f"PATH a results folder holding {rating}.csv or "
                                            "a rating CSV")])
            tables[label] = pd.read_csv(file, dtype={"unit": str})
        table = comparison.history(tables, column)
        if fmt == "csv":
            click.echo(table.to_csv(index=False), nl=False)
            return 0
        _print_frame(table, f"{rating}: {column} by period", digits=2)
        return 0
    sys.exit(_guard(action))


def _print_frame(frame: pd.DataFrame, title: str, digits: int) -> None:
    out = Table(title=title, title_justify="left")
    for c in frame.columns:
        out.add_column(str(c), justify="left" if c in ("unit", "name") else "right")
    for row in frame.itertuples(index=False):
        out.add_row(*(_cell(v, digits) if isinstance(v, float) else str(v) for v in row))
    Console(width=None if sys.stdout.isatty() else 160).print(out)


@main.command(name="diff")
@click.argument("spec_a")
@click.argument("spec_b")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def diff_command(spec_a: str, spec_b: str, fmt: str) -> None:
    """What changed from SPEC_A to SPEC_B: criteria, items (added, removed, moved, zones),
    and every rule; formulas are compared as parsed expressions."""
    def action() -> int:
        first, _ = _load_or_exit(spec_a)
        second, _ = _load_or_exit(spec_b)
        changes = spec_diff.diff(first, second)
        if fmt == "json":
            click.echo(json.dumps([c.__dict__ for c in changes], ensure_ascii=False, indent=2))
            return 0
        console = Console(width=None if sys.stdout.isatty() else 160)
        console.print(f"{len(changes)} changes from {first.id} to {second.id}")
        if not changes:
            return 0
        out = Table(title_justify="left")
        for c in ("section", "where", "kind", spec_a, spec_b):
            out.add_column(c, overflow="fold")
        for c in changes:
            out.add_row(c.section, c.where, c.kind, c.before, c.after)
        console.print(out)
        return 0
    sys.exit(_guard(action))


@main.command(name="list")
def list_command() -> None:
    """List the bundled methodologies."""
    for name in bundled_names():
        click.echo(name)


def run() -> None:
    """Console entry point: no traceback reaches a user unless SAPA_DEBUG is set."""
    try:
        main(standalone_mode=True)
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if os.environ.get("SAPA_DEBUG"):
            raise
        click.echo(f"sapa: internal error: {type(exc).__name__}: {exc}\n"
                   "This is a bug in sapa, not in your spec; set SAPA_DEBUG=1 to see where.",
                   err=True)
        sys.exit(3)


if __name__ == "__main__":
    run()
