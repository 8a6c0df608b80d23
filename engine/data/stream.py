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
from sapa.engine.diagnostics import Diagnostic, Span, has_errors
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
            frame, problems = check_frame(table, batch, locate, origin, spec.vocabulary,
                                          allow)
            blank = blank_keys(table, frame)
            frames = Frames({**others, name: frame})  # the links joined once, for both
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
        hashes: list[np.ndarray] = []
        start, blank = 0, False
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
                hashes.append(checked.hashes)  # type: ignore[arg-type]
            start += checked.rows
            yield checked.result
        if start == 0 and not has_errors(self.problems):
            self.problems.append(Diagnostic("D412", f"{self.file.name} has no rows: table "
                                            f"'{self.name}' is empty", Span(str(self.file), 1, 1),
                                            "warning"))
        if not blank and hashes and not has_errors(self.problems):  # (errors: unread)
            for problem in self._repeated(hashes):
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

    def _repeated(self, hashes: list[np.ndarray]) -> list[Finding]:
        """Rows whose key an earlier row has, over all batches: rows whose keys hash alike
        are candidates, read again (the key columns only) and compared exactly."""
        repeated = np.unique(np.concatenate([_alike(part) for part in _buckets(hashes)]))
        if not len(repeated):
            return []
        wanted = np.concatenate([np.isin(part, repeated) for part in hashes])
        table = self.spec.tables[self.name]
        key = list(table.key)
        candidates, start = [], 0
        for batch in self._batches([k for k in key if k in self.columns]):
            frame, _ = check_frame(table, batch, lambda row, column: None, "", self.spec.vocabulary)
            mine = wanted[start:start + len(frame)]
            candidates.append(frame.loc[mine, key].assign(_row_=np.flatnonzero(mine) + start))
            start += len(frame)
        rows = pd.concat(candidates, ignore_index=True)
        return repeated_keys(table, rows[key], rows["_row_"].to_numpy())


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


def _buckets(hashes: list[np.ndarray], count: int = 16) -> Iterator[np.ndarray]:
    """The hashes of every batch, a sixteenth of their range at a time (by their top bits):
    equal hashes fall in one bucket, and no more than a bucket is copied at once."""
    shift = np.uint64(64 - int(np.log2(count)))
    for bucket in range(count):
        yield np.concatenate([part[(part >> shift) == bucket] for part in hashes])


def _alike(hashes: np.ndarray) -> np.ndarray:
    """The hash values that occur more than once."""
    hashes.sort()
    return hashes[1:][hashes[1:] == hashes[:-1]]
