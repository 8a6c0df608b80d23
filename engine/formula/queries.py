"""Plans run as SQL, by an embedded DuckDB (the default) or by Spark (`evaluated_by`, for
`--backend spark`): compiled once per plans, table shapes and engine (lowering.py, through
Ibis), kept on disk, and run over each batch of rows. Results come back as pandas columns:
float64 for numbers (NaN missing), the nullable boolean for conditions, object for text (None
missing).

Compiling is the slow part (importing Ibis and compiling a query take longer than DuckDB takes
to run it on a survey's tables), and a run compiles the same queries as the last run of the
same spec: each batch of respondents, each replicate and each run of an unchanged spec reads
its queries from the cache. A compiled query is kept under a key made of everything it is
made from: the plans, the tables' columns and types, the engine's SQL dialect, the source of
the compilation and the Ibis and DuckDB versions. `SAPA_CACHE` names the cache folder
(default: the user's cache folder, `~/.cache/sapa` on Linux); set to an empty value, nothing
is kept on disk. A query no run has read for UNUSED_DAYS is removed.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Protocol

import duckdb
import numpy as np
import pandas as pd

from sapa.engine.formula.frames import REPLICATE, Frames
from sapa.engine.formula.plan import Node, columns_read, links_followed, tables_read

#: A table's columns and their types in SQL (`schema`).
Schema = tuple[tuple[str, str], ...]

#: The column every table carries in SQL: its rows' order in the data (SQL keeps no order).
ROW = "_row_"


@dataclass(frozen=True)
class Query:
    """Plans compiled to SQL over the views of their tables: their values (and each plan's
    flags on its own table's rows), the flags each plan leaves on other tables, and the SQL
    telling whether a constant part of a plan was flagged (None: it has none)."""

    values: str
    flags: tuple[tuple[tuple[str, str], ...], ...]
    constant: tuple[str | None, ...]


@dataclass
class _Result:
    """One plan's values, and the flags its arithmetic left, per table (None: a constant
    part), to be noted on the frames at each read (Frames.flag_undefined)."""

    values: pd.Series
    flags: dict[str | None, np.ndarray]


def evaluate_rows(node: Node, frames: Frames, table: str, engine: str | None = None
                  ) -> pd.Series:
    """The plan's value per row of `table` in `frames`, run by `engine` ("duckdb" or "spark";
    by default the thread's, `evaluated_by`) once (or with others, by `evaluate_together`);
    its flags noted on the frames each time, as every read of a value notes them."""
    ready = frames.lowered.setdefault("ready", {})
    if (node, table) not in ready:
        evaluate_together([node], frames, table, engine)
    result = ready[node, table]  # a table's rows never change, only gain columns
    for where, rows in result.flags.items():
        frames.flag_undefined(where, rows)
    return result.values


def evaluate_together(nodes: list[Node], frames: Frames, table: str,
                      engine: str | None = None) -> None:
    """Run several plans over the rows of `table` in one query, each join or aggregate they
    share made once; each plan's result waits for its evaluate_rows."""
    nodes = list(dict.fromkeys(nodes))
    inputs = _inputs(frames, nodes, table)
    schemas = tuple((name, schema(frame)) for name, frame in inputs.items())
    runner = _runner(engine or getattr(_CHOSEN, "engine", None) or "duckdb")
    query = compiled(tuple(nodes), table, schemas, runner.dialect)
    with runner.tables(inputs, dict(schemas)):
        result = runner.run(query.values)
        ready = frames.lowered.setdefault("ready", {})
        for i, node in enumerate(nodes):
            found: dict[str | None, np.ndarray] = {}
            if f"undefined{i}" in result.columns:
                found[table] = result[f"undefined{i}"].fillna(False).to_numpy(dtype=bool)
            for where, sql in query.flags[i]:
                flagged = runner.run(sql)["flag"].fillna(False).to_numpy(dtype=bool)
                found[where] = flagged | found[where] if where in found else flagged
            if query.constant[i] is not None and runner.run(query.constant[i]).iloc[0, 0]:
                found[None] = np.array([True])
            values = _typed(result[f"value{i}"].reset_index(drop=True), node.type)
            ready[node, table] = _Result(values, found)


