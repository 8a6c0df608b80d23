"""A table read, checked and handed on a batch of rows at a time: the survey's respondents,
which can be far larger than memory. Each batch goes through the same contract as a table read
whole (contract.check_frame); what the batches find adds up, so the diagnostics are the ones a
whole read gives: one per column and kind of problem, rows numbered in the whole file, keys
repeated across batches found too. Parquet and CSV are read this way (a workbook is read
whole); a file that breaks off partway is reported (D409) with what was found before."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from sapa.engine.data.contract import (
    Finding,
    blank_keys,
    check_frame,
    link_findings,
    repeated_keys,
)
from sapa.engine.data.readers import (
    Locate,
    csv_batches,
    csv_header,
    csv_locator,
    csv_options,
    grid_locator,
    unreadable,
)
from sapa.engine.diagnostics import CannotRun, Diagnostic, Span, has_errors
from sapa.engine.formula import Frames
from sapa.engine.spec import Spec

T = TypeVar("T")

#: Rows per batch: about 150 MB of a 2020 questionnaire's columns at a time. Smaller batches
#: stay in the processor's caches; measured on 1M and 10M respondents, 250k was fastest.
BATCH_ROWS = 250_000

#: Batches checked and counted at once, each on a thread (NumPy, pandas and Arrow let go of
#: the GIL in their loops). Measured on 2 cores: 2 gave 10-15 % over 1 (1M and 10M rows), for
#: one more batch in memory; a third adds nothing (the rest holds the GIL).
THREADS = 2


@dataclass
class Checked:
    """One batch checked: its rows, what was found in them (rows counted from the batch's
    first), its key hashes (None when a key cell is blank) and what `work` made of it."""

    rows: int
    problems: list[Diagnostic | Finding]
    hashes: np.ndarray | None
    result: Any


class TableScan:
    """One table's Parquet or CSV file, read and checked a batch at a time: `map(work)` gives
    work(checked batch) for each batch, in the file's order (the batch as Frames, with the
    parent tables and the links joined in checking); afterwards `problems` holds
    everything found (nothing may be kept from the batches when any of it is an error).
    `parents`: the checked tables its links point to (its links are checked batch by batch).
    This scan reads the batches here; a backend reads and checks them where the data are
    (SparkScan) and hands back what `check` returns."""

    def __init__(self, spec: Spec, name: str, file: Path, parents: Mapping[str, pd.DataFrame],
                 allow_missing: bool, rows: int = BATCH_ROWS) -> None:
        self.spec, self.name, self.file, self.parents = spec, name, file, parents
        self.allow_missing, self.rows = allow_missing, max(1, rows)
        self.problems: list[Diagnostic] = []

    def map(self, work: Callable[[Frames], T],
            tables: Mapping[str, pd.DataFrame] | None = None) -> Iterator[T]:
        """`tables`: the other tables `work` reads (the parents by default; the same rows)."""
        locate = self.locate(self.columns)
        check = self.checker(locate, tables)
        yield from self.gathered(_in_order(partial(check, work=work), self._batches()), locate)

    @cached_property
    def columns(self) -> list[str]:
        """The file's columns (an error here is the whole file unreadable: `api` reads it whole
        instead, to report it as any table's)."""
        if self.file.suffix == ".csv":
            return csv_header(self.file, self._csv)
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(self.file).schema_arrow.names)

    def checker(self, locate: Locate, tables: Mapping[str, pd.DataFrame] | None = None
                ) -> Callable[[pd.DataFrame, Callable[..., T]], Checked]:
        """What checks one batch (and runs `work` on it, with `tables`) wherever it runs: it
        holds only what it needs, so that it can be shipped to a backend's workers."""
        spec, name, parents = self.spec, self.name, list(self.parents)
        others = self.parents if tables is None else tables
        origin, allow = self.file.name, self.allow_missing

        def check(batch: pd.DataFrame, work: Callable[[Frames], T]) -> Checked:
            table = spec.tables[name]
            codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
            frame, problems = check_frame(table, batch, locate, origin, spec.vocabulary,
                                          allow, codes)
            blank = blank_keys(table, frame)
            # the links joined once, for both; text codes as read
            frames = Frames({**others, name: frame}, {(name, c): v for c, v in codes.items()})
            problems += blank + link_findings(spec, frames, [name, *parents], [name])
            # keys are mostly unique: hashed as they are, not factorised first
            hashes = None if blank or not table.key else pd.util.hash_pandas_object(
                frame[list(table.key)], index=False, categorize=False).to_numpy()
            return Checked(len(frame), problems, hashes, work(frames))
        return check

    def locate(self, columns: list[str]) -> Locate:
        """Places in the file, from its column names."""
        if self.file.suffix == ".csv":
            return csv_locator(self.file, pd.DataFrame(columns=columns))
        return grid_locator(str(self.file), pd.DataFrame(columns=columns))

    def gathered(self, batches: Iterable[Checked], locate: Locate) -> Iterator[T]:
        """Each batch's result, in order, its findings added to the ones before: one per
        column and kind, rows numbered in the whole file; at the end, keys repeated across
        batches."""
        found: dict[tuple[str, str, str, str], Finding] = {}
        order: list[Diagnostic | tuple[str, str, str, str]] = []
        start, blank = 0, False
        with KeyHashes(self.file.name) as hashes:
            for number, checked in enumerate(batches):
                for problem in checked.problems:
                    if isinstance(problem, Finding):
                        if problem.kind not in found:
                            order.append(problem.kind)
                        found[problem.kind] = problem.after(found.get(problem.kind), start)
                    elif number == 0:  # about columns: the same in every batch
                        order.append(problem)
                blank = blank or checked.hashes is None
                if not blank:
                    hashes.add(checked.hashes, start)  # type: ignore[arg-type]
                start += checked.rows
                yield checked.result
            if start == 0 and not has_errors(self.problems):
                self.problems.append(Diagnostic(
                    "D412", f"{self.file.name} has no rows: table '{self.name}' is empty",
                    Span(str(self.file), 1, 1), "warning"))
            if not blank and start and not has_errors(self.problems):  # (errors: unread)
                for problem in self._repeated(hashes.alike()):
                    order.append(problem.kind)
                    found[problem.kind] = problem
        self.problems += [p if isinstance(p, Diagnostic) else
                          found[p].diagnostic(self.file.name, locate) for p in order]

    def _batches(self, only: list[str] | None = None) -> Iterator[pd.DataFrame]:
        """The file's rows as frames of at most `rows` rows (at least one frame, maybe empty;
        `only`: these columns). The next batch is read while this one is worked on (Arrow
        and pandas' CSV parser read without the GIL). A file that breaks off (a bad row group,
        a ragged CSV line) is an error (D409) and ends the batches."""
        from concurrent.futures import ThreadPoolExecutor

        frames, given = self._frames(only), False
        with ThreadPoolExecutor(1) as reading:
            ahead = reading.submit(next, frames, None)
            while True:
                try:
                    frame = ahead.result()
                except Exception as exc:  # noqa: BLE001 - whatever the reader says, it is bad
                    self.problems.append(unreadable(self.file, exc))
                    frame = None if given else pd.DataFrame(
                        {c: pd.Series(dtype=object) for c in only or self.columns})
                    frames = iter(())
                if frame is None:
                    return
                ahead, given = reading.submit(next, frames, None), True
                yield frame

    @cached_property
    def _csv(self) -> dict[str, str]:
        """The CSV's encoding and separator, found once per scan (finding the encoding reads
        the file through)."""
        return csv_options(self.file)

    def _frames(self, only: list[str] | None) -> Iterator[pd.DataFrame]:
        if self.file.suffix == ".csv":
            yield from csv_batches(self.file, self._csv, self.rows, self.spec.tables[self.name],
                                   only)
            return
        import pyarrow.parquet as pq

        # not pre-buffered: a pre-buffering reader keeps what it has read until it is closed
        reader = pq.ParquetFile(self.file, pre_buffer=False)
        empty = True
        for batch in reader.iter_batches(batch_size=self.rows, columns=only):
            empty = False
            yield batch.to_pandas()
        if empty:
            yield reader.schema_arrow.empty_table().select(only or reader.schema_arrow.names
                                                           ).to_pandas()

    def _repeated(self, alike: np.ndarray) -> list[Finding]:
        """Rows whose key an earlier row has: the rows whose key hashes alike (`alike`, row
        numbers, ascending) are read again (the key columns only) and compared exactly."""
        if not len(alike):
            return []
        table = self.spec.tables[self.name]
        key = list(table.key)
        candidates, start = [], 0
        for batch in self._batches([k for k in key if k in self.columns]):
            frame, _ = check_frame(table, batch, lambda row, column: None, "", self.spec.vocabulary)
            mine = alike[np.searchsorted(alike, start):np.searchsorted(alike, start + len(frame))]
            candidates.append(frame.iloc[mine - start][key].assign(_row_=mine))
            start += len(frame)
        rows = pd.concat(candidates, ignore_index=True)
        return repeated_keys(table, rows[key], rows["_row_"].to_numpy())


