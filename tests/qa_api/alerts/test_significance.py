"""The t-test that accepts or refuses a split, and the size of the change it measures."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ttest_ind_from_stats

from qa_api.alerts.significance import Comparison, compare


def test_pvalue_is_scipys_pooled_t_test_on_population_deviations() -> None:
    before, after = np.array([1.0, 1.02, 1.05, 0.95, 0.98]), np.array([0.80, 0.82, 0.85, 0.79, 0.77])
    expected = ttest_ind_from_stats(
        np.mean(before), np.std(before), 5, np.mean(after), np.std(after), 5, equal_var=True
    ).pvalue
    assert compare(before, after).pvalue == pytest.approx(expected, rel=1e-12)


def test_same_shaped_sides_are_not_significant_and_shifted_ones_are() -> None:
    # apache/otava 0.8.0, tests/analysis_test.py (test_significance_tester)
    same = compare(np.array([1.00, 1.02, 1.05, 0.95, 0.98]), np.array([1.00, 1.02, 1.05, 0.95, 0.98]))
    shifted = compare(np.array([1.00, 1.02, 1.05, 0.95, 0.98]), np.array([0.80, 0.82, 0.85, 0.79, 0.77]))
    assert 0.99 < same.pvalue <= 1.0
    assert 0.0 < shifted.pvalue < 0.001


def test_deviations_are_population_ones_and_zero_for_a_single_point() -> None:
    result = compare(np.array([1.0, 3.0]), np.array([7.0]))
    assert (result.std_before, result.std_after) == (1.0, 0.0)
    assert (result.mean_before, result.mean_after) == (2.0, 7.0)


def test_two_points_in_all_give_no_evidence() -> None:
    assert compare(np.array([1.0]), np.array([100.0])).pvalue == 1.0


def test_flat_sides_are_certain_when_their_means_differ_and_equal_otherwise() -> None:
    assert compare(np.zeros(3), np.ones(3)).pvalue == 0.0
    assert compare(np.ones(3), np.ones(4)).pvalue == 1.0


def test_means_apart_by_rounding_are_equal_whatever_the_spread() -> None:
    # a run of 0.7s cut at 41: means 0.7 and 0.7000000000000001, a spread of 1e-16 (p = 3e-4 as a t-test)
    series = np.array([0.1] * 24 + [0.7] * 24)
    before, after = series[24:41], series[41:]
    assert np.mean(before) != np.mean(after)
    assert compare(before, after).pvalue == 1.0


def test_sides_flat_up_to_rounding_whose_means_differ_are_certain() -> None:
    wobble = 1e-13  # a spread within rounding of 1.0, a difference of means beyond it
    before = np.array([1.0, 1.0 + wobble, 1.0, 1.0 + wobble])
    after = np.array([1.0 + 5e-12, 1.0 + 5e-12 + wobble, 1.0 + 5e-12, 1.0 + 5e-12 + wobble])
    assert compare(before, after).pvalue == 0.0


def test_an_infinite_value_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        compare(np.array([1.0, np.inf]), np.array([1.0, 2.0]))


def test_an_empty_side_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one point"):
        compare(np.array([]), np.array([1.0, 2.0]))


def comparison(before: float, after: float) -> Comparison:
    return Comparison(mean_before=before, mean_after=after, std_before=0.0, std_after=0.0, pvalue=0.0)


def test_magnitude_is_the_larger_relative_change_of_both_directions() -> None:
    halved = comparison(1.0, 0.5)
    assert halved.relative_change == pytest.approx(-0.5)
    assert halved.magnitude == pytest.approx(1.0)  # backwards, 0.5 → 1.0 doubles
    assert comparison(2.0, 2.2).magnitude == pytest.approx(0.1)


def test_a_zero_mean_makes_its_ratio_count_as_zero() -> None:
    from_zero = comparison(0.0, 5.0)
    assert from_zero.relative_change is None
    assert from_zero.magnitude == 1.0  # 0 / 5 - 1
    assert comparison(0.0, 0.0).magnitude == 0.0
