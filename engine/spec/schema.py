"""The JSON Schema of a spec, in two forms. The checker's (spec.schema.json, written by hand)
describes a whole spec, which is what `extends:` chains are merged into before any check. An
editor sees single files, and a file with `extends:` is an overlay: any part of a spec, where a
mapping merges key by key and `null` removes a key. The editor's schema (`sapa schema`) is the
checker's plus that overlay form, derived from it, so the two cannot drift apart."""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib.resources import files
from typing import Any

EDITOR_ID = "urn:sapa:spec:editor"
_DEFS = "#/$defs/"


@cache
def spec_schema() -> dict[str, Any]:
    """The whole-spec schema the checker validates merged specs against."""
    text = files("sapa.engine.spec").joinpath("spec.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def editor_schema() -> dict[str, Any]:
    """A schema for single spec files: a whole spec, or (with `extends:`) an overlay."""
    whole = copy.deepcopy(spec_schema())
    defs = whole.pop("$defs")
    about = {key: whole.pop(key) for key in ("$schema", "$id", "title", "description")}
    return {
        **about, "$id": EDITOR_ID,
        "description": about["description"] + " A file with `extends:` is an overlay: any part "
                       "of a spec; mappings merge key by key and null removes a key.",
        "if": {"type": "object", "required": ["extends"]},
        "then": {"$ref": _DEFS + "overlay"},
        "else": {"$ref": _DEFS + "spec"},
        "$defs": {**defs, "spec": whole, "overlay": _partial(whole),
                  **{f"partial_{name}": _partial(schema) for name, schema in defs.items()}},
    }


def _partial(schema: Any) -> Any:
    """The overlay form of a value that merges: no key required, each key's value may be null,
    the parts that merge partial too. Lists and scalars replace what they override, so they
    keep their whole form."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("required", "minProperties"):
            continue
        if key == "$ref" and value.startswith(_DEFS):
            out[key] = _DEFS + "partial_" + value[len(_DEFS):]
        elif key in ("anyOf", "oneOf", "allOf"):
            out["allOf" if key == "allOf" else "anyOf"] = [_partial(v) for v in value]
        elif key == "properties":
            out[key] = {name: _removable(_partial(v)) for name, v in value.items()}
        elif key == "additionalProperties" and isinstance(value, dict):
            out[key] = _removable(_partial(value))
        else:
            out[key] = value
    return out


def _removable(schema: Any) -> dict[str, Any]:
    return {"anyOf": [{"type": "null"}, schema]}
