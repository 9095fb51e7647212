"""Statistics for repeated runs: mean ± std, Student-t confidence intervals, paired differences.

    summarize([81.2, 83.0, 79.5])                   # Summary(n=3, mean, std, low, high)
    paired_difference({0: 80, 1: 82}, {0: 78, 1: 81})  # over the seeds both have

A comparison says ``"better"`` / ``"worse"`` only when its confidence interval excludes 0, else
``"no significant difference"`` (also when there are fewer than two shared seeds). The t quantile is
computed here (regularised incomplete beta + bisection), so scipy is not needed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Tuple

__all__ = ["Summary", "Paired", "t_quantile", "t_cdf", "summarize", "paired_difference",
           "verdict", "BETTER", "WORSE", "NO_DIFFERENCE"]

BETTER, WORSE, NO_DIFFERENCE = "better", "worse", "no significant difference"


def _beta_cf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta (modified Lentz)."""
    tiny, f = 1e-300, 1.0
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 400):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return f


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta ``I_x(a, b)``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):  # the fraction converges fast on this side
        return 1.0 - _betainc(b, a, 1.0 - x)
    log_front = (a * math.log(x) + b * math.log1p(-x)
                 - (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)))
    return math.exp(log_front) * _beta_cf(a, b, x) / a


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"df must be > 0, got {df}")
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (bisection on t_cdf)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class Summary:
    """``n`` values: mean, sample std (ddof 1) and the ``confidence`` t-interval of the mean
    (``low``/``high`` are None for n < 2)."""
    n: int
    mean: float
    std: Optional[float]
    low: Optional[float]
    high: Optional[float]
    confidence: float = 0.95

    @property
    def half_width(self) -> Optional[float]:
        return None if self.low is None else 0.5 * (self.high - self.low)

    def format(self, digits: int = 1) -> str:
        """``"mean ± half-width"`` of the interval (``"mean"`` alone for n < 2)."""
        if self.n == 0:
            return "-"
        if self.half_width is None:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f}"


@dataclass(frozen=True)
class Paired(Summary):
    """``summarize`` of the per-seed differences ``value - reference`` over ``seeds``, with the
    verdict."""
    seeds: Tuple = ()
    verdict: str = NO_DIFFERENCE


def _interval(values: Sequence[float], confidence: float):
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None, None, None
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * std / math.sqrt(n)
    return mean, std, mean - half, mean + half


def summarize(values: Sequence[float], confidence: float = 0.95) -> Summary:
    """n, mean, std and the t confidence interval of ``values`` (None entries are dropped)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return Summary(0, math.nan, None, None, None, confidence)
    return Summary(len(vals), *_interval(vals, confidence), confidence)


def verdict(low: Optional[float], high: Optional[float]) -> str:
    """``"better"`` if the interval of a difference lies above 0, ``"worse"`` below, else
    ``"no significant difference"``."""
    if low is None or high is None:
        return NO_DIFFERENCE
    if low > 0:
        return BETTER
    if high < 0:
        return WORSE
    return NO_DIFFERENCE


def paired_difference(values: Mapping, reference: Mapping, confidence: float = 0.95) -> Paired:
    """Differences ``values[s] - reference[s]`` over the seeds ``s`` present (not None) in both,
    summarised with their t-interval and verdict."""
    seeds = tuple(sorted(s for s in values if s in reference
                         and values[s] is not None and reference[s] is not None))
    s = summarize([values[k] - reference[k] for k in seeds], confidence)
    return Paired(s.n, s.mean, s.std, s.low, s.high, confidence, seeds, verdict(s.low, s.high))
