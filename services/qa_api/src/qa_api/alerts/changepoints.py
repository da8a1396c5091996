"""Change points of a metric's series: where its values shift to a new regime.

This is the method of Apache Otava 0.8 (formerly Hunter, "Hunter: Using Change Point Detection to
Hunt for Performance Regressions", Fleming et al., ICPE 2023), written over numpy and scipy:

1. **Split.** Overlapping windows of `window_len` points (each starts half a window after the last,
   or at the last point it found) are cut by E-Divisive Means: each round takes, over the segments
   between the points found so far, the split with the largest Q̂ (`divergence`), and keeps it when a
   t-test between its two sides (bounded by the neighbouring points) passes a relaxed threshold (10x
   `max_pvalue` below 0.05, 2x below 0.5); the first split that fails ends the window. The union of
   all windows' points are the *weak* change points.
2. **Merge.** Each weak point is tested again on the whole series between its neighbours. While one
   fails, the one with the highest p-value (if that p-value is not below `max_pvalue`), else the one
   with the smallest magnitude (if that magnitude is not above `min_magnitude`), is dropped and its
   neighbours are tested again.

Missing values (None or NaN) take the previous value, leading ones the first value present. A flat
series has no change point, nor has a series with fewer than 3 values.

Deliberate departures from Otava: after a drop, both neighbours are tested again (Otava retests the
right neighbour and the point after it, leaving the left one's figures stale); two flat sides with
equal means give p = 1 rather than NaN; and float rounding is no change (means equal within a relative
1e-12 are equal, a spread that small is none: `significance`), so a flat regime has no point in it.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa_api.alerts.divergence import Floats, PairDistances, Split
from qa_api.alerts.significance import Comparison, compare

DEFAULT_WINDOW_LEN = 50
DEFAULT_MAX_PVALUE = 0.001
DEFAULT_MIN_MAGNITUDE = 0.0


@dataclass(frozen=True, slots=True)
class ChangePoint:
    """A shift in a series: `index` is the first value of the new regime.

    The figures compare the values since the previous change point (or the start) with the values up
    to the next one (or the end). `relative_change` is mean_after / mean_before - 1 (None when
    mean_before is 0); `magnitude` is the larger of the forward and backward relative changes, in
    absolute value.
    """

    index: int
    mean_before: float
    mean_after: float
    std_before: float
    std_after: float
    pvalue: float
    relative_change: float | None
    magnitude: float

    @classmethod
    def of(cls, index: int, comparison: Comparison) -> ChangePoint:
        """The change point at `index`, with the figures of the t-test between its neighbours."""
        return cls(
            index=index,
            mean_before=comparison.mean_before,
            mean_after=comparison.mean_after,
            std_before=comparison.std_before,
            std_after=comparison.std_after,
            pvalue=comparison.pvalue,
            relative_change=comparison.relative_change,
            magnitude=comparison.magnitude,
        )


def is_regression(change: ChangePoint, *, smaller_is_better: bool) -> bool:
    """Whether a change makes the metric worse: a rise when smaller is better, a fall otherwise.

    The means decide, not the sign of `relative_change`, which flips for negative values.
    """
    if smaller_is_better:
        return change.mean_after > change.mean_before
    return change.mean_after < change.mean_before


def find_change_points(
    values: Sequence[float | None],
    *,
    window_len: int = DEFAULT_WINDOW_LEN,
    max_pvalue: float = DEFAULT_MAX_PVALUE,
    min_magnitude: float = DEFAULT_MIN_MAGNITUDE,
) -> list[ChangePoint]:
    """The change points of a series, in order; raises ValueError on an infinite value (None and NaN are
    gaps, filled as the module's docstring says).

    Time and memory grow with the square of min(window_len, len(values)): a window of 1,000 points
    costs about 150 ms of CPU, a few windows of 50 about 15 ms over 1,000 points.
    """
    if window_len < 2:
        raise ValueError(f"window_len must be at least 2, got {window_len}")
    if not 0 < max_pvalue <= 1:
        raise ValueError(f"max_pvalue must be in (0, 1], got {max_pvalue}")
    if not min_magnitude >= 0:
        raise ValueError(f"min_magnitude must be at least 0, got {min_magnitude}")
    series = filled(values)
    weak = _split(series, window_len=window_len, max_pvalue=first_pass_pvalue(max_pvalue))
    return _merge(series, weak, max_pvalue=max_pvalue, min_magnitude=min_magnitude)


def filled(values: Sequence[float | None]) -> Floats:
    """The values with gaps (None, NaN) filled forwards, then the leading ones backwards.

    A series with no value at all is empty; an infinite value is refused.
    """
    out: list[float] = []
    previous: float | None = None
    for value in values:
        if value is not None and math.isinf(value):
            raise ValueError("values must be finite")
        if value is not None and not math.isnan(value):
            previous = float(value)
        if previous is not None:
            out.append(previous)
    if out:
        out[:0] = [out[0]] * (len(values) - len(out))
    return np.array(out, dtype=np.float64)


def first_pass_pvalue(max_pvalue: float) -> float:
    """The relaxed threshold of the split step, as Otava sets it."""
    if max_pvalue < 0.05:
        return max_pvalue * 10
    if max_pvalue < 0.5:
        return max_pvalue * 2
    return max_pvalue


def _split(series: Floats, *, window_len: int, max_pvalue: float) -> list[int]:
    """The weak change points: the union of each sliding window's E-Divisive points."""
    found: set[int] = set()
    step = window_len // 2
    start = 0
    while start < len(series):
        stop = min(start + window_len, len(series))
        points = [start + i for i in _divide(series[start:stop], max_pvalue=max_pvalue)]
        found.update(points)
        start = max(points[-1] if points else 0, start + step)
    return sorted(found)


def _divide(window: Floats, *, max_pvalue: float) -> list[int]:
    """E-Divisive Means on one window, with the t-test as its stopping rule."""
    distances = PairDistances(window)
    points: list[int] = []
    best: dict[tuple[int, int], Split] = {}
    while True:
        bounds = [0, *points, len(window)]
        segments = [(a, b) for a, b in itertools.pairwise(bounds) if b - a > 1]
        if not segments:
            return points
        for segment in segments:
            if segment not in best:
                best[segment] = distances.best_split(*segment)
        start, stop = max(segments, key=lambda s: best[s].q_hat)  # the first on ties
        index = best[start, stop].index
        if compare(window[start:index], window[index:stop]).pvalue > max_pvalue:
            return points
        bisect.insort(points, index)


def _merge(
    series: Floats, points: list[int], *, max_pvalue: float, min_magnitude: float
) -> list[ChangePoint]:
    """The weak points that pass both thresholds on the whole series, dropping the weakest first."""
    points = list(points)
    stats = [_between_neighbours(series, points, k) for k in range(len(points))]
    while points:
        weakest = max(range(len(points)), key=lambda k: stats[k].pvalue)
        if stats[weakest].pvalue < max_pvalue:
            weakest = min(range(len(points)), key=lambda k: stats[k].magnitude)
            if stats[weakest].magnitude > min_magnitude:
                break
        del points[weakest], stats[weakest]
        for k in (weakest - 1, weakest):
            if 0 <= k < len(points):
                stats[k] = _between_neighbours(series, points, k)
    return [ChangePoint.of(index, comparison) for index, comparison in zip(points, stats, strict=True)]


def _between_neighbours(series: Floats, points: list[int], k: int) -> Comparison:
    """The t-test of point k between the previous point (or the start) and the next (or the end)."""
    before = points[k - 1] if k > 0 else 0
    after = points[k + 1] if k + 1 < len(points) else len(series)
    return compare(series[before : points[k]], series[points[k] : after])
