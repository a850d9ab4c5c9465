"""The statistics of ``search confirm``: a trial's retrained values summarized and compared.

- The interval is Student's t interval of the mean: ``mean ± t(0.975, n - 1) · s / √n`` with the
  sample standard deviation ``s`` (``ddof=1``); none with one value.
- P(best) is a bootstrap: each of :data:`RESAMPLES` rounds draws, for every trial, as many of its
  values as it has, with replacement, and the trial with the best mean of its draw wins the round
  (ties share it). The generator is seeded, so the same values always give the same P.
- Two trials are *distinguishable at 95%* when Welch's t-test (two-sided, unequal variances)
  rejects equal means at the 5% level. The best is tested against each other trial alone, without a
  correction for the several tests: a trial called indistinguishable from the best is one the
  retrains do not rule out. With zero variance on both sides, different means are distinguishable
  and equal ones are not; with a single value on either side there is no test (not distinguishable).

Non-finite values (a retrain that diverged) are left out of every figure and counted apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
RESAMPLES = 2000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Summary:
    """The finite values of one trial's retrains, summarized."""

    n: int
    mean: float | None
    std: float | None  # sample standard deviation (ddof=1); None with fewer than 2 values
    ci: tuple[float, float] | None  # the t interval of the mean at LEVEL
    nonfinite: int = 0  # values left out


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile ``p`` with ``df`` degrees of freedom."""
    from scipy.special import stdtrit

    return float(stdtrit(df, p))


def summarize(values: Sequence[float], level: float = LEVEL) -> Summary:
    """Mean, sample standard deviation and t interval of the finite ``values``."""
    finite = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    left_out = len(values) - len(finite)
    if len(finite) == 0:
        return Summary(0, None, None, None, left_out)
    mean = float(finite.mean())
    if len(finite) < 2:
        return Summary(1, mean, None, None, left_out)
    std = float(finite.std(ddof=1))
    half = t_quantile(0.5 + level / 2, len(finite) - 1) * std / math.sqrt(len(finite))
    return Summary(len(finite), mean, std, (mean - half, mean + half), left_out)


def p_best(values: dict[int, Sequence[float]], direction: str, resamples: int = RESAMPLES,
           seed: int = BOOTSTRAP_SEED) -> dict[int, float]:
    """The bootstrap probability that each trial has the best mean (``direction``: ``min`` or ``max``).

    A trial without a finite value gets 0.
    """
    rng = np.random.default_rng(seed)
    finite = {k: np.asarray([v for v in vs if v is not None and math.isfinite(v)], dtype=float)
              for k, vs in values.items()}
    ranked = [k for k, v in finite.items() if len(v)]
    if not ranked:
        return {k: 0.0 for k in values}
    means = np.column_stack([v[rng.integers(0, len(v), size=(resamples, len(v)))].mean(axis=1)
                             for v in (finite[k] for k in ranked)])
    best = means.min(axis=1, keepdims=True) if direction == "min" else means.max(axis=1, keepdims=True)
    winners = means == best
    shares = (winners / winners.sum(axis=1, keepdims=True)).mean(axis=0)
    won = dict(zip(ranked, (float(s) for s in shares)))
    return {k: won.get(k, 0.0) for k in values}


def welch_p(a: Sequence[float], b: Sequence[float]) -> float | None:
    """The two-sided p-value of Welch's t-test of equal means; None when there is no test
    (fewer than 2 finite values on a side)."""
    from scipy.special import stdtr

    x = np.asarray([v for v in a if math.isfinite(v)], dtype=float)
    y = np.asarray([v for v in b if math.isfinite(v)], dtype=float)
    if len(x) < 2 or len(y) < 2:
        return None
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    diff = float(x.mean() - y.mean())
    if vx + vy == 0:
        return 1.0 if diff == 0 else 0.0
    t = diff / math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    return float(2 * stdtr(df, -abs(t)))


def indistinguishable(best: Sequence[float], others: dict[int, Sequence[float]], level: float = LEVEL) -> list[int]:
    """The trials of ``others`` whose values Welch's t-test cannot tell from ``best``'s at ``level``."""
    out = []
    for number, values in others.items():
        p = welch_p(best, values)
        if p is None or p >= 1 - level:
            out.append(number)
    return out
