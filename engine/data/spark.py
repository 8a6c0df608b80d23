"""The survey's respondents read and checked by Spark, where the data are. Each partition is
read in Arrow batches by Spark's own Python workers, which check every batch and do the work
on it (count the answers) with the same code as a local scan (TableScan.checker); only what
each batch gives back travels to this process, in the file's order, where the findings add up
as they do locally. `sapa rate --backend spark`: a local Spark by default, or the cluster of a
session already running (spark-submit)."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pandas as pd

from sapa.engine.data.stream import T, TableScan
from sapa.engine.formula import Frames, spark_session


class SparkScan(TableScan):
    """A TableScan whose batches are read, checked and worked on by Spark's workers."""

    def map(self, work: Callable[[Frames], T],
            tables: Mapping[str, pd.DataFrame] | None = None) -> Iterator[T]:
        session = spark_session()
        session.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(self.rows))
        table = session.read.parquet(str(self.file.resolve()))
        locate = self.locate(table.columns)
        check = self.checker(locate, tables)

        def run(batches: Iterator[Any]) -> Iterator[Any]:  # in a Spark worker
            import pyarrow as pa

            for batch in batches:
                checked = check(batch.to_pandas(), work)
                yield pa.RecordBatch.from_pylist([{"part": pickle.dumps(checked)}])

        parts = table.mapInArrow(run, "part binary").toLocalIterator()  # in partition order
        yield from self.gathered((pickle.loads(row.part) for row in parts), locate)
