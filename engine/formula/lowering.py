"""A formula plan lowered to Ibis and compiled to SQL: a query over views of its tables that
DuckDB or Spark runs (queries.py runs and keeps it).

The semantics are the formula language's (docs/formula-language.md), the same to the last bit
on every engine and checked against a pandas reference (tests/reference_evaluator.py): missing in,
missing out; division by zero and results beyond float range give missing (a zero divisor is
tested first, as ANSI SQL such as Spark's raises an error on it; infinity and NaN are turned to
missing); numbers are doubles, never SQL's decimals; conditions are three-valued, and `if` takes
neither branch on a missing condition; aggregates skip missing values, a sum or count of nothing
is 0 and a mean, min or max of nothing is missing, and sums are split on a grid
(`_split_parts`), so that no engine's order of rows changes them; ranks leave missing values
unranked. SQL keeps no row order, so every table carries its row number (ROW) and results come
back in it.

Each table is one relation that grows as the plan needs it: a value looked up through a link
(Up), an aggregate over a link's child rows or over groups (Reduce) and a rank or rescaling
(Window) become columns of their table's relation (a join, a grouped aggregate, a window), made
before the row-by-row operations above them read them: the parts of one depth together.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping

import ibis
import ibis.expr.types as ir

from sapa.engine.formula.frames import REPLICATE
from sapa.engine.formula.numbers import SPLIT, WHOLE
from sapa.engine.formula.plan import (
    Banding,
    Column,
    Const,
    Link,
    Lookup,
    Node,
    Op,
    Reduce,
    Up,
    Window,
    children,
)
from sapa.engine.formula.queries import ROW, Query, Schema, sql_name, view

_IBIS_TYPE = {"number": "float64", "bool": "boolean", "string": "string"}


class Lowering:
    """Plans lowered over a set of relations; what one plan adds to a relation (a join, an
    aggregate) is kept and shared by every later plan that needs the same part.

    Arithmetic that gives no number from two numbers is flagged (Frames.flag_undefined): a
    flag per row of each table, an `if` keeping only the flags of the branch each row
    takes."""

    def __init__(self, tables: Mapping[str, ir.Table]) -> None:
        self.relations = dict(tables)
        self._made: dict[Node, str] = {}  # a part already made: its column in its table
        self._flagged: dict[Node, tuple[str, str]] = {}  # a part's flags: table, column
        self.constant_flags: list[ir.Value] = []  # of constant parts (one value each)
        self._constants: dict[Node, list[ir.Value]] = {}  # those found making a part
        self.sizes: dict[Reduce, str] = {}  # a split sum's group size: its column (_sizes)

    def flags(self, node: Node) -> dict[str | None, ir.Value]:
        """The flags the plan's parts leave on tables other than its own (a value looked up
        through a link, the rows an aggregate skipped), one boolean column per table."""
        found: dict[str | None, ir.Value] = {}
        for part in _post_order(node):
            if part in self._flagged:
                table, column = self._flagged[part]
                if table == part.table and not isinstance(part, Up):
                    continue  # among the flags of what reads the part (Lowering.lowered)
                flag = self.relations[table][column]
                found[table] = flag if table not in found else found[table] | flag
        return found

    # ---------------------------------------------------------------- parts made as columns
    def prepare(self, nodes: Iterable[Node]) -> None:
        """Make every join, aggregate, window and arithmetic result of the plans a column,
        innermost first: the parts of one depth together, in one projection per table and
        one join per link (Ibis's compile time grows with the layers of a query)."""
        for parts in _depths(nodes, self._made):
            self._make(parts)

    def _make(self, parts: list[Node]) -> None:
        """Parts none of which reads another: each lowered over the relations as they are,
        then added to them."""
        names = {part: f"_part{len(self._made) + i}_" for i, part in enumerate(parts)}
        self._sizes(parts)
        columns: dict[str, dict[str, ir.Value]] = {}  # per table
        joined: dict[Link, list[str]] = {}  # Up: made on the parent's rows, then joined
        reduced: dict[Link, list[Reduce]] = {}  # aggregated per parent row, then joined
        for part in parts:
            before = len(self.constant_flags)
            name = names[part]
            if isinstance(part, Op):  # arithmetic: its value read as a column, written once
                value, flags = self.lowered(part)
                self._add(columns, part, part.table, {name: value}, flags)  # type: ignore[arg-type]
            elif isinstance(part, Up):
                value, flags = self.lowered(part.inner)
                self._add(columns, part, part.link.parent, {name: value}, flags)
                joined.setdefault(part.link, []).append(name)
            elif isinstance(part, Reduce) and part.link is not None:
                self._add(columns, part, part.arg.table, {}, self._inner_flags(part))  # type: ignore[arg-type]
                reduced.setdefault(part.link, []).append(part)
            else:
                value = _over_groups(part, self) if isinstance(part, Reduce) \
                    else _window(part, self)  # type: ignore[arg-type]
                self._add(columns, part, part.table, {name: value},  # type: ignore[arg-type]
                          self._inner_flags(part))  # type: ignore[arg-type]
            self._constants[part] = self.constant_flags[before:]
        for table, added in columns.items():
            self.relations[table] = self.relations[table].mutate(**added)
        for link, made in joined.items():
            self._join(link, {name: self.relations[link.parent][name] for name in made})
        for link, aggregates in reduced.items():
            self._reduce_over_link(link, {names[part]: part for part in aggregates})
        self._made.update(names)

    def _sizes(self, parts: list[Node]) -> None:
        """The largest size in each group of the values a sum or mean of numbers adds up, as
        a column of the rows it adds (a window: `_split_parts` needs it before it sums)."""
        added: dict[str, dict[str, ir.Value]] = {}
        for part in parts:
            if isinstance(part, Reduce) and _split(part):
                table = part.arg.table
                groups = _groups(part, self) if part.link is None else \
                    [self.relations[table][o] for o in self._keys(part.link)[0]]  # type: ignore[index]
                values, keep = _counted(part, self)
                size = ibis.cases((keep, values.abs()), else_=ibis.null("float64")).max()
                name = self.sizes[part] = f"_size{len(self.sizes)}_"
                added.setdefault(table, {})[name] = size.over(ibis.window(group_by=groups))  # type: ignore[index]
        for table, columns in added.items():
            self.relations[table] = self.relations[table].mutate(**columns)

    def _add(self, columns: dict[str, dict[str, ir.Value]], part: Node, table: str,
             values: dict[str, ir.Value], flags: ir.Value | None) -> None:
        """Note the columns a part adds to `table`, with its flags (on rows of that table)."""
        added = columns.setdefault(table, {})
        added.update(values)
        if flags is not None:
            column = f"_flag{len(self._flagged)}_"
            added[column] = flags
            self._flagged[part] = (table, column)

    def _inner_flags(self, part: Reduce | Window) -> ir.Value | None:
        """The flags of what an aggregate or window reads (its value, where=, by=)."""
        return _any([self.rowwise(n, self.lowered(n)[1]) for n in (part.arg, part.where,
                                                                     part.by) if n is not None])

    def constants(self, node: Node) -> list[ir.Value]:
        """The flags of the constant parts inside the plan's joins and aggregates."""
        return [f for part in _post_order(node) for f in self._constants.get(part, [])]

    def rowwise(self, node: Node, flags: ir.Value | None) -> ir.Value | None:
        """A part's flags as flags of rows; a constant part's are flagged apart
        (`constant_flags`), and are no row's."""
        if node.table is None and flags is not None:
            self.constant_flags.append(flags)
            return None
        return flags

    def _keys(self, link: Link) -> tuple[list[str], list[str], ir.Value | None]:
        """A link's columns (child side, parent side) and which parent rows it may find. A
        link's key is unique (the data contract stops a run where not, D406), but in a
        bootstrap every table but the respondents' is repeated once per replicate: a link
        between two repeated tables stays within a replicate, and one from the respondents
        finds the first copy (as Frames.positions does)."""
        on, key = [sql_name(c) for c in link.on], [sql_name(c) for c in link.key]
        upper = self.relations[link.parent]
        if REPLICATE not in upper.columns:
            return on, key, None
        if REPLICATE in self.relations[link.child].columns:
            return [*on, REPLICATE], [*key, REPLICATE], None
        first = upper[ROW] == upper[ROW].min().over(ibis.window(group_by=key))
        return on, key, first

    def _join(self, link: Link, columns: Mapping[str, ir.Value]) -> None:
        """Add `columns` (values per row of the parent) to each row of the child whose link
        finds a parent row."""
        on, key, first = self._keys(link)
        upper = self.relations[link.parent]
        found = upper.select(**{f"_key{i}_": upper[k] for i, k in enumerate(key)}, **columns,
                             _found_=ibis.literal(True) if first is None else first)
        found = found.filter(found._found_)
        lower = self.relations[link.child]
        joined = lower.left_join(found, [lower[o] == found[f"_key{i}_"]
                                         for i, o in enumerate(on)])
        self.relations[link.child] = joined.select(*lower.columns, *columns)

    def _reduce_over_link(self, link: Link, parts: dict[str, Reduce]) -> None:
        """Aggregates of child rows per parent row: grouped by the link's columns, joined to
        the parent (a parent no row points to has nothing: counts 0, the rest missing)."""
        on, key, first = self._keys(link)
        lower = self.relations[link.child]
        sums = {name: _sums(part, self) for name, part in parts.items()}
        # named after the first part: the grouped relations of two depths may be alike
        # (count and share of one condition), and would otherwise be one, joined twice
        prefix = next(iter(parts))
        grouped = lower.group_by([lower[o].name(f"{prefix}key{i}") for i, o in enumerate(on)]
                                 ).aggregate(**{f"{name}sum{i}": s for name, part_sums in
                                                sums.items() for i, s in enumerate(part_sums)})
        upper = self.relations[link.parent]
        if first is not None:
            upper = upper.mutate(_found_=first)
        joined = upper.left_join(grouped, [upper[k] == grouped[f"{prefix}key{i}"]
                                           for i, k in enumerate(key)]
                                 + ([] if first is None else [upper._found_]))
        columns = [c for c in upper.columns if c != "_found_"]
        self.relations[link.parent] = joined.select(*columns, **{
            name: _finish(part, [joined[f"{name}sum{i}"] for i in range(len(sums[name]))])
            for name, part in parts.items()})

    # ------------------------------------------------------------------ row by row values
    def value(self, node: Node) -> ir.Value:
        """The node as an expression over its table's relation (its parts already made)."""
        return self.lowered(node)[0]

    def lowered(self, node: Node) -> tuple[ir.Value, ir.Value | None]:
        """The node's value and, where its arithmetic can give no number, its flags: both
        expressions over its table's relation (its parts already made)."""
        if node in self._made:
            relation = self.relations[node.table]  # type: ignore[index]
            flagged = self._flagged.get(node)
            own = None if flagged is None or flagged[0] != node.table or isinstance(node, Up) \
                else relation[flagged[1]]
            return relation[self._made[node]], own
        if isinstance(node, Const):
            kind = _IBIS_TYPE[node.type]
            return (ibis.null(kind) if node.value is None else _literal(node.value, node.type),
                    None)
        if isinstance(node, Column):
            column = self.relations[node.table][sql_name(node.name)]  # type: ignore[index]
            return (column.cast("float64") if node.type == "number" else column), None
        if isinstance(node, Op):
            lowered = [self.lowered(a) for a in node.args]
            args = [value for value, _ in lowered]
            value = _operation(node, args)
            flags = [flag if node.table is None else self.rowwise(a, flag)
                     for a, (_, flag) in zip(node.args, lowered, strict=True)]
            if node.op == "if":
                condition = args[0]
                flags = [flags[0], _taken(condition, flags[1]),
                         _taken(condition == ibis.literal(False), flags[2])]
            if node.op in _ARITHMETIC:
                flags.append(_given(args) & value.isnull())
            return value, _any(flags)
        if isinstance(node, Lookup):
            key, flags = self.lowered(node.key)
            kind = _IBIS_TYPE[node.type]
            return ibis.cases(*((key == k, _literal(v, node.type)) for k, v in node.mapping),
                              else_=ibis.null(kind)), flags
        if isinstance(node, Banding):
            x, flags = self.lowered(node.value)
            branches = []
            for band in node.bands:
                inside = ibis.literal(True)
                if band.lower is not None:
                    inside &= x >= _float(band.lower)
                if band.upper is not None:
                    upper = _float(band.upper)
                    inside &= (x <= upper) if band.upper_closed else (x < upper)
                branches.append((inside, ibis.literal(band.label, "string")))
            return ibis.cases(*branches, else_=ibis.null("string")), flags
        raise TypeError(f"no lowering for {type(node).__name__}")


_ARITHMETIC = ("+", "-", "*", "/", "^")


def _any(flags: list[ir.Value | None]) -> ir.Value | None:
    """Flags combined: a row is flagged where any of them flags it."""
    found = [f for f in flags if f is not None]
    if not found:
        return None
    combined = found[0].fill_null(False)
    for flag in found[1:]:
        combined |= flag.fill_null(False)
    return combined


def _taken(condition: ir.Value, flags: ir.Value | None) -> ir.Value | None:
    """A branch's flags on the rows that take it."""
    return None if flags is None else condition.fill_null(False) & flags


def _is_part(node: Node) -> bool:
    """Whether a node is made a column of its table before what reads it: a join, an
    aggregate, a window, and arithmetic over rows. An arithmetic result is read three
    times (to make infinity and NaN missing) and its flags once more: written in place, a
    sum of ten terms would be written out 3^9 times."""
    return isinstance(node, Up | Reduce | Window) or (
        isinstance(node, Op) and node.op in _ARITHMETIC and node.table is not None)


def _depths(nodes: Iterable[Node], made: Mapping[Node, str]) -> list[list[Node]]:
    """The plans' parts not yet made, by depth: a part's depth is one more than the deepest
    part it reads (a made part is a column: it counts as none)."""
    depth: dict[Node, int] = {}

    def deepest(node: Node) -> int:
        if node in made:
            return -1
        if node not in depth:
            below = max((deepest(child) for child in children(node)), default=-1)
            depth[node] = below + 1 if _is_part(node) else below
        return depth[node]

    found: dict[int, list[Node]] = {}
    for node in nodes:
        deepest(node)
    for part, level in depth.items():  # in the order first met: innermost first
        if _is_part(part):
            found.setdefault(level, []).append(part)
    return [found[level] for level in sorted(found)]


def _post_order(node: Node) -> Iterator[Node]:
    for child in children(node):
        yield from _post_order(child)
    yield node


# ----------------------------------------------------------------------------- operations
def _float(value: float) -> ir.Value:
    """A number as a double in every SQL dialect: a bare 0.1 is a decimal in DuckDB and Spark,
    whose arithmetic (0.1 * 3 is 0.3 exactly, 1 / 3 is 0.333333) is not a double's."""
    return ibis.literal(repr(float(value))).cast("float64")


def _literal(value: object, kind: str) -> ir.Value:
    return _float(value) if kind == "number" else ibis.literal(value, _IBIS_TYPE[kind])  # type: ignore[arg-type]


def _number(value: ir.Value) -> ir.Value:
    """Infinity and NaN (what SQL gives for overflow, (-8) ^ 0.5) become missing: a number
    is kept when its size is at most the largest double, which infinity is not, nor NaN (SQL
    engines order it above every number; Ibis's isinf is no test on Spark)."""
    return ibis.cases((value.abs() <= _float(sys.float_info.max), value),
                      else_=ibis.null("float64"))


def _given(values: list[ir.Value]) -> ir.Value:
    known = values[0].notnull()
    for v in values[1:]:
        known &= v.notnull()
    return known


def _operation(node: Op, args: list[ir.Value]) -> ir.Value:
    op = node.op
    if op in ("+", "-", "*", "/", "^"):
        a, b = args
        quotient = ibis.cases((b == _float(0), ibis.null("float64")), else_=a / b)
        result = {"+": a + b, "-": a - b, "*": a * b, "/": quotient, "^": a ** b}[op]
        return _number(result)
    if op == "neg":
        return -args[0]
    if op in ("==", "!=", "<", "<=", ">", ">="):
        a, b = args
        return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b,
                ">=": a >= b}[op]
    if op in ("in", "not in"):
        value, *options = args
        found = value == options[0]
        for option in options[1:]:
            found |= value == option
        return found == ibis.literal(False) if op == "not in" else found
    if op == "and":
        return args[0] & args[1]
    if op == "or":
        return args[0] | args[1]
    if op == "not":  # not NOT: Ibis writes (not b) IS NULL as NOT (b) IS NULL, NOT (b IS NULL)
        return args[0] == ibis.literal(False)
    if op == "if":
        condition, yes, no = args
        return ibis.cases((condition, yes), (condition == ibis.literal(False), no),
                          else_=ibis.null(yes.type()))
    if op == "coalesce":
        return ibis.coalesce(*args)
    if op == "is_missing":  # Spark cannot read x IS NULL IS NULL, as Ibis writes it nested
        return ibis.cases((args[0].isnull(), True), else_=False)
    if op == "abs":
        return args[0].abs()
    if op == "round":  # half away from zero on the decimal value (numbers.round_half_up)
        x, scale = args[0], _float(10.0 ** int(node.args[1].value))  # type: ignore[attr-defined]
        whole = x.abs() >= _float(WHOLE)
        scaled = (ibis.cases((whole, _float(0)), else_=x) * scale).round(9)
        up = scaled.abs() + _float(0.5)
        rounded = scaled.sign() * (up - up % _float(1)) / scale  # x - x % 1: floor, a float
        return ibis.cases((whole, x), else_=rounded)
    if op == "clamp":
        x, low, high = args
        clipped = ibis.cases((x < low, low), else_=x)
        clipped = ibis.cases((clipped > high, high), else_=clipped)
        return ibis.cases((_given(args), clipped), else_=ibis.null("float64"))
    if op in ("sum", "mean", "min", "max"):  # of several values in each row, missing skipped
        if op in ("min", "max"):  # SQL's least and greatest skip missing values
            return (ibis.least if op == "min" else ibis.greatest)(*args)
        present = [ibis.cases((a.notnull(), _float(1)), else_=_float(0)) for a in args]
        count = present[0]
        for p in present[1:]:
            count += p
        total = args[0].fill_null(_float(0))
        for a in args[1:]:
            total += a.fill_null(_float(0))
        return ibis.cases((count == 0, ibis.null("float64")),
                          else_=total if op == "sum" else total / count)
    raise ValueError(f"no lowering for the operation {op!r}")


