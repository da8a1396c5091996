"""The E-Divisive Means divergence Q̂ (Matteson & James 2014, alpha = 1) and the split that maximises it.

For a segment `Z[start:stop]`, a split τ and an end κ (`start < τ < κ <= stop`), with `X = Z[start:τ]`
(n points) and `Y = Z[τ:κ]` (m points):

    Q̂(τ, κ) = 2/(n+m)·Σ|Xi-Yj| - 2m/((n+m)(n-1))·Σ_{i<k}|Xi-Xk| - 2n/((n+m)(m-1))·Σ_{j<k}|Yj-Yk|

(a within term is 0 when its side holds a single point). The three sums are rectangles of the matrix
of pairwise distances, read in constant time from its two-dimensional prefix sums, so every (τ, κ) of
a segment costs one vectorised pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Split:
    """The best split of a segment: `index` is the first point of the right-hand part."""

    index: int
    q_hat: float


class PairDistances:
    """The pairwise distances |Zi - Zj| of a series, as prefix sums that answer any rectangle."""

    def __init__(self, values: Floats) -> None:
        size = len(values)
        distances = np.abs(values[:, None] - values[None, :])
        self._prefix = np.zeros((size + 1, size + 1))
        self._prefix[1:, 1:] = distances.cumsum(axis=0).cumsum(axis=1)
        self.size = size

    def _block(self, rows: tuple[Ints, Ints], cols: tuple[Ints, Ints]) -> Floats:
        """Σ |Zi - Zj| over rows[0] <= i < rows[1], cols[0] <= j < cols[1] (element-wise over arrays)."""
        p = self._prefix
        (r0, r1), (c0, c1) = rows, cols
        block: Floats = p[r1, c1] - p[r0, c1] - p[r1, c0] + p[r0, c0]
        return block

    def q_hat(self, start: int, stop: int) -> Floats:
        """Q̂ of `Z[start:stop]` for every split and end: row τ - start - 1, column κ - start - 2.

        Cells with κ <= τ are not splits and hold -inf.
        """
        if not 0 <= start < stop <= self.size or stop - start < 2:
            raise ValueError(f"a segment of at least 2 points is needed, got [{start}:{stop}]")
        taus = np.arange(start + 1, stop, dtype=np.int64)[:, None]
        kappas = np.arange(start + 2, stop + 1, dtype=np.int64)[None, :]
        valid = kappas > taus
        kappas = np.where(valid, kappas, taus + 1)  # keep the invalid cells' arithmetic harmless
        first = np.full_like(taus, start)
        n = (taus - first).astype(np.float64)
        m = (kappas - taus).astype(np.float64)

        between = self._block((first, taus), (taus, kappas))
        # A square block counts every pair twice (i, j and j, i); the diagonal is 0.
        within_x = self._block((first, taus), (first, taus)) / 2
        within_y = self._block((taus, kappas), (taus, kappas)) / 2

        total = n + m
        coef_x = np.divide(2 * m, total * (n - 1), out=np.zeros_like(total), where=n > 1)
        coef_y = np.divide(2 * n, total * (m - 1), out=np.zeros_like(total), where=m > 1)
        q: Floats = 2 / total * between - coef_x * within_x - coef_y * within_y
        return np.where(valid, q, -np.inf)

    def best_split(self, start: int, stop: int) -> Split:
        """The split τ of `Z[start:stop]` with the largest Q̂ over all ends κ (the first one on ties)."""
        q = self.q_hat(start, stop)
        row, col = np.unravel_index(int(np.argmax(q)), q.shape)
        return Split(index=start + 1 + int(row), q_hat=float(q[row, col]))
