"""Random respondent data shaped like the 2020 survey (a fixture of the tests and the benchmark).

Not a reference dataset: the answers are random (skewed towards 5), so the ratings mean nothing.
The shape is what matters: 70 services of 24 central agencies and the local bodies, 17 regions and
"abroad", the 2020 channels, routing of fee, complaint and virtual-assistant items, non-answers,
call centres. Everything is generated column by column with NumPy; who is asked what is decided by
the spec itself (each questionnaire's `when:` and each item's `asked_if:`, evaluated by the
engine), so the data follow whichever method they are made for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sapa.engine.formula import Frames, Node, evaluate_rows
from sapa.engine.spec import Spec

N_SERVICES, N_CGO_SERVICES, N_AGENCIES, N_REGIONS = 70, 48, 24, 17
NOT_SURVEYED = ("2.4", "2.5", "2.29", "2.43", "2.53", "2.57", "2.64", "2.66")
AMBULANCE = "2.62"
CONTACTS = (["csc_manager", "csc_self_service", "state_body_office", "portal"],
            [0.50, 0.02, 0.08, 0.40])
ANSWERS = ([5, 4, 3, 2, 1, 0], [0.62, 0.25, 0.07, 0.02, 0.01, 0.03])


def catalogues(seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    codes = [f"2.{i}" for i in range(1, N_SERVICES + 1)]
    agencies = [f"CGO{i:02d}" for i in range(1, N_AGENCIES + 1)]
    service_agency = [agencies[i % N_AGENCIES] for i in range(N_CGO_SERVICES)]
    service_agency += ["MIO"] * (N_SERVICES - N_CGO_SERVICES)
    return {
        "agencies": pd.DataFrame({"code": [*agencies, "MIO"], "name": [*agencies, "MIO"],
                                  "kind": ["cgo"] * N_AGENCIES + ["mio"]}),
        "regions": pd.DataFrame({"code": [f"R{i:02d}" for i in range(1, N_REGIONS + 1)]
                                 + ["abroad"], "regional": [True] * N_REGIONS + [False]}),
        "csc_groups": pd.DataFrame({"code": ["self_service", "manager"]}),
        "services": pd.DataFrame({
            "code": codes, "name": [f"Service {c}" for c in codes], "agency": service_agency,
            "paid": rng.random(N_SERVICES) < 0.3,
            "surveyed": [c not in NOT_SURVEYED for c in codes],
            "csc_group": np.where(rng.random(N_SERVICES) < 0.4, "self_service", "manager")}),
    }


def respondents(spec: Spec, tables: dict[str, pd.DataFrame], n: int, seed: int = 0,
                first_id: int = 0) -> pd.DataFrame:
    """n respondents answering the items of `spec`'s questionnaires (empty = not asked),
    numbered from `first_id`."""
    rng = np.random.default_rng(seed)
    services = tables["services"]
    service = rng.integers(0, len(services), n)
    codes = services["code"].to_numpy()[service]
    contact = rng.choice(CONTACTS[0], size=n, p=CONTACTS[1]).astype(object)
    contact[codes == AMBULANCE] = "ambulance_103"
    regions = tables["regions"]["code"].to_numpy()
    frame = pd.DataFrame({
        "respondent_id": np.arange(first_id, first_id + n).astype(str), "service_code": codes,
        "region": regions[np.minimum(rng.integers(0, len(regions) * 10, n) // 10,
                                     len(regions) - 1)],
        "contact": contact, "received": rng.random(n) > 0.003,
        "complained": rng.random(n) < 0.05, "used_virtual_assistant": rng.random(n) < 0.1,
        "call_centre": np.where(rng.random(n) < 0.2, rng.choice(["1414", "1411", "109"], n),
                                None)})
    survey = spec.survey
    assert survey is not None
    frames = Frames({survey.respondents: frame, survey.unit_link.parent: services})
    items: dict[str, np.ndarray] = {}
    for q in survey.questionnaires:
        member = _holds(q.when, frames, survey.respondents)
        for item in q.items:
            asked = member
            if item.asked_if is not None:
                asked = member & _holds(item.asked_if, frames, survey.respondents)
            answers = rng.choice(ANSWERS[0], size=n, p=ANSWERS[1]).astype(float)
            column = items.setdefault(item.name, np.full(n, np.nan))
            column[asked] = answers[asked]
    return pd.concat([frame, pd.DataFrame(items)], axis=1)


def _holds(condition: Node, frames: Frames, table: str) -> np.ndarray:
    """Where a spec's condition is true (missing counts as false), as the engine evaluates it."""
    return evaluate_rows(condition, frames, table).fillna(False).to_numpy(dtype=bool)


def write(tables: dict[str, pd.DataFrame], folder: Path, fmt: str = "parquet") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if fmt == "parquet":
            frame.to_parquet(folder / f"{name}.parquet", index=False)
        else:
            frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def write_respondents(spec: Spec, tables: dict[str, pd.DataFrame], n: int, path: Path,
                      seed: int = 0, chunk: int = 1_000_000) -> Path:
    """n respondents written to one Parquet file `chunk` at a time (each chunk drawn with its
    own seed, ids running on), so that files far larger than memory can be made."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    for number, start in enumerate(range(0, n, chunk)):
        frame = respondents(spec, tables, min(chunk, n - start), seed + number, start)
        batch = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, batch.schema)
        writer.write_table(batch.cast(writer.schema))
    assert writer is not None
    writer.close()
    return path
