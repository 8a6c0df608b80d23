"""The one way to run the pipeline: load and check a spec, read and check data, rate, test,
compare with the published tables, synthesise. The command line, the benchmarks and the tests
call these functions; no other module chains the stages.

Every function either returns its result or raises a SapaError that carries every problem found
(`exit_code`: 1 for problems in the spec or data, 2 for input that cannot be read at all)."""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sapa.engine import __version__, lazy
from sapa.engine.diagnostics import CannotRun, Diagnostic, SapaError, did_you_mean, has_errors
from sapa.engine.spec import (
    Spec,
    bundled_names,
    declared_in,
    default_data,
    editor_schema,
    is_file,
    labels,
    load_document,
    load_spec,
    published_folder,
    resolve,
    resolve_spec,
)

if TYPE_CHECKING:
    import pandas as pd

    from sapa.engine import analysis as analysis_stage
    from sapa.engine import data as data_stage
    from sapa.engine import explain as explain_stage
    from sapa.engine import published as published_stage
    from sapa.engine import rating as rating_stage
    from sapa.engine import synth
    from sapa.engine import testing as testing_stage
    from sapa.engine import uncertainty as uncertainty_stage
    from sapa.engine.synth import Synthesis
else:  # each stage is imported when first used: `sapa validate` of a spec that names no data
    # needs none of them, nor pandas and SciPy
    (analysis_stage, data_stage, explain_stage, published_stage, rating_stage, synth,
     testing_stage, uncertainty_stage) = (lazy.module(f"sapa.engine.{name}") for name in (
         "analysis", "data", "explain", "published", "rating", "synth", "testing",
         "uncertainty"))

__all__ = [
    "bridge", "bundled_names", "check", "chosen_ratings",
    "compare", "conformance", "crosswalk", "crosswalk_problems", "data_folder", "diff",
    "editor_schema", "explain", "history", "label_coverage", "later", "load", "load_document",
    "manifest", "method_sensitivity", "rate_folder", "rating_ids", "read", "read_crosswalk",
    "resolve_spec", "synthesis", "synthesis_source", "tests", "uncertainty", "validate",
    "write_synthesis",
]


def load(name: str) -> tuple[Spec | None, list[Diagnostic]]:
    """A spec by path or bundled short name, checked: the model (None when it has errors) and
    every problem found. Raises CannotRun only when it cannot be read at all."""
    return load_spec(resolve_spec(name))


def validate(name: str) -> tuple[Spec | None, list[Diagnostic]]:
    """What `load` finds, and what only a full check reads: S237 where `sapa synth` cannot fit
    the spec's `synthesis:` plan, and every crosswalk's codes against both specs' bundled
    catalogues (X6xx)."""
    spec, diagnostics = load(name)
    if spec is None:
        return spec, diagnostics
    if spec.synthesis is not None:
        limits = synth.fit_limits(spec)
        place = spec.document.place(("synthesis",), key=True)
        diagnostics += [Diagnostic(
            "S237", f"sapa synth cannot fit this spec's synthesis: plan: {reason}", place,
            "warning", hint="synthesis: null, if the plan is inherited and not meant for this "
            "spec") for reason in limits]
    earlier: dict[tuple[str, Path], tuple[Spec, list[Diagnostic]] | SapaError] = {}  # read once
    for key, declared in declared_crosswalks(spec).items():
        diagnostics += _crosswalk_problems(spec, key, declared, earlier)
    return spec, diagnostics


@dataclass(frozen=True)
class DeclaredCrosswalk:
    """A crosswalk a spec declares: from the `earlier` spec's `from_table` to its `table`."""

    path: Path
    earlier: str  # the earlier spec, as `resolve_spec` takes it
    relative_to: Path
    table: str
    from_table: str


