"""Finding a spec (path or bundled short name), merging `extends:` chains, checking structure.

Structure is checked against engine/spec/spec.schema.json, the single source of truth for what
keys a spec may have; every schema error is turned into a located diagnostic.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from sapa.engine.diagnostics import CannotRun, Diagnostic, did_you_mean
from sapa.engine.spec.paths import exists
from sapa.engine.spec.schema import spec_schema
from sapa.engine.spec.source import Document, NodePlace, PathKey, read_yaml

BUNDLED_SUFFIX = ".yaml"


def bundled_names() -> list[str]:
    """Short names of the methodologies shipped with sapa (their file names without .yaml)."""
    folder = files("sapa.methodology")
    return sorted(p.name[: -len(BUNDLED_SUFFIX)] for p in folder.iterdir()
                  if p.name.endswith(BUNDLED_SUFFIX))


def resolve_spec(name: str, relative_to: Path | None = None) -> Path:
    """A spec argument as a file path: an existing path wins, then a bundled short name."""
    candidate = (relative_to / name) if relative_to and not Path(name).is_absolute() else Path(name)
    if exists(candidate):
        return candidate
    if name in bundled_names():
        with as_file(files("sapa.methodology").joinpath(name + BUNDLED_SUFFIX)) as path:
            return Path(path)
    hint = did_you_mean(name, bundled_names())
    raise CannotRun([Diagnostic(
        "S100", f"no such spec: '{name}' is neither a file nor a bundled methodology",
        hint=hint or f"bundled methodologies: {', '.join(bundled_names()) or 'none'}")])


def load_document(path: Path, _chain: tuple[Path, ...] = ()) -> Document:
    """Read a spec file and, if it `extends:` another, merge the chain (this file wins)."""
    document = read_yaml(path)
    data = document.data
    if not isinstance(data, dict) or "extends" not in data:
        return document
    parent_name = data["extends"]
    span = document.place(("extends",))
    if isinstance(parent_name, int) and not isinstance(parent_name, bool):
        parent_name = data["extends"] = str(parent_name)  # a short name YAML read as a number
    if not isinstance(parent_name, str):
        return document  # the schema check reports the wrong type
    try:
        parent_path = resolve_spec(parent_name, relative_to=path.parent)
    except CannotRun as exc:
        document.diagnostics.append(Diagnostic(
            "S104", f"cannot extend '{parent_name}': {exc.diagnostics[0].message}", span,
            hint=exc.diagnostics[0].hint))
        return document
    resolved = parent_path.resolve()
    if resolved in _chain or resolved == path.resolve():
        document.diagnostics.append(Diagnostic("S104", f"'{parent_name}' extends itself (a cycle)",
                                               span))
        return document
    try:
        parent = load_document(parent_path, (*_chain, path.resolve()))
    except CannotRun as exc:
        raise CannotRun(exc.diagnostics) from None
    overlay = {k: v for k, v in data.items() if k != "extends"}
    merged_places = dict(parent.places)
    base = parent.data if isinstance(parent.data, dict) else {}
    merged = _merge(base, overlay, (), document.places, merged_places)
    return Document(merged, merged_places, parent.files + document.files,
                    parent.diagnostics + document.diagnostics
                    + _removing_nothing(base, overlay, (), document))


def _removing_nothing(base: Any, overlay: Any, path: PathKey, document: Document
                      ) -> list[Diagnostic]:
    """S115 for `key: null` where the spec extended has no such key: it removes nothing, so it
    is a misspelt key or a YAML slip (`{en: a, b}` reads `b` as a key with no value)."""
    if not (isinstance(base, dict) and isinstance(overlay, dict)):
        return []
    found = []
    for key, value in overlay.items():
        if value is None and key not in base:
            found.append(Diagnostic(
                "S115", f"'{key}: null' removes nothing: the spec extended has no '{key}' here",
                document.place((*path, key), key=True), "warning",
                hint=did_you_mean(str(key), [str(k) for k in base])
                or "a comma in a flow mapping ({en: a, b}) starts a new key; quote the text"))
        else:
            found += _removing_nothing(base.get(key), value, (*path, key), document)
    return found


def _merge(base: Any, overlay: Any, path: PathKey, overlay_places: dict[PathKey, NodePlace],
           places: dict[PathKey, NodePlace]) -> Any:
    """Mappings merge key by key; anything else is replaced; `null` removes a key."""
    if not (isinstance(base, dict) and isinstance(overlay, dict)):
        for key in [k for k in places if k[: len(path)] == path]:
            del places[key]
        places.update({k: v for k, v in overlay_places.items() if k[: len(path)] == path})
        return overlay
    out = dict(base)
    if path in overlay_places:
        places[path] = overlay_places[path]
    for key, value in overlay.items():
        child = (*path, key)
        if value is None:
            out.pop(key, None)
            for gone in [k for k in places if k[: len(child)] == child]:
                del places[gone]
            continue
        out[key] = _merge(base.get(key), value, child, overlay_places, places)
    return out


# --------------------------------------------------------------------------------- structure
@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(spec_schema())


def check_structure(document: Document) -> list[Diagnostic]:
    """Every structural problem of the spec, located in its file."""
    found: dict[tuple[str, str, str], Diagnostic] = {}
    for error in _validator().iter_errors(document.data):
        for diagnostic in _explain(_most_relevant(error), document):
            span = diagnostic.span
            found.setdefault((diagnostic.code, str(span), diagnostic.message), diagnostic)
    return _without_cascades(list(found.values()))


def _without_cascades(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """A misspelt required key is one problem, not two: drop 'missing key X' when an unknown key
    in the same mapping already says 'did you mean X'."""
    suggested = {(d.path.rsplit(".", 1)[0], d.hint) for d in diagnostics
                 if d.code == "S110" and d.path and d.hint}

    def cascade(d: Diagnostic) -> bool:
        if d.code != "S111" or not d.path:
            return False
        mapping, key = d.path.rsplit(".", 1)
        return any(p == mapping and f"'{key}'" in h for p, h in suggested)

    return [d for d in diagnostics if not cascade(d)]


def _most_relevant(error: ValidationError) -> ValidationError:
    """For 'one of these shapes' errors, the problem inside the shape the author meant."""
    while error.validator in ("anyOf", "oneOf") and error.context:
        same_type = [e for e in error.context
                     if not (e.validator == "type" and e.relative_path == error.relative_path)]
        candidates = same_type or list(error.context)
        error = min(candidates, key=lambda e: (-len(e.absolute_path), e.validator == "type"))
    return error


def _explain(error: ValidationError, document: Document) -> list[Diagnostic]:
    path = tuple(error.absolute_path)
    where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    instance = error.instance
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        allowed = list(error.schema.get("properties", {}))
        out = []
        for key in instance:
            if key in allowed:
                continue
            hint = did_you_mean(key, allowed) or (
                f"allowed here: {', '.join(allowed)}" if allowed else None)
            out.append(Diagnostic("S110", f"unknown key '{key}'",
                                  document.place((*path, key), key=True), hint=hint,
                                  path=f"{where}.{key}"))
        return out
    if error.validator == "required":
        missing = next((k for k in error.validator_value if k not in instance), "?")
        return [Diagnostic("S111", f"missing required key '{missing}'", document.place(path),
                           path=f"{where}.{missing}")]
    if error.validator == "type":
        wanted = error.validator_value
        wanted_text = " or ".join(wanted) if isinstance(wanted, list) else wanted
        return [Diagnostic("S112", f"expected {_article(wanted_text)}, "
                           f"got {_describe(instance)}", document.place(path), path=where)]
    if error.validator == "enum":
        options = [str(o) for o in error.validator_value]
        return [Diagnostic("S113", f"{instance!r} is not one of: {', '.join(options)}",
                           document.place(path), hint=did_you_mean(str(instance), options),
                           path=where)]
    if error.validator == "pattern" and path and path[-1] == "id":
        message = f"{instance!r} may contain only letters, digits, '_', '.' and '-'"
    elif error.validator == "pattern" or (error.validator == "propertyNames"):
        message = f"{instance!r} is not a valid name (letters, digits and '_', not starting " \
                  "with a digit)"
    else:
        message = error.message
    return [Diagnostic("S114", message, document.place(path, key=error.validator == "pattern"),
                       path=where)]


def _article(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value[:30]!r})"
    if isinstance(value, list):
        return "a list"
    return "a mapping"
