"""softpool3d.stats against hand-computed values (and scipy, an independent reference, if present)."""
import math

import pytest

from softpool3d import stats

# two-sided 95 % / 99 % Student-t critical values from printed tables
T_TABLE = {(0.975, 1): 12.7062, (0.975, 2): 4.3027, (0.975, 3): 3.1824, (0.975, 10): 2.2281,
           (0.975, 30): 2.0423, (0.995, 5): 4.0321, (0.95, 4): 2.1318}


@pytest.mark.parametrize("p,df", sorted(T_TABLE))
def test_t_quantile_matches_tables(p, df):
    assert stats.t_quantile(p, df) == pytest.approx(T_TABLE[p, df], abs=1e-4)
    assert stats.t_quantile(1 - p, df) == pytest.approx(-T_TABLE[p, df], abs=1e-4)
    assert stats.t_cdf(T_TABLE[p, df], df) == pytest.approx(p, abs=1e-5)


def test_t_against_scipy():
    sp = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 4, 7, 19, 50, 200):
        for p in (0.6, 0.9, 0.975, 0.999):
            assert stats.t_quantile(p, df) == pytest.approx(sp.t.ppf(p, df), rel=1e-9)
        for t in (-3.0, -0.4, 0.0, 1.1, 6.0):
            assert stats.t_cdf(t, df) == pytest.approx(sp.t.cdf(t, df), abs=1e-12)


def test_summarize_by_hand():
    s = stats.summarize([1, 2, 3, 4])
    # mean 2.5; sample variance (2.25 + 0.25 + 0.25 + 2.25) / 3 = 5/3; half = t(0.975, 3) * sd / 2
    assert (s.n, s.mean) == (4, 2.5) and s.std == pytest.approx(math.sqrt(5 / 3))
    half = 3.182446305 * math.sqrt(5 / 3) / 2
    assert (s.low, s.high) == (pytest.approx(2.5 - half), pytest.approx(2.5 + half))
    assert s.format(2) == f"2.50 [{2.5 - half:.2f}, {2.5 + half:.2f}]"
    one = stats.summarize([7.0, None])
    assert (one.n, one.mean, one.std, one.low, one.format()) == (1, 7.0, None, None, "7.0")
    assert stats.summarize([]).n == 0 and stats.summarize([]).format() == "-"
    with pytest.raises(ValueError):
        stats.summarize([1, 2], confidence=1.5)


def test_paired_difference_by_hand():
    ref = {0: 78.0, 1: 81.0, 2: 80.0, 3: 99.0}        # seed 3 has no partner: ignored
    close = stats.paired_difference({0: 80.0, 1: 82.0, 2: 84.0}, ref)
    # differences 2, 1, 4: mean 7/3, sd sqrt(7/3), half = 4.302653 * sd / sqrt(3) = 3.7946
    assert close.seeds == (0, 1, 2) and close.n == 3
    assert close.mean == pytest.approx(7 / 3) and close.std == pytest.approx(math.sqrt(7 / 3))
    assert close.low == pytest.approx(7 / 3 - 3.794589, abs=1e-5)
    assert close.verdict == stats.INCONCLUSIVE                       # interval spans 0
    up = stats.paired_difference({0: 80.0, 1: 84.0, 2: 84.0}, ref)   # differences 2, 3, 4
    assert up.mean == pytest.approx(3.0) and up.low == pytest.approx(3 - 2.484138, abs=1e-5)
    assert up.verdict == stats.BETTER
    down = stats.paired_difference({0: 76.0, 1: 78.0, 2: 76.0}, ref)
    assert down.verdict == stats.WORSE and down.high < 0
    single = stats.paired_difference({0: 90.0}, ref)                 # n = 1: no interval
    assert single.n == 1 and single.low is None and single.verdict == stats.INCONCLUSIVE
    assert stats.paired_difference({7: 1.0}, ref).n == 0


def test_verdict():
    assert stats.verdict(0.1, 2) == "better" and stats.verdict(-3, -0.2) == "worse"
    assert stats.verdict(-1, 1) == stats.verdict(0.0, 1) == stats.verdict(None, None) \
        == "inconclusive"
    assert stats.verdict(-1, 1, -0.8, 0.8, margin=2) == "equivalent"
    assert stats.verdict(-1, 1, -2.5, 0.8, margin=2) == "inconclusive"
    assert stats.verdict(0.1, 1, 0.2, 0.8, margin=2) == "better"   # a difference comes first


