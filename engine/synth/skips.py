"""Who answers which item of a unit in `sapa synth`: skips, non-answers and raters.

A printed figure is a mean of fractions of whole respondents, so whether it can be reached at all
depends on how many were asked each item and how many of them rated it, before any mark is
chosen. These functions decide those counts per item over the whole unit (engine.synthesis
shares them out over the regions, and engine.synthesis_fit then chooses the marks).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sapa.engine.spec import Questionnaire, Survey, SurveyItem

Slot = tuple[Questionnaire, SurveyItem]
STATISTICS = ("score", "satisfaction")


@dataclass(frozen=True)
class Printing:
    """What decides whether a figure can be printed: the half-width of each statistic's printed
    rounding (synthesis.digits: 2 decimals -> 0.005), the top mark of the 1..top scale, and
    whether a respondent may give a non-answer."""

    half: Mapping[str, float]
    top: int
    non_answers: bool


def printing(plan: Mapping[str, Any], survey: Survey) -> Printing:
    """From a synthesis plan (its `digits:`) and the survey's scale."""
    digits = plan["digits"]
    return Printing({stat: 0.5 * 10.0 ** -int(digits[stat]) for stat in STATISTICS},
                    int(max(survey.ratings)), bool(survey.non_answers))


def shared_out(n: int, names: list[Any], shares: Mapping[Any, float]) -> dict[Any, int]:
    """`n` shared out by weight, largest remainders first."""
    weights = np.array([shares.get(name, 1.0) for name in names], dtype=float)
    raw = n * weights / weights.sum()
    counts = np.floor(raw).astype(int)
    counts[np.argsort(raw - counts)[::-1][: n - counts.sum()]] += 1
    return dict(zip(names, counts.tolist(), strict=True))


def reachable(figure: float, denominator: int, scale: float, printed: Printing) -> bool:
    """Whether a mean of fractions over `denominator` answers can print as `figure`
    (a score over whole marks when scale is 1, a share in % when it is 100)."""
    if np.isnan(figure) or denominator <= 0:
        return False
    half = printed.half["score" if scale == 1.0 else "satisfaction"]
    j = round(figure * denominator / scale)
    return abs(j * scale / denominator - figure) <= half + 1e-9


@dataclass
class Item:
    """One targeted item over the whole unit: who is asked, how many of them rate."""

    slot: int
    who: np.ndarray
    score: float
    share: float
    rated: int = 0


def skip_some(slots: list[Slot], items: list[Item], printed: Printing) -> None:
    """Let a few respondents skip an item (not asked) and a few give a non-answer, so that
    printed figures become reachable. With every item over the same n respondents a criterion's
    share moves in steps of 1/(items x n), too coarse for a 0.1 pp print: in each criterion the
    last item loses one respondent, and an item alone in its criterion loses up to 15 %, as
    many as make its printed score and share reachable. A high score with few top marks (4.96
    with 89.2 %) needs non-answers: at most top / (score - 4) of those asked can rate."""
    last: dict[tuple[str, str], list[Item]] = {}
    for item in items:
        questionnaire, survey_item = slots[item.slot]
        last.setdefault((questionnaire.name, survey_item.criterion), []).append(item)
    for members in last.values():
        share_raters(members, printed)
        item = members[-1]
        asked = len(item.who)
        equal = all(len(m.who) == asked for m in members)
        if asked < 3 or (equal and reachable(item.score, sum(m.rated for m in members), 1.0,
                                             printed)
                         and reachable(item.share, asked * len(members), 100.0, printed)):
            continue  # already reachable with every item over the same respondents
        if len(members) > 1:
            keep, rated = asked - 1, raters(asked - 1, item.score, item.share, printed)
        else:
            keep, rated = max(((a, r) for a in range(int(np.ceil(asked * 0.85)), asked + 1)
                               for r in rater_counts(a, item.score, item.share, printed)),
                              key=lambda pair: (reachable(item.score, pair[1], 1.0, printed)
                                                + reachable(item.share, pair[0], 100.0, printed),
                                                pair))
        # the skipping respondents are spread over the item's respondents (and so its groups)
        dropped = np.round(np.linspace(0, asked - 1, asked - keep + 2)[1:-1]).astype(int)
        item.who = np.delete(item.who, dropped)
        item.rated = rated


