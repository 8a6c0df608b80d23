"""The published tables: reading them (tables) and comparing a spec's ratings with them cell by
cell (conformance)."""

from sapa.engine.published.conformance import Conformance, conform
from sapa.engine.published.tables import number, read_table, select

__all__ = [
    "Conformance", "conform", "number", "read_table", "select",
]