# ------------------------------------------------------------------------- aggregates
def _counted(part: Reduce | Window, lowering: Lowering) -> tuple[ir.Value, ir.Value]:
    """The values aggregated and whether each row counts (its where= holds, its value is
    given)."""
    values = lowering.value(part.arg)
    keep = values.notnull()
    if part.where is not None:
        keep &= lowering.value(part.where).fill_null(False)
    return values, keep


def _sums(part: Reduce, lowering: Lowering) -> list[ir.Value]:
    """What a group's aggregate is made from: counts and sums that add up across rows (and a
    minimum or maximum), so that a group with no row is 0s."""
    values, keep = _counted(part, lowering)
    known = ibis.cases((keep, _float(1)), else_=_float(0)).sum()
    if part.arg.type == "bool":
        return [ibis.cases((keep & values, _float(1)), else_=_float(0)).sum(), known]
    if part.function == "count":  # of values of any type
        return [known]
    if part.function in ("min", "max"):
        picked = ibis.cases((keep, values), else_=ibis.null("float64"))
        return [known, picked.min() if part.function == "min" else picked.max()]
    size = lowering.relations[part.arg.table][lowering.sizes[part]]  # type: ignore[index]
    return [known, *(p.sum() for p in _split_parts(
        ibis.cases((keep, values), else_=_float(0)), size))]