def share_raters(members: list[Item], printed: Printing) -> None:
    """How many rate each item of a criterion. Items starting from the same printed figure share
    the criterion's raters out between them (a share over 9 + 9 asked of 94.4 % with 5.00 is
    17 raters: 9 and 8), others each have their own (`raters`)."""
    starts = {(m.score, m.share) for m in members}
    if len(starts) > 1 or len(members) == 1:
        for item in members:
            item.rated = raters(len(item.who), item.score, item.share, printed)
        return
    asked = np.array([len(m.who) for m in members])
    first = members[0]
    counts = shared_out(raters(int(asked.sum()), first.score, first.share, printed),
                        list(range(len(members))), dict(enumerate(asked.tolist())))
    for k, item in enumerate(members):
        item.rated = int(np.clip(counts[k], min(1, asked[k]), asked[k]))


def rater_counts(asked: int, score: float, share: float, printed: Printing) -> range:
    """How many of `asked` may rate an item alone in its criterion: as many as `raters`
    allows, or a few less (a non-answer leaves the % over those asked and moves the score's
    denominator alone: 83.9 % and 4.73 of 31 asked need 30 raters)."""
    most = raters(asked, score, share, printed)
    return range(max(1, int(np.ceil(most * 0.85))) if printed.non_answers else most, most + 1)


def answering(slots: list[Slot], items: list[Item], shares: Mapping[str, float]) -> None:
    """Only `shares[criterion]` of the respondents asked a criterion's items answer them (the
    same respondents for every item of it, spread over the unit; engine.synthesis_pooled)."""
    for criterion, share in shares.items():
        mine = [item for item in items if slots[item.slot][1].criterion == criterion]
        if not mine or share >= 1:
            continue
        everyone = np.unique(np.concatenate([item.who for item in mine]))
        keep = max(3, int(round(share * len(everyone))))
        kept = everyone[np.round(np.linspace(0, len(everyone) - 1, keep)).astype(int)]
        for item in mine:
            item.who = np.intersect1d(item.who, kept)


def leave_out(slots: list[Slot], items: list[Item], count: int, rng: np.random.Generator
               ) -> None:
    """`count` respondents of each questionnaire answer none of its targeted items (a unit of
    11 respondents whose every criterion is printed in ninths: 9 answered)."""
    for name in dict.fromkeys(slots[item.slot][0].name for item in items):
        mine = [item for item in items if slots[item.slot][0].name == name]
        everyone = np.unique(np.concatenate([item.who for item in mine]))
        gone = rng.choice(everyone, size=min(count, max(len(everyone) - 3, 0)), replace=False)
        for item in mine:
            kept = np.setdiff1d(item.who, gone)
            if len(kept) >= 3:
                item.who = kept


def shake(items: list[Item], rng: np.random.Generator, printed: Printing) -> None:
    """A random variation of the skips: about one item in four loses one more respondent, one
    in eight one more rater (a non-answer), never below three asked or two raters."""
    for item in items:
        if len(item.who) > 3 and rng.random() < 0.25:
            item.who = np.delete(item.who, rng.integers(len(item.who)))
            item.rated = min(item.rated, len(item.who))
        if printed.non_answers and item.rated > 2 and rng.random() < 0.125:
            item.rated -= 1


def printable(score: float, share: float, items: int, size: int, printed: Printing
              ) -> tuple[bool, bool]:
    """Whether a criterion of `items` items asked of `size` respondents can print its score
    (over its raters, at least one per item) and its % (over everyone asked)."""
    rated = raters(items * size, score, share, printed)
    return (rated >= items and reachable(score, rated, 1.0, printed),
            reachable(share, items * size, 100.0, printed))


def raters(asked: int, score: float, share: float, printed: Printing) -> int:
    """How many of `asked` rate: all, unless a high score with few top marks needs non-answers
    (marks of r raters with n top marks average at most top - 1 + n / r). Both figures are read
    at the edge of their printed rounding: 4,94 with 93,8 % is 15 top marks and a 4 of 16 raters
    (4,9375 and 93,75 %), no non-answer needed."""
    below = printed.top - 1
    lowest_score = score - printed.half["score"]
    highest_share = (share + printed.half["satisfaction"]) / 100
    if not printed.non_answers or lowest_score <= below or \
            not highest_share < lowest_score - below:
        return asked  # (also where no % is printed)
    return int(np.clip(np.floor(asked * highest_share / (lowest_score - below)), 1, asked))