class KeyHashes:
    """Every row's key hash with its row number, kept on disk (16 bytes a row) in 16 files by
    the hash's top bits: equal hashes fall in one file, and memory holds one file at a time,
    so a file of any length is checked for repeated keys in the memory of a sixteenth of its
    hashes. A context manager: the files are made at the first batch and removed when it
    closes; a folder that cannot take them is an error (C119) that names it."""

    BUCKETS = 16
    ROW = np.dtype([("hash", "<u8"), ("row", "<i8")])

    def __init__(self, what: str) -> None:
        self.what = what
        self._folder: Any = None
        self._files: list[Any] = []

    def __enter__(self) -> KeyHashes:
        return self

    def __exit__(self, *exc: object) -> None:
        for file in self._files:
            file.close()
        if self._folder is not None:
            self._folder.cleanup()

    def add(self, hashes: np.ndarray, start: int) -> None:
        """One batch's hashes, its first row numbered `start` in the whole file."""
        records = np.empty(len(hashes), self.ROW)
        records["hash"], records["row"] = hashes, np.arange(start, start + len(hashes))
        bucket = hashes >> np.uint64(64 - int(np.log2(self.BUCKETS)))
        try:
            if self._folder is None:
                import tempfile

                self._folder = tempfile.TemporaryDirectory(prefix="sapa-keys-")
                self._files = [open(self._path(b), "wb")  # noqa: SIM115 - closed on exit
                               for b in range(self.BUCKETS)]
            for b, file in enumerate(self._files):
                records[bucket == b].tofile(file)
        except OSError as exc:
            import tempfile

            raise CannotRun([Diagnostic(
                "C119", f"{self.what}: its keys are checked through files in "
                f"{tempfile.gettempdir()}, which cannot take them: {exc.strerror or exc}",
                hint="TMPDIR=<a folder with room: 16 bytes per row>")]) from None

    def alike(self) -> np.ndarray:
        """The rows (ascending) whose hash another row has: a file at a time, sorted."""
        found = [np.zeros(0, dtype=np.int64)]
        for b, file in enumerate(self._files):
            file.close()
            records = np.fromfile(self._path(b), self.ROW)
            order = np.argsort(records["hash"], kind="stable")
            hashes = records["hash"][order]
            same = hashes[1:] == hashes[:-1]
            shared = np.zeros(len(hashes), dtype=bool)
            shared[1:] |= same
            shared[:-1] |= same
            found.append(records["row"][order[shared]])
        return np.sort(np.concatenate(found))

    def _path(self, bucket: int) -> Path:
        return Path(self._folder.name) / f"{bucket:02d}"


def _in_order(check: Callable[[pd.DataFrame], Checked], batches: Iterable[pd.DataFrame],
              threads: int = THREADS) -> Iterator[Checked]:
    """check(batch) for each batch, in the batches' order, `threads` batches at a time: a batch
    is taken from `batches` only when a thread is free, so memory holds `threads` of them."""
    from concurrent.futures import Future, ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        pending: deque[Future[Checked]] = deque()
        for batch in batches:
            pending.append(pool.submit(check, batch))
            if len(pending) >= threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
