"""`sapa explain`: why a unit has its value. A rated spec and a unit in; a tree out, from the
rating's columns (formula as written, its source, the values it read, the variables beneath)
down to the survey's levels (each node with its rule, its statistics and its members, to the
items) and the respondents left out; with flags where a value rests on little."""

from sapa.engine.explain.tree import Explanation, explain, minimum_respondents

__all__ = ["Explanation", "explain", "minimum_respondents"]