def declared_crosswalks(spec: Spec) -> dict[str, DeclaredCrosswalk]:
    out = {}
    for key, raw in (spec.data.get("crosswalks") or {}).items():
        base = ("crosswalks", key)
        out[key] = DeclaredCrosswalk(resolve(spec, (*base, "file"), raw["file"]),
                                     str(raw["from"]), declared_in(spec, (*base, "from")),
                                     raw["table"], raw.get("from_table", raw["table"]))
    return out


def _crosswalk_problems(spec: Spec, key: str, declared: DeclaredCrosswalk,
                        checked: dict[tuple[str, Path], tuple[Spec, list[Diagnostic]] | SapaError]
                        ) -> list[Diagnostic]:
    """A declared crosswalk read, and its codes checked against both bundled catalogues
    (`checked`: the earlier specs read so far, by name and folder)."""
    name = (declared.earlier, declared.relative_to)
    if name not in checked:
        try:
            checked[name] = check(str(resolve_spec(*name)))
        except SapaError as exc:
            checked[name] = exc
    found = checked[name]
    if isinstance(found, SapaError):
        return found.diagnostics
    earlier, _ = found
    return crosswalk_problems(declared.path, (earlier, declared.from_table, None),
                              (spec, declared.table, None),
                              spec.document.place(("crosswalks", key), key=True))


def crosswalk_problems(path: Path, earlier: tuple[Spec, str, Path | None],
                       later: tuple[Spec, str, Path | None], place: Any = None
                       ) -> list[Diagnostic]:
    """A crosswalk file read and its codes checked against two catalogues: each side a spec,
    its table, and the data (None: the spec's bundled data)."""
    try:
        crosswalk = analysis_stage.read_crosswalk(path)
    except SapaError as exc:
        return exc.diagnostics
    codes = []
    for side, table, data in (earlier, later):
        folder = data or default_data(side)
        if table not in side.tables or folder is None or not folder.exists():
            return [Diagnostic("X605", f"{path.name}: {side.id} has no table '{table}' with "
                               "data to check its codes against", place, "warning",
                               hint="give the data" if table in side.tables else
                               did_you_mean(table, side.tables))]
        frames, _, _, problems = data_stage.read_source(side, folder, only=[table])
        if table not in frames:
            return problems
        codes.append(set(frames[table][side.tables[table].key[0]].astype(str)))
    return analysis_stage.check_codes(crosswalk, codes[0], codes[1])


def declared_pairing(spec_a: Spec, spec_b: Spec
                     ) -> Callable[[str, str], analysis_stage.Crosswalk | None]:
    """For two ratings (an id of A, an id of B): the crosswalk B declares from A for their
    tables, if any."""
    found: dict[tuple[str, str], Path] = {}
    for declared in declared_crosswalks(spec_b).values():
        try:
            earlier = resolve_spec(declared.earlier, declared.relative_to).resolve()
        except CannotRun:
            continue
        if earlier == Path(spec_a.path).resolve():
            found[(declared.from_table, declared.table)] = declared.path

    read = cache(analysis_stage.read_crosswalk)  # a file serves every rating over its tables

    def pairing(rating_a: str, rating_b: str) -> analysis_stage.Crosswalk | None:
        tables = (spec_a.ratings[rating_a].table, spec_b.ratings[rating_b].table)
        path = found.get(tables)  # type: ignore[arg-type]
        return read(path) if path is not None else None
    return pairing


def check(name: str) -> tuple[Spec, list[Diagnostic]]:
    """A spec that must be valid to go on: raises SapaError with its problems when it is not."""
    spec, diagnostics = load(name)
    if spec is None:
        raise SapaError(diagnostics, f"{name}: the spec has problems; run `sapa validate {name}`")
    return spec, diagnostics


def data_folder(name: str, spec: Spec, given: Path | None) -> Path:
    """The data to rate: `given`, else the spec's bundled data (methodology.default_data)."""
    if given is not None:
        return given
    folder = default_data(spec)
    if folder is None:
        raise CannotRun([Diagnostic("D400", f"{name}: no --data given and the spec names no "
                                    "bundled data (methodology.default_data)")])
    if not folder.exists():
        raise CannotRun([Diagnostic("D400", f"the bundled data of {spec.id} is missing: {folder}")])
    return folder