def _split(part: Reduce) -> bool:
    """Whether an aggregate adds numbers up (`_split_parts`)."""
    return part.function in ("sum", "mean") and part.arg.type == "number"


def _split_parts(values: ir.Value, size: ir.Value) -> list[ir.Value]:
    """A value's parts on its group's grid, so that the group's sum is the same whatever the
    order of its rows (and so on every engine and thread count). Floating-point addition is
    not associative: a plain sum depends on the order the rows arrive in, which SQL engines
    do not keep. Each value is split on a grid set by the group's largest size (2^e above
    it): whole multiples of 2^(e-SPLIT), then of 2^(e-2*SPLIT), then the rest. The first two
    sums are exact; only the rest, below 2^-42 of the largest value, is summed inexactly, so
    the order can change the result only when the exact sum lies that close to a rounding
    boundary. Added up in `_finish`'s order."""
    top = ibis.cases((size > _float(0), (size.log2().floor() + 1).cast("float64")),
                     else_=_float(-1000))
    top = ibis.greatest(top, _float(-1000))
    coarse, fine = _float(2) ** (top - SPLIT), _float(2) ** (top - 2 * SPLIT)
    high = (values / coarse).floor().cast("float64") * coarse
    rest = values - high
    middle = (rest / fine).floor().cast("float64") * fine
    return [high, middle, rest - middle]