@contextlib.contextmanager
def evaluated_by(engine: str) -> Iterator[None]:
    """Every plan this thread evaluates in the block run by `engine` ("duckdb" or "spark");
    other threads keep theirs (two runs at once, on Spark and here, do not mix)."""
    before = getattr(_CHOSEN, "engine", None)
    _CHOSEN.engine = engine
    try:
        yield
    finally:
        _CHOSEN.engine = before


_CHOSEN = threading.local()


@functools.lru_cache(maxsize=256)
def compiled(nodes: tuple[Node, ...], table: str,
             schemas: tuple[tuple[str, Schema], ...],
             dialect: str = "duckdb") -> Query:
    """The plans as SQL of `dialect`: from memory, from the cache folder, or compiled (and
    kept there)."""
    folder = _cache_folder()
    key = hashlib.sha256(repr((_compiler(), nodes, table, schemas, dialect)).encode()
                         ).hexdigest()
    path = folder / key[:2] / f"{key}.json" if folder is not None else None
    if path is not None:
        try:
            kept = json.loads(path.read_text(encoding="utf-8"))
            query = Query(kept["values"], tuple(tuple(map(tuple, f)) for f in kept["flags"]),
                          tuple(kept["constant"]))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # not kept yet, or unreadable: compiled again
        else:
            with contextlib.suppress(OSError):  # a folder others keep may be read-only
                os.utime(path)  # used: kept on (`_prune`)
            return query
    from sapa.engine.formula.lowering import compile_plans  # imports Ibis (slow)
    query = compile_plans(nodes, table, schemas, dialect)
    if path is not None and folder is not None:
        _prune(folder)
        try:  # written whole, then renamed: another run never reads half a file
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.part")
            partial.write_text(json.dumps(asdict(query)), encoding="utf-8")
            partial.replace(path)
        except OSError:
            pass  # a cache that cannot be written only costs the time to compile again
    return query


#: A kept query no run has read for this many days is removed: each edit of a spec leaves
#: the queries of its old formulas behind.
UNUSED_DAYS = 60


@functools.cache
def _prune(folder: Path) -> None:
    """Remove the kept queries unused for UNUSED_DAYS, once per process and folder, when the
    first query is compiled (a run that compiles nothing does not look)."""
    oldest = time.time() - UNUSED_DAYS * 86400
    for path in folder.glob("*/*.json"):
        try:
            if path.stat().st_mtime < oldest:
                path.unlink()
        except OSError:
            pass  # gone already (another run pruned it), or not ours to remove


def _cache_folder() -> Path | None:
    setting = os.environ.get("SAPA_CACHE")
    if setting is not None:
        return Path(setting) / "queries" if setting else None
    base = os.environ.get("XDG_CACHE_HOME") or (
        os.environ.get("LOCALAPPDATA") if os.name == "nt" else None)
    return (Path(base) if base else Path.home() / ".cache") / "sapa" / "queries"


@functools.cache
def _compiler() -> tuple[str, ...]:
    """What a compiled query depends on besides its plans and tables: the source that
    compiles and runs it, and the versions of Ibis and DuckDB."""
    here = Path(__file__).parent
    source = hashlib.sha256(b"".join(
        (here / name).read_bytes()
        for name in ("lowering.py", "queries.py", "plan.py", "numbers.py")))
    return (source.hexdigest(), metadata.version("ibis-framework"), duckdb.__version__)


def view(table: str) -> str:
    """The name a table's rows are registered under in the engine."""
    return f"sapa_{_small(table)}"


def sql_name(column: str) -> str:
    """A column of the data as SQL names it: with a prefix of its own, so that none is taken
    for a column the query adds (the row numbers, a part, a value). The replicate, sapa's
    own, keeps its name."""
    return column if column == REPLICATE else f"c_{_small(column)}"