def read(spec: Spec, folder: Path, allow_missing_items: bool = False,
         scanned: str | None = None) -> tuple[dict[str, Any], list[Diagnostic]]:
    """The spec's tables from a folder or workbook, checked under its data contract, and the
    warnings found. Raises SapaError with every problem when any is an error: nothing is
    computed from bad data. Items of the questionnaires the data lack are an error unless
    `allow_missing_items` (a file of another year or method: their respondents count as not
    asked, and a warning names each). `scanned`: a table read in batches instead (rate_folder),
    left empty here."""
    only = [name for name in spec.tables if name != scanned]
    raw, locators, origins, problems = data_stage.read_source(spec, folder, only)
    frames, more = data_stage.load_tables(spec, raw, locators, origins, allow_missing_items)
    problems += more
    if has_errors(problems):
        raise SapaError(problems, "the data has problems; nothing was computed or written")
    return frames, problems


def rate_folder(spec: Spec, folder: Path, allow_missing_items: bool = False,
                whole: bool = False, batch_rows: int | None = None, backend: str = "local"
                ) -> tuple[rating_stage.Rated, list[Diagnostic]]:
    """Read, check and rate the data in `folder`: the results, and the warnings of the data and
    of the formulas (values left missing, D414). The survey's respondents, in Parquet or CSV,
    are read, checked and tallied `batch_rows` at a time and never held whole, here or by
    Spark's workers (`backend`), unless `whole` (a bootstrap or an explanation needs them) or
    a formula other than the survey's reads them; the results are the same. On Spark, every
    formula is run by Spark too (`formulas_on`)."""
    with formulas_on(backend):
        return _rate_folder(spec, folder, allow_missing_items, whole, batch_rows, backend)


def formulas_on(backend: str) -> AbstractContextManager[None]:
    """Every formula evaluated in the block run by Spark (`backend` "spark"), or by the
    embedded DuckDB ("local")."""
    from sapa.engine.formula import evaluated_by
    return evaluated_by("spark") if backend == "spark" else nullcontext()


def _rate_folder(spec: Spec, folder: Path, allow_missing_items: bool, whole: bool,
                 batch_rows: int | None, backend: str
                 ) -> tuple[rating_stage.Rated, list[Diagnostic]]:
    scan, why_not = (None, "the respondents are needed whole") if whole else \
        respondent_scan(spec, folder, allow_missing_items, batch_rows, backend)
    notes = [] if scan is not None or backend == "local" else [Diagnostic(
        "D415", f"--backend {backend}: the respondents are read here, as {why_not}; the "
        f"formulas run on {backend}", severity="warning")]
    if scan is None:
        frames, warnings = read(spec, folder, allow_missing_items)
        rated = rating_stage.rate(spec, frames)
        return rated, notes + warnings + rated.warnings
    try:
        frames, warnings = read(spec, folder, allow_missing_items, scan.name)
    except SapaError as error:  # the respondents' problems are reported with the others'
        scan.parents = {}
        for _ in scan.map(lambda _frames: None):  # only checked
            pass
        raise SapaError([*error.diagnostics, *scan.problems], error.summary) from None
    scan.parents = {link.parent: frames[link.parent]
                    for link in spec.tables[scan.name].links.values()}
    rated = rating_stage.rate(spec, frames, respondents=scan)
    if has_errors(scan.problems):
        raise SapaError(warnings + scan.problems,
                        "the data has problems; nothing was computed or written")
    return rated, warnings + scan.problems + rated.warnings