def _finish(part: Reduce, sums: list[ir.Value]) -> ir.Value:
    """A group's aggregate from its counts and sums (missing sums: a group with no row)."""
    function = part.function
    if part.arg.type == "bool":
        true, known = (s.fill_null(_float(0)) for s in sums)
        if function == "count":
            return true
        if function == "share":
            return ibis.cases((known > _float(0), true / known), else_=ibis.null("float64"))
        return true > 0 if function == "any" else true == known
    known = sums[0].fill_null(_float(0))
    if function == "count":
        return known
    if function in ("min", "max"):
        return sums[1]
    total = ((sums[1] + sums[2]) + sums[3]).fill_null(_float(0))  # the exact sums first
    if function == "sum":
        return total
    return ibis.cases((known > _float(0), total / known), else_=ibis.null("float64"))


def _groups(part: Reduce | Window, lowering: Lowering) -> list[ir.Value]:
    """What a table-wide aggregate or window groups its rows by: by=, and in a bootstrap the
    replicate (groups stay within it)."""
    relation = lowering.relations[part.table]  # type: ignore[index]
    by = [] if part.by is None else [lowering.value(part.by)]
    return [*by, relation[REPLICATE]] if REPLICATE in relation.columns else by


def _over_groups(part: Reduce, lowering: Lowering) -> ir.Value:
    """An aggregate over the rows of the same table (all, or those of each by= group), given
    back on every row."""
    window = ibis.window(group_by=_groups(part, lowering))
    return _finish(part, [s.over(window) for s in _sums(part, lowering)])


