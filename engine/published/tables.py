"""Reading the published tables (`sapa conform`, `sapa synth`): every cell as text, as printed;
numbers read with a decimal point or comma; rows chosen by the values of their columns."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd


def read_table(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / name, dtype=str, keep_default_na=False)


def number(text: Any) -> float | None:
    """A printed number ("4,65" or "4.65"), or None for a blank or a dash."""
    try:
        return float(str(text).replace(",", "."))
    except ValueError:
        return None


def select(frame: pd.DataFrame, keep: Mapping[str, Any] | None = None,
           drop: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Rows whose columns hold one of the `keep` values (a value or a list), none of `drop`'s."""
    for column, value in (keep or {}).items():
        frame = frame[frame[column].isin(_texts(value))]
    for column, value in (drop or {}).items():
        frame = frame[~frame[column].isin(_texts(value))]
    return frame


def _texts(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, list) else [value])]
