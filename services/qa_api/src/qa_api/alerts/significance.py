"""Whether two neighbouring segments of a series differ: a two-sided Student's t-test.

As Apache Otava does, each side's spread is its population standard deviation (ddof = 0, and 0 for a
single point), and the test pools the variances (equal variances assumed). Two points in all give no
evidence (p = 1). Two flat sides give p = 0 when their means differ and p = 1 when they are equal
(Otava gets NaN there, which no threshold accepts).

Float rounding is not a change: means within `RELATIVE_EPSILON` of the larger one in absolute value
are equal (p = 1), and a pooled spread within it of that mean is no spread, so the sides are flat
(p = 0, their means differing). Without this, a run of 0.7s split in two has means an ulp apart and a
spread of 1e-16, which the t-test finds significant (p = 3e-4), and a series of 1e-300s, whose squares
underflow to a spread of 0, changes wherever its means round apart. Infinite values are refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import stdtr

Floats = NDArray[np.float64]

# about 4,500 ulps: the rounding of a mean or a deviation over many points, far below a real change
RELATIVE_EPSILON = 1e-12


@dataclass(frozen=True, slots=True)
class Comparison:
    """The two sides of a split and the probability that they share their mean."""

    mean_before: float
    mean_after: float
    std_before: float
    std_after: float
    pvalue: float

    @property
    def relative_change(self) -> float | None:
        """mean_after / mean_before - 1; None when mean_before is 0."""
        if self.mean_before == 0:
            return None
        return self.mean_after / self.mean_before - 1

    @property
    def magnitude(self) -> float:
        """The larger of the forward and backward relative changes, in absolute value.

        A ratio with a zero denominator counts as 0, as in Otava: from 0 to 5 has magnitude 1.
        """
        forward = 0.0 if self.mean_before == 0 else self.mean_after / self.mean_before - 1
        backward = 0.0 if self.mean_after == 0 else self.mean_before / self.mean_after - 1
        return max(abs(forward), abs(backward))


def compare(before: Floats, after: Floats) -> Comparison:
    """Compares two non-empty segments of finite values; raises ValueError otherwise."""
    n1, n2 = len(before), len(after)
    if n1 == 0 or n2 == 0:
        raise ValueError("both segments need at least one point")
    if not (np.isfinite(before).all() and np.isfinite(after).all()):
        raise ValueError("values must be finite")
    mean1, mean2 = float(np.mean(before)), float(np.mean(after))
    std1 = float(np.std(before)) if n1 > 1 else 0.0
    std2 = float(np.std(after)) if n2 > 1 else 0.0
    return Comparison(
        mean_before=mean1,
        mean_after=mean2,
        std_before=std1,
        std_after=std2,
        pvalue=_pvalue(mean1, std1, n1, mean2, std2, n2),
    )


def _pvalue(mean1: float, std1: float, n1: int, mean2: float, std2: float, n2: int) -> float:
    """The two-sided p-value of the pooled t statistic (what `scipy.stats.ttest_ind_from_stats` gives),
    with rounding taken for equality (see the module's docstring)."""
    df = n1 + n2 - 2
    if df <= 0:
        return 1.0
    tolerance = RELATIVE_EPSILON * max(abs(mean1), abs(mean2))
    if abs(mean1 - mean2) <= tolerance:
        return 1.0
    pooled = ((n1 - 1) * std1**2 + (n2 - 1) * std2**2) / df
    if math.sqrt(pooled) <= tolerance:
        return 0.0
    scale = math.sqrt(pooled * (1 / n1 + 1 / n2))
    t = (mean1 - mean2) / scale
    return float(2 * stdtr(df, -abs(t)))
