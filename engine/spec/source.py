"""Reading spec YAML into plain data while keeping the file position of every key and value.

We compose YAML nodes ourselves instead of loading objects, so that a duplicate key is reported
(all of them, with positions) rather than stopping the read or being silently overwritten, and so
that a formula inside a YAML string can be mapped back to the line and column of the file. The
nodes come from libyaml (PyYAML's C parser: a spec composes in milliseconds, where a parser in
Python takes most of a second); their plain scalars are typed by YAML 1.2's core schema, so
`yes`, `on` and `0777` stay what YAML 1.2 says they are.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.error import MarkedYAMLError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

from sapa.engine.diagnostics import CannotRun, Diagnostic, Span

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class NodePlace:
    """Where a value (and its key, for mapping entries) stands in a file."""

    value: Span
    key: Span | None = None
    text_position: Callable[[int], Span] | None = None  # string scalars: char offset -> Span


@dataclass
class Document:
    """A YAML file (or a chain of files merged by `extends:`) as plain data plus positions."""

    data: Any
    places: dict[PathKey, NodePlace] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def place(self, path: PathKey, *, key: bool = False) -> Span | None:
        """The span of the value at `path` (or of its key), falling back to the nearest parent."""
        for cut in range(len(path), -1, -1):
            found = self.places.get(path[:cut])
            if found is not None:
                if key and cut == len(path) and found.key is not None:
                    return found.key
                return found.value
        return None

    def text_span(self, path: PathKey, start: int, end: int | None = None) -> Span | None:
        """The span of characters [start, end) of the string at `path`, in file coordinates."""
        found = self.places.get(path)
        if found is None or found.text_position is None:
            return self.place(path)
        first = found.text_position(start)
        if end is None or end <= start:
            return first
        last = found.text_position(max(start, end - 1))
        end_col = last.column + 1 if last.line == first.line else None
        return Span(first.file, first.line, first.column, end_col)


def read_yaml(path: Path) -> Document:
    """Read one YAML file. Raises CannotRun (exit 2) when the file is missing or is not YAML."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CannotRun([Diagnostic("S100", f"no such file: {name}")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CannotRun([Diagnostic("S100", f"cannot read {name}: {exc}")]) from None
    if len(text) > MAX_CHARACTERS:
        raise CannotRun([Diagnostic(
            "S105", f"{name} has {len(text):,} characters; a spec may have at most "
            f"{MAX_CHARACTERS:,}", hint="a method is a few thousand lines; is this a data file?")])
    try:
        root = _compose(text)
        builder = _Builder(name, text)
        data = builder.build(root, ()) if root is not None else None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        span = Span(name, mark.line + 1, mark.column + 1) if mark else None
        problem = exc.problem or exc.context or "not valid YAML"
        if "nesting depth" in problem:  # libyaml stops at 1,000 levels
            raise CannotRun([Diagnostic("S105", f"{name}: nested too deeply", span, hint=(
                "a spec nests a few levels; more than 1,000 is not a spec"))]) from None
        raise CannotRun([Diagnostic("S101", f"YAML syntax error: {problem}", span)]) from None
    except ReaderError as exc:  # a byte YAML does not allow (a NUL, a control character)
        position = exc.position if PARSER is _PythonParser else \
            len(text.encode("utf-8")[:exc.position].decode("utf-8", "ignore"))
        line = text.count("\n", 0, position)
        column = position - (text.rfind("\n", 0, position) + 1)
        raise CannotRun([Diagnostic(
            "S101", "YAML syntax error: character "
            f"{chr(exc.character) if isinstance(exc.character, int) else exc.character!r} "
            "is not allowed in YAML",
            Span(name, line + 1, column + 1))]) from None
    except (RecursionError, _TooLarge) as exc:
        raise CannotRun([Diagnostic(
            "S105", f"{name}: {exc if isinstance(exc, _TooLarge) else 'nested too deeply'}",
            hint="aliases (*name) that repeat large parts, or very deep nesting, make a spec "
                 "too large to read")]) from None
    return Document(data=data, places=builder.places, files=[name], diagnostics=builder.problems)


MAX_CHARACTERS = 10_000_000  # a spec's text; the bundled ones have about 100,000
MAX_VALUES = 200_000  # values after aliases are expanded; a bundled spec has a few thousand


class _Resolver(yaml.resolver.BaseResolver):
    """The tags of plain scalars by YAML 1.2's core schema (and `<<` merge keys); anything
    else is text."""


for _tag, _pattern, _first in [
        ("bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
        ("float", r"""[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                   |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                   |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
                   |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)""", "-+0123456789."),
        ("int", r"[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?[0-9_]+|[-+]?0x[0-9a-fA-F_]+",
         "-+0123456789"),
        ("merge", r"<<", "<"),
        ("null", r"~|null|Null|NULL|", ["~", "n", "N", ""])]:
    _Resolver.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}",
                                    re.compile(f"^(?:{_pattern})$", re.X), list(_first))


