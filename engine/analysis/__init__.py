"""Analyses over ratings and specs: two methods or years unit by unit, the year-to-year bridge,
a rating's history (comparison), and what changed between two specs (diff)."""

from sapa.engine.analysis.comparison import RatingComparison, bridge, compare, history
from sapa.engine.analysis.spec_diff import Change, diff

__all__ = [
    "Change", "RatingComparison", "bridge", "compare", "diff", "history",
]
