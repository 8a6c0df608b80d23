"""The validated, immutable model of a methodology that the evaluation stages run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sapa.engine.diagnostics import Span
from sapa.engine.formula import Catalog, Link, Node, Type
from sapa.engine.spec.source import Document


def frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: Type | str  # "integer" is checked as a whole number and computed as a number
    required: bool = True
    default: Any = None
    values: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    if_missing: str | None = None  # when an optional column is absent: said, not silent


@dataclass(frozen=True)
class Variable:
    table: str
    name: str
    formula: str
    plan: Node
    source: str | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    key: tuple[str, ...]
    columns: Mapping[str, ColumnSpec]
    links: Mapping[str, Link]
    variables: tuple[str, ...]


@dataclass(frozen=True)
class RatingColumn:
    name: str
    plan: Node
    digits: int | None


@dataclass(frozen=True)
class ComposedRow:
    """A row of a composed rating: the closing row of another rating."""

    label: str
    total_of: str
    reproducible: bool = True
    note: str | None = None


@dataclass(frozen=True)
class Rating:
    """A ranked table over the rows of `table`, or (with `rows`) composed of other ratings'
    closing rows."""

    id: str
    title: str
    table: str | None
    where: Node | None
    unit: Node | None
    name: Node | None
    columns: tuple[RatingColumn, ...]
    rank_by: tuple[tuple[str, bool], ...]  # (column, descending)
    ties: str
    total: str | None = None  # label of the closing row of means
    rows: tuple[ComposedRow, ...] = ()
    total_sums: tuple[str, ...] = ()  # columns added up, not averaged, in the closing row
    where_text: str | None = None  # the `where:` formula as written (to say why no row is left)


@dataclass(frozen=True)
class TestCase:
    name: str
    index: int
    given: Mapping[str, Any]  # table -> list of row mappings, or {"csv": path}
    expect_tables: Mapping[str, Any]
    expect_ratings: Mapping[str, Any]
    expect_levels: Any
    tolerance: Mapping[str, float]  # per column; "" is the default
    span: Span | None


@dataclass(frozen=True)
class SurveyItem:
    name: str
    criterion: str
    zone: str | None
    asked_if: Node | None


@dataclass(frozen=True)
class Questionnaire:
    name: str
    when: Node
    items: tuple[SurveyItem, ...]
    counts_in_total: bool


@dataclass(frozen=True)
class Breakdown:
    name: str  # the results table
    by: str | None  # the respondent column (None: one group)
    table: str | None  # the table the values are keys of
    link: str | None  # the link name from the results table to that table
    pooled: bool = False  # grouped by the value only, across units


@dataclass(frozen=True)
class Survey:
    respondents: str
    unit_link: Link
    results: str
    ratings: tuple[float, ...]
    satisfied: tuple[float, ...]
    non_answers: tuple[float, ...]
    base: str  # "asked" or "rated"
    exclusions: tuple[tuple[str, Node], ...]
    questionnaires: tuple[Questionnaire, ...]
    zones: tuple[str, ...]  # zones that are not shared, in declared order
    shared_zones: frozenset[str]
    breakdowns: tuple[Breakdown, ...]


@dataclass(frozen=True)
class Spec:
    """A methodology ready to run. `data` is the merged plain tree (for show, diff, hashing).

    `published` and `synthesis` are tooling sections (the published tables and how `sapa synth`
    fits them), checked by the schema and kept as given; `vocabulary` is every item name the
    methodology knows (asked or not); `default_data` the bundled data folder as written (see
    spec.paths for where it is)."""

    id: str
    title: str
    year: int | None
    path: str
    tables: Mapping[str, TableSpec]
    variables: tuple[Variable, ...]  # in evaluation order
    survey: Survey | None
    survey_step: int  # the survey runs before variables[survey_step:]
    ratings: Mapping[str, Rating]
    tests: tuple[TestCase, ...]
    catalog: Catalog
    published: Mapping[str, Any] | None
    synthesis: Mapping[str, Any] | None
    vocabulary: frozenset[str]
    default_data: str | None
    document: Document = field(repr=False)

    @property
    def data(self) -> Any:
        return self.document.data


def text_of(label: Any, language: str = "en") -> str:
    """A label in one language, falling back to any language the spec gives."""
    if isinstance(label, str):
        return label
    if isinstance(label, Mapping):
        for lang in (language, "en", "ru", "kk"):
            if label.get(lang):
                return str(label[lang])
    return ""


def result_columns(questionnaires: dict[str, list[str]], zones: list[str],
                   exclusions: list[str]) -> list[str]:
    """The columns of a survey's results table, in order: the names the checker offers to formulas
    and the survey step fills. `questionnaires` maps each questionnaire to its criteria."""
    columns = ["n", "score", "satisfaction"]
    for q, criteria in questionnaires.items():
        columns += [f"{q}_{s}" for s in ("score", "satisfaction")]
        columns += [f"{q}_{c}_{s}" for c in criteria for s in ("score", "satisfaction")]
    columns += [f"{z}_{s}" for z in zones for s in ("score", "satisfaction")]
    columns += [f"excluded_{code}" for code in exclusions]
    return columns
