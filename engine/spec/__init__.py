"""The spec stage: a methodology file in, a checked, immutable model out.

source (YAML with the place of every key and value; duplicate keys) -> loading (`extends:`
chains merged, the JSON Schema structure check) -> validation (every name, formula, band table,
weight and test checked in one run; the model built when nothing is wrong) -> model (`Spec`, the
typed, frozen description every later stage reads). `paths` holds the one rule for file names a
spec gives (relative to the file that writes them)."""

from sapa.engine.spec import labels
from sapa.engine.spec.loading import bundled_names, load_document, resolve_spec
from sapa.engine.spec.model import (
    LEVEL_MEMBERS_TABLE,
    LEVEL_NODE,
    TOTALS,
    Breakdown,
    ColumnSpec,
    Level,
    Questionnaire,
    Rating,
    Spec,
    Survey,
    SurveyItem,
    TableSpec,
    TestCase,
    count_column,
    level_columns,
    result_columns,
    text_of,
)
from sapa.engine.spec.paths import (
    declared_in,
    default_data,
    exists,
    is_file,
    published_folder,
    resolve,
)
from sapa.engine.spec.schema import editor_schema, spec_schema
from sapa.engine.spec.source import Document, PathKey
from sapa.engine.spec.tree import formula_of
from sapa.engine.spec.validation import load_spec

__all__ = [
    "LEVEL_MEMBERS_TABLE", "LEVEL_NODE", "formula_of", "labels",
    "TOTALS", "Breakdown", "count_column", "level_columns",
    "PathKey", "declared_in", "default_data", "exists", "is_file", "published_folder", "resolve",
    "ColumnSpec", "Level", "Document", "Questionnaire", "Rating", "Spec", "Survey", "SurveyItem",
    "TableSpec", "TestCase", "bundled_names", "load_document", "load_spec", "resolve_spec",
    "result_columns", "spec_schema", "editor_schema", "text_of",
]
