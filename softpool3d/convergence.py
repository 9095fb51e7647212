"""Whether a training run had finished learning when it ended, from its per-epoch history.

A run is

  ``"converged"``     the least-squares slope of its train top-1 over its last ``window`` epochs
                      is at most ``tol`` points per epoch, and it is off the chance plateau;
  ``"climbing"``      the slope is steeper: stopped mid-climb, its accuracy is still rising;
  ``"at chance"``     its final train top-1 is within ``chance_margin`` points of chance
                      (``100 / num_classes``): it never left the plateau every model of the
                      synthetic task starts on, so it says nothing about the pooling method;
  ``"unknown"``       fewer than ``window`` epochs in its history.

Why a slope over 5 epochs, not the change between two epochs: an epoch's train top-1 is itself a
sample (the random crops differ each epoch); at 90 % on 960 clips its binomial noise is ~1 point,
so a one-epoch difference says little, while the slope's standard error over 5 epochs is ~0.3
points per epoch: a run whose accuracy has stopped moving is called climbing ~5 % of the time.

Train top-1 (not the test split) decides, so that choosing which runs to report never looks at
the test results. The last epochs of a cosine schedule run at a learning rate near 0, so a run
that is not climbing there has stopped learning.
"""
from __future__ import annotations

from typing import Dict, List, Optional

__all__ = ["CONVERGED", "CLIMBING", "AT_CHANCE", "UNKNOWN", "WINDOW", "TOL", "CHANCE_MARGIN",
           "train_curve", "status", "run_status", "slope"]

CONVERGED, CLIMBING, AT_CHANCE, UNKNOWN = "converged", "climbing", "at chance", "unknown"
WINDOW = 5            # epochs
TOL = 0.5             # points of train top-1 per epoch
CHANCE_MARGIN = 10.0  # points above chance


def train_curve(result: dict) -> List[float]:
    """Train top-1 in percent per epoch from a ``results.json`` record's ``history``."""
    curve = []
    for record in result.get("history") or []:
        top1 = (record.get("train") or {}).get("top1")
        if isinstance(top1, (int, float)) and not isinstance(top1, bool):
            curve.append(100.0 * top1 if top1 <= 1.0 else float(top1))
    return curve


def status(curve: List[float], num_classes: Optional[int], window: int = WINDOW,
           tol: float = TOL, chance_margin: float = CHANCE_MARGIN) -> str:
    """The state of a run whose train top-1 per epoch (percent) is ``curve`` (module doc)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if len(curve) < max(window, 2):
        return UNKNOWN
    if num_classes and curve[-1] < 100.0 / num_classes + chance_margin:
        return AT_CHANCE
    return CLIMBING if slope(curve[-window:]) > tol else CONVERGED


def slope(values: List[float]) -> float:
    """Least-squares slope of ``values`` against 0, 1, 2, ... (units per step)."""
    n = len(values)
    mx, my = (n - 1) / 2.0, sum(values) / n
    return sum((i - mx) * (v - my) for i, v in enumerate(values)) / \
        sum((i - mx) ** 2 for i in range(n))


def _num_classes(result: dict) -> Optional[int]:
    n = result.get("num_classes") or ((result.get("config") or {}).get("model") or {}) \
        .get("num_classes")
    return n if isinstance(n, int) and n > 0 else None


def run_status(result: dict, **kwargs) -> Dict[str, object]:
    """``{"status", "train_top1_last", "train_top1_slope"}`` of one ``results.json`` record
    (the slope over the last ``window`` epochs, points per epoch; None where too short)."""
    curve = train_curve(result)
    window = kwargs.get("window", WINDOW)
    return {"status": status(curve, _num_classes(result), **kwargs),
            "train_top1_last": curve[-1] if curve else None,
            "train_top1_slope": slope(curve[-window:]) if len(curve) >= max(window, 2)
            else None}
