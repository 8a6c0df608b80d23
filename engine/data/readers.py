"""Reading a spec's tables from files as they come (CSV in UTF-8 or Windows-1251 with `,` or `;`,
Excel, Parquet, or one workbook with a sheet per table), with a locator per table that finds a
cell's place in its file for the few cells a problem is reported on. Nothing is checked here:
the data contract (contract.py) checks what these readers return."""

from __future__ import annotations

import codecs
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sapa.engine.diagnostics import Diagnostic, Span, did_you_mean
from sapa.engine.spec import Spec, TableSpec

Locate = Callable[[int, str | None], Span | None]  # (row index, column) -> place of the cell


def read_csv(path: Path, table: TableSpec | None = None) -> pd.DataFrame:
    """A CSV (UTF-8 or Windows-1251; comma or semicolon). With the table's contract, number
    columns are parsed while reading (fast); if any cell does not parse, everything is read as
    text instead, so that every bad cell can be reported with its place."""
    options = csv_options(path)
    if table is not None:
        try:
            return pd.read_csv(path, **_typed(csv_header(path, options), table), **options)
        except ValueError:
            pass
    return pd.read_csv(path, dtype=str, keep_default_na=False, **options)


def csv_batches(path: Path, options: dict[str, str], rows: int, table: TableSpec,
                columns: Sequence[str] | None = None) -> Iterator[pd.DataFrame]:
    """A CSV's rows `rows` at a time, read as read_csv reads it whole: number columns parsed
    while reading until a batch has a cell that does not parse, text from there on (the
    contract parses text to the same numbers). At least one frame (maybe empty); `columns`:
    only these. `options`: csv_options(path)."""
    header = csv_header(path, options)
    wanted = list(columns) if columns is not None else header
    only = {"usecols": wanted} if columns is not None else {}  # (usecols lets long lines by)
    typed = {**_typed(header, table), **only}
    start, empty = 0, True
    try:
        with pd.read_csv(path, chunksize=rows, **typed, **options) as chunks:
            for chunk in chunks:
                empty = False
                yield chunk.reset_index(drop=True)
                start += len(chunk)
    except ValueError:  # a cell of the batch after `start` is no number: the rest as text
        with pd.read_csv(path, chunksize=rows, dtype=str, keep_default_na=False,
                         skiprows=lambda line: 0 < line <= start, **only, **options) as chunks:
            for chunk in chunks:
                empty = False
                yield chunk.reset_index(drop=True)
    if empty:
        yield pd.DataFrame({c: pd.Series(dtype=str) for c in wanted})


def _typed(header: Sequence[str], table: TableSpec) -> dict[str, Any]:
    """read_csv's options that parse the table's number columns (of the file's `header`)
    while reading."""
    numbers = {name: "float64" for name, column in table.columns.items()
               if column.type in ("number", "integer")}
    return {"dtype": {c: numbers.get(c, str) for c in header},
            "keep_default_na": False,
            "na_values": {c: [""] for c in numbers}}


def csv_header(path: Path, options: dict[str, str]) -> list[str]:
    return list(pd.read_csv(path, dtype=str, nrows=0, **options).columns)


def csv_options(path: Path) -> dict[str, str]:
    """The encoding (UTF-8 unless the file is not) and separator (from the header)."""
    encoding = _encoding(path)
    with path.open(encoding=encoding, newline="") as file:
        header = file.readline()
    return {"encoding": encoding, "sep": _separator(header)}


def _separator(line: str) -> str:
    return ";" if line.count(";") > line.count(",") else ","


def csv_locator(path: Path, frame: pd.DataFrame) -> Locate:
    """Places of cells, read back from the file only for the few cells that are reported: the
    lines' places in the file are found once (a number per line, not the lines' text)."""
    columns = list(frame.columns)
    found: dict[str, Any] = {}
    finding = threading.Lock()  # batches are checked on threads: one call reads the file

    def locate(row: int, column: str | None) -> Span:
        with finding:
            if not found:
                found.update(csv_options(path), starts=_line_starts(path))
        line = row + 2 if row >= 0 else 1  # line 1 is the header
        field = columns.index(column) if column in columns else 0
        text = _line(path, found, line - 1)
        spans = _field_spans(text, found["sep"])
        start, end = spans[field] if field < len(spans) else (len(text), len(text) + 1)
        return Span(str(path), line, start + 1, start + 1 + max(end - start, 1))

    return locate


def _line_starts(path: Path) -> np.ndarray:
    """Where each line of a file starts, in bytes, read a block at a time."""
    starts, offset = [np.zeros(1, dtype=np.int64)], 0
    with path.open("rb") as file:
        while block := file.read(1 << 24):
            starts.append(np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10) + 1
                          + offset)
            offset += len(block)
    return np.concatenate(starts)


def _line(path: Path, found: dict[str, Any], number: int) -> str:
    """Line `number` (from 0) of the file, without its line break ("" past the end)."""
    starts = found["starts"]
    if number >= len(starts):
        return ""
    with path.open("rb") as file:
        file.seek(int(starts[number]))
        raw = file.readline()
    encoding = "utf-8" if number and found["encoding"] == "utf-8-sig" else found["encoding"]
    return raw.decode(encoding).rstrip("\r\n")


