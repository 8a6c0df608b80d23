"""Exchanges of answers between a criterion's items: the pool comes out, the units stay put."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from sapa.engine.synth.exchange import Figures, Pooled, exchange
from sapa.engine.synth.skips import Printing

SURVEY = SimpleNamespace(ratings=(1.0, 2.0, 3.0, 4.0, 5.0), satisfied=(5.0,), base="asked")
PRINTED = Printing({"score": 0.005, "satisfaction": 0.05}, 5, True)


def answers_of(rng: np.random.Generator, n: int, fives: int, fours: int) -> np.ndarray:
    """n answers: fives, fours, the rest a non-answer (0), in random order."""
    return rng.permutation(np.concatenate([np.full(fives, 5.0), np.full(fours, 4.0),
                                           np.zeros(n - fives - fours)]))


def values(answers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per item: score over the marks, % of top marks over those asked."""
    asked = ~np.isnan(answers)
    marks = np.where(asked & (answers >= 1), answers, 0.0)
    rated = (marks > 0).sum(axis=0)
    return marks.sum(axis=0) / rated, 100.0 * (answers == 5).sum(axis=0) / asked.sum(axis=0)


def criterion_figures(score: float, share: float) -> Figures:
    """A unit printing its criterion only (the mean of its two items), at 2 and 1 decimals."""
    weights = np.array([[0.5, 0.5], [0.5, 0.5]])
    return Figures([("q", "fee"), ("q", "extra")], weights, np.array([True, False]),
                   np.array([round(score, 2), round(share, 1)]), np.array([0.005, 0.05]),
                   np.array([0.01, 0.1]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exchanges_bring_the_pool_to_its_print_and_keep_every_unit_on_its_own(seed: int
                                                                               ) -> None:
    """A paid unit asks a fee item and an extra one; a free unit, three times its size, the
    extra one only. The pool prints the fee's % lower: only exchanges in the paid unit (a top
    mark moving from the fee to the extra item) get it there, and the paid unit's printed
    criterion must stay within its print."""
    rng = np.random.default_rng(seed)
    paid = np.column_stack([answers_of(rng, 200, 110, 30), answers_of(rng, 200, 110, 30)])
    free = np.column_stack([np.full(600, np.nan), answers_of(rng, 600, 330, 90)])
    answers = np.vstack([paid, free])
    before = answers.copy()
    score, share = values(paid)
    figures = [criterion_figures(score.mean(), share.mean())]
    achieved = [np.array([score.mean(), share.mean()])]
    pool_score, pool_share = values(answers)
    printed = (round(pool_score.mean(), 2), round(pool_share.mean() - 2.0, 1))
    pooled = Pooled("costs", ["fee", "extra"], np.full((2, 2), np.nan), printed)
    owner = np.concatenate([np.zeros(200, dtype=int), np.full(600, -1)])

    done = exchange(answers, owner, [(0, np.array([0, 1]))], figures, achieved, pooled,
                    SURVEY, PRINTED, np.random.default_rng(seed))

    assert done.made > 0
    pool_score, pool_share = values(answers)
    np.testing.assert_allclose([done.score, done.share], [pool_score, pool_share], atol=1e-12)
    step = 100 * (1 / 200 - 1 / 800) / 2  # one top mark from the fee to the extra item
    assert abs(pool_share.mean() - printed[1]) <= step / 2 + 1e-9  # the nearest it can be
    assert abs(pool_score.mean() - printed[0]) <= 0.005
    score, share = values(answers[:200])  # the figures follow the answers exactly ...
    assert achieved[0] == pytest.approx([score.mean(), share.mean()], abs=1e-12)
    assert np.all(np.abs(achieved[0] - figures[0].value) <= figures[0].half_width + 1e-9)
    np.testing.assert_array_equal(answers[200:], before[200:])  # ... only the paid unit moves,
    np.testing.assert_array_equal(np.isnan(answers), np.isnan(before))  # nobody newly asked,
    np.testing.assert_array_equal(np.sort(answers[:200], axis=1), np.sort(before[:200], axis=1))


def test_no_exchange_where_the_pool_is_already_printed() -> None:
    rng = np.random.default_rng(0)
    answers = np.column_stack([answers_of(rng, 100, 60, 20), answers_of(rng, 100, 70, 10)])
    score, share = values(answers)
    pooled = Pooled("costs", ["fee", "extra"], np.full((2, 2), np.nan),
                    (float(score.mean()), float(share.mean())))
    achieved = [np.array([score.mean(), share.mean()])]
    done = exchange(answers, np.zeros(100, dtype=int), [(0, np.array([0, 1]))],
                    [criterion_figures(score.mean(), share.mean())], achieved, pooled, SURVEY,
                    PRINTED, rng)
    assert done.made == 0


def test_an_exchange_that_would_move_a_unit_off_its_print_is_not_made() -> None:
    """With the paid unit's score printed exactly (no rounding room), only exchanges that
    leave it exactly where it is may be made: a 5 and a 4 trading places between its items
    (they have as many raters), never a 5 and a non-answer."""
    rng = np.random.default_rng(3)
    paid = np.column_stack([answers_of(rng, 200, 110, 30), answers_of(rng, 200, 110, 30)])
    free = np.column_stack([np.full(600, np.nan), answers_of(rng, 600, 330, 90)])
    answers = np.vstack([paid, free])
    score, share = values(paid)
    exact = Figures([("q", "fee"), ("q", "extra")], np.full((2, 2), 0.5),
                    np.array([True, False]), np.array([score.mean(), round(share.mean(), 1)]),
                    np.array([0.0, 0.05]), np.array([0.0, 0.1]))
    achieved = [np.array([score.mean(), share.mean()])]
    pool_score, pool_share = values(answers)
    pooled = Pooled("costs", ["fee", "extra"], np.full((2, 2), np.nan),
                    (round(pool_score.mean(), 2), round(pool_share.mean() - 2.0, 1)))
    done = exchange(answers, np.concatenate([np.zeros(200, dtype=int), np.full(600, -1)]),
                    [(0, np.array([0, 1]))], [exact], achieved, pooled, SURVEY, PRINTED,
                    rng)
    after, _ = values(answers[:200])
    assert done.made > 0 and after.mean() == pytest.approx(score.mean(), abs=1e-9)
    assert ((answers[:200] == 0) == (paid == 0)).all()  # the non-answers stayed put
