"""Fuzzed formulas, specs and data files end in a result or a located problem, never in an
exception or a hang (a bounded run of tests/fuzz/run.py; the long one is run by hand)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SPECS
from tests.fuzz import run


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_fuzzed_inputs_end_in_a_result_or_a_located_problem(seed: int, tmp_path_factory: object
                                                            ) -> None:
    folder = Path(tmp_path_factory.mktemp("fuzz"))  # type: ignore[attr-defined]
    shutil.copytree(SPECS, folder, dirs_exist_ok=True)
    rng, failures = random.Random(seed), []
    counts = [run.formulas(300, rng, failures), run.specs(6, rng, failures, folder),
              run.data(8, rng, failures, folder)]
    assert failures == []
    assert all(tally["result"] + tally["problem"] > 0 for tally in counts)
