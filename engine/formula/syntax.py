"""The syntax tree of the formula language: frozen nodes, each with its character range."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class Range:
    """Characters [start, end) of the formula text."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    at: Range


@dataclass(frozen=True, slots=True)
class String:
    value: str
    at: Range


@dataclass(frozen=True, slots=True)
class Boolean:
    value: bool
    at: Range


@dataclass(frozen=True, slots=True)
class Name:
    """A name, possibly dotted: `paid`, `service.paid`, `services.csc_total`."""

    parts: tuple[str, ...]
    at: Range

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class Index:
    """`group[key]`: look a key up in a parameter table."""

    target: Name
    key: Expr
    at: Range


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" or "not"
    operand: Expr
    at: Range


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # + - * / ^ and or == != < <= > >=
    left: Expr
    right: Expr
    at: Range


@dataclass(frozen=True, slots=True)
class Membership:
    """`x in (a, b)` or `x not in (a, b)`."""

    value: Expr
    options: tuple[Expr, ...]
    negated: bool
    at: Range


@dataclass(frozen=True, slots=True)
class Keyword:
    name: str
    value: Expr
    at: Range


@dataclass(frozen=True, slots=True)
class Call:
    function: str
    args: tuple[Expr, ...]
    keywords: tuple[Keyword, ...]
    at: Range
    name_at: Range


Expr: TypeAlias = Number | String | Boolean | Name | Index | Unary | Binary | Membership | Call

ARITHMETIC = ("+", "-", "*", "/", "^")
COMPARISON = ("==", "!=", "<", "<=", ">", ">=")
LOGICAL = ("and", "or")


def names(node: Expr) -> list[str]:
    """The dotted names a formula reads, in order of first use (functions and keywords'
    names aside; a parameter table's key is read too)."""
    found: list[str] = []

    def walk(n: Expr) -> None:
        if isinstance(n, Name):
            found.append(n.dotted)
        elif isinstance(n, Index):
            found.append(n.target.dotted)
            walk(n.key)
        elif isinstance(n, Unary):
            walk(n.operand)
        elif isinstance(n, Binary):
            walk(n.left)
            walk(n.right)
        elif isinstance(n, Membership):
            for part in (n.value, *n.options):
                walk(part)
        elif isinstance(n, Call):
            for part in (*n.args, *(k.value for k in n.keywords)):
                walk(part)

    walk(node)
    return list(dict.fromkeys(found))


def to_text(node: Expr) -> str:
    """Canonical text of a node: parsing it again gives an equal tree (ranges aside)."""
    if isinstance(node, Number):  # a folded negative literal keeps its sign inside brackets:
        text = repr(node.value)  # "-2 ^ 2" would read back as -(2 ^ 2)
        return f"({text})" if text.startswith("-") else text
    if isinstance(node, String):
        return '"' + node.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(node, Boolean):
        return "true" if node.value else "false"
    if isinstance(node, Name):
        return node.dotted
    if isinstance(node, Index):
        return f"{node.target.dotted}[{to_text(node.key)}]"
    if isinstance(node, Unary):
        operand = to_text(node.operand)
        return f"(not {operand})" if node.op == "not" else f"(-{operand})"
    if isinstance(node, Binary):
        return f"({to_text(node.left)} {node.op} {to_text(node.right)})"
    if isinstance(node, Membership):
        options = ", ".join(to_text(o) for o in node.options)
        word = "not in" if node.negated else "in"
        return f"({to_text(node.value)} {word} ({options}))"
    args = [to_text(a) for a in node.args] + [f"{k.name}={to_text(k.value)}" for k in node.keywords]
    return f"{node.function}({', '.join(args)})"


def shape(node: Expr) -> object:
    """The tree without character ranges: two formulas mean the same when their shapes are equal."""
    if isinstance(node, Number | String | Boolean):
        return (type(node).__name__, node.value)
    if isinstance(node, Name):
        return ("Name", node.parts)
    if isinstance(node, Index):
        return ("Index", node.target.parts, shape(node.key))
    if isinstance(node, Unary):
        return ("Unary", node.op, shape(node.operand))
    if isinstance(node, Binary):
        return ("Binary", node.op, shape(node.left), shape(node.right))
    if isinstance(node, Membership):
        return ("In", shape(node.value), tuple(shape(o) for o in node.options), node.negated)
    return ("Call", node.function, tuple(shape(a) for a in node.args),
            tuple((k.name, shape(k.value)) for k in node.keywords))
