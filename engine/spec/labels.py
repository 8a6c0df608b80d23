"""What readers see instead of identifiers: the spec's labels in the languages it declares.

A spec declares its languages (`methodology.languages`, the first is the default for outputs);
every user-facing name — the title, criteria, zones, the items' wording, the scale's marks,
exclusions, questionnaires, ratings and their columns — has a label per language. Column
headers come from a column's own `label`, else from the spec's glossary (`labels:`), else from
the few words every rating has (rank, unit, name)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sapa.engine.spec.model import Rating, Spec, text_of

__all__ = ["BOUNDS", "COMMON", "LANGUAGES", "coverage", "header", "interval_end", "languages",
           "missing_languages",
           "output_language", "text_of", "title", "user_facing"]
from sapa.engine.spec.source import PathKey

LANGUAGES = ("ru", "kk", "en")
COMMON = {  # the columns every rating has
    "rank": {"ru": "Место", "kk": "Орын", "en": "Rank"},
    "unit": {"ru": "Код", "kk": "Коды", "en": "Code"},
    "name": {"ru": "Наименование", "kk": "Атауы", "en": "Name"},
    "change": {"ru": "Изменение", "kk": "Өзгеріс", "en": "Change"},
    "mean": {"ru": "Среднее", "kk": "Орташа", "en": "Mean"},
    "periods": {"ru": "Периодов", "kk": "Кезеңдер", "en": "Periods"},
    # sapa sensitivity: ranks over the method's alternatives, and each choice's effect
    "median_rank": {"ru": "Медианное место", "kk": "Медианалық орын", "en": "Median rank"},
    "choice": {"ru": "Выбор метода", "kk": "Әдіс таңдауы", "en": "Choice of method"},
    "mean_effect": {"ru": "Средний эффект первого порядка", "kk": "Бірінші ретті орташа әсер",
                    "en": "Mean first-order effect"},
    "effect": {"ru": "Эффект", "kk": "Әсер", "en": "Effect"},
    "sensitivity": {"ru": "чувствительность к выбору метода", "kk": "әдіс таңдауына сезімталдық",
                    "en": "sensitivity to the method's choices"},
}
BOUNDS = {  # an interval's ends, after a column's header (sapa rate --uncertainty)
    "low": {"ru": "нижняя граница", "kk": "төменгі шегі", "en": "low"},
    "high": {"ru": "верхняя граница", "kk": "жоғарғы шегі", "en": "high"},
}


def languages(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The languages a spec declares (default: English only)."""
    declared = (data.get("methodology") or {}).get("languages")
    return tuple(declared) if isinstance(declared, list) and declared else ("en",)


def output_language(spec: Spec, given: str | None) -> str:
    return given or languages(spec.data)[0]


def header(spec: Spec, rating: Rating | None, column: str, language: str) -> str:
    """A rating column's header: its own label, the glossary's, the common word, the id; an
    interval's end (`score_low`) after its column's header."""
    base, end = interval_end(column)
    if end is not None:
        return f"{header(spec, rating, base, language)}: {text_of(BOUNDS[end], language)}"
    own = (((spec.data.get("ratings") or {}).get(rating.id) or {}).get("columns") or {}
           ).get(column) if rating is not None else None
    for label in ((own or {}).get("label") if isinstance(own, Mapping) else None,
                  (spec.data.get("labels") or {}).get(column), COMMON.get(column)):
        if label:
            return text_of(label, language)
    return column


def interval_end(column: str) -> tuple[str, str | None]:
    """An interval's end names its column: `score_low` is ("score", "low"); any other column
    is (column, None)."""
    base, _, end = column.rpartition("_")
    return (base, end) if end in BOUNDS and base else (column, None)


def title(spec: Spec, rating: Rating, language: str) -> str:
    raw = ((spec.data.get("ratings") or {}).get(rating.id) or {}).get("title")
    return text_of(raw, language) or rating.title or rating.id


def user_facing(data: Mapping[str, Any]) -> Iterator[tuple[PathKey, Any]]:
    """Every name a reader sees, with where it is written: (path, label)."""
    yield ("methodology", "title"), (data.get("methodology") or {}).get("title")
    for section in ("criteria", "zones", "questionnaires"):
        for name, raw in _mapping(data.get(section)).items():
            yield (section, name, "label"), _mapping(raw).get("label")
    asked = {item for q in _mapping(data.get("questionnaires")).values()
             for item in _mapping(_mapping(q).get("items"))}
    for name, raw in _mapping(data.get("items")).items():
        if name in asked:
            yield ("items", name, "text"), _mapping(raw).get("text")
    for mark, raw in _mapping(_mapping(data.get("scale")).get("labels")).items():
        yield ("scale", "labels", mark), raw
    for name, raw in _mapping(_mapping(data.get("survey")).get("exclude")).items():
        yield ("survey", "exclude", name, "label"), _mapping(raw).get("label")
    glossary, glossed = _mapping(data.get("labels")), set()
    for rid, raw in _mapping(data.get("ratings")).items():
        yield ("ratings", rid, "title"), _mapping(raw).get("title")
        for column, spec in _mapping(_mapping(raw).get("columns")).items():
            own = _mapping(spec).get("label")
            if own:
                yield ("ratings", rid, "columns", column, "label"), own
            elif column not in glossed:
                glossed.add(column)
                yield ("labels", column), glossary.get(column)


def missing_languages(label: Any, wanted: tuple[str, ...]) -> list[str]:
    """The wanted languages a label lacks (plain text counts as every language)."""
    if isinstance(label, str) and label:
        return []
    given = _mapping(label)
    return [lang for lang in wanted if not given.get(lang)]


def coverage(data: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """Per declared language: how many user-facing names have a label in it, of how many."""
    names = {path: label for path, label in user_facing(data)}
    wanted = languages(data)
    return {lang: (sum(lang not in missing_languages(label, wanted)
                       for label in names.values()), len(names)) for lang in wanted}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
