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
    assert s.format(2) == "2.50 ± 2.05"
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
    assert close.verdict == stats.NO_DIFFERENCE                      # interval spans 0
    up = stats.paired_difference({0: 80.0, 1: 84.0, 2: 84.0}, ref)   # differences 2, 3, 4
    assert up.mean == pytest.approx(3.0) and up.low == pytest.approx(3 - 2.484138, abs=1e-5)
    assert up.verdict == stats.BETTER
    down = stats.paired_difference({0: 76.0, 1: 78.0, 2: 76.0}, ref)
    assert down.verdict == stats.WORSE and down.high < 0
    single = stats.paired_difference({0: 90.0}, ref)                 # n = 1: no interval
    assert single.n == 1 and single.low is None and single.verdict == stats.NO_DIFFERENCE
    assert stats.paired_difference({7: 1.0}, ref).n == 0


def test_verdict():
    assert stats.verdict(0.1, 2) == "better" and stats.verdict(-3, -0.2) == "worse"
    assert stats.verdict(-1, 1) == stats.verdict(0.0, 1) == stats.verdict(None, None) \
        == "no significant difference"
