"""Benchmark: the 2020 methodology over a million synthetic respondents.

    python benchmarks/bench_2020.py [--respondents 1000000] [--seed 0]

Measures (1) `sapa rate 2020` end to end in a child process (wall time, peak memory), (2) the
engine's evaluation alone (survey + variables + all ratings, data already loaded), and (3) a
hand-written pandas implementation of three ratings (services, CGO own zone, regions) on the same
frames, and checks that (3) and the engine agree.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' data generator

from sapa.engine import api  # noqa: E402
from sapa.engine.rating import rate  # noqa: E402
from sapa.engine.spec import Spec  # noqa: E402
from tests import synthetic  # noqa: E402

ASKED_IF = {"service.paid": "paid", "complained": "complained",
            "used_virtual_assistant": "used_virtual_assistant"}


def hand_written(spec: Spec, tables: dict[str, pd.DataFrame]) -> dict[str, pd.Series]:
    """The three ratings as one would write them directly in pandas (for this one year)."""
    services, agencies = tables["services"], tables["agencies"]
    r = tables["respondents"]
    catalogue = services.set_index("code")
    r = r[r["received"].astype(bool).to_numpy()
          & r["service_code"].map(catalogue["surveyed"]).astype(bool).to_numpy()]
    r = r.assign(paid=r["service_code"].map(catalogue["paid"]).astype(bool))
    contact = r["contact"]
    member = {"office": contact.isin(["csc_manager", "csc_self_service"]),
              "provider_office": contact == "state_body_office",
              "online": contact == "portal", "ambulance": contact == "ambulance_103"}

    def levels(keys: list[str]) -> tuple[pd.Series, pd.Series]:
        item_rows = []
        for q in spec.survey.questionnaires:
            if not q.counts_in_total:
                continue
            sub = r[member[q.name].to_numpy()]
            for item in q.items:
                values = sub[item.name]
                if item.asked_if is not None:
                    condition = ASKED_IF[next(k for k in ASKED_IF if k in str(item.asked_if)
                                              or k == _text(spec, q.name, item.name))]
                    values = values[sub[condition].astype(bool)]
                rated = values[values.between(1, 5)]
                stats = rated.groupby([sub.loc[rated.index, k] for k in keys]).mean()
                for key, score in stats.items():
                    item_rows.append((key, q.name, item.criterion, item.zone, score))
        items = pd.DataFrame(item_rows, columns=["key", "q", "criterion", "zone", "score"])
        criteria = items.groupby(["key", "q", "criterion"])["score"].mean()
        channels = criteria.groupby(level=["key", "q"]).mean()
        total = channels.groupby(level="key").mean()
        zone_items = items[items["zone"].isin(["state_body", "shared"])]
        zone = zone_items.groupby(["key", "q"])["score"].mean().groupby(level="key").mean()
        return total, zone

    total, state_body = levels(["service_code"])
    agency = catalogue["agency"]
    kind = agencies.set_index("code")["kind"]
    cgo = state_body.groupby(agency.reindex(state_body.index).to_numpy()).mean()
    cgo = cgo[kind.reindex(cgo.index).to_numpy() == "cgo"]
    regional, _ = levels(["service_code", "region"])
    regional.index = pd.MultiIndex.from_tuples(regional.index, names=["service", "region"])
    mio = kind.reindex(agency.reindex(regional.index.get_level_values("service"))).to_numpy()
    regions = regional[mio == "mio"].groupby(level="region").mean()
    regional_codes = tables["regions"].loc[tables["regions"]["regional"], "code"]
    return {"services": total.sort_values(ascending=False), "cgo_own_zone": cgo,
            "regions": regions.reindex(regional_codes).dropna()}


def _text(spec: Spec, questionnaire: str, item: str) -> str:
    raw = spec.data["questionnaires"][questionnaire].get("items", {}).get(item, {})
    if not raw:
        raw = spec.data["questionnaires"]["office"]["items"].get(item, {})
    return str(raw.get("asked_if", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--respondents", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    spec, _ = api.check("2020")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        tables = synthetic.catalogues(args.seed)
        tables["respondents"] = synthetic.respondents(spec, tables, args.respondents, args.seed)
        folder = synthetic.write(tables, Path(tmp) / "data")
        print(f"generated {args.respondents:,} respondents x "
              f"{tables['respondents'].shape[1]} columns in {time.perf_counter() - start:.1f} s")

        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sapa", "rate", "2020",
                        "--data", str(folder), "--out", str(Path(tmp) / "out"),
                        "--format", "csv"], check=True, stdout=subprocess.DEVNULL)
        end_to_end = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2
        print(f"sapa rate 2020, end to end (read, check, evaluate, rate, write): "
              f"{end_to_end:.1f} s, peak memory {peak:.2f} GiB")

        frames, problems = api.read(spec, folder)
        assert not problems, problems[:3]
        engine_times, baseline_times = [], []
        for _ in range(3):
            start = time.perf_counter()
            ratings = rate(spec, frames).ratings
            engine_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            baseline = hand_written(spec, frames)
            baseline_times.append(time.perf_counter() - start)
        engine, hand = min(engine_times), min(baseline_times)
        print(f"engine evaluation (survey with 2 breakdowns, all {len(ratings)} ratings): "
              f"{engine:.2f} s")
        print(f"hand-written pandas (services, CGO own zone, regions): {hand:.2f} s")
        print(f"ratio engine / hand-written: {engine / hand:.2f}")
        for name, expected in baseline.items():
            got = ratings[name].dropna(subset=["unit"]).set_index("unit")["score"]
            diff = np.abs(got.reindex(expected.index).to_numpy() - expected.to_numpy())
            print(f"  {name}: {len(expected)} units, max |engine - hand-written| = "
                  f"{np.nanmax(diff):.2e}")


if __name__ == "__main__":
    main()
