"""tools/report.py: results.json + profile JSONs -> per-dataset Markdown, CSV and PNG."""
import csv
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPORT = os.path.join(ROOT, "tools", "report.py")


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f)


def _result(model, pool, dataset, top1, top5, skipped):
    # the keys tools/train.py writes (softpool3d/engine/run.py)
    return {"model": model, "pool": pool, "dataset": dataset, "top1": top1, "top5": top5,
            "skipped_videos": {"train": skipped, "val": 0, "test": 0, "total": skipped},
            "peak_memory": {"bytes": 999 * 2**20, "kind": "rss"}, "wall_time_s": 12.0,
            "config": {"model": {"name": model, "pool": pool, "pool_sites": "all"},
                       "data": {"name": dataset}}}


def _profile(model, pool, gflops, params, train_bytes, step_ms, clips_s):
    return {"model": model, "pool": pool, "pool_sites": "all", "convention": "paper",
            "memory_method": "torch.profiler memory events", "flops_per_view": gflops * 1e9 / 30,
            "gflops_x_views": gflops, "params": params, "train_peak_bytes": train_bytes,
            "train_step_ms": step_ms, "infer_clips_per_s": clips_s}


def test_report_tables_csv_and_plot(tmp_path):
    runs, profs, out = tmp_path / "runs", tmp_path / "profiles", tmp_path / "report"
    _write(str(runs / "max" / "results.json"), _result("x3d_xs", "max", "synthetic", 0.5, 0.9, 2))
    _write(str(runs / "soft" / "results.json"),
           _result("x3d_xs", "soft", "synthetic", 0.625, 1.0, 0))
    _write(str(runs / "ucf" / "results.json"), {"top1": 0.7, "config": {
        "model": {"name": "slow_r50", "pool": "max"}, "data": {"name": "ucf101"}}})
    _write(str(profs / "x3d_xs_max.json"), _profile("x3d_xs", "max", 27.3, 3794274, 100 * 2**20,
                                                     250.0, 12.5))
    _write(str(profs / "x3d_xs_soft.json"), _profile("x3d_xs", "soft", 27.9, 3794274, 104 * 2**20,
                                                      257.5, 12.0))
    _write(str(profs / "c2d_max.json"),
           _profile("c2d_r50", "max", 776.7, 24327632, None, None, None))
    (profs / "notes.json").write_text("[1, 2]")  # neither kind: skipped
    # tools/test.py output: ignored beside a results.json, the fold mean where it stands alone
    _write(str(runs / "max" / "test_results.json"), {"folds": {"1": {"top1": 0.1}}, "mean": {
        "top1": 0.1}, "config": {"model": {"name": "x3d_xs", "pool": "max"},
                                 "data": {"name": "synthetic"}}})
    _write(str(runs / "hmdb" / "test_results.json"), {
        "model": "i3d_r50", "pool": "soft", "dataset": "hmdb51",
        "folds": {"1": {"top1": 0.4, "skipped": 1}, "2": {"top1": 0.6, "skipped": 2}},
        "mean": {"top1": 0.5, "top5": 0.8}})

    proc = subprocess.run([sys.executable, REPORT, str(runs), str(profs), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr

    with open(out / "synthetic.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["model"], r["pooling"]) for r in rows] == [("x3d_xs", "max"), ("x3d_xs", "soft")]
    soft = rows[1]
    assert float(soft["top-1 (%)"]) == 62.5 and float(soft["top-5 (%)"]) == 100.0
    assert float(soft["GFLOPs x views"]) == 27.9
    assert float(soft["params (M)"]) == 3.794274
    assert float(soft["peak train mem (MiB)"]) == 104.0      # the profile's, not the run's RSS
    assert float(soft["train step (ms)"]) == 257.5
    assert float(soft["inference clips/s"]) == 12.0
    assert rows[0]["skipped videos"] == "2" and soft["skipped videos"] == "0"

    md = (out / "synthetic.md").read_text()
    assert "| x3d_xs | soft | 62.50 | 100.00 | 27.90 | 3.79 | 104.0 | 257.5 | 12.00 | 0 |" in md
    # missing fields show as "-": a run with no profile and only top-1
    ucf = (out / "ucf101.md").read_text()
    assert "| slow_r50 | max | 70.00 | - | - | - | - | - | - | - |" in ucf
    assert "| i3d_r50 | soft | 50.00 | 80.00 | - | - | - | - | - | 3 |" in \
        (out / "hmdb51.md").read_text()
    # a profile matched by no run still gets listed
    assert "c2d_r50" in (out / "profiles-only.md").read_text()
    report = (out / "report.md").read_text()
    assert report.index("## hmdb51") < report.index("## synthetic") < report.index("## ucf101") \
        < report.index("## profiles-only")

    for name in ("synthetic.png", "ucf101.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_report_fails_without_inputs(tmp_path):
    proc = subprocess.run([sys.executable, REPORT, str(tmp_path), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "found no" in proc.stderr
