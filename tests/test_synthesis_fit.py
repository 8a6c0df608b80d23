"""The fit behind `sapa synth` on hand-made cells: which figure gives way when two conflict."""

from __future__ import annotations

import numpy as np
import pytest

from sapa.engine.synth.fit import Cells, Goal, fit


def _one_item(score_weight: float, share_weight: float) -> tuple[Cells, list[Goal]]:
    """Twenty raters of one item, printed 4.00 with 95 % top marks: impossible together (95 % fives
    put the mean at 4.8 or more), and the % lies much further from reach than the score."""
    cells = Cells(slot=np.array([0]), group=np.array([0]), asked=np.array([20]),
                  rated=np.array([20]), score=np.array([4.5]), share=np.array([60.0]))
    one = np.array([1.0])
    goals = [Goal("item", "score", -1, one, 4.0, 0.005, 0.01, score_weight),
             Goal("item", "satisfaction", -1, one, 95.0, 0.05, 0.1, share_weight)]
    return cells, goals


@pytest.mark.parametrize(("weights", "kept"), [((1.0, 0.5), 0), ((0.5, 1.0), 1)])
def test_the_heavier_of_two_conflicting_figures_is_reproduced(weights: tuple[float, float],
                                                             kept: int) -> None:
    cells, goals = _one_item(*weights)
    made = fit(cells, goals, 5)
    assert made.reproduced.tolist() == [kept == 0, kept == 1]
    assert 20 <= made.total[0] <= 100 and 0 <= made.top[0] <= 20  # twenty marks of 1..5


def test_figures_that_agree_are_all_reproduced_whatever_their_weights() -> None:
    cells, goals = _one_item(1.0, 0.5)
    goals[1] = Goal("item", "satisfaction", -1, np.array([1.0]), 50.0, 0.05, 0.1, 0.5)
    assert fit(cells, goals, 5).met.all()


def test_a_figure_given_up_shows_the_range_the_kept_figure_allows() -> None:
    """4.00 kept over 20 raters (a total of 80, 79.9 to 80.1 within the print) allows at most
    15.025 top marks in real counts (the rest at 1), 75.125 %: the 95 % given up is
    contradicted, its range ends below it."""
    cells, goals = _one_item(1.0, 0.5)
    made = fit(cells, goals, 5)
    assert np.isnan(made.possible[0]).all()  # met: no range
    low, high = made.possible[1]
    assert low == pytest.approx(0.0, abs=1e-6) and high == pytest.approx(75.125, abs=1e-4)


def test_a_figure_missed_only_for_whole_counts_has_its_print_inside_its_range() -> None:
    """Three raters cannot average 4.50 (13/3 or 14/3), real counts can: the range holds it."""
    cells = Cells(slot=np.array([0]), group=np.array([0]), asked=np.array([3]),
                  rated=np.array([3]), score=np.array([4.5]), share=np.array([50.0]))
    made = fit(cells, [Goal("item", "score", -1, np.array([1.0]), 4.5, 0.005, 0.01)], 5)
    assert not made.met[0]
    low, high = made.possible[0]
    assert low <= 4.5 <= high