def respondent_scan(spec: Spec, folder: Path, allow_missing_items: bool,
                    batch_rows: int | None = None, backend: str = "local"
                    ) -> tuple[data_stage.TableScan | None, str]:
    """The survey's respondents as a batch reader (on `backend`), where they can be rated
    that way: one Parquet file in a folder (or CSV, read here), and only the survey reads
    them; else None and why."""
    if spec.survey is None:
        return None, f"{spec.id} has no survey"
    name = spec.survey.respondents
    files = [folder / f"{name}{suffix}" for suffix in data_stage.READERS] \
        if folder.is_dir() else []
    present = [f for f in files if f.is_file()]
    kinds = (".parquet",) if backend == "spark" else (".parquet", ".csv")
    if len(present) != 1 or present[0].suffix not in kinds:
        return None, (f"its respondents are not one Parquet file ({name}.parquet) in a folder"
                      if backend == "spark" else "its respondents are not one Parquet or CSV "
                      "file in a folder")
    if not rating_stage.streams_respondents(spec):
        return None, "a formula besides the survey's reads the respondents whole"
    scan = (data_stage.SparkScan if backend == "spark" else data_stage.TableScan)(
        spec, name, present[0], {}, allow_missing_items, batch_rows or data_stage.BATCH_ROWS)
    try:
        scan.columns  # noqa: B018 - read the header: can the file be read at all?
    except Exception:  # noqa: BLE001 - unreadable: read whole, where it is reported (D409)
        return None, f"{present[0].name} cannot be read"
    return scan, ""


def chosen_ratings(spec: Spec, only: Sequence[str]) -> list[str]:
    """The ratings named by `only` (all when empty), in the spec's order; an unknown one is an
    error with the ids it could be."""
    unknown = [rid for rid in only if rid not in spec.ratings]
    if unknown:
        raise CannotRun([Diagnostic("C100", f"--rating {rid}: {spec.id} has no such rating",
                                    hint=did_you_mean(rid, spec.ratings)
                                    or f"its ratings: {', '.join(spec.ratings)}")
                         for rid in unknown])
    return [rid for rid in spec.ratings if not only or rid in only]


def output_language(spec: Spec, given: str | None) -> str:
    """The language of titles and headers: `given`, else the spec's first."""
    return labels.output_language(spec, given)


def method_sensitivity(spec: Spec, folder: Path, rating_id: str,
                       allow_missing_items: bool = False, replicates: int = 0, seed: int = 0
                       ) -> analysis_stage.Sensitivity:
    """Every combination of the alternatives the spec declares (`sensitivity:`) rated over the
    data in `folder`: each unit's rank range and median, and each choice's first-order effect
    on the ranks. The data are read once, again only for a combination whose contract differs.
    With `replicates`, every combination is also bootstrapped with the same draws (replicate r
    resamples the same respondents under every combination), and the replicate is one more
    choice, `sampling`: its effect is the share of the rank variance sampling explains."""
    choices = {name: alternative_values(raw)
               for name, raw in (spec.data.get("sensitivity") or {}).items()}
    if not choices:
        raise CannotRun([Diagnostic("C117", f"{spec.id} declares no alternatives "
                                    "(sensitivity:) to vary")])
    design = analysis_stage.combinations(choices)
    if len(design) > MAX_COMBINATIONS:
        raise CannotRun([Diagnostic("C117", f"{len(design)} combinations of alternatives: at "
                                    f"most {MAX_COMBINATIONS} are rated")])
    if not spec.ratings[rating_id].rank_by:
        raise CannotRun([Diagnostic("C117", f"'{rating_id}' is no ranking (it has no rank_by)")])
    import pandas as pd

    paths = {name: raw["path"] for name, raw in spec.data["sensitivity"].items()}
    frames, _ = read(spec, folder, allow_missing_items)
    ranks, rows = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for number, row in design.iterrows():
            overlay: dict[str, Any] = {"extends": str(Path(spec.path).resolve()), "tests": None}
            for name, index in row.items():
                _put(overlay, paths[name].split("."), choices[name][int(index)])
            path = Path(scratch) / f"combination-{number}.yaml"
            path.write_text(json.dumps(overlay, ensure_ascii=False), encoding="utf-8")
            variant, problems = load_spec(path)
            if variant is None:
                chosen = ", ".join(f"{name} = {choices[name][int(i)]!r}"
                                   for name, i in row.items())
                raise SapaError(problems, f"the combination {chosen} is no valid spec")
            data = frames if variant.tables == spec.tables else read(
                variant, folder, allow_missing_items)[0]
            if replicates:
                table = uncertainty_stage.replicate_ranks(variant, data, replicates, seed,
                                                          rating_id)
                ranks.append(table)
                rows.append(pd.DataFrame([row] * len(table)).assign(sampling=table.index))
            else:
                rated = rating_stage.rate(variant, data).ratings[rating_id]
                table = analysis_stage.rated_units(rated)
                ranks.append(pd.DataFrame([table["rank"].astype(float).to_numpy()],
                                          columns=table["unit"].astype(str)))
                rows.append(pd.DataFrame([row]))
    base = analysis_stage.rated_units(rating_stage.rate(spec, frames).ratings[rating_id])
    return analysis_stage.sensitivity(pd.concat(ranks, ignore_index=True),
                                      pd.concat(rows, ignore_index=True), base)


