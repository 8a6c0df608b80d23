"""The stages form the layered graph the README's Architecture table writes down: this test reads
that table and walks every import of the engine and the command line."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

ENGINE = ROOT / "engine"


def allowed_imports() -> dict[str, set[str]]:
    """stage -> the stages it may import, from the README's `| stage | owns | may import |`."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("| stage | owns | may import |", 1)[1].split("\n\n", 1)[0]
    rows = [line.strip("|").split("|") for line in table.strip().splitlines()[1:]]
    return {stage.strip(): {s.strip() for s in imports.split(",") if s.strip()}
            for stage, _, imports in rows}


def stage_of(path: Path) -> str:
    """engine/<stage>/... or engine/<stage>.py; cli.py is the stage 'cli'."""
    if path.parent == ROOT:
        return path.stem
    relative = path.relative_to(ENGINE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every sapa.engine module named by an import in `path`, at any depth
    (a function-level import is an edge too); `from sapa.engine import x` names sapa.engine.x."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "sapa.engine":
            found += [(node.lineno, f"sapa.engine.{a.name}") for a in node.names
                      if not a.name.startswith("__")]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
    return [(line, m) for line, m in found if m.startswith("sapa.engine.")]


def breaches(files: list[tuple[Path, str]], allowed: dict[str, set[str]]) -> list[str]:
    """Imports of each (file, its stage) that its row does not allow or that reach past a face."""
    out = []
    for path, stage in files:
        for line, module in imported(path):
            parts = module.split(".")
            target = parts[2]
            where = f"{path.name}:{line}"
            if target == stage:
                continue
            if target not in allowed.get(stage, set()):
                out.append(f"{where}: {stage} imports {target}, which its row does not allow")
            elif len(parts) > 3:
                out.append(f"{where}: {module} reaches past the face of {target}")
    return out


def sources() -> list[tuple[Path, str]]:
    return [(p, stage_of(p)) for p in [*sorted(ENGINE.rglob("*.py")), ROOT / "cli.py"]]


def test_the_table_names_every_stage_and_only_stages() -> None:
    allowed = allowed_imports()
    stages = {stage for _, stage in sources()} - {"__init__"}
    assert set(allowed) == stages
    assert all(imports <= stages for imports in allowed.values())


def test_every_import_follows_the_layers_and_goes_through_a_face() -> None:
    assert breaches(sources(), allowed_imports()) == []


def test_the_layers_have_no_cycle() -> None:
    allowed = allowed_imports()
    seen: dict[str, int] = {}

    def depth(stage: str, path: tuple[str, ...] = ()) -> int:
        assert stage not in path, f"cycle: {' -> '.join((*path, stage))}"
        if stage not in seen:
            seen[stage] = 1 + max((depth(s, (*path, stage)) for s in allowed[stage]), default=0)
        return seen[stage]

    for stage in allowed:
        depth(stage)


def test_a_breach_is_found(tmp_path: Path) -> None:
    """The walk finds an upward import and, at any depth, one past a face (the check can fail)."""
    probe = tmp_path / "probe.py"
    probe.write_text("from sapa.engine.rating import rate\n"
                     "def f():\n    from sapa.engine.formula.plan import Node\n", encoding="utf-8")
    found = breaches([(probe, "spec")], allowed_imports())
    assert len(found) == 2
    assert re.search(r"probe.py:1: spec imports rating", found[0])
    assert re.search(r"probe.py:3: sapa.engine.formula.plan reaches past the face", found[1])


def test_every_stage_package_is_installed() -> None:
    """A stage missing from pyproject's package list works in a checkout and is absent from
    an install: every engine package must be listed."""
    listed = set(re.findall(r'"(sapa[\w.]*)"', (ROOT / "pyproject.toml").read_text(
        encoding="utf-8").split("packages = [", 1)[1].split("]", 1)[0]))
    packages = {"sapa.engine." + p.parent.name for p in ENGINE.glob("*/__init__.py")}
    assert packages - listed == set()


def test_the_command_line_starts_without_the_table_libraries() -> None:
    """`sapa --help`, `sapa list` and validating a spec that names no data import neither
    pandas nor SciPy (they are loaded when a command first needs a table): the start stays
    quick (benchmarks/bench_startup.py)."""
    spec = ROOT / "tests" / "specs" / "survey.yaml"
    probe = ("import sys\nfrom sapa.cli import main\n"
             f"for arguments in (['--help'], ['list'], ['validate', {str(spec)!r}]):\n"
             "    try:\n        main(arguments)\n    except SystemExit:\n        pass\n"
             "print(sorted(m for m in ('pandas', 'scipy', 'numpy') if m in sys.modules))\n")
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           check=True)
    assert found.stdout.strip().splitlines()[-1] == "[]"
