"""softpool3d.report: repeated runs -> mean ± CI, paired differences, profiles joined on geometry."""
import csv
import json
import os
import subprocess
import sys

import pytest

from softpool3d import report, stats

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f)


def _result(pool, seed, top1, frames=8, crop=64, clips=2, sites="all", model="r3d_tiny"):
    # the keys tools/train.py writes (softpool3d/engine/run.py); accuracies as fractions
    return {"model": model, "pool": pool, "dataset": "synthetic", "top1": top1, "top5": 1.0,
            "mean_class_acc": top1, "num_views": clips,
            "history": [{"train": {"clips": 960, "time_s": 8.0}}],
            "config": {"model": {"name": model, "pool": pool, "pool_sites": sites},
                       "data": {"name": "synthetic", "num_frames": frames, "sampling_rate": 2,
                                "crop_size": crop, "test_crop_size": crop, "num_clips": clips,
                                "num_crops": 1},
                       "train": {"seed": seed}}}


def _profile(pool, frames, crop, gflops_per_view, sites="all"):
    return {"model": "r3d_tiny", "pool": pool, "pool_sites": sites, "num_frames": frames,
            "crop_size": crop, "convention": "full", "memory_method": "torch.profiler",
            "flops_per_view": gflops_per_view * 1e9, "gflops_per_view": gflops_per_view,
            "gflops_x_views": gflops_per_view * 30, "params": 230720,
            "train_peak_bytes": 25 * 2**20, "train_step_ms": 40.0}


@pytest.fixture
def runs(tmp_path):
    ref, soft = [0.80, 0.85, 0.90], [0.83, 0.87, 0.94]     # soft - ref: +3, +2, +4 points
    for seed in range(3):
        _write(str(tmp_path / "runs" / f"o{seed}" / "results.json"), _result("original", seed, ref[seed]))
        _write(str(tmp_path / "runs" / f"s{seed}" / "results.json"), _result("soft", seed, soft[seed]))
    _write(str(tmp_path / "runs" / "s9" / "results.json"), _result("soft", 9, 0.10))  # unpaired
    # profiles: the right geometry, and a 30-view 16 x 224 one that must not be used
    _write(str(tmp_path / "prof" / "o.json"), _profile("original", 8, 64, 0.05))
    _write(str(tmp_path / "prof" / "s.json"), _profile("soft", 8, 64, 0.06))
    _write(str(tmp_path / "prof" / "big.json"), _profile("soft", 16, 224, 54.5))
    return tmp_path


def test_aggregate_statistics_and_pairs(runs):
    results, profiles = report.load([str(runs / "runs"), str(runs / "prof")])
    (rows,) = report.aggregate(results, profiles).values()
    orig, soft = rows
    assert (orig["pool"], orig["pool_sites"], orig["n"]) == ("original", "published", 3)
    assert orig["top1"].mean == pytest.approx(85.0)
    assert orig["top1"].half_width == pytest.approx(stats.t_quantile(0.975, 2) * 5 / 3 ** 0.5)
    assert soft["n"] == 4 and soft["seeds"] == [0, 1, 2, 9]
    p = soft["paired"]["top1"]
    assert p.seeds == (0, 1, 2) and p.mean == pytest.approx(3.0) and p.verdict == "better"
    assert p.low == pytest.approx(3 - stats.t_quantile(0.975, 2) / 3 ** 0.5)
    assert "top1" not in orig["paired"]
    # costs from the profile of the same geometry, times the run's own 2 views
    assert soft["gflops_x_views"] == pytest.approx(0.12) and orig["gflops_x_views"] == pytest.approx(0.10)
    assert soft["train_clips_per_s"].mean == pytest.approx(120.0)


def test_no_profile_of_another_geometry(runs):
    results, profiles = report.load([str(runs / "runs"), str(runs / "prof" / "big.json")])
    (rows,) = report.aggregate(results, profiles).values()
    assert all(r["gflops_x_views"] is None and r["profile"] is None for r in rows)


def test_inconclusive_when_interval_spans_zero_and_the_margin(tmp_path):
    for seed, (a, b) in enumerate([(0.8, 0.82), (0.8, 0.77), (0.8, 0.81)]):
        _write(str(tmp_path / f"o{seed}" / "results.json"), _result("original", seed, a))
        _write(str(tmp_path / f"s{seed}" / "results.json"), _result("soft", seed, b))
    (rows,) = report.aggregate(*report.load([str(tmp_path)])).values()
    p = rows[1]["paired"]["top1"]
    assert p.verdict == "inconclusive" and p.seeds_needed > 3
    assert "inconclusive against original" in report.conclusion(rows)
    assert f"about {p.seeds_needed} paired seeds" in report.conclusion(rows)


def _history(curve):
    return [{"train": {"clips": 960, "time_s": 8.0, "top1": v / 100}} for v in curve]


def test_runs_that_did_not_converge_are_counted_not_averaged(tmp_path):
    climbing, flat = [10, 20, 40, 60, 70, 80, 85], [10, 60, 90, 90.3, 90.5, 90.8, 90.4]
    chance = [12, 13, 12, 14, 13, 13, 12]
    curves = {"original": [flat, flat, flat], "soft": [flat, climbing, chance]}
    top1 = {"original": [0.90, 0.91, 0.89], "soft": [0.90, 0.50, 0.12]}
    for pool in curves:
        for seed in range(3):
            r = _result(pool, seed, top1[pool][seed])
            r["history"], r["config"]["model"]["num_classes"] = _history(curves[pool][seed]), 8
            _write(str(tmp_path / f"{pool}{seed}" / "results.json"), r)
    (rows,) = report.aggregate(*report.load([str(tmp_path)])).values()
    orig, soft = rows
    assert (orig["converged"], soft["converged"], soft["n"]) == (3, 1, 3)
    assert soft["status"] == {0: "converged", 1: "climbing", 2: "at chance"}
    assert soft["top1"].n == 1 and soft["top1"].mean == pytest.approx(90.0)   # seeds 1, 2 out
    assert soft["paired"]["top1"].seeds == (0,)
    text = report.to_markdown("synthetic", rows)
    assert "| 1 of 3 |" in text and "(50.0, climbing)" in text and "(12.0, at chance)" in text
    assert "1 of 3 runs converged (seed 1: climbing, seed 2: at chance; left out)" in \
        report.conclusion(rows)


def test_pareto_front_and_axis_limits():
    pts = [(1.0, 80.0), (2.0, 85.0), (2.0, 70.0), (3.0, 84.0), (0.5, 60.0)]
    assert report.pareto_front(pts) == [4, 0, 1]
    lo, hi = report.axis_limits([100.0, 101.0])          # a 1 % difference
    assert hi - lo >= 20.0 and lo < 100.0 and hi > 101.0
    assert report.colour("soft") == report.colour("soft") != report.colour("original")


def test_cli_writes_report(runs):
    out = runs / "report"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "report.py"),
                           str(runs / "runs"), str(runs / "prof"), "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "better than original by 3.0 points" in proc.stdout
    text = (out / "synthetic.md").read_text()
    assert "| r3d_tiny | soft | all | 8x2, 64px, 2 | 0 of 4 (4 without history) |" in text
    assert "(full)" in text
    assert (out / "synthetic.png").stat().st_size > 10_000
    with open(out / "synthetic.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["pool"] for r in rows] == ["original", "soft"] and rows[1]["top1_verdict"] == "better"


def test_cli_usage_error(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "report.py"), str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and proc.stderr.startswith("error: found no results.json")