def test_intervals_stay_inside_bounds_and_match_clipped_scipy():
    sp = pytest.importorskip("scipy.stats")
    import numpy as np
    cases = [[93.8, 90.6, 80.0], [25.0, 73.8, 41.2], [100.0, 90.0, 100.0], [3.0, 0.0, 40.0, 1.0]]
    for values in cases:
        s = stats.summarize(values, bounds=stats.ACCURACY)
        lo, hi = sp.t.interval(0.95, len(values) - 1, loc=np.mean(values),
                               scale=sp.sem(values))
        assert s.low == pytest.approx(max(0.0, lo)) and s.high == pytest.approx(min(100.0, hi))
        assert 0.0 <= s.low <= s.mean <= s.high <= 100.0
    # the reported case: a t interval of -106.2 for a difference of accuracies
    p = stats.paired_difference({0: 25.0, 1: 73.8, 2: 41.2}, {0: 93.8, 1: 90.6, 2: 80.0})
    assert p.low == -100.0 and -100.0 <= p.high <= 100.0 and p.verdict == stats.INCONCLUSIVE
    with pytest.raises(ValueError, match="outside the bounds"):
        stats.summarize([101.0, 50.0], bounds=stats.ACCURACY)


def test_equivalence_is_two_one_sided_tests():
    """TOST at alpha 0.05: both one-sided t tests against the margins reject exactly when the 90 %
    interval lies inside the margins (scipy's one-sided tests as the independent reference)."""
    sp = pytest.importorskip("scipy.stats")
    ref = {0: 90.0, 1: 91.0, 2: 89.0, 3: 90.5, 4: 90.0}
    for shift in ([0.3, -0.2, 0.1, 0.4, -0.1], [1.5, 0.5, 2.5, 1.0, 0.2], [0.5, -1.5, 1.0, 2.0, -2.0]):
        vals = {k: ref[k] + d for k, d in zip(ref, shift)}
        p = stats.paired_difference(vals, ref, margin=2.0)
        lower = sp.ttest_1samp(shift, -2.0, alternative="greater").pvalue
        upper = sp.ttest_1samp(shift, 2.0, alternative="less").pvalue
        tost = max(lower, upper) < 0.05
        differs = sp.ttest_1samp(shift, 0.0).pvalue < 0.05
        expected = ("better" if differs and p.mean > 0 else "worse" if differs else
                    "equivalent" if tost else "inconclusive")
        assert p.verdict == expected, (shift, p)
    first = stats.paired_difference({k: ref[k] + d for k, d in zip(ref, [0.3, -0.2, 0.1, 0.4, -0.1])},
                                    ref)
    assert first.verdict == stats.EQUIVALENT and first.seeds_needed is None


def test_seeds_to_resolve_by_hand():
    # mean 1, sd 2: the 95 % interval excludes 0 once t(0.975, n-1) * 2 / sqrt(n) < 1: n = 18
    # (t(0.975, 17) = 2.1098: 2.1098 * 2 / 4.2426 = 0.9946), not at n = 17 (2.1199 * 2 / 4.1231
    # = 1.0283); equivalence within 2 needs 1 + t(0.95, n-1) * 2 / sqrt(n) < 2: n = 13 (1.7823 *
    # 2 / 3.6056 = 0.9887), not 12 (1.7959 * 2 / 3.4641 = 1.0369)
    assert stats.seeds_to_resolve(1.0, 2.0, margin=2.0) == 13
    assert stats.seeds_to_resolve(1.0, 2.0, margin=0.5) == 18
    assert stats.seeds_to_resolve(0.0, 0.0) == 2
    assert stats.seeds_to_resolve(0.0, 500.0, margin=0.1) is None     # beyond MAX_SEEDS
    p = stats.paired_difference({0: 80.0, 1: 84.0, 2: 79.0}, {0: 80.0, 1: 80.0, 2: 80.0})
    assert p.verdict == stats.INCONCLUSIVE and p.seeds_needed >= 4