class _PythonParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser,
                    yaml.composer.Composer):
    """PyYAML's own parser, in Python: the same nodes and marks as libyaml's, for a PyYAML
    built without libyaml (its wheels carry it)."""

    def __init__(self, text: str) -> None:
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)


try:  # the parser: libyaml's where PyYAML has it (its reader errors count bytes)
    from yaml.cyaml import CParser as PARSER
except ImportError:  # a PyYAML built without libyaml
    PARSER = _PythonParser


def _compose(text: str) -> Node | None:
    parser = PARSER

    class Loader(parser, _Resolver):  # type: ignore[misc, valid-type]
        def __init__(self, text: str) -> None:
            parser.__init__(self, text)
            _Resolver.__init__(self)

    loader = Loader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


class _TooLarge(Exception):
    """The spec expands to more values than MAX_VALUES (an alias bomb)."""


class _Builder:
    """Turns composed nodes into plain Python values, recording positions and duplicate keys."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.text = text
        self.line_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
        self.places: dict[PathKey, NodePlace] = {}
        self.problems: list[Diagnostic] = []

    def span(self, node: Node) -> Span:
        start, end = node.start_mark, node.end_mark
        end_col = end.column + 1 if end.line == start.line and end.column > start.column else None
        return Span(self.file, start.line + 1, start.column + 1, end_col)

    def build(self, node: Node, path: PathKey, key_span: Span | None = None) -> Any:
        if len(self.places) >= MAX_VALUES:
            raise _TooLarge(f"the spec expands to more than {MAX_VALUES:,} values")
        text_position = None
        if isinstance(node, ScalarNode) and str(node.tag).endswith(":str"):
            text_position = self._text_positions(node)
        self.places[path] = NodePlace(self.span(node), key_span, text_position)
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node)

    def _mapping(self, node: MappingNode, path: PathKey) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_seen: dict[str, Span] = {}
        for key_node, value_node in node.value:
            if str(key_node.tag).endswith(":merge"):
                merged = self.build(value_node, path)
                for part in merged if isinstance(merged, list) else [merged]:
                    if isinstance(part, dict):
                        for k, v in part.items():
                            out.setdefault(k, v)
                continue
            key = self._scalar(key_node) if isinstance(key_node, ScalarNode) else None
            if isinstance(key, int) and not isinstance(key, bool):
                key = str(key)  # codes such as scale values: keys are text, as in JSON
            key_span = self.span(key_node)
            if not isinstance(key, str):
                self.problems.append(Diagnostic(
                    "S102", f"mapping keys must be names, not {key!r}", key_span))
                continue
            if key in first_seen:
                earlier = first_seen[key]
                self.problems.append(Diagnostic(
                    "S103", f"duplicate key '{key}' (first defined at line {earlier.line})",
                    key_span, hint="each key may appear once in a mapping; the first one is kept"))
                continue
            first_seen[key] = key_span
            out[key] = self.build(value_node, (*path, key), key_span)
        return out

    def _scalar(self, node: Node) -> Any:
        tag, value = str(node.tag), node.value
        if tag.endswith(":null"):
            return None
        if tag.endswith(":bool"):
            return value.lower() == "true"
        if tag.endswith(":int"):
            text = value.replace("_", "")
            for base in (10, 0):
                try:
                    return int(text, base)
                except ValueError:
                    continue
            return value  # a number YAML 1.1 knows and Python does not (1:30): kept as text
        if tag.endswith(":float"):
            lowered = value.lower().replace(".inf", "inf").replace(".nan", "nan")
            try:
                return float(lowered)
            except ValueError:
                return value
        return value

    def _text_positions(self, node: ScalarNode) -> Callable[[int], Span]:
        """Map each character of the parsed string back to the file (quotes, folds, blocks)."""
        value: str = node.value
        start, end = node.start_mark.index, node.end_mark.index
        raw = self.text[start:end]
        j = 0
        if node.style in ("|", ">"):
            j = raw.find("\n") + 1 if "\n" in raw else len(raw)
        elif node.style in ("'", '"'):
            j = 1
        positions: list[int] = []
        for ch in value:
            while j < len(raw) and raw[j] != ch and (raw[j].isspace() or raw[j] in "\\'\""):
                j += 1
            positions.append(start + min(j, max(len(raw) - 1, 0)))
            if j < len(raw) and raw[j] == ch:
                j += 1

        def position(offset: int) -> Span:
            absolute = positions[offset] if offset < len(positions) else (
                positions[-1] + 1 if positions else start)
            line = bisect.bisect_right(self.line_starts, absolute) - 1
            return Span(self.file, line + 1, absolute - self.line_starts[line] + 1)

        return position
