"""How sure a rating is: a bootstrap of the respondents within each unit (the design a survey
of independent samples per unit implies), every replicate rated at once, giving each unit's
interval of its printed figures and of its rank."""

from sapa.engine.uncertainty.bootstrap import Intervals, bootstrap, replicate_ranks

__all__ = ["Intervals", "bootstrap", "replicate_ranks"]
