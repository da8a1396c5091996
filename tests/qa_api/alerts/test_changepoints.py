"""Change points of a series: Apache Otava's published vectors, noise, gaps and directions.

The vectors and their expected indexes are copied from apache/otava 0.8.0 (commit 1ceb153), in the
test file each one names.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qa_api.alerts.changepoints import (
    ChangePoint,
    filled,
    find_change_points,
    first_pass_pvalue,
    is_regression,
)
from qa_api.alerts.significance import compare
from tests.qa_api.alerts.tigerbeetle import TIGERBEETLE

# tests/series_test.py
SERIES_1 = [1.02, 0.95, 0.99, 1.00, 1.12, 0.90, 0.50, 0.51, 0.48, 0.48, 0.55]
SERIES_2 = [2.02, 2.03, 2.01, 2.04, 1.82, 1.85, 1.79, 1.81, 1.80, 1.76, 1.78]


def indexes(points: list[ChangePoint]) -> list[int]:
    return [point.index for point in points]


def noise(seed: int, length: int, *, mean: float = 0.0, sigma: float = 1.0) -> list[float]:
    return [float(v) for v in np.random.default_rng(seed).normal(mean, sigma, length)]


def test_otava_single_series_halves_at_10() -> None:
    # tests/analysis_test.py (test_single_series)
    series = [1.02, 0.95, 0.99, 1.00, 1.12, 1.00, 1.01, 0.98, 1.01, 0.96]
    series += [0.50, 0.51, 0.48, 0.48, 0.55, 0.50, 0.49, 0.51, 0.50, 0.49]
    assert indexes(find_change_points(series, window_len=10, max_pvalue=0.0001)) == [10]


def test_otava_divisive_sequence_has_two_steps_without_windows() -> None:
    # tests/change_point_divisive_test.py (SEQUENCE, CHANGE_POINTS_INDS)
    sequence = [0.3, 2.4, 1.5, -0.9, -0.5, 99.7, 98.3, 99.1, 149.0, 149.7, 149.5, 149.1, 148.8, 150.0]
    assert indexes(find_change_points(sequence, window_len=len(sequence), max_pvalue=0.01)) == [5, 8]


def test_otava_series_falling_by_half_at_6_has_its_figures() -> None:
    [point] = find_change_points(SERIES_1)
    assert point.index == 6
    assert point.pvalue == pytest.approx(9.47e-08, rel=1e-3)
    assert point.magnitude == pytest.approx(0.978, abs=1e-3)
    assert point.mean_before == pytest.approx(sum(SERIES_1[:6]) / 6)
    assert point.mean_after == pytest.approx(sum(SERIES_1[6:]) / 5)
    assert point.std_before == pytest.approx(float(np.std(SERIES_1[:6])))
    assert point.relative_change == pytest.approx(point.mean_after / point.mean_before - 1)


def test_otava_series_falling_by_a_tenth_at_4() -> None:
    assert indexes(find_change_points(SERIES_2)) == [4]


def test_min_magnitude_keeps_the_halving_and_drops_the_tenth() -> None:
    assert indexes(find_change_points(SERIES_1, min_magnitude=0.2)) == [6]
    assert indexes(find_change_points(SERIES_2, min_magnitude=0.2)) == []


def test_a_run_of_zeros_is_a_regime_of_its_own() -> None:
    # tests/series_test.py (test_div_by_zero)
    points = find_change_points([0.0, 0.0, 0.0, 1.00, 1.12, 0.90, 0.50, 0.51, 0.48, 0.48, 0.55])
    assert indexes(points) == [3, 6]
    assert points[0].relative_change is None
    assert points[0].magnitude == 1.0


@pytest.mark.parametrize(
    ("max_pvalue", "min_magnitude", "expected"),
    [
        (0.01, 0.05, [15, 71]),  # test_tb_old_defaults
        (0.05, 0.05, [15, 71]),  # test_tb_old_defaults_p05
        (0.2, 0.05, [10, 11, 15, 71]),  # test_tb_old_defaults_p2
        (0.0001, 0.0, [71, 95, 117, 131, 142, 148, 192, 212]),  # test_tb_magnitude0_p0001
        (0.00001, 0.0, [71, 95, 131, 192, 212]),  # test_tb_magnitude0_p00001
    ],
)
def test_otava_tigerbeetle_vectors(max_pvalue: float, min_magnitude: float, expected: list[int]) -> None:
    # tests/tigerbeetle_test.py
    points = find_change_points(
        TIGERBEETLE, window_len=30, max_pvalue=max_pvalue, min_magnitude=min_magnitude
    )
    assert indexes(points) == expected


def test_tigerbeetle_at_p_0_001_drops_260_which_fails_between_its_neighbours() -> None:
    # Otava's test_tb_magnitude0_p001 expects [..., 212, 260]: after dropping a point its merge step
    # retests the right neighbour only, so 260 keeps a p-value measured against a neighbour that is
    # gone. Between its neighbours in Otava's own answer (212 and the end), 260 fails 0.001.
    expected_by_otava = [15, 61, 71, 95, 117, 131, 142, 148, 192, 212, 260]
    series = np.array(TIGERBEETLE, dtype=np.float64)
    assert compare(series[212:260], series[260:]).pvalue > 0.001

    points = find_change_points(TIGERBEETLE, window_len=30, max_pvalue=0.001)
    assert indexes(points) == expected_by_otava[:-1]
    assert all(point.pvalue < 0.001 for point in points)


def test_every_change_point_is_tested_between_its_final_neighbours() -> None:
    series = np.array(TIGERBEETLE, dtype=np.float64)
    points = find_change_points(TIGERBEETLE, window_len=30, max_pvalue=0.01)
    bounds = [0, *indexes(points), len(series)]
    for k, point in enumerate(points):
        expected = compare(series[bounds[k] : point.index], series[point.index : bounds[k + 2]])
        assert point.pvalue == expected.pvalue
        assert (point.mean_before, point.mean_after) == (expected.mean_before, expected.mean_after)


def test_two_shifts_in_a_thousand_commits_are_found_exactly() -> None:
    values = np.random.default_rng(7).normal(100.0, 1.0, 1000)
    values[400:] += 3
    values[700:] -= 5
    assert indexes(find_change_points([float(v) for v in values])) == [400, 700]


def test_a_flat_series_and_a_tiny_one_have_no_change_point() -> None:
    assert find_change_points([3.0] * 200) == []
    assert find_change_points([]) == []
    assert find_change_points([1.0, 9.0]) == []


def test_short_branches_of_pure_noise_rarely_raise_a_change_point() -> None:
    # Measured: 2 of 200 series of 30 points and 4 of 200 series of 40 have any (docs/regressions.md).
    for length, at_most in ((30, 2), (40, 4)):
        hits = sum(bool(find_change_points(noise(seed, length))) for seed in range(200))
        assert hits <= at_most, length


def test_long_noise_raises_about_one_change_point_per_thousand_commits() -> None:
    # Measured over 200 seeded series of 1,000 points: 231 change points (docs/regressions.md).
    found = sum(len(find_change_points(noise(seed, 1000))) for seed in range(20))
    assert 20 // 2 <= found <= 2 * 20


def test_a_stricter_pvalue_cuts_false_points_on_noise_more_than_tenfold() -> None:
    # Measured over 200 seeded series of 1,000 points: 231 at 0.001, 19 at 0.0001 (docs/regressions.md).
    series = [noise(seed, 1000) for seed in range(20)]
    at_default = sum(len(find_change_points(values)) for values in series)
    stricter = sum(len(find_change_points(values, max_pvalue=0.0001)) for values in series)
    assert stricter * 10 <= at_default


def test_a_five_percent_floor_silences_one_percent_noise_but_not_a_tenth_drop() -> None:
    quiet = [noise(seed, 1000, mean=100.0, sigma=1.0) for seed in range(20)]
    assert sum(len(find_change_points(values)) for values in quiet) > 0
    assert sum(len(find_change_points(values, min_magnitude=0.05)) for values in quiet) == 0

    dropped = noise(99, 100, mean=100.0, sigma=1.0)
    dropped[60:] = [v * 0.9 for v in dropped[60:]]
    assert indexes(find_change_points(dropped, min_magnitude=0.05)) == [60]


def test_missing_values_take_the_previous_value_and_leading_ones_the_first() -> None:
    assert filled([None, None, 1.0, 1.2, 0.5]).tolist() == [1.0, 1.0, 1.0, 1.2, 0.5]
    assert filled([1.0, 1.2, None, math.nan, 4.3]).tolist() == [1.0, 1.2, 1.2, 1.2, 4.3]
    assert filled([1.0, 1.2, 0.5, None, None]).tolist() == [1.0, 1.2, 0.5, 0.5, 0.5]
    assert filled([None, math.nan]).tolist() == []


def test_gaps_are_detected_as_their_filled_values() -> None:
    gappy: list[float | None] = list(SERIES_1)
    gappy[2] = None
    gappy[8] = math.nan
    assert find_change_points(gappy) == find_change_points(filled(gappy).tolist())
    assert indexes(find_change_points(gappy)) == [6]


def test_two_flat_regimes_change_once_where_they_meet_not_again_from_rounding() -> None:
    # the second regime's means round apart when split (0.7 vs 0.7000000000000001): no point at 41
    assert indexes(find_change_points([0.1] * 24 + [0.7] * 24)) == [24]


def test_a_constant_series_of_tiny_values_has_no_change_point_whatever_its_length() -> None:
    # 1e-300 squared underflows to a spread of 0, so means an ulp apart looked certain (77 of 117 lengths)
    assert [n for n in range(3, 120) if find_change_points([1e-300] * n)] == []


def test_an_infinite_value_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        find_change_points([1.0, math.inf, 1.0])


@pytest.mark.parametrize(
    "options",
    [{"window_len": 1}, {"max_pvalue": 0.0}, {"max_pvalue": 1.5}, {"min_magnitude": -0.1}],
)
def test_nonsensical_options_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        find_change_points(SERIES_1, **options)  # type: ignore[arg-type]


def test_the_split_step_runs_at_a_relaxed_threshold() -> None:
    assert first_pass_pvalue(0.001) == pytest.approx(0.01)
    assert first_pass_pvalue(0.1) == pytest.approx(0.2)
    assert first_pass_pvalue(0.6) == 0.6


def test_figures_are_plain_python_numbers() -> None:
    [point] = find_change_points(SERIES_1)
    assert type(point.index) is int
    for name in ("mean_before", "mean_after", "std_before", "std_after", "pvalue", "relative_change"):
        assert type(getattr(point, name)) is float, name
    assert type(point.magnitude) is float


def change(before: float, after: float) -> ChangePoint:
    return ChangePoint(
        index=1,
        mean_before=before,
        mean_after=after,
        std_before=0.0,
        std_after=0.0,
        pvalue=0.0,
        relative_change=None if before == 0 else after / before - 1,
        magnitude=0.0,
    )


def test_a_rise_is_a_regression_when_smaller_is_better_and_a_fall_otherwise() -> None:
    assert is_regression(change(1.0, 1.5), smaller_is_better=True)
    assert not is_regression(change(1.5, 1.0), smaller_is_better=True)
    assert is_regression(change(30.0, 28.0), smaller_is_better=False)
    assert not is_regression(change(28.0, 30.0), smaller_is_better=False)


def test_direction_comes_from_the_means_even_below_zero_or_from_zero() -> None:
    # From -2 to -1 is a rise, though mean_after / mean_before - 1 is negative.
    assert is_regression(change(-2.0, -1.0), smaller_is_better=True)
    assert is_regression(change(0.0, 0.3), smaller_is_better=True)
    assert not is_regression(change(0.0, 0.3), smaller_is_better=False)
