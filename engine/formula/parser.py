"""Parsing formula text into the syntax tree, with syntax errors people can act on.

The grammar lives in grammar/formula.lark (shipped as package data). Lark's internal token names
(`__ANON_0`, `$END`, `RPAR`) are translated into words before any message leaves this module.
"""

from __future__ import annotations

import ast as python_ast
import re
from functools import cache
from importlib.resources import files

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)
from lark.lexer import PatternStr

from sapa.engine.diagnostics import Diagnostic, formula_span
from sapa.engine.formula import syntax as fa


def _problem(message: str, start: int, end: int, hint: str | None = None) -> Diagnostic:
    """A syntax error at characters [start, end) of the formula (F300)."""
    return Diagnostic("F300", f"formula syntax error: {message}", formula_span(start, end),
                      hint=hint)


class FormulaSyntaxError(Exception):
    def __init__(self, problem: Diagnostic) -> None:
        super().__init__(problem.message)
        self.problem = problem


_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": "a string",
    "COMPARE": "a comparison (==, !=, <, <=, >, >=)",
    "$END": "the end of the formula",
}


@cache
def _parser() -> Lark:
    text = files("sapa.grammar").joinpath("formula.lark").read_text(encoding="utf-8")
    return Lark(text, parser="lalr", propagate_positions=True, maybe_placeholders=True)


@cache
def _terminal_words() -> dict[str, str]:
    words = dict(_WORDS)
    for terminal in _parser().terminals:
        if terminal.name not in words and isinstance(terminal.pattern, PatternStr):
            words[terminal.name] = f"'{terminal.pattern.value}'"
    return words


def parse(text: str) -> fa.Expr:
    """Parse one formula. Raises FormulaSyntaxError with a located, readable problem."""
    if not text.strip():
        raise FormulaSyntaxError(_problem("the formula is empty", 0, max(1, len(text))))
    operations = [m for m in _OPERATION.finditer(text) if m.group(1)]
    if len(operations) > MAX_OPERATIONS:
        where = operations[MAX_OPERATIONS]
        raise FormulaSyntaxError(_problem(
            f"the formula has {len(operations)} operations; at most {MAX_OPERATIONS}",
            where.start(), where.end(), "split it into variables, each a part of the whole"))
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise FormulaSyntaxError(_explain(text, exc)) from None
    except RecursionError:
        raise FormulaSyntaxError(_problem("the formula nests too deeply", 0, len(text))) from None
    try:
        return _ToAst().transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, _LiteralError):
            raise FormulaSyntaxError(exc.orig_exc.problem) from None
        raise
    except RecursionError:
        raise FormulaSyntaxError(_problem("the formula nests too deeply", 0, len(text))) from None