def _field_spans(line: str, separator: str) -> list[tuple[int, int]]:
    """Where each field of a CSV line starts and ends, quotes honoured (a separator inside
    quotes belongs to its field)."""
    spans, start, quoted = [], 0, False
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            spans.append((start, i))
            start = i + 1
    spans.append((start, len(line)))
    return spans


def _encoding(path: Path) -> str:
    """UTF-8 (with or without its mark) when every byte of the file decodes as UTF-8, else
    Windows-1251: checked a block at a time, never holding the file."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as file:
            while block := file.read(1 << 24):
                decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1251"
    return "utf-8-sig"


def rows_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Inline rows (from YAML) as text-free cells: values keep their YAML types."""
    frame = pd.DataFrame([dict(r) for r in rows])
    return frame.astype(object).where(frame.notna(), None) if not frame.empty else frame


READERS = (".csv", ".xlsx", ".parquet")


def read_source(spec: Spec, path: Path, only: Collection[str] | None = None
                ) -> tuple[dict[str, pd.DataFrame], dict[str, Locate], dict[str, str],
                           list[Diagnostic]]:
    """The tables of a spec (`only` these, when given) from a folder (<table>.csv, .xlsx or
    .parquet) or from one workbook with a sheet per table."""
    raw, locators, origins, problems = {}, {}, {}, []
    names = [name for name in spec.tables if only is None or name in only]
    if path.is_file() and path.suffix.lower() == ".xlsx":
        try:
            sheets = pd.read_excel(path, sheet_name=None, dtype=str, keep_default_na=False)
        except Exception as exc:  # noqa: BLE001 - whatever the reader says, the file is bad
            return raw, locators, origins, [unreadable(path, exc)]
        for name in names:
            if name not in sheets:
                problems.append(Diagnostic("D400", f"no sheet '{name}' in {path}",
                                           hint=did_you_mean(name, sheets)))
                continue
            raw[name], origins[name] = sheets[name], f"{path.name}[{name}]"
            locators[name] = grid_locator(str(path), sheets[name], sheet=name)
        return raw, locators, origins, problems
    for name in names:
        found = [path / f"{name}{s}" for s in READERS if (path / f"{name}{s}").is_file()]
        if not found:
            problems.append(Diagnostic("D400", f"no data for table '{name}': none of "
                                       f"{', '.join(name + s for s in READERS)} in {path}"))
            continue
        if len(found) > 1:
            problems.append(Diagnostic(
                "D410", f"table '{name}' is given twice: {', '.join(f.name for f in found)}",
                Span(str(found[1]), 1, 1), hint=f"keep one; {found[0].name} would be read"))
            continue
        file = found[0]
        try:
            if file.suffix == ".csv":
                frame = read_csv(file, spec.tables[name])
                locate = csv_locator(file, frame)
            elif file.suffix == ".xlsx":
                frame = pd.read_excel(file, dtype=str, keep_default_na=False)
                locate = grid_locator(str(file), frame, sheet="")
            else:
                frame = pd.read_parquet(file)
                locate = grid_locator(str(file), frame)
        except Exception as exc:  # noqa: BLE001 - whatever the reader says, the file is bad
            problems.append(unreadable(file, exc))
            continue
        if frame.empty:
            problems.append(Diagnostic("D412", f"{file.name} has no rows: table '{name}' is "
                                       "empty", Span(str(file), 1, 1), "warning"))
        raw[name], locators[name], origins[name] = frame, locate, file.name
    return raw, locators, origins, problems


def unreadable(file: Path, exc: Exception) -> Diagnostic:
    """A data file no reader can read (empty, not the format its name says, broken quoting,
    bytes in no known encoding)."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return Diagnostic("D409", f"cannot read {file.name} as {file.suffix[1:].upper()}: {reason}",
                      Span(str(file), 1, 1),
                      hint="CSV in UTF-8 or Windows-1251 with a header row; .xlsx from a "
                           "spreadsheet; .parquet")


def grid_locator(where: str, frame: pd.DataFrame, sheet: str | None = None) -> Locate:
    """Places in a grid: for a spreadsheet (`sheet`: its name in a workbook, "" for a file of
    one sheet) the cell as the sheet names it (G5, services!G5), its header on row 1; for
    Parquet the row and column numbers."""
    columns = list(frame.columns)

    def locate(row: int, column: str | None) -> Span:
        col = columns.index(column) + 1 if column in columns else 1
        if sheet is None:
            return Span(where, row + 1 if row >= 0 else 1, col)
        line = row + 2 if row >= 0 else 1
        cell = f"{column_letters(col)}{line}"
        return Span(where, line, col, cell=f"{sheet}!{cell}" if sheet else cell)

    return locate


def column_letters(number: int) -> str:
    """A spreadsheet's column name: 1 -> A, 26 -> Z, 27 -> AA."""
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters
