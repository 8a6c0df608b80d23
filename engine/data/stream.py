"""A table read, checked and handed on a batch of rows at a time: the survey's respondents,
which can be far larger than memory. Each batch goes through the same contract as a table read
whole (contract.check_frame); what the batches find adds up, so the diagnostics are the ones a
whole read gives: one per column and kind of problem, rows numbered in the whole file, keys
repeated across batches found too. Only Parquet is read this way (its row groups are made for
it); other files are read whole."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from sapa.engine.data.contract import (
    Finding,
    blank_keys,
    check_frame,
    link_findings,
    repeated_keys,
)
from sapa.engine.data.readers import grid_locator
from sapa.engine.diagnostics import Diagnostic, Span
from sapa.engine.spec import Spec

#: Rows per batch: about 150 MB of a 2020 questionnaire's columns at a time. Smaller batches
#: stay in the processor's caches; measured on 1M and 10M respondents, 250k was fastest.
BATCH_ROWS = 250_000


class TableScan:
    """Iterating gives the checked batches of one table's Parquet file, in order; afterwards
    `problems` holds everything found (nothing may be computed from the batches when any of
    it is an error). `parents`: the checked tables its links point to (their links are
    checked batch by batch)."""

    def __init__(self, spec: Spec, name: str, file: Path, parents: Mapping[str, pd.DataFrame],
                 allow_missing: bool, rows: int = BATCH_ROWS) -> None:
        self.spec, self.name, self.file, self.parents = spec, name, file, parents
        self.allow_missing, self.rows = allow_missing, max(1, rows)
        self.problems: list[Diagnostic] = []

    def __iter__(self) -> Iterator[pd.DataFrame]:
        import pyarrow.parquet as pq

        table = self.spec.tables[self.name]
        reader = pq.ParquetFile(self.file)
        locate = grid_locator(str(self.file), pd.DataFrame(columns=reader.schema_arrow.names))
        found: dict[tuple[str, str, str, str], Finding] = {}
        order: list[Diagnostic | tuple[str, str, str, str]] = []
        hashes: list[np.ndarray] = []
        start, blank = 0, False
        for number, batch in enumerate(self._batches(reader)):
            frame, problems = check_frame(table, batch, locate, self.file.name,
                                          self.spec.vocabulary, self.allow_missing)
            keys = blank_keys(table, frame)
            blank = blank or bool(keys)
            problems += keys + link_findings(self.spec, {**self.parents, self.name: frame},
                                             [self.name, *self.parents], [self.name])
            for problem in problems:
                if isinstance(problem, Finding):
                    if problem.kind not in found:
                        order.append(problem.kind)
                    found[problem.kind] = problem.after(found.get(problem.kind), start)
                elif number == 0:  # about columns: the same in every batch
                    order.append(problem)
            if not blank and table.key:
                hashes.append(pd.util.hash_pandas_object(  # keys are mostly unique: hashed
                    frame[list(table.key)], index=False, categorize=False).to_numpy())
            start += len(frame)
            yield frame
        if start == 0:
            self.problems.append(Diagnostic("D412", f"{self.file.name} has no rows: table "
                                            f"'{self.name}' is empty", Span(str(self.file), 1, 1),
                                            "warning"))
        if not blank and hashes:
            for problem in self._repeated(reader, np.concatenate(hashes)):
                order.append(problem.kind)
                found[problem.kind] = problem
        self.problems += [p if isinstance(p, Diagnostic) else
                          found[p].diagnostic(self.file.name, locate) for p in order]

    def _batches(self, reader: object, columns: list[str] | None = None
                 ) -> Iterator[pd.DataFrame]:
        """The file's rows as frames of at most `rows` rows (at least one frame, maybe empty)."""
        empty = True
        for batch in reader.iter_batches(batch_size=self.rows, columns=columns):  # type: ignore[attr-defined]
            empty = False
            yield batch.to_pandas()
        if empty:
            yield reader.schema_arrow.empty_table().to_pandas()  # type: ignore[attr-defined]

    def _repeated(self, reader: object, hashes: np.ndarray) -> list[Finding]:
        """Rows whose key an earlier row has, over all batches: rows whose keys hash alike
        are candidates, read again (the key columns only) and compared exactly."""
        order = np.argsort(hashes, kind="stable")
        alike = hashes[order][1:] == hashes[order][:-1]
        if not alike.any():
            return []
        wanted = np.isin(hashes, hashes[order][1:][alike])
        table = self.spec.tables[self.name]
        key = list(table.key)
        candidates, start = [], 0
        for batch in self._batches(reader, [k for k in key if k in reader.schema_arrow.names]):  # type: ignore[attr-defined]
            frame, _ = check_frame(table, batch, lambda row, column: None, "", self.spec.vocabulary)
            mine = wanted[start:start + len(frame)]
            candidates.append(frame.loc[mine, key].assign(_row_=np.flatnonzero(mine) + start))
            start += len(frame)
        rows = pd.concat(candidates, ignore_index=True)
        return repeated_keys(table, rows[key], rows["_row_"].to_numpy())
