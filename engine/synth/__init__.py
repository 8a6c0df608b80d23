"""`sapa synth`: a spec's published tables in, respondent-level reference data that reproduce
them out. build (units, channels, regions, skips) -> fit (linear and integer programmes over
answer cells) -> pooled and exchange (figures pooled over every unit); targets reads what the
published tables say; skips decides who answers which item; limits says what the fit cannot do
(read by `validate`, so the fit's modules are imported only when a fit is asked for)."""

import importlib
from typing import TYPE_CHECKING, Any

from sapa.engine.synth.limits import check_fittable, fit_limits

__all__ = [
    "Synthesis", "check_fittable", "fit_limits", "synthesize", "write",
]

_BUILD = ("Synthesis", "synthesize", "write")

if TYPE_CHECKING:
    from sapa.engine.synth.build import Synthesis, synthesize, write


def __getattr__(name: str) -> Any:
    if name in _BUILD:
        return getattr(importlib.import_module("sapa.engine.synth.build"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
