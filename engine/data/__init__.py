"""The data stage: files in, checked tables out.

readers (CSV, Excel, Parquet or one workbook; a locator per table for a cell's place) ->
contract (every column converted and checked under the spec's declared types, ranges, keys and
links; every problem found, grouped, before any work). stream: one large table (the survey's
respondents, in Parquet or CSV) read and checked a batch at a time, never whole: here, or by Spark's
workers (spark)."""

from sapa.engine.data.contract import build_frame, load_tables
from sapa.engine.data.readers import (
    READERS,
    Locate,
    csv_locator,
    read_csv,
    read_source,
    rows_frame,
)
from sapa.engine.data.spark import SparkScan
from sapa.engine.data.stream import BATCH_ROWS, TableScan

__all__ = [
    "BATCH_ROWS", "READERS", "Locate", "SparkScan", "TableScan", "build_frame", "csv_locator",
    "load_tables", "read_csv", "read_source", "rows_frame",
]
