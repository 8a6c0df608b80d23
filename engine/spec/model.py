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
    total_columns: tuple[tuple[str, Node], ...] = ()  # closing-row columns from its own values

    @property
    def total_table(self) -> str:
        """The name the closing row's formulas read their values under."""
        return f"ratings.{self.id}.total"


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
    """A results table per unit (or pooled across units) and per combination of key values."""

    name: str  # the results table
    by: str | None  # the first key's name (None: one group); the column `table` links on
    table: str | None  # the table the values are keys of (one key only)
    link: str | None  # the link name from the results table to that table
    pooled: bool = False  # grouped by the key values only, across units
    keys: tuple[tuple[str, Node], ...] = ()  # (column of the results table, respondent formula)
    where: Node | None = None  # only the respondents this keeps


#: Sums over every answer beneath a row of the hierarchy (what a pooled level divides).
TOTALS = ("total_asked", "total_rated", "total_marks", "total_satisfied", "total_base")

#: The levels of the survey hierarchy and what their members are (docs/spec-reference.md).
LEVEL_MEMBERS = {"criterion": "item", "channel": "criterion", "unit": "channel",
                 "zone": "item", "unit_zone": "channel"}


@dataclass(frozen=True)
class Level:
    """How one level of the survey hierarchy combines its members: `mean` (unweighted, of the
    members with data), `weighted` (declared weights; a member without data renormalises the
    others or, with missing="missing", makes the level missing) or `pooled` (every answer
    beneath pooled: rater-weighted) or `formula` (score and satisfaction are formulas over the
    node's members, a table of their statistics; see `level_catalog`). `of` (unit only):
    "channels" or "zones"."""

    name: str
    rule: str = "mean"
    weights: Mapping[str, float] = field(default_factory=dict)
    missing: str = "renormalise"
    of: str = "channels"
    score: Node | None = None  # formula: over MEMBERS (one row per member, with statistics)
    satisfaction: Node | None = None

    @property
    def members(self) -> str:
        """What this level combines: item, criterion, channel or zone."""
        return "zone" if self.of == "zones" else LEVEL_MEMBERS[self.name]


#: The tables a level's formulas run over: one row per node, and its members with statistics.
LEVEL_NODE, LEVEL_MEMBERS_TABLE = "level", "members"
MEMBERS_LINK = Link("level", LEVEL_MEMBERS_TABLE, LEVEL_NODE, ("node",), ("node",))


def level_catalog(codes: list[float] | None = None) -> Catalog:
    """What a level's formulas may name: `members.<statistic>` (name, score, satisfaction,
    asked, rated, the totals and counts), aggregated per node: `min(members.score)`."""
    members: dict[str, Type] = {"node": "number", "name": "string"}
    members.update(dict.fromkeys(level_columns(codes)[3:], "number"))
    return Catalog(columns={LEVEL_NODE: {"node": "number"}, LEVEL_MEMBERS_TABLE: members},
                   links={LEVEL_MEMBERS_TABLE: {"level": MEMBERS_LINK}})


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
    levels: Mapping[str, Level] = field(default_factory=dict)  # every level of LEVEL_MEMBERS

    def level(self, name: str) -> Level:
        return self.levels.get(name) or Level(name)


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


def count_column(value: float) -> str:
    """The results column counting the answers `value` (a rating or a non-answer code):
    count_5, count_0, count_minus_1, count_2_5."""
    text = f"{value:g}".replace("-", "minus_").replace(".", "_")
    return f"count_{text}"


def level_columns(codes: list[float] | None = None) -> list[str]:
    """The columns of a `<results>_levels` table after its group columns (unit, breakdown keys):
    one row per level, questionnaire and name (item, criterion, zone, channel total, unit)."""
    return ["level", "questionnaire", "name", "score", "satisfaction", "asked", "rated",
            *TOTALS, *(count_column(v) for v in codes or [])]


def result_columns(questionnaires: dict[str, list[str]], zones: list[str],
                   exclusions: list[str], codes: list[float] | None = None) -> list[str]:
    """The columns of a survey's results table, in order: the names the checker offers to formulas
    and the survey step fills. `questionnaires` maps each questionnaire to its criteria; `codes`
    are the scale's ratings and non-answer codes, each counted over every answer of the unit."""
    columns = ["n", "score", "satisfaction"]
    for q, criteria in questionnaires.items():
        columns += [f"{q}_{s}" for s in ("score", "satisfaction")]
        columns += [f"{q}_{c}_{s}" for c in criteria for s in ("score", "satisfaction")]
    columns += [f"{z}_{s}" for z in zones for s in ("score", "satisfaction")]
    columns += [f"excluded_{code}" for code in exclusions]
    columns += [*TOTALS, *(count_column(v) for v in codes or [])]
    return columns
