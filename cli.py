"""The `sapa` command line: parse arguments, call the engine's API, render. No rules live here."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sapa.engine import __version__, lazy
from sapa.engine.diagnostics import (
    CannotRun,
    Diagnostic,
    SapaError,
    has_errors,
    render_json,
    render_text,
)

if TYPE_CHECKING:
    from sapa.engine import api
    from sapa.engine.render import documents, files, present, terminal
else:
    api = lazy.module("sapa.engine.api")  # imported when a command first uses it
    documents, files, present, terminal = (lazy.module(f"sapa.engine.render.{name}") for name
                                           in ("documents", "files", "present", "terminal"))

DEFAULT_SPEC = "2020"
FORMATS = click.Choice(["text", "json"])
BATCH_ROWS = click.option(
    "--batch-rows", type=click.IntRange(min=1), default=None,
    help="Respondents in Parquet or CSV are read, checked and counted this many rows at a time, "
         "never whole (default 250,000); the results do not depend on it.")
BACKEND = click.option(
    "--backend", type=click.Choice(["local", "spark"]), default="local", show_default=True,
    help="Where the work is done: here, or on Spark (PySpark and Java; a local Spark, or the "
         "session spark-submit started): the respondents read, checked and counted by its "
         "workers, every formula run as Spark SQL.")
ALLOW_MISSING_ITEMS = click.option(
    "--allow-missing-items", "allow_missing", is_flag=True,
    help="Data that lack items of the method's questionnaires (a file of another year or "
         "method): count those respondents as not asked, each item named, instead of refusing.")


def _echo_problems(diagnostics: Sequence[Diagnostic]) -> None:
    if diagnostics:
        click.echo(render_text(diagnostics), err=True)


def _guard(action: Callable[[], int]) -> None:
    """Run a command and exit with its code; a SapaError shows every problem it carries and its
    closing line, and exits with its code (1 problems, 2 cannot read), never a traceback."""
    try:
        code = action()
    except SapaError as exc:
        _echo_problems(exc.diagnostics)
        if exc.summary:
            click.echo(exc.summary, err=True)
        code = exc.exit_code
    sys.exit(code)


LANG = click.option("--lang", type=click.Choice(["ru", "kk", "en"]),
                    help="The language of titles and headers (default: the spec's first).")

def UNCERTAINTY(command: Callable[..., None]) -> Callable[..., None]:  # noqa: N802 - a decorator
    """--uncertainty and its settings: each unit's bootstrap interval of its figures and rank
    (<col>_low, <col>_high, rank_low, rank_high; in an HTML report, a rank-interval chart)."""
    for option in reversed([
            click.option("--uncertainty", is_flag=True,
                         help="Add each unit's bootstrap interval of its figures and rank."),
            click.option("--reps", type=int, default=200, show_default=True,
                         help="Bootstrap replicates (with --uncertainty)."),
            click.option("--seed", type=int, default=0, show_default=True),
            click.option("--level", type=float, default=0.9, show_default=True,
                         help="The intervals' level (with --uncertainty).")]):
        command = option(command)
    return command


CROSSWALK = click.option(
    "--crosswalk", type=click.Path(path_type=Path),
    help="A crosswalk CSV pairing the first side's units with the second's (from, to, kind).")


REPORT = click.option("--report", "report_path", type=click.Path(path_type=Path),
                      help="Also write a report: FILE.html (tables and charts) or FILE.xlsx.")


def _write_report(path: Path, title: str, sections: list[present.Shown], language: str,
                  about: dict[str, str]) -> None:
    """An analysis written as a report people read (an existing file is replaced: the report
    is an output of this command, not an input)."""
    if path.suffix.lower() not in (".html", ".xlsx"):
        raise CannotRun([Diagnostic("C114", f"--report {path}: a report is .html or .xlsx")])
    method = {**about, "engine_version": __version__,
              "created": datetime.now(UTC).isoformat(timespec="seconds")}
    files.write_file(path, lambda staging: documents.write_sections(
        title, sections, language, method, staging), [], force=True)
    click.echo(f"wrote {path}", err=True)


def _one_table(names: Sequence[str], what: str, option: str) -> None:
    """CSV holds one table: several need a choice (exit 2, before any work where possible)."""
    if len(names) != 1:
        raise CannotRun([Diagnostic(
            "C112", f"--format csv writes one table, and there are {len(names)} {what}s: "
                    f"{', '.join(names)}", hint=f"choose one with {option} ID, or use --out "
                    "(a CSV per table) or --format json")])


def _pairs(given: Sequence[str], form: str = "A_ID=B_ID") -> dict[str, str]:
    """NAME=VALUE arguments as a mapping; one without '=' is a usage problem (exit 2)."""
    for text in given:
        if "=" not in text:
            raise CannotRun([Diagnostic("C111", f"'{text}': expected {form}")])
    return dict(text.split("=", 1) for text in given)


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
            spec, diagnostics = api.validate(name)
        except CannotRun as exc:
            diagnostics, worst = list(exc.diagnostics), 2
            spec = None
        everything += diagnostics
        errors = sum(d.severity == "error" for d in diagnostics)
        warnings = len(diagnostics) - errors
        if errors and worst < 2:
            worst = 1
        coverage = api.label_coverage(spec) if spec else ""
        summaries.append(f"{name}: {'valid' if not errors else 'INVALID'} "
                         f"({errors} error{'s' * (errors != 1)}, "
                         f"{warnings} warning{'s' * (warnings != 1)})"
                         + (f" — {spec.id}" if spec else "")
                         + (f"; labels {coverage}" if coverage else ""))
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
@BACKEND
def test_command(specs: tuple[str, ...], backend: str) -> None:
    """Run the embedded tests of each SPEC; prints 'N passed, M failed'."""
    def action() -> int:
        passed = failed = 0
        for name in specs:
            spec, _ = api.check(name)
            for result in api.tests(spec, backend):
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
    _guard(action)


@main.command()
@click.argument("spec")
@click.option("--resolved", is_flag=True, help="Show the spec with its `extends:` chain merged.")
def show(spec: str, resolved: bool) -> None:
    """Print a spec as YAML (with --resolved: merged with the specs it extends)."""
    def action() -> int:
        path = api.resolve_spec(spec)
        if not resolved:
            click.echo(path.read_text(encoding="utf-8"), nl=False)
            return 0
        document = api.load_document(path)
        _echo_problems(document.diagnostics)
        click.echo(f"# {spec} resolved from: {' <- '.join(reversed(document.files))}")
        click.echo(files.yaml_text(document.data), nl=False)
        return 1 if has_errors(document.diagnostics) else 0
    _guard(action)


@main.command()
@click.argument("spec", required=False, default=DEFAULT_SPEC)
@click.option("--data", "data_path", type=click.Path(path_type=Path),
              help="A folder with <table>.csv|.xlsx|.parquet per table, or one .xlsx workbook "
                   "with a sheet per table. Default: the bundled data.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Write <rating id>.csv per rating and manifest.json here.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "xlsx"]),
              default="table", show_default=True,
              help="xlsx: also write ratings.xlsx into --out (a sheet per rating, as printed).")
@click.option("--force", is_flag=True,
              help="Replace the contents of an --out folder that holds other files.")
@click.option("--rating", "only", multiple=True,
              help="Show only this rating (repeatable; --out still writes every rating).")
@UNCERTAINTY
@LANG
@ALLOW_MISSING_ITEMS
@BATCH_ROWS
@BACKEND
def rate(spec: str, data_path: Path | None, out_dir: Path | None, fmt: str, force: bool,
         only: tuple[str, ...], uncertainty: bool, reps: int, seed: int, level: float,
         lang: str | None, allow_missing: bool, batch_rows: int | None, backend: str) -> None:
    """Compute the ratings of SPEC (default: the bundled 2020 methodology) over data."""
    def action() -> int:
        loaded, _ = api.check(spec)
        if fmt == "xlsx" and not out_dir:
            raise CannotRun([Diagnostic("C114", "--format xlsx writes ratings.xlsx into the "
                                        "--out folder", hint="add --out DIR")])
        language = api.output_language(loaded, lang)
        if not loaded.ratings:
            click.echo(f"{spec}: {loaded.id} declares no ratings yet; nothing to rate "
                       "(no --data given)" if data_path is None else
                       f"{spec}: {loaded.id} declares no ratings; nothing to rate", err=True)
            return 2
        shown = api.chosen_ratings(loaded, only)
        if fmt == "csv":
            _one_table(shown, "rating", "--rating")
        folder = api.data_folder(spec, loaded, data_path)
        if out_dir:
            files.check_output(out_dir, [folder], force)
        rated, warnings = api.rate_folder(loaded, folder, allow_missing, whole=uncertainty,
                                          batch_rows=batch_rows, backend=backend)
        _echo_problems(warnings)
        for where, count in rated.not_counted.items():
            click.echo(f"notice: {count} answers to {where} were not counted: the item "
                       "does not apply to those respondents (asked_if)", err=True)
        every = (api.uncertainty(loaded, rated, reps, seed, level, backend) if uncertainty
                 else rated.ratings)
        ratings = {rid: every[rid] for rid in shown}
        if fmt == "json":
            click.echo(files.ratings_json(ratings))
        elif fmt == "csv":
            click.echo(files.csv_text(ratings[shown[0]]), nl=False)
        elif fmt == "table":
            terminal.ratings(loaded, ratings, language)
        if out_dir:
            manifest = api.manifest(loaded, folder, rated, out_dir)
            if uncertainty:
                manifest["uncertainty"] = {
                    "method": "bootstrap of the counted respondents within each unit",
                    "replicates": reps, "seed": seed, "level": level}
            workbook = (lambda staging: documents.write_workbook(
                loaded, every, manifest, language, staging / "ratings.xlsx")) \
                if fmt == "xlsx" else None
            files.write_results(rated, manifest, out_dir, workbook, every)
            if workbook:
                click.echo(f"wrote {out_dir / 'ratings.xlsx'} ({len(loaded.ratings)} ratings, "
                           f"{language}) and the CSV files")
        return 0
    _guard(action)


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
@ALLOW_MISSING_ITEMS
def conform(spec: str, data_path: Path | None, published_path: Path | None, fmt: str,
            show_off: int, allow_missing: bool) -> None:
    """Compare SPEC's ratings with the published tables, cell by cell.

    Exit 1 when a table the spec marks as verified falls below its required match rate.
    """
    def action() -> int:
        loaded, _ = api.check(spec)
        if not loaded.published:
            click.echo(f"{spec}: the spec maps no published tables (published:)", err=True)
            return 2
        rated, _ = api.rate_folder(loaded, api.data_folder(spec, loaded, data_path),
                                   allow_missing)
        result = api.conformance(loaded, rated, published_path, reference_data=data_path is None)
        if fmt == "json":
            click.echo(files.conformance_json(result))
        else:
            terminal.conformance(result, show_off)
        return 0 if result.summary["passed"].all() else 1
    _guard(action)


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
        loaded, _ = api.check(spec)
        if not loaded.synthesis or loaded.survey is None:
            click.echo(f"{spec}: the spec has no synthesis: section", err=True)
            return 2
        folder = api.synthesis_source(loaded, published_path)  # refusals before the bar
        with terminal.progress("fitting units") as step:
            made = api.synthesis(loaded, folder, seed=seed, progress=step,
                                 only=set(only) or None)
        api.write_synthesis(made, out_dir)
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
    _guard(action)


# ----------------------------------------------------------------------------- comparisons
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
@CROSSWALK
@REPORT
@LANG
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Write one CSV per compared rating.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@ALLOW_MISSING_ITEMS
def compare(spec_a: str, spec_b: str, data_path: Path | None, data_b: Path | None,
            only: tuple[str, ...], maps: tuple[str, ...], movers: int,
            crosswalk: Path | None, report_path: Path | None, lang: str | None,
            out_dir: Path | None, fmt: str, allow_missing: bool) -> None:
    """Rate data under SPEC_A and SPEC_B and compare the ratings they share, unit by unit."""
    def action() -> int:
        mapped = _pairs(maps)
        pairing = api.crosswalk(crosswalk)
        first, _ = api.check(spec_a)
        second, _ = api.check(spec_b)
        default = api.later(first, second)
        ratings_a = api.rate_folder(first, api.data_folder(spec_a, default, data_path),
                                    allow_missing)[0]
        ratings_b = api.rate_folder(second,
                                    api.data_folder(spec_b, default, data_b or data_path),
                                    allow_missing)[0]
        results = api.compare(first, second, ratings_a.ratings, ratings_b.ratings,
                              mapped, only, pairing)
        if out_dir:
            files.write_comparisons(results, out_dir)
        labels = [name if "/" not in name and not name.endswith((".yaml", ".yml")) else side
                  for name, side in ((spec_a, "A"), (spec_b, "B"))]
        if labels[0] == labels[1]:
            labels = ["A", "B"]
        if report_path:
            language = api.output_language(second, lang)
            sections = [present.comparison_shown(second, r, labels[0], labels[1], language)
                        for r in results]
            _write_report(report_path, f"{first.id} → {second.id}", sections, language,
                          {"spec_a": first.id, "spec_b": second.id})
        legend = [f"{label} = {name} ({spec.id})" for label, name, spec in
                  zip(labels, (spec_a, spec_b), (first, second), strict=True) if label != name]
        if fmt == "json":
            click.echo(files.comparisons_json(results))
        elif fmt == "csv":
            _one_table([r.rating_a for r in results], "compared rating", "--rating")
            click.echo(files.csv_text(results[0].units), nl=False)
        else:
            if legend:
                click.echo(", ".join(legend))
            terminal.comparisons(results, labels[0], labels[1], movers)
        return 0
    _guard(action)


@main.command()
@click.argument("spec_1")
@click.argument("data_1", type=click.Path(path_type=Path))
@click.argument("spec_2")
@click.argument("data_2", type=click.Path(path_type=Path))
@click.option("--rating", "rating", required=True, metavar="ID or ID_1=ID_2")
@click.option("--column", default="score", show_default=True)
@CROSSWALK
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@ALLOW_MISSING_ITEMS
def bridge(spec_1: str, data_1: Path, spec_2: str, data_2: Path, rating: str, column: str,
           crosswalk: Path | None, fmt: str, allow_missing: bool) -> None:
    """Split each unit's change from year 1 (SPEC_1 on DATA_1) to year 2 (SPEC_2 on DATA_2)
    into the part due to the method and the part due to performance."""
    def action() -> int:
        rid_1, _, rid_2 = rating.partition("=")
        pairing = api.crosswalk(crosswalk)
        first, _ = api.check(spec_1)
        second, _ = api.check(spec_2)
        table, unpaired = api.bridge(first, data_1, second, data_2, rid_1, rid_2 or rid_1,
                                     column, allow_missing, pairing)
        if fmt != "table":
            click.echo(files.csv_text(table) if fmt == "csv" else
                       files.to_json({"units": files.records(table),
                                      "unpaired": None if unpaired is None
                                      else files.records(unpaired)}), nl=fmt != "csv")
            return 0
        terminal.frame(table, f"{column}: change = method + performance", digits=3)
        terminal.unpaired(unpaired)
        return 0
    _guard(action)


@main.command()
@click.argument("periods", nargs=-1, required=True, metavar="PERIOD=PATH...")
@click.option("--rating", required=True, metavar="ID or PERIOD:ID,...",
              help="The rating id (the CSV `sapa rate --out` wrote), or one per period.")
@click.option("--column", default="score", show_default=True)
@click.option("--crosswalk", "crosswalks", multiple=True, type=click.Path(path_type=Path),
              help="A crosswalk CSV per step between periods, in order: pairs each period's "
                   "units with the next one's.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv"]), default="table",
              show_default=True)
@REPORT
@LANG
def history(periods: tuple[str, ...], rating: str, column: str, crosswalks: tuple[Path, ...],
            fmt: str, report_path: Path | None, lang: str | None) -> None:
    """A rating over several periods from earlier results (`sapa rate --out DIR` folders or
    rating CSVs): the value per period, the last change and the mean of the periods present."""
    def action() -> int:
        pairings = [api.read_crosswalk(path) for path in crosswalks]
        given = _pairs(periods, "PERIOD=PATH")
        table, unpaired = api.history(given, rating, column, pairings)
        if report_path:
            _write_report(report_path, f"{rating}: {column}", [present.history_shown(
                table, rating, column, list(given), lang or "en")], lang or "en",
                {"periods": ", ".join(f"{k}={v}" for k, v in given.items())})
        if fmt == "csv":
            click.echo(files.csv_text(table), nl=False)
            return 0
        terminal.frame(table, f"{rating}: {column} by period", digits=2)
        terminal.unpaired(unpaired)
        return 0
    _guard(action)


@main.command()
@click.argument("spec", required=False, default=DEFAULT_SPEC)
@click.option("--data", "data_path", type=click.Path(path_type=Path),
              help="The data to rate (as for rate). Default: the bundled data.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True,
              help="report.html (one self-contained page) or report.xlsx (a workbook).")
@click.option("--rating", "only", multiple=True, help="Only this rating (repeatable).")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@UNCERTAINTY
@LANG
@ALLOW_MISSING_ITEMS
def report(spec: str, data_path: Path | None, out_path: Path, only: tuple[str, ...],
           force: bool, uncertainty: bool, reps: int, seed: int, level: float,
           lang: str | None, allow_missing: bool) -> None:
    """Rate SPEC over data and write a report people read: each rating as a table (and, in
    HTML, a chart), titles and headers in one language, figures as the report prints them."""
    def action() -> int:
        if out_path.suffix.lower() not in (".html", ".xlsx"):
            raise CannotRun([Diagnostic("C114", f"--out {out_path}: a report is .html or .xlsx")])
        loaded, _ = api.check(spec)
        shown = api.chosen_ratings(loaded, only)
        folder = api.data_folder(spec, loaded, data_path)
        rated, warnings = api.rate_folder(loaded, folder, allow_missing, whole=uncertainty)
        _echo_problems(warnings)
        language = api.output_language(loaded, lang)
        manifest = api.manifest(loaded, folder, rated, out_path)
        ratings = (api.uncertainty(loaded, rated, reps, seed, level) if uncertainty
                   else rated.ratings)
        files.write_file(out_path, lambda path: documents.write_report(
            loaded, ratings, manifest, language, path, shown), [folder], force)
        size = out_path.stat().st_size
        click.echo(f"wrote {out_path} ({len(shown)} ratings, {language}, "
                   + (f"{size / 1e6:.1f} MB)" if size >= 1e6 else f"{size / 1e3:.0f} kB)"))
        return 0
    _guard(action)


@main.command(name="explain")
@click.argument("spec")
@click.argument("unit")
@click.option("--rating", "rating_id", help="The rating (default: the first that rates UNIT).")
@click.option("--data", "data_path", type=click.Path(path_type=Path),
              help="The data (as for rate). Default: the bundled data.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@LANG
@ALLOW_MISSING_ITEMS
def explain_command(spec: str, unit: str, rating_id: str | None, data_path: Path | None,
                    fmt: str, lang: str | None, allow_missing: bool) -> None:
    """Why UNIT has its values: each column's formula and what it read, down to the survey's
    levels and items, the respondents left out, and flags where a value rests on little."""
    def action() -> int:
        loaded, _ = api.check(spec)
        if rating_id:
            api.chosen_ratings(loaded, [rating_id])
        rated, warnings = api.rate_folder(loaded, api.data_folder(spec, loaded, data_path),
                                          allow_missing, whole=True)
        _echo_problems(warnings)
        found = api.explain(loaded, rated, unit, rating_id, api.output_language(loaded, lang))
        if fmt == "json":
            click.echo(files.to_json(found.as_dict()))
        else:
            terminal.explanation(found)
        return 0
    _guard(action)


@main.command(name="sensitivity")
@click.argument("spec")
@click.option("--data", "data_path", type=click.Path(path_type=Path),
              help="The data (as for rate). Default: the bundled data.")
@click.option("--rating", "rating_id", help="The ranking to study (default: the spec's first).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.option("--reps", type=int, default=0, show_default=True,
              help="Also bootstrap every combination this many times, the same draws for each "
                   "(0: no bootstrap); sampling is then one more choice.")
@click.option("--seed", type=int, default=0, show_default=True, help="The bootstrap's seed.")
@REPORT
@LANG
@ALLOW_MISSING_ITEMS
def sensitivity_command(spec: str, data_path: Path | None, rating_id: str | None, fmt: str,
                        reps: int, seed: int, report_path: Path | None, lang: str | None,
                        allow_missing: bool) -> None:
    """Rate every combination of the alternatives SPEC declares (sensitivity:) and report each
    unit's median rank and rank range, and which choice moves the ranks most. With --reps,
    each combination is bootstrapped too, and sampling is weighed against the choices."""
    def action() -> int:
        loaded, _ = api.check(spec)
        rid = rating_id or next((r for r, x in loaded.ratings.items() if x.rank_by), None)
        if rid is None:
            raise CannotRun([Diagnostic("C117", f"{loaded.id} has no ranking to study")])
        api.chosen_ratings(loaded, [rid])
        found = api.method_sensitivity(loaded, api.data_folder(spec, loaded, data_path), rid,
                                       allow_missing, reps, seed)
        if report_path:
            language = api.output_language(loaded, lang)
            _write_report(report_path, f"{loaded.id}: {rid}",
                          present.sensitivity_shown(loaded, rid, found, language), language,
                          {"spec_id": loaded.id, "replicates": str(reps)})
        if fmt == "json":
            click.echo(files.to_json({"rating": rid, "effects": files.records(found.effects),
                                      "units": files.records(found.units)}))
        elif fmt == "csv":
            click.echo(files.csv_text(found.units), nl=False)
        else:
            top = found.effects.iloc[0]
            click.echo(f"{rid}: the choice with the largest effect on the ranks is "
                       f"{top['choice']} (mean first-order effect {top['mean_effect']:.2f})")
            click.echo("first-order effect: the share of a unit's rank variance a choice "
                       "explains alone (mean over the units)")
            terminal.frame(found.effects, "effects", digits=3)
            terminal.frame(found.units.drop(columns="name", errors="ignore").sort_values(
                               "rank", kind="stable"),  # names: in --format csv/json, --report
                           f"{rid}: ranks over the combinations", digits=2)
        return 0
    _guard(action)


@main.command(name="crosswalk")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--from", "earlier", required=True, help="The earlier spec (its codes: `from`).")
@click.option("--to", "later", required=True, help="The later spec (its codes: `to`).")
@click.option("--table", required=True, help="The table whose keys the codes are.")
@click.option("--from-table", help="The earlier spec's table, if it is named otherwise.")
@click.option("--data-from", type=click.Path(path_type=Path),
              help="The earlier data (default: the earlier spec's bundled data).")
@click.option("--data-to", type=click.Path(path_type=Path),
              help="The later data (default: the later spec's bundled data).")
def crosswalk_command(file: Path, earlier: str, later: str, table: str, from_table: str | None,
                      data_from: Path | None, data_to: Path | None) -> None:
    """Check a crosswalk FILE: its rows, and every code against both catalogues."""
    def action() -> int:
        first, _ = api.check(earlier)
        second, _ = api.check(later)
        problems = api.crosswalk_problems(file, (first, from_table or table, data_from),
                                          (second, table, data_to))
        _echo_problems(problems)
        errors = sum(p.severity == "error" for p in problems)
        click.echo(f"{file}: {'valid' if not errors else 'INVALID'} ({errors} error"
                   f"{'s' * (errors != 1)}) — {first.id} {from_table or table} → "
                   f"{second.id} {table}")
        return 1 if errors else 0
    _guard(action)


@main.command(name="diff")
@click.argument("spec_a")
@click.argument("spec_b")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def diff_command(spec_a: str, spec_b: str, fmt: str) -> None:
    """What changed from SPEC_A to SPEC_B: criteria, items (added, removed, moved, zones),
    and every rule; formulas are compared as parsed expressions."""
    def action() -> int:
        first, _ = api.check(spec_a)
        second, _ = api.check(spec_b)
        changes = api.diff(first, second)
        if fmt == "json":
            click.echo(files.to_json([c.__dict__ for c in changes]))
        else:
            terminal.changes(changes, first, second, spec_a, spec_b)
        return 0
    _guard(action)


@main.command()
def schema() -> None:
    """Print the JSON Schema of spec files for an editor: a whole spec, or an overlay (a file
    with `extends:`). Save it and point the editor's YAML support at it."""
    click.echo(files.to_json(api.editor_schema()))


@main.command(name="list")
def list_command() -> None:
    """List the bundled methodologies."""
    from sapa.engine.spec import bundled_names  # the folder's names: no tables to load

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
