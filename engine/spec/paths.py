"""The one rule for a file or folder a spec names: relative to the file that writes the setting.

A variant that `extends:` a bundled spec inherits the bundled data, published tables and test
files at the places the bundled spec wrote them; a path the variant writes itself is relative to
the variant."""

from __future__ import annotations

from pathlib import Path

from sapa.engine.spec.model import Spec
from sapa.engine.spec.source import Document, PathKey


def is_file(path: Path) -> bool:
    """Whether `path` is a file; a name no file can have (too long, a NUL) is none."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def exists(path: Path) -> bool:
    """Whether `path` exists; a name no file can have (too long, a NUL) does not."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def folder_of(document: Document, path: PathKey, fallback: Path) -> Path:
    """The folder of the file that wrote the setting at `path` (`fallback` when none did)."""
    place = document.place(path)
    return Path(place.file).parent if place is not None else fallback


def declared_in(spec: Spec, path: PathKey) -> Path:
    """The folder of the file that wrote the setting at `path` (the spec's own when none did)."""
    return folder_of(spec.document, path, Path(spec.path).parent)


def resolve(spec: Spec, path: PathKey, name: str) -> Path:
    """`name`, written at `path` of the spec, as a path on this machine."""
    return declared_in(spec, path) / name


def default_data(spec: Spec) -> Path | None:
    """The bundled data (methodology.default_data), or None when the spec names none."""
    if not spec.default_data:
        return None
    return resolve(spec, ("methodology", "default_data"), spec.default_data)


def published_folder(spec: Spec) -> Path:
    """The spec's published tables (published.folder; default: beside the spec)."""
    return resolve(spec, ("published", "folder"), (spec.published or {}).get("folder", "."))