def _small(name: str) -> str:
    """A name in small letters, a capital written as ^ and its small letter: DuckDB and Spark
    do not tell `N` from `n` (DuckDB silently reads one for the other)."""
    return "".join(f"^{c.lower()}" if c.isupper() else c for c in name)


class DuckDBRunner:
    """An embedded DuckDB per thread (a connection serves one thread at a time: batches are
    evaluated on several)."""

    dialect = "duckdb"
    _local = threading.local()

    def __init__(self) -> None:
        self.connection = duckdb.connect()

    @classmethod
    def here(cls) -> DuckDBRunner:
        if not hasattr(cls._local, "engine"):
            cls._local.engine = cls()
        return cls._local.engine

    @contextlib.contextmanager
    def tables(self, frames: dict[str, pd.DataFrame], _schemas: dict[str, Schema]
               ) -> Iterator[None]:
        for name, frame in frames.items():
            self.connection.register(view(name), frame)
        try:
            yield
        finally:  # DuckDB would otherwise hold on to the batch until the next one replaces it
            for name in frames:
                self.connection.unregister(view(name))

    def run(self, sql: str) -> pd.DataFrame:
        return self.connection.execute(sql).df()


class Runner(Protocol):
    """An engine that runs compiled queries over tables it is handed."""

    dialect: str  # Ibis's name of its SQL

    def tables(self, frames: dict[str, pd.DataFrame], schemas: dict[str, Schema]
               ) -> AbstractContextManager[None]: ...

    def run(self, sql: str) -> pd.DataFrame: ...


def _runner(engine: str) -> Runner:
    if engine == "duckdb":
        return DuckDBRunner.here()
    if engine == "spark":
        from sapa.engine.formula.spark import SparkRunner  # imports PySpark
        return SparkRunner()
    raise ValueError(f"no SQL engine {engine!r}")


def _inputs(frames: Frames, nodes: list[Node], table: str) -> dict[str, pd.DataFrame]:
    """`table` and the tables the plans read, with only the columns they read (and the row
    numbers): a survey's respondents have dozens of columns, a condition reads two. Made
    once per table and columns (a table only ever gains columns)."""
    made = frames.lowered.setdefault("inputs", {})
    out = {}
    reads = _reads(nodes)
    for name, columns in {table: set(), **reads}.items():
        frame = frames.tables[name]
        if REPLICATE in frame.columns:
            columns.add(REPLICATE)
        key = (name, tuple(sorted(columns)))
        if key not in made or made[key][0] is not frame:  # the frame itself: an id is reused
            made[key] = (frame, frame[list(key[1])].rename(columns=sql_name).assign(
                **{ROW: np.arange(len(frame))}))
        out[name] = made[key][1]
    return out


def schema(frame: pd.DataFrame) -> Schema:
    """A table's columns and their types in SQL, from their dtypes (text is object: a column
    of nothing but missing values is text too)."""
    return tuple((str(column), "boolean" if pd.api.types.is_bool_dtype(dtype)
                  else "int64" if pd.api.types.is_integer_dtype(dtype)
                  else "float64" if pd.api.types.is_float_dtype(dtype) else "string")
                 for column, dtype in frame.dtypes.items())


def _reads(nodes: list[Node]) -> dict[str, set[str]]:
    """The columns of each table the plans read, their own and those their links join on, the
    tables in the order of their names (the same queries in every run)."""
    found: dict[str, set[str]] = {name: set() for name in sorted(tables_read(*nodes))}
    for name, column in columns_read(*nodes):
        found[name].add(column)
    for link in links_followed(*nodes):
        found[link.child].update(link.on)
        found[link.parent].update(link.key)
    return found


def _typed(values: pd.Series, kind: str) -> pd.Series:
    """A result column in the types every result has (the module's docstring), whichever
    engine ran it."""
    if kind == "number":
        return values.astype("float64")
    if kind == "bool":
        return values.astype("boolean")
    return values.astype(object).where(values.notna(), None)  # the engines' own text types
