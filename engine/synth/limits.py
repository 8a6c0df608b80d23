"""What keeps `sapa synth` from fitting a spec, from the spec alone: `validate` asks it, with
no table read and none of the fit's libraries loaded."""

from __future__ import annotations

from collections.abc import Collection

from sapa.engine.diagnostics import CannotRun, Diagnostic
from sapa.engine.spec import Spec


def fit_limits(spec: Spec) -> list[str]:
    """What keeps `sapa synth` from fitting this spec, in words (nothing: it can). The fit makes
    marks 1..top and fits each figure as a fixed linear function of item values, with the share
    of the top mark as the satisfaction."""
    survey = spec.survey
    if survey is None:
        return ["it has no survey"]
    out = [f"a {level.rule} level ({name}): its value is not a fixed linear function of the "
           "item values" for name, level in survey.levels.items()
           if level.rule in ("pooled", "formula")]
    scale = sorted(survey.ratings)
    top = scale[-1] if scale else None
    if scale != [float(k) for k in range(1, len(scale) + 1)]:
        out.append(f"its scale is {_listed(scale)}: the fit makes whole marks 1, 2, … up to the "
                   "top one")
    if sorted(survey.satisfied) != [top]:
        out.append(f"it counts {_listed(survey.satisfied)} as satisfied: the fit makes the "
                   "satisfaction the share of the top mark only")
    return out


def _listed(values: Collection[float]) -> str:
    return ", ".join(f"{v:g}" for v in sorted(values))


def check_fittable(spec: Spec) -> None:
    """Refuse, by name and before any work, a spec the fit cannot reproduce."""
    limits = fit_limits(spec)
    if limits:
        raise CannotRun([Diagnostic(
            "C105", f"{spec.id}: sapa synth cannot fit this spec: {reason}",
            hint="synthesise under a variant the fit can reproduce, then rate that data under "
                 "this spec") for reason in limits])
