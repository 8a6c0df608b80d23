"""The arithmetic rules the SQL a plan is lowered to keeps, and the printed figures too:
rounding half away from zero on the decimal value, and sums split on a grid so that no order
of rows changes them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: From 2 ** 52 on, every float64 is a whole number: round leaves it as it is.
WHOLE = 2.0 ** 52

#: A sum's parts (lowering.py): a value's bits above its group's size less SPLIT bits, the
#: next SPLIT bits, and the rest. A sum of parts of the first two kinds is exact in any order
#: for groups of up to 2^31 rows (2^(53-SPLIT) - 1 parts of 2^SPLIT quanta each).
SPLIT = 21


def round_half_up(x: Any, digits: float) -> Any:
    """Half away from zero on the decimal value as written (4.745 -> 4.75), not on its binary
    approximation and not to even, which is what Python's and pandas' round do. A Series
    gives a Series, anything else a float (NaN for a missing value)."""
    scale = 10.0 ** int(digits)
    if isinstance(x, pd.Series):
        value = x.astype("float64")
    else:
        value = np.nan if x is None or x is pd.NA else float(x)
    numbers = np.asarray(value, dtype=float)
    whole = np.abs(numbers) >= WHOLE  # already whole, and no room to scale (1e300 * 100)
    scaled = np.round(np.where(whole, 0.0, numbers) * scale, 9)
    rounded = np.where(whole, numbers, np.sign(scaled) * np.floor(np.abs(scaled) + 0.5) / scale)
    return pd.Series(rounded, index=value.index) if isinstance(value, pd.Series) \
        else float(rounded)
