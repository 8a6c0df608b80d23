"""The data contract: every table checked and converted under the spec's declared columns, keys
and links, every problem found and grouped, before any work.

Columns are normalised to the dtypes formula results have: float64 for number/integer,
nullable boolean for bool, object for string (codes such as "2.49" or "077" stay text).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sapa.engine.data.readers import Locate
from sapa.engine.diagnostics import Diagnostic, did_you_mean
from sapa.engine.formula import Frames
from sapa.engine.spec import ColumnSpec, Spec, TableSpec

_DECIMAL = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+"  # a number with an exponent
TRUE_WORDS = {"true", "1", "yes", "да", "иә"}
FALSE_WORDS = {"false", "0", "no", "нет", "жоқ"}
SHOWN_ROWS = 5


def _key_text(frame: pd.DataFrame, rows: np.ndarray) -> pd.Series:
    """Composite keys as 'a/b' text, computed only for the rows that are reported."""
    text = pd.Series("", index=frame.index, dtype=object)
    text[rows] = frame.loc[rows].astype(object).astype(str).agg("/".join, axis=1)
    return text


def build_frame(table: TableSpec, raw: pd.DataFrame, locate: Locate, origin: str,
                vocabulary: frozenset[str] = frozenset(), allow_missing: bool = True
                ) -> tuple[pd.DataFrame, list[Diagnostic]]:
    """Check and convert the cells of one table. Problems are grouped per column and kind.
    `vocabulary`: item names the methodology knows but does not ask (said as such). An
    optional column that says what its absence means (`if_missing`, the questionnaires' items)
    may be absent only with `allow_missing`; else the absent ones are one error (D413)."""
    frame, problems = check_frame(table, raw, locate, origin, vocabulary, allow_missing)
    problems += blank_keys(table, frame) or repeated_keys(table, frame)
    return frame, [p if isinstance(p, Diagnostic) else p.diagnostic(origin, locate)
                   for p in problems]


def check_frame(table: TableSpec, raw: pd.DataFrame, locate: Locate, origin: str,
                vocabulary: frozenset[str] = frozenset(), allow_missing: bool = True,
                codes: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
                ) -> tuple[pd.DataFrame, list[Diagnostic | Finding]]:
    """build_frame's conversion and checks, the keys left unchecked: the problems with columns
    (absent, unknown) as diagnostics, the cells found bad as findings, in the order found (a
    table read in batches adds up its batches' findings). `codes`, when given, receives the
    text columns read as codes, as Frames.codes gives them (found while reading: not again)."""
    problems: list[Diagnostic | Finding] = []
    absent: list[str] = []
    out: dict[str, pd.Series] = {}  # the frame is made once, at the end
    unknown = [c for c in raw.columns if c not in table.columns and c not in table.variables]
    for column in unknown:
        if column in vocabulary:
            problems.append(Diagnostic(
                "D402", f"{origin}: item '{column}' is not asked by this methodology: ignored",
                locate(-1, column), "warning"))
            continue
        problems.append(Diagnostic(
            "D402", f"{origin}: column '{column}' is not in the data contract of '{table.name}'"
            " and is ignored", locate(-1, column), "warning",
            did_you_mean(column, table.columns)))
    for name, spec in table.columns.items():
        if name not in raw.columns:
            if spec.required and spec.default is None:
                problems.append(Diagnostic(
                    "D401", f"{origin}: required column '{name}' of '{table.name}' is missing",
                    locate(-1, None), hint=did_you_mean(name, raw.columns)))
                out[name] = _empty(spec, len(raw))
            else:
                out[name] = _filled(spec, _empty(spec, len(raw)))
                if spec.if_missing and len(raw) and allow_missing:
                    problems.append(Diagnostic(
                        "D408", f"{origin}: column '{name}' of '{table.name}' is not in the data "
                        f"({spec.if_missing})", locate(-1, None), "warning"))
                elif spec.if_missing and len(raw):
                    absent.append(name)
            continue
        values, bad, coded = _convert(spec, raw[name], codes=name not in table.key)
        if coded is not None and codes is not None and spec.default is None:
            codes[name] = coded
        out[name] = _filled(spec, values)
        if bad:  # a number shown as read (7, whether the file says 7, 7.0 or 7,0), else its text
            cells = raw[name].reset_index(drop=True)
            if spec.type in ("number", "integer"):
                cells = values.astype(object).where(values.notna(), cells)
            problems += [Finding.of(code, table.name, name, rows, cells, expected)
                         for code, rows, expected in bad]
    if absent:
        guesses = [g for g in (did_you_mean(name, raw.columns) for name in absent) if g]
        problems.append(Diagnostic(
            "D413", f"{origin}: {len(absent)} item{'s' * (len(absent) > 1)} of the "
            f"questionnaires missing from '{table.name}': {', '.join(absent)}",
            locate(-1, None), hint="; ".join(guesses[:3]) or "a file made for another method "
            "or year? --allow-missing-items counts their respondents as not asked"))
    # copy=False: the columns stay as they are (no consolidation into one block per dtype), so
    # a number column read as numbers shares its memory with the file's frame
    frame = pd.DataFrame(out, index=pd.RangeIndex(len(raw)), copy=False)
    return frame, problems




def _empty(spec: ColumnSpec, n: int) -> pd.Series:
    if spec.type == "bool":
        return pd.Series([pd.NA] * n, dtype="boolean")
    if spec.type == "string":
        return pd.Series([None] * n, dtype=object)
    return pd.Series(np.full(n, np.nan))


def _filled(spec: ColumnSpec, values: pd.Series) -> pd.Series:
    if spec.default is None:
        return values
    default = spec.default
    if spec.type == "bool":
        default = bool(default)
    return values.where(values.notna(), default)


def _convert(spec: ColumnSpec, cells: pd.Series, codes: bool = False
             ) -> tuple[pd.Series, list[tuple[str, list[int], str]],
                        tuple[np.ndarray, np.ndarray] | None]:
    """Typed values, per kind of problem the rows that have it, and the values' codes where
    they were read as codes. Cells that already carry the right type (Parquet, YAML numbers)
    are taken as they are; text is parsed. `codes`: a text column not of the key, expected to
    repeat few values."""
    bad: list[tuple[str, list[int], str]] = []
    coded = None
    numeric = pd.api.types.is_numeric_dtype(cells) and not pd.api.types.is_bool_dtype(cells)
    if spec.type == "string" and codes and getattr(cells.dtype, "storage", None) == "pyarrow":
        values, coded = _coded_text(cells)
    elif spec.type in ("number", "integer") and numeric:
        values = cells.astype(float).reset_index(drop=True)
    elif spec.type == "bool" and pd.api.types.is_bool_dtype(cells):
        values = cells.astype("boolean").reset_index(drop=True)
    else:
        values, bad = _parse_text(spec, cells)
    numbers = None
    if spec.type in ("number", "integer"):
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
        infinite = np.isinf(numbers)
        if infinite.any():  # 1e999 or "inf": no rule can rate it
            bad.append(("D403", list(np.flatnonzero(infinite)), "a finite number"))
        if spec.type == "integer":
            with np.errstate(invalid="ignore"):
                fraction = ~np.isnan(numbers) & ~infinite & (numbers % 1 != 0)
            if fraction.any():
                bad.append(("D403", list(np.flatnonzero(fraction)), "a whole number"))
        bad.extend(_range_problems(spec, values))
    if spec.values is not None:
        allowed = {_canonical(v) for v in spec.values}
        if numbers is not None:  # as numbers: no object copy of the column
            outside = ~np.isin(numbers, [v for v in allowed if isinstance(v, float)]) \
                & ~np.isnan(numbers)
        else:
            comparable = values.astype(object) if spec.type != "string" else values
            outside = values.notna().to_numpy() & ~comparable.isin(allowed).to_numpy()
        if outside.any():
            bad.append(("D404", list(np.flatnonzero(outside)),
                        "one of " + ", ".join(_shown(v) for v in spec.values)))
    return values, bad, coded


def _shown(value: object) -> str:
    """A value as the data would write it: 1, not 1.0."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _parse_text(spec: ColumnSpec, cells: pd.Series
                ) -> tuple[pd.Series, list[tuple[str, list[int], str]]]:
    # text as read (Parquet, pandas' own string type) is stripped as it is, without a copy
    text = (cells if isinstance(cells.dtype, pd.StringDtype) else cells.astype("string"))
    text = text.str.strip().reset_index(drop=True)
    blank = (text.isna() | (text == "")).to_numpy(dtype=bool)
    bad: list[tuple[str, list[int], str]] = []
    if spec.type in ("number", "integer"):
        written = text.str.replace(",", ".", regex=False).where(~blank, None)
        values = pd.to_numeric(written, errors="coerce").astype(float)
        wrong = ~blank & values.isna().to_numpy()
        if wrong.any():  # 1e999: infinite to pandas 3 and to Python, given up on by pandas 2
            rows = np.flatnonzero(wrong)
            exponent = written.iloc[rows].str.fullmatch(_DECIMAL).to_numpy(dtype=bool)
            values.iloc[rows[exponent]] = [float(t) for t in written.iloc[rows[exponent]]]
            wrong[rows[exponent]] = False
        if wrong.any():
            wanted = "an integer" if spec.type == "integer" else "a number"
            bad.append(("D403", list(np.flatnonzero(wrong)), wanted))
        return values, bad
    if spec.type == "bool":
        lowered = text.str.lower()
        is_true = lowered.isin(TRUE_WORDS).fillna(False).to_numpy(dtype=bool)
        is_false = lowered.isin(FALSE_WORDS).fillna(False).to_numpy(dtype=bool)
        wrong = ~blank & ~is_true & ~is_false
        if wrong.any():
            bad.append(("D403", list(np.flatnonzero(wrong)), "true/false (or 1/0)"))
        values = pd.Series(pd.array(is_true, dtype="boolean"))
        values[~(is_true | is_false)] = pd.NA
        return values, bad
    return text.astype(object).where(~blank, None), bad


def _coded_text(cells: pd.Series) -> tuple[pd.Series, tuple[np.ndarray, np.ndarray]]:
    """Text read by Arrow, stripped and made Python strings once per distinct value, not once
    per row: codes (services, regions, channels) repeat a few values over millions of rows,
    and the rows share their value's string (with its hash, which joins and lookups reuse).
    With the values, their codes as pd.factorize gives them (the dictionary is in the order
    values are first met; values alike once stripped share a code; blank is -1)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    coded = pc.dictionary_encode(pa.array(cells.array))
    if isinstance(coded, pa.ChunkedArray):
        coded = coded.unify_dictionaries().combine_chunks()
    words = pc.utf8_trim_whitespace(coded.dictionary)
    words = pc.if_else(pc.equal(words, ""), None, words)  # blank is missing
    lookup = np.array([*words.to_pylist(), None], dtype=object)
    rows = coded.indices.fill_null(len(words)).to_numpy()
    word_codes, values = pd.factorize(lookup)
    return pd.Series(lookup[rows], dtype=object), (word_codes[rows], values)


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | np.floating):
        return float(value)
    return str(value)


def _range_problems(spec: ColumnSpec, values: pd.Series) -> list[tuple[str, list[int], str]]:
    out = []
    if spec.minimum is not None:
        low = (values < spec.minimum).to_numpy()
        if low.any():
            out.append(("D405", list(np.flatnonzero(low)), f"at least {spec.minimum:g}"))
    if spec.maximum is not None:
        high = (values > spec.maximum).to_numpy()
        if high.any():
            out.append(("D405", list(np.flatnonzero(high)), f"at most {spec.maximum:g}"))
    return out


@dataclass
class Finding:
    """Cells of one column with one kind of problem: how many, and the first few with their
    row (0-based) and text, all a diagnostic shows."""

    code: str
    table: str
    column: str
    expected: str
    count: int
    shown: list[tuple[int, str]]

    @classmethod
    def of(cls, code: str, table: str, column: str, rows: Sequence[int], cells: pd.Series,
           expected: str) -> Finding:
        return cls(code, table, column, expected, len(rows),
                   [(int(r), _as_text(cells.iloc[r])) for r in rows[:SHOWN_ROWS]])

    @property
    def kind(self) -> tuple[str, str, str, str]:
        return self.code, self.table, self.column, self.expected

    def after(self, earlier: Finding | None, offset: int) -> Finding:
        """This batch's finding (rows counted from `offset`) added to the batches before."""
        shown = [(r + offset, text) for r, text in self.shown]
        if earlier is None:
            return Finding(*self.kind, self.count, shown)
        return Finding(*self.kind, earlier.count + self.count,
                       (earlier.shown + shown)[:SHOWN_ROWS])

    def diagnostic(self, origin: str, locate: Locate) -> Diagnostic:
        shown = ", ".join(f"row {r + 1} ({text!r})" for r, text in self.shown)
        more = f" and {self.count - SHOWN_ROWS} more" if self.count > SHOWN_ROWS else ""
        count = f"{self.count} value{'s' if self.count > 1 else ''}"
        return Diagnostic(self.code, f"{origin}: {self.table}.{self.column}: {count} not "
                          f"{self.expected}: {shown}{more}", locate(self.shown[0][0], self.column))


def _as_text(value: Any) -> str:
    """A cell as the file shows it (typed cells come back as numbers)."""
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    return str(value)


def blank_keys(table: TableSpec, frame: pd.DataFrame) -> list[Finding]:
    """Key cells left blank (D411)."""
    findings = []
    for column in (k for k in table.key if k in frame.columns):
        blank = frame[column].isna().to_numpy()
        if blank.any():
            findings.append(Finding.of("D411", table.name, column, list(np.flatnonzero(blank)),
                                       frame[column].astype(object).fillna(""),
                                       "given (a key cell is blank)"))
    return findings


def repeated_keys(table: TableSpec, frame: pd.DataFrame, rows: np.ndarray | None = None
                  ) -> list[Finding]:
    """Rows whose key an earlier row has (D406). `rows`: the row number of each row of
    `frame` when it holds only some rows of a table."""
    key = [k for k in table.key if k in frame.columns]
    if not key or frame.empty:
        return []
    dup = frame.duplicated(subset=key, keep="first").to_numpy()
    if not dup.any():
        return []
    values = _key_text(frame[key], dup)
    found = Finding.of("D406", table.name, "/".join(key), list(np.flatnonzero(dup)), values,
                       "unique (the key is repeated)")
    if rows is not None:
        found.shown = [(int(rows[r]), text) for r, text in found.shown]
    return [found]


def check_links(spec: Spec, frames: Mapping[str, pd.DataFrame],
                locators: Mapping[str, Locate], origin: Mapping[str, str]) -> list[Diagnostic]:
    """Rows whose link points to no row of the parent table (e.g. an unknown service code).
    Only links between two tables that were both given (named in `origin`) are checked."""
    return [f.diagnostic(origin[f.table], locators[f.table])
            for f in link_findings(spec, Frames(frames), origin)]


def link_findings(spec: Spec, frames: Frames, given: Collection[str],
                  children: Collection[str] | None = None) -> list[Finding]:
    """The rows of each link (of `children` only, when given) between two given tables that
    point nowhere. The joins stay on `frames` for the work that follows."""
    findings = []
    for table in spec.tables.values():
        if children is not None and table.name not in children:
            continue
        for link in table.links.values():
            if link.child not in given or link.parent not in given:
                continue
            wanted = frames.tables[table.name][list(link.on)]
            given_on = frames.codes(table.name, link.on[0])[0] >= 0 if len(link.on) == 1 \
                else wanted.notna().all(axis=1).to_numpy()
            missing = given_on & (frames.positions(link) < 0)
            if missing.any():
                findings.append(Finding.of(
                    "D407", table.name, "/".join(link.on), list(np.flatnonzero(missing)),
                    _key_text(wanted, missing), f"a known {link.parent} key"))
    return findings


def load_tables(spec: Spec, raw: Mapping[str, pd.DataFrame], locators: Mapping[str, Locate],
                origins: Mapping[str, str], allow_missing_items: bool = True
                ) -> tuple[dict[str, pd.DataFrame], list[Diagnostic]]:
    """Check and convert every given table; tables not given are empty. Links are checked too.
    Items of the questionnaires absent from the data count as not asked only when
    `allow_missing_items` (embedded tests give just the items they need)."""
    frames: dict[str, pd.DataFrame] = {}
    problems: list[Diagnostic] = []
    vocabulary = spec.vocabulary
    for name, table in spec.tables.items():
        if name in raw:
            frame, found = build_frame(table, raw[name], locators[name], origins[name],
                                       vocabulary, allow_missing_items)
            problems.extend(found)
        else:
            frame = pd.DataFrame({c: _empty(s, 0) for c, s in table.columns.items()})
        frames[name] = frame
    problems.extend(check_links(spec, frames, locators, origins))
    return frames, problems