def _window(part: Window, lowering: Lowering) -> ir.Value:
    """rank() and minmax() within the by= groups; rows not kept (or missing) get none."""
    values, keep = _counted(part, lowering)
    masked = ibis.cases((keep, values), else_=ibis.null("float64"))
    options = dict(part.options)
    by = _groups(part, lowering)
    if part.function == "minmax":
        window = ibis.window(group_by=by)
        low, high = masked.min().over(window), masked.max().over(window)
        spread = high - low
        fill = options["degenerate"]
        degenerate = ibis.null("float64") if fill is None else _float(fill)
        return ibis.cases((masked.isnull(), ibis.null("float64")),
                          (spread == 0, degenerate), else_=(masked - low) / spread)
    order = masked.desc() if options["descending"] else masked.asc()
    groups = [*by, keep]
    relation = lowering.relations[part.table]  # type: ignore[index]
    ties = ibis.window(group_by=groups, order_by=order)
    low = (ibis.rank().over(ties) + 1).cast("float64")
    # the last place of a value's ties: the rows up to it, its ties included (a range frame)
    high = masked.count().over(ibis.window(group_by=groups, order_by=order, range=(None, 0)))
    method = options["method"]
    if method == "min":
        rank = low
    elif method == "max":
        rank = high.cast("float64")
    elif method == "average":
        rank = (low + high.cast("float64")) / 2
    elif method == "dense":
        rank = (ibis.dense_rank().over(ties) + 1).cast("float64")
    else:  # first: ties in row order
        rank = (ibis.row_number().over(ibis.window(
            group_by=groups, order_by=[order, relation[ROW]])) + 1).cast("float64")
    return ibis.cases((keep, rank), else_=ibis.null("float64"))


