"""The typed plan (the IR) a formula compiles to, and the catalogue of what a formula may name.

A plan node knows its type (number, bool, string) and the table whose rows its values are aligned
to (None for a constant). The spec model holds plans; queries.py runs them; only the compiler
makes them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

Type = Literal["number", "bool", "string"]


@dataclass(frozen=True)
class Link:
    """Rows of `child` point to rows of `parent`: child[on] == parent[key] (same order)."""

    name: str
    child: str
    parent: str
    on: tuple[str, ...]
    key: tuple[str, ...]


@dataclass(frozen=True)
class Band:
    label: str
    lower: float | None  # inclusive; None = no lower bound
    upper: float | None  # exclusive unless upper_closed; None = no upper bound
    upper_closed: bool = False


@dataclass
class Catalog:
    """Everything a formula may name: tables (columns, variables, links), parameters, bands."""

    columns: dict[str, dict[str, Type]] = field(default_factory=dict)  # table -> name -> type
    links: dict[str, dict[str, Link]] = field(default_factory=dict)  # child table -> link name
    parameters: dict[str, float | str | bool] = field(default_factory=dict)
    groups: dict[str, dict[str, float | str | bool]] = field(default_factory=dict)
    bands: dict[str, tuple[Band, ...]] = field(default_factory=dict)

    def children(self, table: str) -> dict[str, Link]:
        """Child tables of `table`, by child table name."""
        return {link.child: link for links in self.links.values() for link in links.values()
                if link.parent == table}


# ---------------------------------------------------------------------------------------- the IR
@dataclass(frozen=True)
class Node:
    type: Type
    table: str | None  # rows the values are aligned to; None for a constant


@dataclass(frozen=True)
class Const(Node):
    value: float | str | bool | None


@dataclass(frozen=True)
class Column(Node):
    name: str


@dataclass(frozen=True)
class Up(Node):
    """Values of `inner` (rows of link.parent) looked up for each row of link.child."""

    link: Link
    inner: Node


@dataclass(frozen=True)
class Op(Node):
    op: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Reduce(Node):
    """An aggregate of `arg` per group. Over a link: child rows grouped by their parent row.
    Without a link: rows of the same table grouped by `by` (or all rows), broadcast back."""

    function: str
    arg: Node
    link: Link | None
    by: Node | None
    where: Node | None


@dataclass(frozen=True)
class Window(Node):
    """Row-wise cohort functions (rank, minmax) computed within groups of the same table."""

    function: str
    arg: Node
    by: Node | None
    where: Node | None
    options: tuple[tuple[str, object], ...]


@dataclass(frozen=True)
class Lookup(Node):
    mapping: tuple[tuple[str, float | str | bool], ...]
    key: Node


@dataclass(frozen=True)
class Banding(Node):
    bands: tuple[Band, ...]
    value: Node


def _parts(plans: tuple[object, ...]) -> Iterator[object]:
    """Every node, link and part of the plans (or of anything holding plans)."""
    stack = list(plans)
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, Link):
            continue
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack += [getattr(item, f.name) for f in dataclasses.fields(item)]
        elif isinstance(item, tuple | list):
            stack += list(item)


def children(node: Node) -> list[Node]:
    """The nodes a node reads, in the order of its fields (an operation's arguments in order;
    an aggregate's value, then by=, then where=): every node type, present and future."""
    found: list[Node] = []
    for item in (getattr(node, f.name) for f in dataclasses.fields(node)):
        for value in item if isinstance(item, tuple) else (item,):
            if isinstance(value, Node):
                found.append(value)
    return found


def tables_read(*plans: object) -> set[str]:
    """Every table a plan (or anything holding plans: a variable, a rating) reads, through
    its columns, links and aggregates."""
    found: set[str] = set()
    for item in _parts(plans):
        if isinstance(item, Node) and item.table is not None:
            found.add(item.table)
        if isinstance(item, Link):
            found |= {item.child, item.parent}
    return found


def columns_read(*plans: object) -> set[tuple[str, str]]:
    """Every column (table, name) a plan reads."""
    return {(item.table, item.name) for item in _parts(plans)  # type: ignore[misc]
            if isinstance(item, Column)}


def links_followed(*plans: object) -> set[Link]:
    """Every link a plan follows: a value looked up through it, an aggregate over it."""
    return {item for item in _parts(plans) if isinstance(item, Link)}


def aggregates_over(table: str, *plans: object) -> bool:
    """Whether a plan aggregates or ranks rows of `table` (needs all of them at once), rather
    than looking at one row at a time."""
    return any((isinstance(item, Reduce) and item.arg.table == table)
               or (isinstance(item, Window) and item.table == table) for item in _parts(plans))
