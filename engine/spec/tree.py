"""Reading the merged plain tree defensively: the checker runs on it even when the structure
check found problems, so a part may have any shape; these give the shape expected or nothing."""

from __future__ import annotations

from typing import Any

from sapa.engine.spec.source import PathKey


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def formula_of(value: Any) -> tuple[str | None, PathKey]:
    """A formula given as a string or as {formula: ...}: its text and its path suffix."""
    if isinstance(value, str):
        return value, ()
    if isinstance(value, dict) and isinstance(value.get("formula"), str):
        return value["formula"], ("formula",)
    return None, ()


def keys(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return ()


def text(value: Any) -> str | None:
    """A name or formula as text, or None when the tree holds something else there."""
    return value if isinstance(value, str) else None


def items(value: Any) -> list[Any]:
    """A list as given, or no items when the tree holds something else there."""
    return value if isinstance(value, list) else []