# ------------------------------------------------------------------------------ compiled
def compile_plans(nodes: tuple[Node, ...], table: str,
                  schemas: tuple[tuple[str, Schema], ...],
                  dialect: str = "duckdb") -> Query:
    """Plans over the rows of `table` as SQL (of Ibis's `dialect`) over views of their
    tables (`view(name)`, of the columns and types `schemas` gives): one query for their
    values and their flags on those rows, one per other table they flag, one per plan whose
    constant parts may be flagged."""
    lowering = Lowering({name: ibis.table(dict(schema), name=view(name))
                         for name, schema in schemas})
    columns, flags, constant = {}, [], []
    lowering.prepare(nodes)
    for i, node in enumerate(nodes):
        before = len(lowering.constant_flags)
        value, own = lowering.lowered(node)
        own = lowering.rowwise(node, own)
        columns[f"value{i}"] = value
        if own is not None and node.table == table:
            columns[f"undefined{i}"] = own
        flags.append(tuple(
            (where, _sql(dialect, lowering.relations[where].select(
                lowering.relations[where][ROW], flag=flag).order_by(ROW)))
            for where, flag in lowering.flags(node).items()))
        constants = lowering.constant_flags[before:] + lowering.constants(node)
        constant.append(_sql(dialect, _any(constants).name("flag")) if constants else None)
    relation = lowering.relations[table]
    values = _sql(dialect, relation.select(relation[ROW], **columns).order_by(ROW))
    return Query(values, tuple(flags), tuple(constant))


def _sql(dialect: str, expression: ir.Expr) -> str:
    if dialect == "pyspark":
        ibis.pyspark  # noqa: B018 - loads the options Ibis's Spark compiler reads
    return ibis.to_sql(expression, dialect=dialect, pretty=False)
