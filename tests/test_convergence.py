"""softpool3d.convergence: converged / climbing / at chance from a run's train top-1 history,
against hand-computed slopes and numpy's least-squares fit."""
import numpy as np
import pytest

from softpool3d import convergence as cv


def test_slope_matches_numpy_polyfit():
    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 9):
        values = rng.normal(50, 10, n).tolist()
        assert cv.slope(values) == pytest.approx(np.polyfit(np.arange(n), values, 1)[0])
    assert cv.slope([10, 12, 14, 16, 18]) == pytest.approx(2.0)   # by hand


@pytest.mark.parametrize("curve,expected", [
    ([10, 40, 80, 89.2, 88.5, 90.6, 90.6, 89.9], cv.CONVERGED),   # noise of ~1 point, flat
    ([10, 40, 80, 85.6, 87.8, 88.3, 86.7, 88.0], cv.CONVERGED),
    ([13, 14, 20, 29, 30, 31, 32, 33], cv.CLIMBING),               # +1 point per epoch
    ([12, 30, 45, 60, 64, 68, 73, 75], cv.CLIMBING),
    ([12.5, 13, 12, 14, 13, 12.8, 13.1, 12.9], cv.AT_CHANCE),      # 8 classes: chance 12.5 %
    ([50, 60, 70], cv.UNKNOWN),                                    # shorter than the window
])
def test_status(curve, expected):
    assert cv.status(curve, num_classes=8) == expected


def test_run_status_reads_results_json_fractions():
    result = {"history": [{"train": {"top1": v}} for v in (0.2, 0.5, 0.9, 0.91, 0.9, 0.905, 0.91)],
              "config": {"model": {"num_classes": 8}}}
    st = cv.run_status(result)
    assert st["status"] == cv.CONVERGED and st["train_top1_last"] == pytest.approx(91.0)
    assert st["train_top1_slope"] == pytest.approx(np.polyfit(range(5), [90, 91, 90, 90.5, 91], 1)[0])
    assert cv.run_status({})["status"] == cv.UNKNOWN