def alternative_values(raw: Mapping[str, Any]) -> list[Any]:
    """The values a declared alternative takes: as listed, or `steps` evenly spaced numbers
    over its `range` (both ends; 12 significant digits, so 0.1 steps print as 0.1)."""
    if "values" in raw:
        return list(raw["values"])
    low, high = raw["range"]
    steps = int(raw["steps"])
    return [float(f"{low + (high - low) * i / (steps - 1):.12g}") for i in range(steps)]


MAX_COMBINATIONS = 256


def _put(tree: dict[str, Any], path: list[str], value: Any) -> None:
    """Set `value` at a dotted path of a nested mapping (an overlay: the rest is inherited)."""
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value


def uncertainty(spec: Spec, rated: rating_stage.Rated, replicates: int, seed: int, level: float,
                backend: str = "local") -> dict[str, pd.DataFrame]:
    """The ratings with each unit's bootstrap interval of every printed figure and of its rank
    (`<column>_low`, `<column>_high`, `rank_low`, `rank_high`) added at the end."""
    if rated.inputs is None:  # a caller's slip, not a user's: the command line asks for them
        raise ValueError("the respondents were read in batches and not kept: a bootstrap "
                         "needs them whole (rate_folder(..., whole=True))")
    with formulas_on(backend):
        found = uncertainty_stage.bootstrap(spec, rated.inputs, replicates, seed, level)
    out = {}
    for rid, frame in rated.ratings.items():
        intervals = found.tables.get(rid)
        if intervals is None:  # a composed rating: its rows are other ratings' totals
            out[rid] = frame
            continue
        merged = frame.assign(unit=frame["unit"].astype("string")).merge(
            intervals.assign(unit=intervals["unit"].astype("string")), on="unit", how="left")
        merged = merged.assign(unit=frame["unit"].to_numpy())
        least = explain_stage.minimum_respondents(spec)
        if least is not None and "n" in merged.columns:  # few respondents: said per unit
            merged["small_sample"] = (merged["n"] < least).where(merged["unit"].notna())
        out[rid] = merged
    return out


def explain(spec: Spec, rated: rating_stage.Rated, unit: str, rating_id: str | None = None,
            language: str = "en") -> explain_stage.Explanation:
    """Why `unit` has its values in a rating (sapa explain)."""
    return explain_stage.explain(spec, rated, unit, rating_id, language)


def label_coverage(spec: Spec) -> str:
    """`ru 212/212, kk 198/212` for a spec that declares its languages ("" otherwise)."""
    if not (spec.data.get("methodology") or {}).get("languages"):
        return ""
    return ", ".join(f"{lang} {have}/{total}" for lang, (have, total)
                     in labels.coverage(spec.data).items())


