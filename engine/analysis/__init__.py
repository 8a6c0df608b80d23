"""Analyses over ratings and specs: two methods or years unit by unit, the year-to-year bridge,
a rating's history (comparison), units paired across catalogues (crosswalk), and what changed
between two specs (diff)."""

from sapa.engine.analysis.comparison import RatingComparison, bridge, compare, history
from sapa.engine.analysis.crosswalk import Crosswalk, check_codes, read_crosswalk
from sapa.engine.analysis.spec_diff import Change, diff

__all__ = [
    "Change", "Crosswalk", "RatingComparison", "bridge", "check_codes", "compare", "diff",
    "history", "read_crosswalk",
]
