"""Benchmark: the 2020 services rating (Table 8: score and satisfaction of every surveyed
service) over synthetic respondents, by sapa and by what an analyst would write instead, in
one run on the same Parquet file: vectorised pandas, DuckDB SQL and polars (each built from
the same item list, each checked equal to sapa's figures).

    pip install -e ".[bench]"   # polars, an alternative (DuckDB comes with sapa)
    python benchmarks/bench_2020.py [--sizes 100000,1000000,10000000] [--tools sapa,duckdb]
                                    [--repeat 1] [--data DIR] [--seed 0]

Per size, two timings per tool: from the Parquet file to the rating (the whole job, in a
process of its own: imports, reading and every check included), and the rating alone with the
data already in memory (best of 3). sapa is two tools: `sapa-services` computes the same rating
as the others (the method with no breakdown and no other rating, as a user would declare it),
`sapa` all 12 ratings of the method with both breakdowns; every formula is run by sapa's
embedded DuckDB (its compiled queries kept in the cache folder, so only a first run compiles
them). Each is also, when named in --tools, `…-spark`: on a local Spark (`pip install -e
".[spark]"` and Java: --backend spark, the respondents read and counted by Spark's workers and
every formula run as Spark SQL; its peak is this process's, not Spark's). sapa's whole job is
`rate_folder`: the respondents read, checked against the data contract and counted a batch at
a time, never whole. Peak memory is each tool's own process, the whole job first (sapa's column
is the whole job's; the in-memory run reads everything at once). `--repeat N` runs each whole
job N times, each in a new process, and shows the run with the median time (this machine's
timings vary by up to a third between runs). Sizes above 10M time sapa's whole job only, and
the others only when named in --tools: each holds the whole file in memory. `--data DIR` keeps
the generated files (made a million rows at a time, so 100M fit) and reuses them.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' data generator

from sapa.engine import api  # noqa: E402
from sapa.engine.spec import Spec  # noqa: E402
from tests import synthetic  # noqa: E402

SAPA = ("sapa", "sapa-services")  # every rating of the method; the services rating alone
SPARK = "-spark"  # so ended: on a local Spark (--backend spark; peak: this process, not Spark's)
COUNTED = ("office", "provider_office", "online", "ambulance")  # the call centre is not


def item_table(spec: Spec) -> pd.DataFrame:
    """The items a hand-written version needs: questionnaire, item, criterion, and the
    respondent or service column that must be true for the item to be asked."""
    rows = []
    for q in spec.survey.questionnaires:
        if q.name in COUNTED:
            for item in q.items:
                raw = spec.data["questionnaires"][q.name].get("items", {}).get(item.name) or \
                    spec.data["questionnaires"]["office"]["items"].get(item.name, {})
                condition = str(raw.get("asked_if", "")).replace("service.", "")
                rows.append((q.name, item.name, item.criterion, condition))
    return pd.DataFrame(rows, columns=["q", "item", "criterion", "condition"])


CHANNEL_VALUES = {"office": ["csc_manager", "csc_self_service"],  # each channel's contacts
                  "provider_office": ["state_body_office"], "online": ["portal"],
                  "ambulance": ["ambulance_103"]}
CHANNEL = {q: "contact IN (" + ", ".join(f"'{v}'" for v in values) + ")"  # the same, as SQL
           for q, values in CHANNEL_VALUES.items()}


# ------------------------------------------------------------------------ vectorised pandas
def pandas_rating(r: pd.DataFrame, services: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """Wide: one group-by per channel over all its item columns at once, then the criteria as
    column groups (no reshaping to one row per answer)."""
    catalogue = services.set_index("code")
    r = r[r["received"].to_numpy(dtype=bool)
          & r["service_code"].map(catalogue["surveyed"]).to_numpy(dtype=bool)]
    r = r.assign(paid=r["service_code"].map(catalogue["paid"]).to_numpy(dtype=bool))
    channels = {}
    for q, rows in items.groupby("q", sort=False):
        sub = r[r["contact"].isin(CHANNEL_VALUES[q]).to_numpy()]
        values = sub[rows["item"].tolist()]
        for item, condition in zip(rows["item"], rows["condition"], strict=True):
            if condition:
                values = values.assign(**{item: values[item].where(sub[condition])})
        by = sub["service_code"].to_numpy()
        score = values.where((values >= 1) & (values <= 5)).groupby(by).mean()
        satisfaction = 100 * (values == 5).groupby(by).sum() / values.groupby(by).count()
        satisfaction = satisfaction.where(score.notna())
        criterion = rows["criterion"].to_numpy()
        channels[q] = pd.DataFrame({
            "score": score.T.groupby(criterion).mean().mean(),
            "satisfaction": satisfaction.T.groupby(criterion).mean().mean()})
    both = pd.concat(channels, names=["q", "service"])
    return both.groupby(level="service").mean()


# ------------------------------------------------------------------------------- DuckDB SQL
def duckdb_sql(items: pd.DataFrame, source: str) -> str:
    """The same rating as one SQL query over `source` (a Parquet file or a registered table)."""
    unions = []
    for q, rows in items.groupby("q", sort=False):
        columns = ", ".join(
            f"CASE WHEN {c} THEN {i} END AS {i}" if c else i
            for i, c in zip(rows["item"], rows["condition"], strict=True))
        unions.append(
            f"SELECT service_code AS service, '{q}' AS q, item, value FROM ("
            f"  SELECT service_code, {columns} FROM base WHERE {CHANNEL[q]}"
            f") UNPIVOT (value FOR item IN ({', '.join(rows['item'])}))")
    mapping = " UNION ALL ".join(f"SELECT '{q}' AS q, '{i}' AS item, '{c}' AS criterion"
                                 for q, i, c in items[["q", "item", "criterion"]].itertuples(
                                     index=False))
    return f"""
    WITH base AS (
      SELECT r.*, s.paid FROM {source} r JOIN services s ON s.code = r.service_code
      WHERE r.received AND s.surveyed),
    answers AS ({" UNION ALL ".join(unions)}),
    item_map AS ({mapping}),
    per_item AS (
      SELECT a.service, a.q, m.criterion, a.item,
             avg(CASE WHEN value BETWEEN 1 AND 5 THEN value END) AS score,
             100.0 * count(*) FILTER (WHERE value = 5) / count(*) AS satisfaction
      FROM answers a JOIN item_map m USING (q, item)
      GROUP BY ALL HAVING score IS NOT NULL),
    criteria AS (SELECT service, q, criterion, avg(score) AS score,
                        avg(satisfaction) AS satisfaction FROM per_item GROUP BY ALL),
    channels AS (SELECT service, q, avg(score) AS score, avg(satisfaction) AS satisfaction
                 FROM criteria GROUP BY ALL)
    SELECT service, avg(score) AS score, avg(satisfaction) AS satisfaction
    FROM channels GROUP BY service"""


# ----------------------------------------------------------------------------------- polars
def polars_rating(r: object, services: object, items: pd.DataFrame) -> object:
    """Wide, as in pandas: one group-by per channel, the criteria as horizontal means."""
    import polars as pl

    frame = r.join(services.select(["code", "paid", "surveyed"]), left_on="service_code",
                   right_on="code").filter(pl.col("received") & pl.col("surveyed"))
    channels = []
    for q, rows in items.groupby("q", sort=False):
        aggregates = []
        for item, condition in zip(rows["item"], rows["condition"], strict=True):
            value = pl.when(pl.col(condition)).then(pl.col(item)) if condition else pl.col(item)
            aggregates += [value.filter(value.is_between(1, 5)).mean().alias(f"{item}.score"),
                           (100.0 * (value == 5).sum() / value.count()).alias(f"{item}.sat")]
        per_item = frame.filter(pl.col("contact").is_in(CHANNEL_VALUES[q])).group_by(
            "service_code").agg(aggregates)
        criteria = []
        for c, members in rows.groupby("criterion", sort=False)["item"]:
            criteria += [pl.mean_horizontal([f"{i}.score" for i in members]).alias(f"{c}.score"),
                         pl.mean_horizontal([pl.when(pl.col(f"{i}.score").is_not_null())
                                             .then(pl.col(f"{i}.sat")) for i in members])
                         .alias(f"{c}.sat")]
        names = rows["criterion"].unique()
        channels.append(per_item.select("service_code", *criteria).select(
            pl.col("service_code").alias("service"),
            pl.mean_horizontal([f"{c}.score" for c in names]).alias("score"),
            pl.mean_horizontal([f"{c}.sat" for c in names]).alias("satisfaction")))
    return pl.concat(channels).group_by("service").agg(pl.col("score").mean(),
                                                       pl.col("satisfaction").mean())


# ------------------------------------------------------------------------------ measurement
def child(tool: str, folder: Path, respondents: int) -> None:
    """One tool, in its own process: the whole job from Parquet, then (up to 10M) the rating
    alone on data in memory; prints JSON with both times, peak memory and its figures."""
    spec, _ = api.check("2020")
    items = item_table(spec)
    parquet = folder / "respondents.parquet"
    in_memory = respondents <= 10_000_000
    start = time.perf_counter()
    if tool.removesuffix(SPARK) in SAPA:
        from sapa.engine.rating import rate

        backend = "spark" if tool.endswith(SPARK) else "local"
        if tool.startswith("sapa-services"):
            spec = services_only(spec, folder)
        rated, problems = api.rate_folder(spec, folder, backend=backend)
        assert not problems, problems[:3]
        found = rated.ratings["services"]
        whole, peak = time.perf_counter() - start, peak_gib()
        if in_memory:
            frames, _ = api.read(spec, folder)
            with api.formulas_on(backend):
                memory = best(lambda: rate(spec, frames).ratings)
        found = found.dropna(subset=["unit"]).set_index("unit")[["score", "satisfaction"]]
    elif tool == "pandas":
        services = pd.read_parquet(folder / "services.parquet")
        r = pd.read_parquet(parquet)
        found = pandas_rating(r, services, items)
        whole, peak = time.perf_counter() - start, peak_gib()
        memory = best(lambda: pandas_rating(r, services, items))
    elif tool == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.register("services", pd.read_parquet(folder / "services.parquet"))
        found = con.execute(duckdb_sql(items, f"read_parquet('{parquet}')")).df()
        whole, peak = time.perf_counter() - start, peak_gib()
        if in_memory:
            con.execute(f"CREATE TABLE respondents AS SELECT * FROM read_parquet('{parquet}')")
            memory = best(lambda: con.execute(duckdb_sql(items, "respondents")).df())
        found = found.set_index("service")
    else:
        import polars as pl

        services = pl.read_parquet(folder / "services.parquet")
        frame = pl.read_parquet(parquet)
        found = polars_rating(frame, services, items).to_pandas()
        whole, peak = time.perf_counter() - start, peak_gib()
        memory = best(lambda: polars_rating(frame, services, items))
        found = found.set_index("service")
    if not in_memory:
        memory = float("nan")
    print(json.dumps({"whole": whole, "memory": memory, "peak": peak,
                      "figures": found[["score", "satisfaction"]].astype(float).to_dict()}))


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def services_only(spec: Spec, folder: Path) -> Spec:
    """The 2020 spec with only the services rating: no breakdown, no other rating (an
    overlay, as a user would declare it)."""
    others = {rid: None for rid in spec.ratings if rid != "services"}
    path = folder.parent / "services-only.json"
    path.write_text(json.dumps({"extends": "2020", "methodology": {"id": "services-only"},
                                "tests": None, "published": None, "sensitivity": None,
                                "survey": {"breakdowns": None}, "ratings": others}),
                    encoding="utf-8")
    only, problems = api.check(str(path))
    return only


def best(run: Callable[[], object], times: int = 3) -> float:
    found = []
    for _ in range(times):
        start = time.perf_counter()
        run()
        found.append(time.perf_counter() - start)
    return min(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000",
                        help="respondents, comma-separated (e.g. 100000,1000000,10000000)")
    parser.add_argument("--tools", default=",".join(
        [*SAPA, "pandas", "duckdb", "polars"]))
    parser.add_argument("--data", type=Path, help="keep the generated data here (reused)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1,
                        help="whole jobs per tool, each in a new process; the median is shown")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--respondents", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.folder, args.respondents)
        return
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(n) for n in args.sizes.split(",")):
            folder = (args.data or Path(tmp)) / f"respondents-{size}"
            if not (folder / "respondents.parquet").exists():
                generate(folder, size, args.seed)
            tools = args.tools.split(",")
            if size > 10_000_000 and args.tools == parser.get_default("tools"):
                tools = ["sapa"]
            measure(folder, size, tools, max(1, args.repeat))


def generate(folder: Path, size: int, seed: int) -> None:
    spec, _ = api.check("2020")
    tables = synthetic.catalogues(seed)
    synthetic.write(tables, folder)
    synthetic.write_respondents(spec, tables, size, folder / "respondents.parquet", seed)


def measure(folder: Path, size: int, tools: list[str], repeat: int) -> None:
    print(f"{size:,} synthetic 2020 respondents (Parquet); services rating"
          + (f"; median of {repeat} runs:" if repeat > 1 else ":"))
    results = {}
    for tool in tools:
        runs = []
        for _ in range(repeat):
            out = subprocess.run([sys.executable, __file__, "--child", tool, "--folder",
                                  str(folder), "--respondents", str(size)],
                                 capture_output=True, text=True)
            if out.returncode:
                lines = out.stderr.strip().splitlines() or [f"exit code {out.returncode}"]
                print(f"  {tool}: failed: {lines[-1]}")
                break
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        else:
            results[tool] = sorted(runs, key=lambda run: run["whole"])[len(runs) // 2]
    if not results:
        return
    reference = pd.DataFrame(next(iter(results.values()))["figures"])
    width = max(17, *map(len, results))
    print(f"  {'tool':{width}} {'Parquet->rating':>16} {'in memory':>10} {'peak GiB':>9} "
          f"{'max |diff| vs sapa':>19}")
    for tool, found in results.items():
        figures = pd.DataFrame(found["figures"]).reindex(reference.index)
        diff = np.nanmax(np.abs(figures.to_numpy() - reference.to_numpy()))
        print(f"  {tool:{width}} {found['whole']:>15.2f}s {found['memory']:>9.2f}s "
              f"{found['peak']:>9.2f} {diff:>19.1e}")
    for mine, what in (("sapa-services", "the same rating"), ("sapa", "all 12 ratings"),
                       ("sapa-services-spark", "the same rating"),
                       ("sapa-spark", "all 12 ratings")):
        for tool in ("pandas", "duckdb", "polars"):
            if mine in results and tool in results:
                print(f"  {mine} ({what}) / {tool}: "
                      f"{results[mine]['whole'] / results[tool]['whole']:.2f} from Parquet, "
                      f"{results[mine]['memory'] / results[tool]['memory']:.2f} in memory")

if __name__ == "__main__":
    main()
