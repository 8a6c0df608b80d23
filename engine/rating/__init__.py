"""The rating stage: checked tables in, ratings out. evaluation adds every variable (and the survey
step where the dependency order puts it); ranking selects, computes and ranks each rating; `rate`
does both in one call."""

from sapa.engine.rating.evaluation import evaluate_tables, streams_respondents
from sapa.engine.rating.ranking import compute_ratings, tie_ranks
from sapa.engine.rating.run import Rated, rate

__all__ = ["Rated", "compute_ratings", "evaluate_tables", "rate", "streams_respondents",
           "tie_ranks"]
