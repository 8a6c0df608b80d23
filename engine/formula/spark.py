"""Spark: the session sapa works in (`--backend spark`), and the formulas' queries run by it.

The session is the one running (spark-submit's, on a cluster) or a local one on every core; the
survey's respondents are read by its workers (data/spark.py), and every formula is compiled to
Spark SQL (lowering.py) and run here, over the tables handed over as Arrow."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from sapa.engine.diagnostics import CannotRun, Diagnostic
from sapa.engine.formula.queries import Schema, view


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
        builder = (SparkSession.builder.master(os.environ.get("SAPA_SPARK_MASTER", "local[*]"))
                   .appName("sapa").config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={log}"))
        try:
            session = builder.getOrCreate()
        except Exception as exc:  # noqa: BLE001 - no Java, or a master that cannot be reached
            raise CannotRun([Diagnostic(
                "C118", f"--backend spark: Spark did not start ({str(exc).splitlines()[0]})",
                hint="Java 17 or later (Debian: default-jre-headless; JAVA_HOME, if set, names "
                     "it); SAPA_SPARK_MASTER, if set, a master that can be reached")]) from None
    return session


class SparkRunner:
    """Queries run by the session running now: the tables handed over as Arrow (missing
    values as nulls), one query at a time, as the views' names are the session's."""

    dialect = "pyspark"
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.session = spark_session()

    @contextlib.contextmanager
    def tables(self, frames: dict[str, pd.DataFrame], schemas: dict[str, Schema]
               ) -> Iterator[None]:
        import pyarrow as pa

        with self._lock:
            for name, frame in frames.items():
                arrow = pa.Table.from_pandas(frame, pa.schema(
                    [(column, _ARROW[kind]) for column, kind in schemas[name]]),
                    preserve_index=False)  # NaN: null
                self.session.createDataFrame(arrow).createOrReplaceTempView(view(name))
            try:
                yield
            finally:
                for name in frames:
                    self.session.catalog.dropTempView(view(name))

    def run(self, sql: str) -> pd.DataFrame:
        return self.session.sql(sql).toArrow().to_pandas()


_ARROW = {"boolean": "bool", "int64": "int64", "float64": "float64", "string": "string"}
