"""Mutations of specs, formulas and data files for the fuzz tests: each input is one a user could
give, and sapa must answer it with a result or a located problem, never an exception."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

#: Values of every wrong type (and a few right ones), put where the spec had something else.
STRANGE: list[Any] = [None, 0, -1, 1e400, True, "", "x" * 300, "1/0", "(", "a.b.c", [], [1, 2],
                      {}, {"a": 1}, {"formula": 1}, [{"column": -1}], "\u0000", "nan"]


def paths(tree: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into the plain tree, containers and leaves."""
    yield prefix
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from paths(value, (*prefix, i))


def mutated_tree(tree: Any, rng: random.Random, edits: int = 1) -> Any:
    """A copy of `tree` with `edits` nodes replaced, removed or renamed."""
    import copy
    out = copy.deepcopy(tree)
    for _ in range(edits):
        found = [p for p in paths(out) if p]
        if not found:
            return out
        path = rng.choice(found)
        parent = out
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        action = rng.random()
        if action < 0.6:
            parent[last] = rng.choice(STRANGE)
        elif action < 0.8 and isinstance(parent, dict):
            del parent[last]
        elif isinstance(parent, dict):
            parent[f"{last}_"] = parent.pop(last)
        else:
            parent[last] = rng.choice(STRANGE)
    return out


def yaml_text(tree: Any) -> str:
    out = io.StringIO()
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.dump(tree, out)
    return out.getvalue()


def _edited(units: Any, rng: random.Random, edits: int, inserts: list[Any],
            replacements: list[Any]) -> Any:
    """`units` (a list of characters or a bytearray) with `edits` random insertions (one of
    `inserts`), deletions and replacements (one of `replacements`)."""
    for _ in range(edits):
        at = rng.randrange(max(len(units), 1))
        choice = rng.random()
        if choice < 0.4:
            units[at:at] = rng.choice(inserts)
        elif choice < 0.7 and units:
            del units[at]
        elif units:
            units[at:at + 1] = rng.choice(replacements)
    return units


def mutated_text(text: str, rng: random.Random) -> str:
    """The spec's text with a few characters inserted, deleted or swapped."""
    return "".join(_edited(list(text), rng, rng.randint(1, 4),
                           list(":-[]{}&*!|>'\"\n\t #%@`,?"), list("abc019_.\n ")))


def random_formula(rng: random.Random, depth: int = 0) -> str:
    """A formula of names, numbers, strings, operators and calls, well-formed or not."""
    atoms = ["x", "flag", "kind", "services.total", "k", "points.a", "1", "0", "2.5", '"high"',
             "1e999", "nosuch", "true", "-1"]
    if depth > 3 or rng.random() < 0.3:
        return rng.choice(atoms)
    kind = rng.random()
    if kind < 0.45:
        op = rng.choice(["+", "-", "*", "/", "^", "==", "<", ">=", "and", "or", "in"])
        return f"{random_formula(rng, depth + 1)} {op} {random_formula(rng, depth + 1)}"
    if kind < 0.8:
        name = rng.choice(["sum", "mean", "min", "max", "count", "share", "if", "coalesce",
                           "is_missing", "abs", "round", "clamp", "rank", "minmax", "band",
                           "nosuch"])
        args = [random_formula(rng, depth + 1) for _ in range(rng.randint(0, 3))]
        if rng.random() < 0.3:
            args.append(f"{rng.choice(['where', 'by', 'method', 'degenerate'])}="
                        f"{random_formula(rng, depth + 1)}")
        return f"{name}({', '.join(args)})"
    text = random_formula(rng, depth + 1)
    return rng.choice([f"({text})", f"not {text}", f"-{text}", text[:-1] or "(", text + ")"])


def mutated_csv(content: bytes, rng: random.Random) -> bytes:
    """A data file with a line dropped or doubled, and bytes inserted, deleted or replaced."""
    lines = content.split(b"\n")
    if rng.random() < 0.3:
        at = rng.randrange(len(lines))
        lines[at:at + 1] = [lines[at]] * rng.choice([0, 2])
    data = _edited(bytearray(b"\n".join(lines)), rng, rng.randint(1, 5),
                   [b",", b";", b'"', b"\n", b"\x00", b"\x98", b"x", b"-1", b"1e999", b"\r\n",
                    b" "], [bytes([b]) for b in range(256)])
    return bytes(data)


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path
