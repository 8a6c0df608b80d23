"""Property tests of the parser: valid expressions round-trip, garbage fails only with a located
syntax error that never shows lark's internal token names."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from sapa.engine.diagnostics import offsets
from sapa.engine.formula import FormulaSyntaxError, parse
from sapa.engine.formula import syntax as fa

RESERVED = {"and", "or", "not", "in", "true", "false"}
names = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True).filter(lambda n: n not in RESERVED)
numbers = st.floats(min_value=0, max_value=1e6, allow_nan=False).map(lambda v: round(v, 3))
strings = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=8)


def expressions() -> st.SearchStrategy[str]:
    leaves = st.one_of(
        numbers.map(repr),
        strings.map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'),
        st.sampled_from(["true", "false"]),
        st.lists(names, min_size=1, max_size=3).map(".".join),
    )

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binary = st.tuples(inner, st.sampled_from(
            ["+", "-", "*", "/", "^", "and", "or", "==", "!=", "<", "<=", ">", ">="]), inner)
        return st.one_of(
            binary.map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            inner.map(lambda e: f"(not {e})"),
            inner.map(lambda e: f"(-{e})"),
            st.tuples(names, st.lists(inner, max_size=3)).map(
                lambda t: f"{t[0]}({', '.join(t[1])})"),
            st.tuples(inner, st.lists(inner, min_size=1, max_size=3)).map(
                lambda t: f"({t[0]} in ({', '.join(t[1])}))"),
        )

    return st.recursive(leaves, extend, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(expressions())
def test_valid_expressions_round_trip(text: str) -> None:
    tree = parse(text)
    again = parse(fa.to_text(tree))
    assert fa.shape(again) == fa.shape(tree)


@settings(max_examples=300, deadline=None)
@given(expressions())
def test_every_node_range_lies_inside_the_text(text: str) -> None:
    def walk(node: object) -> None:
        if isinstance(node, fa.Number | fa.String | fa.Boolean | fa.Name | fa.Index | fa.Unary
                      | fa.Binary | fa.Membership | fa.Call | fa.Keyword):
            assert 0 <= node.at.start < node.at.end <= len(text)
            for slot in node.__slots__:
                child = getattr(node, slot)
                for c in child if isinstance(child, tuple) else (child,):
                    walk(c)

    walk(parse(text))


INTERNAL = re.compile(r"__ANON|\$END|RPAR|LPAR|COMMA|_[A-Z]+\b")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="ab1 ()+-*/^=<>!.,\"'[]_andortuein\n", max_size=30))
def test_garbage_raises_only_a_located_syntax_error(text: str) -> None:
    try:
        parse(text)
    except FormulaSyntaxError as exc:
        problem = exc.problem
        start, end = offsets(problem.span)
        assert problem.code == "F300"
        assert 0 <= start <= max(len(text), 1)
        assert start < end
        words = problem.message + " " + (problem.hint or "")
        assert not INTERNAL.search(words), words


def test_a_negative_literal_as_a_power_base_round_trips() -> None:
    """Found by the property above: (-0.0) ^ 0.0 printed as -0.0 ^ 0.0 read back as -(0.0 ^ 0.0)."""
    tree = parse("(-2) ^ 2")
    assert fa.shape(parse(fa.to_text(tree))) == fa.shape(tree)
