"""Binding names and checking types: syntax tree -> typed plan (the IR) that queries.py runs.

A formula is compiled in the context of one table (its rows are the formula's rows). A bare name
is a column or variable of that table; `link.name` follows a link to a parent table (a lookup);
`child.name` reaches the rows of a child table, which must then be aggregated (sum, mean, ...);
`param` and `group.key` / `group[expr]` read the spec's parameters. Every node of the plan knows
its type (number, bool, string) and the table whose rows it is aligned to (None for a constant).
"""

from __future__ import annotations

import math

from sapa.engine.diagnostics import Diagnostic, did_you_mean, formula_span
from sapa.engine.formula import syntax as fa
from sapa.engine.formula.plan import (
    Banding,
    Catalog,
    Column,
    Const,
    Lookup,
    Node,
    Op,
    Reduce,
    Type,
    Up,
    Window,
)

MAX_DIGITS = 15  # a float64 holds about 15 significant decimal digits


class _Failed(Exception):
    pass


# ------------------------------------------------------------------------------------ functions
AGGREGATES = {"sum", "mean", "min", "max", "count", "share", "any", "all"}
ELEMENTWISE_VARIADIC = {"sum", "mean", "min", "max"}
WINDOWS = {"rank", "minmax"}
RANK_METHODS = ("min", "max", "dense", "average", "first")

#: name -> (fewest positional arguments, most (None = any), allowed keywords).
SIGNATURES: dict[str, tuple[int, int | None, tuple[str, ...]]] = {
    "sum": (1, None, ("where", "by")), "mean": (1, None, ("where", "by")),
    "min": (1, None, ("where", "by")), "max": (1, None, ("where", "by")),
    "count": (1, 1, ("where", "by")), "share": (1, 1, ("where", "by")),
    "any": (1, 1, ("where", "by")), "all": (1, 1, ("where", "by")),
    "if": (3, 3, ()), "coalesce": (2, None, ()), "is_missing": (1, 1, ()),
    "abs": (1, 1, ()), "round": (1, 2, ()), "clamp": (3, 3, ()),
    "rank": (1, 1, ("by", "where", "method", "descending")),
    "minmax": (1, 1, ("by", "where", "degenerate")),
    "band": (2, 2, ()),
}


def compile_formula(expr: fa.Expr, table: str, catalog: Catalog,
                    expect: Type | None = None) -> tuple[Node | None, list[Diagnostic], set[str]]:
    """Compile `expr` for the rows of `table`.

    Returns the plan (None when there were errors), every problem found, and the names of the
    (table-qualified) columns it reads, `table.name`, for dependency ordering.
    """
    compiler = _Compiler(catalog)
    try:
        node = compiler.expr(expr, table)
        if node.table not in (None, table):
            compiler.fail(expr, "F306",
                          f"this formula gives one value per row of '{node.table}', "
                          f"not per row of '{table}'",
                          "aggregate it, for example sum(...), mean(...) or count(...)")
        if expect and node.type != expect:
            compiler.fail(expr, "F304", f"this formula gives a {node.type}; a {expect} is needed")
    except _Failed:
        pass
    if compiler.problems:
        return None, compiler.problems, compiler.reads
    return node, [], compiler.reads


