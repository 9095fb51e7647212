"""tools/profile.py and softpool3d.profiling on tiny models on CPU."""
import json
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from softpool3d.profiling import (FIELDS, compare_train_steps, make_inputs, measure_peak_memory,
                                  profile_module)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 2 ** 20


def test_cpu_peak_memory_is_measured_not_estimated():
    def alloc():
        a = torch.empty(10 * MiB, dtype=torch.uint8)
        b = torch.empty(4 * MiB, dtype=torch.uint8)
        del a, b
        c = torch.empty(6 * MiB, dtype=torch.uint8)  # reuses freed memory: peak stays 14 MiB
        return c.numel()
    peak = measure_peak_memory(alloc, "cpu")
    assert 14 * MiB <= peak < 14 * MiB + 64 * 1024
    assert measure_peak_memory(lambda: None, "cpu") < 64 * 1024


def test_profile_module_memory_bounds_from_activations():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv3d(3, 8, 3, padding=1), nn.BatchNorm3d(8), nn.ReLU(),
                          nn.Conv3d(8, 8, 3, padding=1), nn.BatchNorm3d(8), nn.ReLU(),
                          nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(8, 4))
    x = torch.randn(2, 3, 4, 32, 32)
    result = profile_module(model, x, convention="full", views=3, warmup=1, iters=2)
    act = 2 * 8 * 4 * 32 * 32 * 4  # one conv output, float32
    # inference holds at least one conv output; training keeps both conv outputs (BN's saved
    # input) plus each ReLU's output for backward
    assert result["infer_peak_bytes"] >= act
    assert result["train_peak_bytes"] >= 4 * act
    assert result["train_peak_bytes"] > result["infer_peak_bytes"]
    assert result["flops_per_view"] * 3 == pytest.approx(result["gflops_x_views"] * 1e9)
    assert result["params"] == sum(p.numel() for p in model.parameters())
    assert result["infer_latency_ms"] > 0 and result["train_step_ms"] > 0
    assert result["infer_clips_per_s"] == pytest.approx(2e3 / result["infer_latency_ms"])


def test_compare_train_steps_times_the_models_it_is_handed():
    built = []

    def build(pool):
        built.append(pool)
        width = {"narrow": 2, "wide": 6}[pool]
        return nn.Sequential(nn.Conv3d(3, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1),
                             nn.Flatten(), nn.Linear(width, 2))
    result = compare_train_steps(build, ["narrow", "wide"], torch.randn(2, 3, 2, 8, 8), rounds=2,
                                 iters=1, warmup=0)
    assert built == ["narrow", "wide"] and result["reference"] == "narrow"
    assert result["batch"] == 2 and set(result["pools"]) == {"narrow", "wide"}
    assert len(result["pools"]["wide"]["rounds_ms"]) == 2 and set(result["overhead"]) == {"wide"}


def test_profiling_builds_no_model_by_name():
    """softpool3d.profiling measures the model it is handed: profiling one imports neither
    softpool3d.models nor the engine."""
    code = ("import sys, torch\n"
            "from torch import nn\n"
            "from softpool3d.profiling import profile_module\n"
            "model = nn.Sequential(nn.Conv3d(3, 2, 1), nn.AdaptiveAvgPool3d(1), nn.Flatten())\n"
            "profile_module(model, torch.randn(1, 3, 2, 4, 4), warmup=0, iters=1, progress=False)\n"
            "print(sorted(m for m in sys.modules if m.startswith(('softpool3d.models', "
            "'softpool3d.engine'))))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_make_inputs_slowfast_pathways():
    spec = dict(num_frames=32, crop_size=224, test_crop_size=256, alpha=4)
    slow, fast = make_inputs(spec, batch=2)
    assert slow.shape == (2, 3, 8, 256, 256) and fast.shape == (2, 3, 32, 256, 256)
    assert make_inputs(dict(num_frames=4, crop_size=160, test_crop_size=182), crop=64).shape == \
        (1, 3, 4, 64, 64)


def test_profile_tool_json(tmp_path):
    out = tmp_path / "p.json"
    cmd = [sys.executable, os.path.join(ROOT, "tools", "profile.py"), "--model", "r3d_tiny",
           "--pool", "soft", "--frames", "4", "--crop", "48", "--batch", "2", "--device", "cpu",
           "--convention", "full", "--warmup", "1", "--iters", "2", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "GFLOPs (full)" in proc.stdout and "peak memory, train step" in proc.stdout
    result = json.loads(out.read_text())
    assert set(FIELDS) <= set(result)
    assert result["model"] == "r3d_tiny" and result["pool"] == "soft"
    assert result["input_shape"] == [2, 3, 4, 48, 48] and result["batch"] == 2
    assert result["views"] == 1 and result["memory_method"] == "torch.profiler memory events"
    # SoftPool now costs FLOPs under "full"
    ops = result["flops_by_operator"]
    assert ops.get("softpool3d", 0) + ops.get("softmax", 0) > 0
    assert result["infer_peak_bytes"] > 0
    # the stem conv output of one clip batch (8 channels, stride (1, 2, 2)) must fit in the peak
    assert result["infer_peak_bytes"] >= 2 * 8 * 4 * 24 * 24 * 4
    assert result["train_peak_bytes"] > result["infer_peak_bytes"]
    for key in ("infer_latency_ms", "infer_clips_per_s", "train_step_ms", "train_clips_per_s",
                "gflops_per_view", "params", "model_bytes"):
        assert result[key] > 0, key


def test_profile_tool_under_its_own_name_compiles_the_model(tmp_path):
    """tools/profile.py must not shadow the standard library's profile module: torch.compile
    imports cProfile, which imports profile (with the shadowing, 'module profile has no attribute
    run')."""
    out = tmp_path / "c.json"
    cmd = [sys.executable, os.path.join(ROOT, "tools", "profile.py"), "--model", "r3d_tiny",
           "--pool", "soft", "--compile", "--frames", "4", "--crop", "32", "--batch", "2",
           "--warmup", "1", "--iters", "2", "--no-flops", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "torch.compile: inference" in proc.stdout
    result = json.loads(out.read_text())
    assert result["compiled_infer_latency_ms"] > 0 and result["compiled_train_step_ms"] > 0


def test_profile_tool_compares_pools_side_by_side(tmp_path):
    out = tmp_path / "cmp.json"
    cmd = [sys.executable, os.path.join(ROOT, "tools", "profile.py"), "--model", "r3d_tiny",
           "--pool", "original", "--compare", "soft", "--frames", "4", "--crop", "32",
           "--batch", "2", "--rounds", "2", "--iters", "1", "--warmup", "1", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert set(result["pools"]) == {"original", "soft"} and len(result["pools"]["soft"]["rounds_ms"]) == 2
    assert "% vs original" in proc.stdout and set(result["overhead"]) == {"soft"}
