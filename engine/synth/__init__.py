"""`sapa synth`: a spec's published tables in, respondent-level reference data that reproduce
them out. build (units, channels, regions, skips) -> fit (linear and integer programmes over
answer cells) -> pooled and exchange (figures pooled over every unit); targets reads what the
published tables say; skips decides who answers which item."""

from sapa.engine.synth.build import Synthesis, check_fittable, fit_limits, synthesize, write

__all__ = [
    "Synthesis", "check_fittable", "fit_limits", "synthesize", "write",
]
