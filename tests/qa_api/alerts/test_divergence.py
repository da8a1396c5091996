"""The E-Divisive divergence Q̂ against a direct reading of its definition."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from qa_api.alerts.divergence import PairDistances


def brute_force_q_hat(values: list[float], start: int, stop: int) -> np.ndarray:
    """Q̂(τ, κ) of `values[start:stop]` from the formula, pair by pair (O(n⁴) over the segment)."""
    size = stop - start
    q = np.full((size - 1, size - 1), -np.inf)
    for tau in range(start + 1, stop):
        for kappa in range(tau + 1, stop + 1):
            x, y = values[start:tau], values[tau:kappa]
            n, m = len(x), len(y)
            between = sum(abs(a - b) for a in x for b in y)
            within_x = sum(abs(a - b) for a, b in itertools.combinations(x, 2))
            within_y = sum(abs(a - b) for a, b in itertools.combinations(y, 2))
            value = 2 / (n + m) * between
            if n > 1:
                value -= 2 * m / ((n + m) * (n - 1)) * within_x
            if m > 1:
                value -= 2 * n / ((n + m) * (m - 1)) * within_y
            q[tau - start - 1, kappa - start - 2] = value
    return q


@pytest.mark.parametrize("seed", range(8))
def test_vectorised_q_hat_equals_the_formula_on_every_segment(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = list(rng.normal(0.0, 1.0, int(rng.integers(3, 13))))
    if seed % 2:
        values[len(values) // 2 :] = [v + 5 for v in values[len(values) // 2 :]]
    distances = PairDistances(np.array(values))
    for start, stop in [(0, len(values)), (1, len(values)), (0, len(values) - 1), (2, len(values) - 1)]:
        expected = brute_force_q_hat(values, start, stop)
        actual = distances.q_hat(start, stop)
        assert np.array_equal(np.isinf(actual), np.isinf(expected))
        assert np.allclose(actual[np.isfinite(actual)], expected[np.isfinite(expected)])


def test_best_split_is_the_first_point_of_the_new_regime() -> None:
    values = np.array([0.3, 2.4, 1.5, -0.9, -0.5, 99.7, 98.3, 99.1, 149.0, 149.7, 149.5, 149.1, 148.8, 150.0])
    split = PairDistances(values).best_split(0, len(values))
    assert split.index == 5
    assert split.q_hat == pytest.approx(np.max(brute_force_q_hat(list(values), 0, len(values))))


def test_best_split_of_a_sub_segment_is_an_index_of_the_whole_series() -> None:
    values = np.array([5.0, 5.0, 5.0, 1.0, 1.1, 0.9, 7.0, 7.1, 6.9, 7.0])
    assert PairDistances(values).best_split(3, 10).index == 6


def test_a_flat_segment_splits_after_its_first_point_with_q_hat_zero() -> None:
    split = PairDistances(np.full(6, 2.5)).best_split(1, 6)
    assert (split.index, split.q_hat) == (2, 0.0)


@pytest.mark.parametrize(("start", "stop"), [(0, 1), (3, 3), (-1, 4), (0, 7)])
def test_a_segment_of_fewer_than_two_points_or_out_of_range_is_refused(start: int, stop: int) -> None:
    with pytest.raises(ValueError, match="at least 2 points"):
        PairDistances(np.arange(6.0)).q_hat(start, stop)
