"""One shape for every problem the engine reports: a code, a severity, a place and a message."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Span:
    """A place in a source file: 1-based line and column, optionally an end column on that line."""

    file: str
    line: int
    column: int
    end_column: int | None = None
    cell: str | None = None  # a spreadsheet's name for the place ("G5", "services!G5")

    def __str__(self) -> str:
        if self.cell:
            return f"{self.file}:{self.cell}"
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A problem found in a spec or in data.

    Codes are stable (documented in docs/diagnostics.md): S1xx structure, S2xx references and
    semantics, F3xx formulas, D4xx data, T5xx embedded tests.
    """

    code: str
    message: str
    span: Span | None = None
    severity: Severity = "error"
    hint: str | None = None
    path: str | None = None

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["span"] = asdict(self.span) if self.span else None
        return out


FORMULA = "<formula>"


def formula_span(start: int, end: int) -> Span:
    """Characters [start, end) of one formula's text. The formula language knows no files: the
    spec checker moves such a span to where the formula is written (`Document.text_span`)."""
    return Span(FORMULA, 1, start + 1, end + 1)


def offsets(span: Span) -> tuple[int, int]:
    """The characters [start, end) of a `formula_span`."""
    return span.column - 1, (span.end_column or span.column + 1) - 1


class SapaError(Exception):
    """Raised with every diagnostic found, never only the first, and optionally one closing line
    for people (what was not done because of them). The command line shows both and exits with
    `exit_code`."""

    exit_code = 1

    def __init__(self, diagnostics: Sequence[Diagnostic], summary: str | None = None) -> None:
        super().__init__(summary or "\n".join(f"{d.code}: {d.message}" for d in diagnostics))
        self.diagnostics = tuple(diagnostics)
        self.summary = summary


class CannotRun(SapaError):
    """The input could not be read at all (missing file, unreadable YAML): exit code 2."""

    exit_code = 2


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A 'did you mean' hint for a misspelt name, or None when nothing is close."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.6)
    if not close:
        return None
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"


@dataclass
class SourceCache:
    """Reads source lines once for snippets."""

    texts: dict[str, list[str]] = field(default_factory=dict)

    def line(self, file: str, number: int) -> str | None:
        if file not in self.texts:
            try:
                self.texts[file] = Path(file).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                self.texts[file] = []  # a binary source (a workbook): no snippet
        lines = self.texts[file]
        return lines[number - 1] if 0 < number <= len(lines) else None


def render_text(diagnostics: Sequence[Diagnostic], sources: SourceCache | None = None) -> str:
    """Render diagnostics for people: place, severity, code, message, the line and a caret."""
    sources = sources or SourceCache()
    blocks = []
    for d in sorted(diagnostics, key=_order):
        place = f"{d.span}: " if d.span else ""
        lines = [f"{place}{d.severity}[{d.code}] {d.message}"]
        if d.span:
            text = sources.line(d.span.file, d.span.line)
            if text is not None:
                width = max(1, (d.span.end_column or d.span.column + 1) - d.span.column)
                lines.append(f"    {text}")
                lines.append("    " + " " * (d.span.column - 1) + "^" * width)
        if d.hint:
            lines.append(f"  hint: {d.hint}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def render_json(diagnostics: Sequence[Diagnostic]) -> str:
    return json.dumps([d.as_dict() for d in sorted(diagnostics, key=_order)], ensure_ascii=False,
                      indent=2)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity == "error" for d in diagnostics)


def _order(d: Diagnostic) -> tuple[str, int, int, str]:
    if d.span is None:
        return ("", 0, 0, d.code)
    return (d.span.file, d.span.line, d.span.column, d.code)
