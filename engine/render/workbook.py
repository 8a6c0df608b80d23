"""Ratings as an Excel workbook for a report: a sheet per rating with its title, headers in one
language, figures rounded half up to the digits the report prints (with that number format),
counts as whole numbers, a frozen header, fitted column widths and its footnotes; and a
"method" sheet saying what made it (spec, data, engine, time). openpyxl writes it: the
library pandas already reads workbooks with."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from sapa.engine.formula import round_half_up
from sapa.engine.render.files import inert
from sapa.engine.render.present import Shown

HEADER_ROW = 3  # row 1 the title, row 2 empty


def write_workbook(ratings: list[Shown], method: Mapping[str, Any], notes: list[str],
                   path: Path, source_word: str = "Source") -> None:
    """One workbook at `path`: a sheet per rating, then the method sheet."""
    book = Workbook()
    book.remove(book.active)
    for rating in ratings:
        _sheet(book, rating, notes, source_word)
    sheet = book.create_sheet("method")
    for row, (key, value) in enumerate(method.items(), start=1):
        sheet.cell(row, 1, str(key)).font = Font(bold=True)
        sheet.cell(row, 2, inert(str(value)))
    sheet.column_dimensions["A"].width = 24
    sheet.column_dimensions["B"].width = 100
    book.save(path)


def _sheet(book: Workbook, rating: Shown, notes: list[str], source_word: str) -> None:
    sheet = book.create_sheet(rating.id[:31])
    sheet.cell(1, 1, rating.title).font = Font(bold=True, size=13)
    frame = rating.frame
    widths = []
    for col, column in enumerate(frame.columns, start=1):
        header = sheet.cell(HEADER_ROW, col, rating.headers[column])
        header.font = Font(bold=True)
        header.alignment = Alignment(wrap_text=True, vertical="top")
        digits = rating.digits[column]
        whole = rating.whole(column)
        values = frame[column].tolist()
        for row, value in enumerate(values, start=HEADER_ROW + 1):
            cell = sheet.cell(row, col, _value(value, digits, whole))
            if digits is not None:
                cell.number_format = "0." + "0" * digits if digits else "0"
            elif whole:
                cell.number_format = "0"
        longest = max([len(rating.headers[column]) // 2,
                       *(len(str(v)) for v in values if v is not None)], default=8)
        widths.append(min(max(longest, 6), 70))
    for col, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(col)].width = width + 2
    sheet.freeze_panes = sheet.cell(HEADER_ROW + 1, 1)
    footer = HEADER_ROW + len(frame) + 2
    sources = [f"{source_word}: {rating.source}"] if rating.source else []
    for offset, note in enumerate([*sources, *notes]):
        sheet.cell(footer + offset, 1, inert(note)).font = Font(italic=True, size=9)


def _value(value: Any, digits: int | None, whole: bool) -> Any:
    """A cell's value: missing as empty, text made inert, figures rounded as printed."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if digits is not None:
            return float(round_half_up(float(value), digits))
        return int(value) if whole else float(value)
    return inert(str(value))