class _Compiler:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.problems: list[Diagnostic] = []
        self.reads: set[str] = set()

    def fail(self, node: fa.Expr | fa.Keyword, code: str, message: str,
             hint: str | None = None, at: fa.Range | None = None) -> None:
        rng = at or node.at
        self.problems.append(Diagnostic(code, message, formula_span(rng.start, rng.end), hint=hint))
        raise _Failed

    # --------------------------------------------------------------------------- expressions
    def expr(self, node: fa.Expr, table: str) -> Node:
        if isinstance(node, fa.Number):
            if not math.isfinite(node.value):
                self.fail(node, "F308", "a number beyond float range",
                          "a number literal must be finite (1e308 at most)")
            return Const("number", None, node.value)
        if isinstance(node, fa.String):
            return Const("string", None, node.value)
        if isinstance(node, fa.Boolean):
            return Const("bool", None, node.value)
        if isinstance(node, fa.Name):
            return self.name(node, node.parts, table)
        if isinstance(node, fa.Index):
            return self.index(node, table)
        if isinstance(node, fa.Unary):
            operand = self.expr(node.operand, table)
            want: Type = "bool" if node.op == "not" else "number"
            self.need(node.operand, operand, want, f"'{node.op}'")
            return Op(want, operand.table, node.op if node.op == "not" else "neg", (operand,))
        if isinstance(node, fa.Binary):
            return self.binary(node, table)
        if isinstance(node, fa.Membership):
            return self.membership(node, table)
        return self.call(node, table)

    def need(self, node: fa.Expr, compiled: Node, want: Type, what: str) -> None:
        if compiled.type != want:
            hint = None
            if want == "number" and compiled.type == "bool":
                hint = "turn a condition into a number with if(condition, 1, 0)"
            self.fail(node, "F304", f"{what} needs a {want}, but this is a {compiled.type}", hint)

    def binary(self, node: fa.Binary, table: str) -> Node:
        left, right = self.expr(node.left, table), self.expr(node.right, table)
        if node.op in fa.ARITHMETIC:
            self.need(node.left, left, "number", f"'{node.op}'")
            self.need(node.right, right, "number", f"'{node.op}'")
            if node.op == "/" and isinstance(right, Const) and right.value == 0:
                self.fail(node.right, "F308", "division by zero: the result is always missing")
            result: Type = "number"
        elif node.op in fa.LOGICAL:
            self.need(node.left, left, "bool", f"'{node.op}'")
            self.need(node.right, right, "bool", f"'{node.op}'")
            result = "bool"
        else:
            if left.type != right.type:
                self.fail(node, "F304",
                          f"cannot compare a {left.type} with a {right.type} using '{node.op}'")
            if node.op not in ("==", "!=") and left.type != "number":
                self.fail(node, "F304", f"'{node.op}' compares numbers, not {left.type}s")
            result = "bool"
        args = self.align(node, [left, right], table)
        return Op(result, _rows(args), node.op, tuple(args))

    def membership(self, node: fa.Membership, table: str) -> Node:
        value = self.expr(node.value, table)
        options = [self.expr(o, table) for o in node.options]
        for option, source in zip(options, node.options, strict=True):
            if option.type != value.type:
                self.fail(source, "F304", f"'in' compares a {value.type} with a {option.type}")
        args = self.align(node, [value, *options], table)
        return Op("bool", _rows(args), "not in" if node.negated else "in", tuple(args))

    def align(self, node: fa.Expr, args: list[Node], table: str) -> list[Node]:
        """Bring operands onto the same rows: a value per row of `table` is looked up for each
        row of a child table when the other operand runs over that child's rows."""
        tables = {a.table for a in args if a.table is not None}
        if len(tables) <= 1:
            return args
        children = tables - {table}
        if len(children) > 1:
            self.fail(node, "F306", "this mixes rows of different tables: "
                      + ", ".join(sorted(children)), "aggregate each one separately")
        child = children.pop()
        link = self.catalog.children(table)[child]
        return [Up(a.type, child, link, a) if a.table == table else a for a in args]

    # ------------------------------------------------------------------------------- names
    def name(self, node: fa.Name, parts: tuple[str, ...], table: str) -> Node:
        head, rest = parts[0], parts[1:]
        columns = self.catalog.columns.get(table, {})
        links = self.catalog.links.get(table, {})
        children = self.catalog.children(table)
        if head in columns:
            if rest:
                self.fail(node, "F301",
                          f"'{head}' is a column of '{table}'; it has no '.{rest[0]}'")
            self.reads.add(f"{table}.{head}")
            return Column(columns[head], table, head)
        if head in links:
            link = links[head]
            if not rest:
                example = _first(self.catalog, link.parent)
                self.fail(node, "F301", f"'{head}' is a link to the table '{link.parent}'",
                          f"name one of its columns, e.g. {head}.{example}")
            inner = self.name(node, rest, link.parent)
            if inner.table != link.parent:
                self.fail(node, "F306", f"'{node.dotted}' reaches a child table through a link",
                          "aggregate it in a variable of the linked table first")
            return Up(inner.type, table, link, inner)
        if head in children:
            if not rest:
                self.fail(node, "F301", f"'{head}' is a table",
                          f"name one of its columns, e.g. {head}.{_first(self.catalog, head)}")
            return self.name(node, rest, head)
        if not rest and head in self.catalog.parameters:
            return _constant(self.catalog.parameters[head])
        if head in self.catalog.groups:
            group = self.catalog.groups[head]
            if len(rest) == 1 and rest[0] in group:
                return _constant(group[rest[0]])
            if rest:
                self.fail(node, "F301", f"'{head}' has no entry '{rest[0]}'",
                          did_you_mean(rest[0], group) or f"its entries: {', '.join(group)}")
            self.fail(node, "F301", f"'{head}' is a table of parameters",
                      f"pick an entry: {head}.<key> or {head}[expression]")
        known = [*columns, *links, *children, *self.catalog.parameters, *self.catalog.groups]
        where = f"in '{table}'" if table else ""
        self.fail(node, "F301", f"unknown name '{head}' {where}".rstrip(),
                  did_you_mean(head, known))
        raise AssertionError  # unreachable: fail() raises

    def index(self, node: fa.Index, table: str) -> Node:
        head = node.target.dotted
        if head not in self.catalog.groups:
            self.fail(node.target, "F301", f"'{head}' is not a table of parameters",
                      did_you_mean(head, self.catalog.groups))
        group = self.catalog.groups[head]
        key = self.expr(node.key, table)
        self.need(node.key, key, "string", "a key of a parameter table")
        types = {_type_of(v) for v in group.values()}
        if len(types) != 1:
            self.fail(node, "F304", f"the entries of '{head}' are not all of one type")
        return Lookup(types.pop(), key.table, tuple(group.items()), key)

    # ---------------------------------------------------------------------------- functions
    def call(self, node: fa.Call, table: str) -> Node:
        name = node.function
        if name not in SIGNATURES:
            self.fail(node, "F302", f"unknown function '{name}'",
                      did_you_mean(name, SIGNATURES) or "see docs/formula-language.md",
                      at=node.name_at)
        low, high, allowed = SIGNATURES[name]
        n = len(node.args)
        if n < low or (high is not None and n > high):
            count = f"{low}" if high == low else f"{low} to {high}" if high else f"at least {low}"
            self.fail(node, "F303", f"{name}() takes {count} positional argument"
                      f"{'s' if (high or 2) > 1 else ''}, {n} given", at=node.name_at)
        keywords: dict[str, fa.Keyword] = {}
        for kw in node.keywords:
            if kw.name not in allowed:
                self.fail(kw, "F303", f"{name}() has no argument '{kw.name}'",
                          f"it takes: {', '.join(allowed)}" if allowed else "it takes none")
            if kw.name in keywords:
                self.fail(kw, "F303", f"argument '{kw.name}' given twice")
            keywords[kw.name] = kw
        if name in AGGREGATES and (n == 1 or name not in ELEMENTWISE_VARIADIC):
            return self.aggregate(node, table, keywords)
        if name in ELEMENTWISE_VARIADIC:
            if keywords:
                self.fail(node, "F303", f"{name}() of several values takes no named arguments",
                          at=node.name_at)
            args = [self.expr(a, table) for a in node.args]
            for a, src in zip(args, node.args, strict=True):
                self.need(src, a, "number", f"{name}()")
            args = self.align(node, args, table)
            return Op("number", _rows(args), name, tuple(args))
        if name in WINDOWS:
            return self.window(node, table, keywords)
        return getattr(self, f"call_{name}")(node, table)

    def aggregate(self, node: fa.Call, table: str, keywords: dict[str, fa.Keyword]) -> Node:
        name = node.function
        arg = self.expr(node.args[0], table)
        if name in ("share", "any", "all"):
            self.need(node.args[0], arg, "bool", f"{name}()")
        elif name in ("sum", "mean", "min", "max"):
            self.need(node.args[0], arg, "number", f"{name}()")
        if arg.table is None:
            self.fail(node, "F305", f"{name}() of a constant: aggregate a column",
                      at=node.name_at)
        where = self.condition(keywords.get("where"), table, arg.table)
        result: Type = "bool" if name in ("any", "all") else "number"
        if arg.table != table:
            if "by" in keywords:
                self.fail(keywords["by"], "F303",
                          f"by= groups rows of '{table}'; this aggregates rows of '{arg.table}'")
            link = self.catalog.children(table)[arg.table]
            return Reduce(result, table, name, arg, link, None, where)
        by = self.grouping(keywords.get("by"), table)
        return Reduce(result, table, name, arg, None, by, where)

    def window(self, node: fa.Call, table: str, keywords: dict[str, fa.Keyword]) -> Node:
        name = node.function
        arg = self.expr(node.args[0], table)
        self.need(node.args[0], arg, "number", f"{name}()")
        if arg.table != table:
            self.fail(node, "F306", f"{name}() works within the rows of '{table}'",
                      "define the value as a variable of its own table and rank it there")
        by = self.grouping(keywords.get("by"), table)
        where = self.condition(keywords.get("where"), table, table)
        options: dict[str, object] = {}
        if name == "rank":
            options["method"] = self.literal(keywords.get("method"), "string", "min")
            if options["method"] not in RANK_METHODS:
                self.fail(keywords["method"], "F304", f"unknown rank method {options['method']!r}",
                          f"one of: {', '.join(RANK_METHODS)}")
            options["descending"] = self.literal(keywords.get("descending"), "bool", True)
        else:
            options["degenerate"] = self.literal(keywords.get("degenerate"), "number", None)
        return Window("number", table, name, arg, by, where, tuple(options.items()))

    def condition(self, kw: fa.Keyword | None, table: str, rows: str | None) -> Node | None:
        if kw is None:
            return None
        cond = self.expr(kw.value, table)
        self.need(kw.value, cond, "bool", "where=")
        if cond.table not in (None, rows):
            if cond.table == table and rows is not None:
                link = self.catalog.children(table)[rows]
                return Up(cond.type, rows, link, cond)
            self.fail(kw, "F306", "where= must run over the same rows as the value")
        return cond

    def grouping(self, kw: fa.Keyword | None, table: str) -> Node | None:
        if kw is None:
            return None
        by = self.expr(kw.value, table)
        if by.table != table:
            self.fail(kw, "F306", f"by= needs a value per row of '{table}'")
        return by

    def literal(self, kw: fa.Keyword | None, want: Type, default: object) -> object:
        if kw is None:
            return default
        literal = kw.value
        if isinstance(literal, fa.Number | fa.String | fa.Boolean):
            value = self.expr(literal, "")
            if value.type == want:
                return value.value  # type: ignore[attr-defined]
        self.fail(kw, "F304", f"{kw.name}= needs a constant {want}")
        raise AssertionError  # unreachable: fail() raises

    def call_if(self, node: fa.Call, table: str) -> Node:
        cond, yes, no = (self.expr(a, table) for a in node.args)
        self.need(node.args[0], cond, "bool", "the condition of if()")
        if yes.type != no.type:
            self.fail(node, "F304", f"if() gives a {yes.type} in one branch and a {no.type} "
                      "in the other", at=node.name_at)
        args = self.align(node, [cond, yes, no], table)
        return Op(yes.type, _rows(args), "if", tuple(args))

    def call_coalesce(self, node: fa.Call, table: str) -> Node:
        args = [self.expr(a, table) for a in node.args]
        if len({a.type for a in args}) > 1:
            self.fail(node, "F304", "coalesce() needs values of one type", at=node.name_at)
        args = self.align(node, args, table)
        return Op(args[0].type, _rows(args), "coalesce", tuple(args))

    def call_is_missing(self, node: fa.Call, table: str) -> Node:
        arg = self.expr(node.args[0], table)
        return Op("bool", arg.table, "is_missing", (arg,))

    def call_abs(self, node: fa.Call, table: str) -> Node:
        arg = self.expr(node.args[0], table)
        self.need(node.args[0], arg, "number", "abs()")
        return Op("number", arg.table, "abs", (arg,))

    def call_round(self, node: fa.Call, table: str) -> Node:
        arg = self.expr(node.args[0], table)
        self.need(node.args[0], arg, "number", "round()")
        digits = Const("number", None, 0.0)
        if len(node.args) == 2:
            digits = self.expr(node.args[1], table)
            value = digits.value if isinstance(digits, Const) else None
            if not isinstance(value, int | float) or isinstance(value, bool) \
                    or not 0 <= value <= MAX_DIGITS or value != int(value):
                self.fail(node.args[1], "F304", "round() needs a whole number of digits, "
                          f"0 to {MAX_DIGITS}")
        return Op("number", arg.table, "round", (arg, digits))

    def call_clamp(self, node: fa.Call, table: str) -> Node:
        args = [self.expr(a, table) for a in node.args]
        for a, src in zip(args, node.args, strict=True):
            self.need(src, a, "number", "clamp()")
        args = self.align(node, args, table)
        return Op("number", _rows(args), "clamp", tuple(args))

    def call_band(self, node: fa.Call, table: str) -> Node:
        value = self.expr(node.args[0], table)
        self.need(node.args[0], value, "number", "band()")
        target = node.args[1]
        if not isinstance(target, fa.Name) or target.dotted not in self.catalog.bands:
            self.fail(target, "F301", "band() needs the name of a band table as its second "
                      "argument", did_you_mean(fa.to_text(target), self.catalog.bands))
        return Banding("string", value.table, self.catalog.bands[target.dotted], value)


def _rows(args: list[Node]) -> str | None:
    return next((a.table for a in args if a.table is not None), None)


def _type_of(value: float | str | bool) -> Type:
    return "bool" if isinstance(value, bool) else "string" if isinstance(value, str) else "number"


def _constant(value: float | str | bool) -> Const:
    return Const(_type_of(value), None, float(value) if _type_of(value) == "number" else value)


def _first(catalog: Catalog, table: str) -> str:
    return next(iter(catalog.columns.get(table, {"name": "number"})))

