"""Change-point detection benchmark: its CPU cost next to the issue's budget, and its false alarms.

Run with `uv run python bench/changepoints.py` (`--series 50` for a quicker, rougher run). No server:
`qa_api.alerts.changepoints.find_change_points` on seeded synthetic series, in this process.

cpu
    A 1,000-commit series (mean 100, sigma 1) with two shifts (+3 at 400, -5 at 700), at the
    defaults (window 50, p 0.001): CPU time (`time.process_time`) of one call, median and max over
    20 calls. Limit: 200 ms for one batch's metrics over 1,000 commits, so the figure also says how
    many metrics fit in it.
noise
    Gaussian noise, `--series` seeded series of 30, 100 and 1,000 points at the defaults: change
    points found (all false), per series and per 1,000 points, and the share of series with any.
floor
    What `min_magnitude` buys and costs. False: change points in `--series` noise series of 1,000
    points around 100 with a coefficient of variation of 0.5%, 1%, 2% and 5%. Found: of `--series`
    series of 100 points (CV 1%) with a real fall at 60 of 1% to 10%, how many have a change point
    within 2 commits of it.
pvalue
    What a stricter `max_pvalue` buys and costs. False: change points per 1,000 points in the noise
    series of 1,000 points. Found: of `--series` series (CV 1%) with a real fall at 60 followed by 3
    to 20 commits, how many have a change point within 2 commits of it: how long a regression waits
    for its alert.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)

from qa_api.alerts.changepoints import find_change_points  # noqa: E402

CPU_LIMIT_S = 0.200
FLOORS = (0.0, 0.01, 0.02, 0.05)


def noise(seed: int, length: int, *, mean: float = 0.0, sigma: float = 1.0) -> list[float]:
    return [float(v) for v in np.random.default_rng(seed).normal(mean, sigma, length)]


def cpu() -> None:
    values = np.random.default_rng(7).normal(100.0, 1.0, 1000)
    values[400:] += 3
    values[700:] -= 5
    series = [float(v) for v in values]
    found = [point.index for point in find_change_points(series)]
    runs = []
    for _ in range(20):
        started = time.process_time()
        find_change_points(series)
        runs.append(time.process_time() - started)
    median = statistics.median(runs)
    print(f"cpu    1,000 points, 2 shifts: found {found}")
    print(
        f"       median {median * 1000:.1f} ms, max {max(runs) * 1000:.1f} ms per metric;"
        f" limit {CPU_LIMIT_S * 1000:.0f} ms per batch: {int(CPU_LIMIT_S / median)} metrics fit"
    )


def false_alarms(series: int) -> None:
    for length in (30, 100, 1000):
        counts = [len(find_change_points(noise(seed, length))) for seed in range(series)]
        total = sum(counts)
        print(
            f"noise  {series} x {length:>5} points: {total:>4} change points,"
            f" {total / series:.3f} per series, {total / (series * length) * 1000:.2f} per 1,000 points,"
            f" {sum(c > 0 for c in counts) / series:.1%} of series with any"
        )


def floor(series: int) -> None:
    print("floor  false change points per 1,000 points of noise, by min_magnitude:")
    print("       CV     " + "".join(f"{f:>8}" for f in FLOORS))
    for cv in (0.005, 0.01, 0.02, 0.05):
        samples = [noise(seed, 1000, mean=100.0, sigma=100.0 * cv) for seed in range(series)]
        rates = [sum(len(find_change_points(s, min_magnitude=f)) for s in samples) / series for f in FLOORS]
        print(f"       {cv:<6.1%} " + "".join(f"{r:>8.2f}" for r in rates))
    print(f"       real falls found (of {series}, CV 1%, 100 points, fall at 60), by min_magnitude:")
    print("       fall   " + "".join(f"{f:>8}" for f in FLOORS))
    for fall in (0.01, 0.02, 0.03, 0.05, 0.10):
        samples = []
        for seed in range(series):
            values = noise(1000 + seed, 100, mean=100.0, sigma=1.0)
            samples.append(values[:60] + [v * (1 - fall) for v in values[60:]])
        hits = [
            sum(any(abs(p.index - 60) <= 2 for p in find_change_points(s, min_magnitude=f)) for s in samples)
            for f in FLOORS
        ]
        print(f"       {fall:<6.0%} " + "".join(f"{h:>8}" for h in hits))


def strictness(series: int) -> None:
    pvalues = (0.001, 0.0001, 0.00001)
    samples = [noise(seed, 1000) for seed in range(series)]
    rates = [sum(len(find_change_points(s, max_pvalue=p)) for s in samples) / series for p in pvalues]
    print("pvalue false change points per 1,000 points of noise, by max_pvalue:")
    print("              " + "".join(f"{p:>8}" for p in pvalues))
    print("              " + "".join(f"{r:>8.3f}" for r in rates))
    print(f"       real falls found (of {series}, CV 1%, fall at 60, then N commits), by max_pvalue:")
    for fall in (0.02, 0.03, 0.05):
        for after in (3, 5, 10, 20):
            falls = []
            for seed in range(series):
                values = noise(1000 + seed, 60 + after, mean=100.0, sigma=1.0)
                falls.append(values[:60] + [v * (1 - fall) for v in values[60:]])
            hits = [
                sum(any(abs(c.index - 60) <= 2 for c in find_change_points(s, max_pvalue=p)) for s in falls)
                for p in pvalues
            ]
            print(f"       {fall:.0%} +{after:<3}    " + "".join(f"{h:>8}" for h in hits))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=200, help="seeded series per figure (default 200)")
    args = parser.parse_args()
    cpu()
    false_alarms(args.series)
    floor(args.series)
    strictness(args.series)


if __name__ == "__main__":
    main()