#: Operators, calls and brackets (outside strings): a bound on how deep a formula's tree goes,
#: so that parsing, checking and evaluating it stay within Python's recursion limit.
MAX_OPERATIONS = 200
_OPERATION = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|([-+*/^(]|\b(?:and|or|not)\b)')


def _explain(text: str, exc: UnexpectedInput) -> Diagnostic:
    unclosed = _unclosed_bracket(text)
    words = _terminal_words()
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream
        char = text[pos]
        if char in "\"'":
            return _problem("this string is never closed", pos, pos + 1,
                                 f"add the closing {char}")
        hint = "strings are written in double or single quotes" if char in "«»“”" else None
        return _problem(f"unexpected character {char!r}", pos, pos + 1, hint)
    expected = sorted({words.get(name, name.lower()) for name in getattr(exc, "expected", ())})
    expected_text = ", ".join(expected[:8])
    if isinstance(exc, UnexpectedEOF) or (
            isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        if unclosed is not None:
            return _problem(f"'{text[unclosed]}' is never closed", unclosed, unclosed + 1,
                                 f"add the closing '{_CLOSE[text[unclosed]]}'")
        end = len(text.rstrip())
        return _problem("the formula ends too early", max(end - 1, 0), max(end, 1),
                             f"expected {expected_text}" if expected_text else None)
    assert isinstance(exc, UnexpectedToken)
    token: Token = exc.token
    start = token.start_pos if token.start_pos is not None else 0
    end = token.end_pos if token.end_pos is not None else start + 1
    shown = token.value if token.value else words.get(token.type, token.type)
    return _problem(f"unexpected '{shown}'", start, end,
                         f"expected {expected_text}" if expected_text else None)


_CLOSE = {"(": ")", "[": "]"}


def _unclosed_bracket(text: str) -> int | None:
    """Position of the first bracket never closed (quotes respected), or None."""
    stack: list[int] = []
    quote: str | None = None
    escaped = False
    for i, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "([":
            stack.append(i)
        elif ch in ")]" and stack:
            stack.pop()
    return stack[0] if stack else None


class _LiteralError(Exception):
    def __init__(self, problem: Diagnostic) -> None:
        self.problem = problem


def _range(meta: object) -> fa.Range:
    return fa.Range(meta.start_pos, meta.end_pos)  # type: ignore[attr-defined]


@v_args(meta=True, inline=True)
class _ToAst(Transformer):
    """Builds nodes only: no name lookup, no evaluation."""

    def number(self, meta: object, token: Token) -> fa.Number:
        return fa.Number(float(token), _range(meta))

    def string(self, meta: object, token: Token) -> fa.String:
        try:
            value = python_ast.literal_eval(str(token))
        except (ValueError, SyntaxError):
            raise _LiteralError(_problem(
                "bad escape in string", token.start_pos, token.end_pos)) from None
        return fa.String(value, _range(meta))

    def true(self, meta: object) -> fa.Boolean:
        return fa.Boolean(True, _range(meta))

    def false(self, meta: object) -> fa.Boolean:
        return fa.Boolean(False, _range(meta))

    def name(self, meta: object, *parts: Token) -> fa.Name:
        return fa.Name(tuple(str(p) for p in parts), _range(meta))

    def index(self, meta: object, target: fa.Name, key: fa.Expr) -> fa.Index:
        return fa.Index(target, key, _range(meta))

    def neg(self, meta: object, _op: Token, operand: fa.Expr) -> fa.Expr:
        if isinstance(operand, fa.Number):
            return fa.Number(-operand.value, _range(meta))
        return fa.Unary("-", operand, _range(meta))

    def not_(self, meta: object, operand: fa.Expr) -> fa.Unary:
        return fa.Unary("not", operand, _range(meta))

    def binop(self, meta: object, left: fa.Expr, op: Token, right: fa.Expr) -> fa.Binary:
        return fa.Binary(str(op), left, right, _range(meta))

    def compare(self, meta: object, left: fa.Expr, op: Token, right: fa.Expr) -> fa.Binary:
        return fa.Binary(str(op), left, right, _range(meta))

    def and_(self, meta: object, left: fa.Expr, right: fa.Expr) -> fa.Binary:
        return fa.Binary("and", left, right, _range(meta))

    def or_(self, meta: object, left: fa.Expr, right: fa.Expr) -> fa.Binary:
        return fa.Binary("or", left, right, _range(meta))

    def in_(self, meta: object, value: fa.Expr, options: list[fa.Expr]) -> fa.Membership:
        return fa.Membership(value, tuple(options), False, _range(meta))

    def not_in(self, meta: object, value: fa.Expr, options: list[fa.Expr]) -> fa.Membership:
        return fa.Membership(value, tuple(options), True, _range(meta))

    def expr_list(self, meta: object, *items: fa.Expr) -> list[fa.Expr]:
        return list(items)

    def keyword(self, meta: object, name: Token, value: fa.Expr) -> fa.Keyword:
        return fa.Keyword(str(name), value, _range(meta))

    def arguments(self, meta: object, *items: fa.Expr | fa.Keyword) -> list[fa.Expr | fa.Keyword]:
        return list(items)

    def call(self, meta: object, name: Token, arguments: list[fa.Expr | fa.Keyword] | None
             ) -> fa.Call:
        items = arguments or []
        seen_keyword = False
        for item in items:
            if isinstance(item, fa.Keyword):
                seen_keyword = True
            elif seen_keyword:
                raise _LiteralError(_problem(
                    "a positional argument follows a named one", item.at.start, item.at.end,
                    "put named arguments (name=value) last"))
        args = tuple(a for a in items if not isinstance(a, fa.Keyword))
        keywords = tuple(a for a in items if isinstance(a, fa.Keyword))
        name_at = fa.Range(name.start_pos, name.end_pos)
        return fa.Call(str(name), args, keywords, _range(meta), name_at)
