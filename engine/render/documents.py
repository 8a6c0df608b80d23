"""The documents a report is made of, from a rated spec: the Excel workbook and the HTML page,
each with the method it was made by and the footnotes a reader needs (who was left out, how
figures round), in the chosen language. The writers (openpyxl, Plotly) are imported when a
document is written, not by every command."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sapa.engine.render import present
from sapa.engine.spec import Spec, text_of


def write_workbook(spec: Spec, ratings: Mapping[str, pd.DataFrame], manifest: Mapping[str, Any],
                   language: str, path: Path, only: Sequence[str] = ()) -> None:
    """Every rating (or `only` these) as a sheet of one workbook, as the report prints it."""
    from sapa.engine.render import workbook
    chosen = {rid: ratings[rid] for rid in (only or spec.ratings)}
    workbook.write_workbook(present.shown(spec, chosen, language), _method(manifest),
                            _footnotes(spec, manifest, language), path,
                            text_of(SOURCE, language))


def write_report(spec: Spec, ratings: Mapping[str, pd.DataFrame], manifest: Mapping[str, Any],
                 language: str, path: Path, only: Sequence[str] = ()) -> None:
    """A report at `path`: one HTML page, or (for .xlsx) the workbook."""
    from sapa.engine.render.report import html_report
    if path.suffix.lower() == ".xlsx" or path.name.endswith(".xlsx"):
        write_workbook(spec, ratings, manifest, language, path, only)
        return
    chosen = {rid: ratings[rid] for rid in (only or spec.ratings)}
    title = text_of((spec.data.get("methodology") or {}).get("title"), language) or spec.id
    path.write_text(html_report(title, present.shown(spec, chosen, language), language, spec,
                                _method(manifest)), encoding="utf-8")


def write_sections(title: str, sections: list[present.Shown], language: str,
                   method: Mapping[str, Any], path: Path) -> None:
    """Analyses (compared ratings, a history) as a report: HTML, or a workbook for .xlsx."""
    from sapa.engine.render import workbook
    from sapa.engine.render.report import html_report
    if path.suffix.lower() == ".xlsx" or path.name.endswith(".xlsx"):
        workbook.write_workbook(sections, method, [], path, text_of(SOURCE, language))
    else:
        path.write_text(html_report(title, sections, language, None, method),
                        encoding="utf-8")


def _method(manifest: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("spec_id", "spec_title", "spec_sha256", "data", "data_sha256", "engine_version",
            "created")
    return {key: manifest[key] for key in keys if key in manifest}


def _footnotes(spec: Spec, manifest: Mapping[str, Any], language: str) -> list[str]:
    """What a reader of a table needs besides it: who was left out and how figures round."""
    notes = [text_of(ROUNDING, language)]
    exclusions = (spec.data.get("survey") or {}).get("exclude") or {}
    for name, count in (manifest.get("excluded") or {}).items():
        label = text_of((exclusions.get(name) or {}).get("label"), language) or name
        notes.append(f"{text_of(EXCLUDED, language)}: {label} — {count}")
    return notes


ROUNDING = {"ru": "Значения округлены до печатаемых знаков (половина — вверх); полная точность — "
                  "в файлах CSV.",
            "kk": "Мәндер басылатын таңбаларға дейін дөңгелектенді (жартысы — жоғары); толық "
                  "дәлдік — CSV файлдарында.",
            "en": "Figures rounded half up to the printed digits; the CSV files keep full "
                  "precision."}
SOURCE = {"ru": "Источник", "kk": "Дереккөз", "en": "Source"}
EXCLUDED = {"ru": "Исключено респондентов", "kk": "Алынып тасталған респонденттер",
            "en": "Respondents excluded"}
