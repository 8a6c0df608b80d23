"""Analyses over ratings and specs: two methods or years unit by unit, the year-to-year bridge,
a rating's history (comparison), units paired across catalogues (crosswalk), and what changed
between two specs (diff)."""

from sapa.engine.analysis.comparison import (
    RatingComparison,
    bridge,
    compare,
    history,
    rated_units,
)
from sapa.engine.analysis.crosswalk import Crosswalk, check_codes, read_crosswalk
from sapa.engine.analysis.sensitivity import Sensitivity, combinations, sensitivity
from sapa.engine.analysis.spec_diff import Change, diff

__all__ = [
    "Change", "Crosswalk", "RatingComparison", "Sensitivity", "bridge", "check_codes",
    "combinations", "compare", "diff", "history", "rated_units", "read_crosswalk",
    "sensitivity",
]