def tests(spec: Spec, backend: str = "local") -> list[testing_stage.TestResult]:
    """The spec's embedded tests, each run through the same stages as `rate` (on Spark:
    every formula run by Spark)."""
    with formulas_on(backend):
        return testing_stage.run_tests(spec)


def conformance(spec: Spec, rated: rating_stage.Rated, published: Path | None = None,
                reference_data: bool = False) -> published_stage.Conformance:
    """The ratings against the published tables the spec maps (`published:`), cell by cell;
    `published` overrides the folder the spec names; `reference_data`: the ratings are of the
    spec's bundled data (tables marked reference_data: not_fitted do not decide the result)."""
    if not spec.published:
        raise CannotRun([], f"{spec.id}: the spec maps no published tables (published:)")
    folder = published or published_folder(spec)
    missing = sorted({str(table["file"]) for table in spec.published["tables"].values()
                      if not is_file(folder / str(table["file"]))})
    if missing:
        raise CannotRun([Diagnostic("C110", f"{folder} lacks the published tables "
                                    f"{', '.join(missing)}",
                                    hint="--published names the folder of the spec's "
                                         "published tables (published.tables.*.file)")])
    return published_stage.conform(spec.published, folder, rated.ratings, reference_data)


def synthesis(spec: Spec, published: Path | None = None, seed: int = 0,
              progress: Any = None, only: Collection[str] | None = None) -> Synthesis:
    """Respondent-level data fitted to the spec's published tables (its `synthesis:` plan)."""
    folder = synthesis_source(spec, published)
    return synth.synthesize(spec, folder, seed=seed, progress=progress, only=only)


def synthesis_source(spec: Spec, published: Path | None = None) -> Path:
    """The published tables a synthesis reads, once it is clear the spec can be fitted and
    they are all there (before any work starts)."""
    if not spec.synthesis or spec.survey is None:
        raise CannotRun([], f"{spec.id}: the spec has no synthesis: section")
    synth.check_fittable(spec)
    folder = published or published_folder(spec)
    missing = sorted({name for name in _files_named(spec.synthesis)
                      if not is_file(folder / name)})
    if missing:
        raise CannotRun([Diagnostic(
            "C110", f"{folder}: the published tables the synthesis: plan reads are missing: "
            f"{', '.join(missing)}", hint="give the folder with --published DIR")])
    return folder


def _files_named(plan: Any) -> set[str]:
    """Every `file:` a part of a synthesis plan names."""
    if isinstance(plan, Mapping):
        found = {plan["file"]} if isinstance(plan.get("file"), str) else set()
        return found.union(*(_files_named(v) for v in plan.values()))
    if isinstance(plan, list):
        return set().union(*(_files_named(v) for v in plan))
    return set()


