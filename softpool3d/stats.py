"""Statistics for repeated runs: mean ± std, range-respecting confidence intervals, paired
differences and a three-way verdict.

    summarize([81.2, 83.0, 79.5], bounds=ACCURACY)          # Summary(n=3, mean, std, low, high)
    paired_difference({0: 80, 1: 82}, {0: 78, 1: 81})       # over the seeds both have

Intervals: the Student-t interval of the mean over seeds. With ``bounds=(lo, hi)`` (an accuracy
lies in [0, 100], a difference of two accuracies in [-100, 100]) it is intersected with them: the
true mean lies inside the bounds, so whenever the t interval covers it, the intersection does too
(the coverage is unchanged, and the interval can no longer claim impossible values). The t interval
is kept (not a bootstrap over seeds) because with 3-5 seeds a percentile bootstrap cannot reach
beyond the observed values and covers the mean far less often than its nominal level.

Verdict of a paired difference (``verdict_of``), with margin ``margin`` (points):
  ``"better"`` / ``"worse"``   the (1 - alpha) interval excludes 0;
  ``"equivalent"``             two one-sided tests at alpha: the (1 - 2 alpha) interval lies inside
                               (-margin, +margin);
  ``"inconclusive"``           neither; ``seeds_to_resolve`` estimates how many paired seeds would
                               decide it at the observed mean and spread.
The t quantile is computed here (regularised incomplete beta + bisection), so scipy is not needed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Tuple

__all__ = ["Summary", "Paired", "t_quantile", "t_cdf", "summarize", "paired_difference",
           "verdict", "seeds_to_resolve", "ACCURACY", "DIFFERENCE", "MARGIN",
           "BETTER", "WORSE", "EQUIVALENT", "INCONCLUSIVE"]

BETTER, WORSE, EQUIVALENT, INCONCLUSIVE = "better", "worse", "equivalent", "inconclusive"
ACCURACY = (0.0, 100.0)        # percent
DIFFERENCE = (-100.0, 100.0)   # percentage points
MARGIN = 2.0                   # default equivalence margin, percentage points
MAX_SEEDS = 1000


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
    """``n`` values: mean, sample std (ddof 1) and the ``confidence`` interval of the mean
    (``low``/``high`` are None for n < 2; inside ``bounds`` when given, see the module doc)."""
    n: int
    mean: float
    std: Optional[float]
    low: Optional[float]
    high: Optional[float]
    confidence: float = 0.95
    bounds: Optional[Tuple[float, float]] = None

    @property
    def half_width(self) -> Optional[float]:
        return None if self.low is None else 0.5 * (self.high - self.low)

    def format(self, digits: int = 1) -> str:
        """``"mean [low, high]"`` (``"mean"`` alone for n < 2)."""
        if self.n == 0:
            return "-"
        if self.low is None:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


@dataclass(frozen=True)
class Paired(Summary):
    """``summarize`` of the per-seed differences ``value - reference`` over ``seeds``, with the
    three-way verdict (module doc), the equivalence margin, the (1 - 2 alpha) interval the
    equivalence test used, and the paired seeds that would resolve an inconclusive verdict."""
    seeds: Tuple = ()
    verdict: str = INCONCLUSIVE
    margin: float = MARGIN
    tost_low: Optional[float] = None
    tost_high: Optional[float] = None
    seeds_needed: Optional[int] = None   # None: resolved, or not estimable (n < 2)


def _mean_std(values: Sequence[float]) -> Tuple[float, Optional[float]]:
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def _t_interval(values: Sequence[float], confidence: float,
                bounds: Optional[Tuple[float, float]]) -> Tuple[Optional[float], Optional[float]]:
    n = len(values)
    if n < 2:
        return None, None
    if bounds is not None:
        bad = [v for v in values if not bounds[0] <= v <= bounds[1]]
        if bad:
            raise ValueError(f"values {bad} lie outside the bounds {bounds}")
    mean, std = _mean_std(values)
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * std / math.sqrt(n)
    if bounds is None:
        return mean - half, mean + half
    return max(bounds[0], mean - half), min(bounds[1], mean + half)


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def summarize(values: Sequence[float], confidence: float = 0.95,
              bounds: Optional[Tuple[float, float]] = None) -> Summary:
    """n, mean, std and the confidence interval of ``values`` (None entries are dropped); with
    ``bounds`` the interval stays inside them (module doc)."""
    _check_confidence(confidence)
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return Summary(0, math.nan, None, None, None, confidence, bounds)
    mean, std = _mean_std(vals)
    low, high = _t_interval(vals, confidence, bounds)
    return Summary(len(vals), mean, std, low, high, confidence, bounds)


def verdict(low: Optional[float], high: Optional[float], tost_low: Optional[float] = None,
            tost_high: Optional[float] = None, margin: float = MARGIN) -> str:
    """``"better"`` if the interval of a difference lies above 0, ``"worse"`` below; else
    ``"equivalent"`` if the equivalence interval lies inside (-margin, +margin); else
    ``"inconclusive"`` (also without an interval)."""
    if low is None or high is None:
        return INCONCLUSIVE
    if low > 0:
        return BETTER
    if high < 0:
        return WORSE
    if tost_low is not None and tost_high is not None and -margin < tost_low \
            and tost_high < margin:
        return EQUIVALENT
    return INCONCLUSIVE


def seeds_to_resolve(mean: float, std: float, confidence: float = 0.95,
                     margin: float = MARGIN, start: int = 2) -> Optional[int]:
    """The fewest paired seeds n >= ``start`` at which a difference with this mean and std
    (assumed to stay as observed) would be decided: the t interval excludes 0, or the
    (2 confidence - 1) interval lies inside (-margin, +margin). None if more than MAX_SEEDS."""
    if std == 0:
        return start
    alpha = 1.0 - confidence
    for n in range(max(2, start), MAX_SEEDS + 1):
        se = std / math.sqrt(n)
        if t_quantile(1.0 - alpha / 2.0, n - 1) * se < abs(mean):
            return n
        if abs(mean) + t_quantile(1.0 - alpha, n - 1) * se < margin:
            return n
    return None


def paired_difference(values: Mapping, reference: Mapping, confidence: float = 0.95,
                      margin: float = MARGIN, bounds: Optional[Tuple[float, float]] = DIFFERENCE
                      ) -> Paired:
    """Differences ``values[s] - reference[s]`` over the seeds ``s`` present (not None) in both:
    mean, std, the ``confidence`` interval inside ``bounds``, the equivalence interval (confidence
    2c - 1, two one-sided tests at 1 - c) and the three-way verdict."""
    _check_confidence(confidence)
    seeds = tuple(sorted(s for s in values if s in reference
                         and values[s] is not None and reference[s] is not None))
    diffs = [float(values[k]) - float(reference[k]) for k in seeds]
    s = summarize(diffs, confidence, bounds)
    if s.n < 2:
        return Paired(s.n, s.mean, s.std, None, None, confidence, bounds, seeds, INCONCLUSIVE,
                      margin)
    tost_low, tost_high = _t_interval(diffs, 2.0 * confidence - 1.0, bounds)
    v = verdict(s.low, s.high, tost_low, tost_high, margin)
    needed = None if v != INCONCLUSIVE else seeds_to_resolve(s.mean, s.std, confidence, margin,
                                                             start=s.n + 1)
    return Paired(s.n, s.mean, s.std, s.low, s.high, confidence, bounds, seeds, v, margin,
                  tost_low, tost_high, needed)
