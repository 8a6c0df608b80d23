"""The long fuzz run: random formulas, mutated specs (tree and text mutations of every bundled
spec and test spec) and mutated data files, each answered within 5 s by a result or a located
problem. Prints the counts; exits 1 on any exception or hang.

    python tests/fuzz/run.py [--formulas 100000] [--specs 10000] [--data 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sapa.engine import api  # noqa: E402
from sapa.engine.diagnostics import SapaError  # noqa: E402
from sapa.engine.formula import FormulaSyntaxError, compile_formula, evaluate_rows, parse  # noqa: E402
from sapa.engine.spec import bundled_names, load_document, load_spec, resolve_spec  # noqa: E402
from tests.conftest import SPECS, world  # noqa: E402
from tests.fuzz.mutate import (  # noqa: E402
    mutated_csv,
    mutated_text,
    mutated_tree,
    random_formula,
    write,
    yaml_text,
)

HANG = 5  # seconds


class Hang(Exception):
    pass


class Rejected(Exception):
    """An input answered with located problems (a spec or formula that does not check)."""


def _alarm(signum: int, frame: object) -> None:
    raise Hang


def answer(action: Callable[[], object], expected: tuple[type[BaseException], ...],
           tally: Counter[str], failures: list[str], what: str) -> None:
    """Run one input: a result or an expected problem counts; anything else is a failure."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG)
    try:
        action()
        tally["result"] += 1
    except expected:
        tally["problem"] += 1
    except Hang:
        tally["hang"] += 1
        failures.append(f"hang over {HANG} s: {what}")
    except Exception as exc:  # noqa: BLE001 - what the fuzz run is looking for
        tally["exception"] += 1
        where = traceback.extract_tb(exc.__traceback__)[-1]
        failures.append(f"{type(exc).__name__} at {where.filename}:{where.lineno}: {what}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def formulas(n: int, rng: random.Random, failures: list[str]) -> Counter[str]:
    catalog, frames = world()
    tally: Counter[str] = Counter()

    def one(text: str) -> None:
        node, problems, _ = compile_formula(parse(text), "bodies", catalog)
        if node is None:
            assert problems, "a formula that does not compile says why"
            raise Rejected
        evaluate_rows(node, frames, "bodies")

    for _ in range(n):
        text = random_formula(rng)
        answer(lambda t=text: one(t), (FormulaSyntaxError, Rejected), tally, failures,
               repr(text[:200]))
    return tally


def specs(n: int, rng: random.Random, failures: list[str], folder: Path) -> Counter[str]:
    sources = [resolve_spec(name) for name in bundled_names()]
    sources += [p for p in sorted(SPECS.glob("*.yaml")) if p.name != "broken.yaml"]
    trees = {p: load_document(p).data for p in sources}
    tally: Counter[str] = Counter()
    for i in range(n):
        source = rng.choice(sources)
        if i % 2:
            text = mutated_text(source.read_text(encoding="utf-8"), rng)
        else:
            text = yaml_text(mutated_tree(trees[source], rng, rng.randint(1, 3)))
        path = write(folder / source.name, text)  # beside the test specs' data

        def one(p: Path = path) -> None:
            spec, problems = load_spec(p)
            if spec is None:
                assert any(d.severity == "error" for d in problems)
                raise Rejected

        answer(one, (SapaError, Rejected), tally, failures,
               f"a mutation of {source.name} (#{i})")
    return tally


def data(n: int, rng: random.Random, failures: list[str], folder: Path) -> Counter[str]:
    cases = [(SPECS / "mini.yaml", SPECS / "mini-data"), (SPECS / "survey.yaml",
                                                         SPECS / "survey-data")]
    checked = {spec: api.check(str(spec))[0] for spec, _ in cases}
    tally: Counter[str] = Counter()
    for i in range(n):
        spec, source = rng.choice(cases)
        target = folder / f"data{i % 2}"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)
        victim = rng.choice(sorted(source.iterdir()))
        (target / victim.name).write_bytes(mutated_csv(victim.read_bytes(), rng))

        def one(s: Path = spec, t: Path = target) -> None:
            rated, _ = api.rate_folder(checked[s], t)
            _ = rated.ratings

        answer(one, (SapaError,), tally, failures, f"a mutation of {victim.name} (#{i})")
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formulas", type=int, default=100_000)
    parser.add_argument("--specs", type=int, default=10_000)
    parser.add_argument("--data", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copytree(SPECS, folder, dirs_exist_ok=True)
        for name, run in (("formulas", lambda: formulas(args.formulas, rng, failures)),
                          ("specs", lambda: specs(args.specs, rng, failures, folder)),
                          ("data files", lambda: data(args.data, rng, failures, folder))):
            start = time.perf_counter()
            tally = run()
            print(f"{name}: {sum(tally.values()):,} inputs, {tally['result']:,} results, "
                  f"{tally['problem']:,} located problems, {tally['exception']} exceptions, "
                  f"{tally['hang']} hangs over {HANG} s ({time.perf_counter() - start:.0f} s)",
                  flush=True)
    for failure in failures[:50]:
        print("  " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