def _files_hash(files: Sequence[str]) -> str:
    """One hash of every file of a spec's `extends:` chain, in order."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(Path(file).read_bytes())
    return digest.hexdigest()


def manifest(spec: Spec, data: Path, rated: rating_stage.Rated, out_dir: Path) -> dict[str, Any]:
    """What a results folder holds and where it came from: engine version, the hash of the spec
    and every file it extends, the data hash (files under `out_dir` left out), time, ratings,
    and for a survey who was counted."""
    data_hash = hashlib.sha256()
    for path in sorted(data.rglob("*")) if data.is_dir() else [data]:
        if path.is_file() and out_dir.resolve() not in path.resolve().parents:
            data_hash.update(path.read_bytes())
    out: dict[str, Any] = {
        "engine_version": __version__,
        "spec_id": spec.id,
        "spec_sha256": _files_hash(spec.document.files),
        "data_sha256": data_hash.hexdigest(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "ratings": sorted(rated.ratings),
    }
    if spec.survey is not None and spec.survey.results in rated.surveys:
        results = rated.surveys[spec.survey.results]
        out["respondents_counted"] = int(results.table["n"].sum())
        out["excluded"] = {code: int(results.table[f"excluded_{code}"].sum())
                           for code, _ in spec.survey.exclusions}
        out["not_counted_answers"] = results.ignored
    return out


def write_synthesis(made: Synthesis, out_dir: Path) -> None:
    """The synthesised catalogues and respondents as Parquet files in `out_dir`."""
    synth.write(made.tables, out_dir)


# ----------------------------------------------------------------------------- comparisons
def later(spec_a: Spec, spec_b: Spec) -> Spec:
    """The spec of the later year (the second on a tie): whose bundled data two methods share."""
    return spec_b if (spec_b.year or 0) >= (spec_a.year or 0) else spec_a


def compare(spec_a: Spec, spec_b: Spec, ratings_a: Mapping[str, pd.DataFrame],
            ratings_b: Mapping[str, pd.DataFrame], mapped: Mapping[str, str],
            only: Sequence[str] = (), crosswalk: analysis_stage.Crosswalk | None = None
            ) -> list[analysis_stage.RatingComparison]:
    """The ratings both specs have (same id) and the `mapped` pairs (a -> b), unit by unit;
    `only` narrows to the pairs naming one of its ids. A's units are paired with B's through
    `crosswalk`, else through the crosswalk B declares from A for the ratings' tables."""
    for a, b in mapped.items():
        for rid, spec in ((a, spec_a), (b, spec_b)):
            if rid not in spec.ratings:
                raise CannotRun([Diagnostic("C100", f"--map {a}={b}: {spec.id} has no rating "
                                            f"'{rid}' (it has: {', '.join(spec.ratings)})")])
    for rid in only:
        if rid not in spec_a.ratings and rid not in spec_b.ratings:
            known = sorted({*spec_a.ratings, *spec_b.ratings})
            raise CannotRun([Diagnostic("C100", f"--rating {rid}: neither {spec_a.id} nor "
                                        f"{spec_b.id} has a rating '{rid}'",
                                        hint=did_you_mean(rid, known))])
    for a, b in mapped.items():  # a comparison pairs ranks
        for rid, spec in ((a, spec_a), (b, spec_b)):
            if not spec.ratings[rid].rank_by:
                raise CannotRun([Diagnostic("C100", f"--map {a}={b}: {spec.id}'s '{rid}' is "
                                            "no ranking (it has no rank_by)")])
    pairs = [(rid, rid) for rid in spec_a.ratings if rid in spec_b.ratings and rid not in mapped
             and spec_a.ratings[rid].rank_by and spec_b.ratings[rid].rank_by]
    pairs += list(mapped.items())
    if only:
        pairs = [(a, b) for a, b in pairs if a in only or b in only]
    if not pairs:
        raise CannotRun([Diagnostic("C101", f"{spec_a.id} and {spec_b.id} share no rating; "
                                    "pair two with --map A_ID=B_ID")])
    pairing = declared_pairing(spec_a, spec_b)
    return [analysis_stage.compare(ratings_a[a], ratings_b[b], a, b, crosswalk or pairing(a, b))
            for a, b in pairs]


