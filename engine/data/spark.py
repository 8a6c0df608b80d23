"""The survey's respondents read and checked by Spark, where the data are. Each partition is
read in Arrow batches by Spark's own Python workers, which check every batch and do the work
on it (count the answers) with the same code as a local scan (TableScan.checker); only what
each batch gives back travels to this process, in the file's order, where the findings add up
as they do locally. `sapa rate --backend spark`: a local Spark by default, or the cluster of a
session already running (spark-submit)."""

from __future__ import annotations

import os
import pickle
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from sapa.engine.data.stream import T, TableScan
from sapa.engine.diagnostics import CannotRun, Diagnostic
from sapa.engine.formula import Frames


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


def spark_session() -> Any:
    """The running Spark session, or a local one on every core; its workers run this Python
    (so they find the same packages)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise CannotRun([Diagnostic(
            "C118", "--backend spark needs PySpark and Java",
            hint="pip install 'sapa[spark]'; Java 17 or later (Debian: default-jre-headless)")]
        ) from None
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # PySpark warns about pandas releases it has not tested with; sapa hands it Arrow only
    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas",
                            FutureWarning)
    session = SparkSession.getActiveSession()
    if session is None:
        log = Path(__file__).with_name("spark-log4j2.properties").as_uri()
        session = (SparkSession.builder.master(os.environ.get("SAPA_SPARK_MASTER", "local[*]"))
                   .appName("sapa").config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={log}")
                   .getOrCreate())
    return session