def bridge(spec_1: Spec, data_1: Path, spec_2: Spec, data_2: Path, rating_1: str,
           rating_2: str, column: str, allow_missing_items: bool = False,
           crosswalk: analysis_stage.Crosswalk | None = None
           ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Each unit's change from year 1 to year 2, split into the method's part (year 2's data
    under both methods) and the performance part (year 1's method on both years' data); with
    a crosswalk, year 1's units paired with year 2's, and those it could not pair."""
    year1 = rate_folder(spec_1, data_1, allow_missing_items)[0].ratings
    year2_old = rate_folder(spec_1, data_2, allow_missing_items)[0].ratings
    year2 = rate_folder(spec_2, data_2, allow_missing_items)[0].ratings
    for rid, ratings, spec in ((rating_1, year1, spec_1), (rating_2, year2, spec_2)):
        if rid not in ratings:
            raise CannotRun([Diagnostic("C100", f"{spec.id} has no rating '{rid}' "
                                        f"(it has: {', '.join(ratings)})")])
        _has_column(ratings[rid], column, f"{spec.id}'s rating '{rid}'")
    pairing = crosswalk or declared_pairing(spec_1, spec_2)(rating_1, rating_2)
    return analysis_stage.bridge(year1[rating_1], year2_old[rating_1], year2[rating_2], column,
                                 pairing)


def _has_column(table: pd.DataFrame, column: str, what: str) -> None:
    if column not in table.columns:
        numbers = [c for c in table.columns if c not in ("rank", "unit", "name")]
        raise CannotRun([Diagnostic("C109", f"{what} has no column '{column}'",
                                    hint=did_you_mean(column, numbers)
                                    or f"its columns: {', '.join(numbers)}")])


def history(periods: Mapping[str, str], rating: str, column: str,
            crosswalks: Sequence[analysis_stage.Crosswalk] = ()
            ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """A rating over periods, from `sapa rate --out` folders (or rating CSVs), by period label.
    `rating` is one id, or one per period (`p1:old_id,p2:new_id`); `crosswalks` pair
    each period's units with the next one's (one per step), and the unpaired come back."""
    import pandas as pd

    ids = rating_ids(rating, list(periods))
    if crosswalks and len(crosswalks) != len(periods) - 1:
        raise CannotRun([Diagnostic(
            "C113", f"{len(periods)} periods need {len(periods) - 1} crosswalks (one per step, "
            f"in order), not {len(crosswalks)}")])
    tables = {}
    for label, path in periods.items():
        rating = ids[label]
        file = Path(path) / f"{rating}.csv" if Path(path).is_dir() else Path(path)
        if not path or not file.exists():
            raise CannotRun([Diagnostic("C102", f"{label}={path}: expected PERIOD=PATH with "
                                        f"PATH a results folder holding {rating}.csv or a "
                                        "rating CSV")])
        try:
            tables[label] = pd.read_csv(file, dtype={"unit": str})
        except (ValueError, UnicodeDecodeError, OSError) as exc:
            raise CannotRun([Diagnostic("C102", f"{label}={path}: cannot read {file.name}: "
                                        f"{str(exc).strip().splitlines()[0]}")]) from None
        if "unit" not in tables[label].columns:
            raise CannotRun([Diagnostic("C102", f"{label}={path}: {file.name} is no rating "
                                        "CSV of `sapa rate --out` (it has no unit column)")])
        _has_column(tables[label], column, f"{label}={path}")
    return analysis_stage.history(tables, column, crosswalks)


def rating_ids(given: str, periods: Sequence[str]) -> dict[str, str]:
    """One rating id for every period, or `p1:old_id,p2:new_id`: one per period."""
    if ":" not in given:
        return dict.fromkeys(periods, given)
    pairs = dict(part.split(":", 1) for part in given.split(",") if ":" in part)
    unknown = [p for p in pairs if p not in periods]
    missing = [p for p in periods if p not in pairs]
    if unknown or missing or given.count(":") != len(pairs):
        raise CannotRun([Diagnostic(
            "C111", f"--rating {given}: expected ID or PERIOD:ID,… naming each period once "
            f"({', '.join(periods)})", hint=did_you_mean(unknown[0], periods) if unknown
            else None)])
    return pairs


def crosswalk(path: Path | None) -> analysis_stage.Crosswalk | None:
    """A crosswalk file, read and checked (None when none is given)."""
    return analysis_stage.read_crosswalk(path) if path is not None else None


def diff(first: Spec, second: Spec) -> list[analysis_stage.Change]:
    """What changed from one spec to the next (`sapa diff`)."""
    return analysis_stage.diff(first, second)


def read_crosswalk(path: Path) -> analysis_stage.Crosswalk:
    """A crosswalk file, checked (every problem located)."""
    return analysis_stage.read_crosswalk(path)
