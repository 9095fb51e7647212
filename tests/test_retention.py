"""tools/bench_retention.py: pool (k=2) -> upsample -> PSNR/SSIM against the original."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "tools", "bench_retention.py")


@pytest.fixture(scope="module")
def br():
    from softpool3d.cli import bench_retention
    return bench_retention


def smooth_clip(seed=0, frames=4, size=32):
    """A textured (3, T, H, W) clip in [0, 1]: blurred noise, so windows are not constant."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 3, frames + 2, size + 4, size + 4, generator=g)
    x = F.avg_pool3d(x, (3, 5, 5), 1).squeeze(0)
    return (x - x.min()) / (x.max() - x.min())


def test_identical_images_give_inf_and_one(br):
    img = smooth_clip()[:, 0].permute(1, 2, 0).numpy()
    psnr, ssim = br.frame_metrics(img, img)
    assert math.isinf(psnr) and psnr > 0
    assert ssim == pytest.approx(1.0)


def test_blocky_clip_is_restored_exactly(br):
    # constant 2x2x2 blocks: every method returns the block value, nearest upsampling restores it
    base = smooth_clip(frames=2, size=8)
    clip = base.repeat_interleave(2, 1).repeat_interleave(2, 2).repeat_interleave(2, 3)
    for row in br.evaluate([clip], ["max", "avg", "soft"], modes=["3d"]):
        assert row["psnr"] > 100 and row["ssim"] == pytest.approx(1.0), row  # exact up to rounding


def test_soft_avg_max_scores(br):
    clips = [smooth_clip(0), smooth_clip(1)]
    rows = br.evaluate(clips, ["max", "avg", "soft"], modes=["2d", "3d"])
    by = {(r["method"], r["mode"]): r for r in rows}
    assert len(rows) == 6
    for r in rows:
        assert "error" not in r, r
        assert 5 < r["psnr"] < 60 and 0 < r["ssim"] < 1, r
        assert r["clips"] == 2 and r["frames"] == 8
    # spatio-temporal pooling loses more than per-frame pooling
    for m in ("max", "avg", "soft"):
        assert by[(m, "3d")]["psnr"] < by[(m, "2d")]["psnr"]
    # SoftPool is a softmax-weighted mean: between avg and max for [0, 1] input...
    assert by[("max", "2d")]["psnr"] < by[("soft", "2d")]["psnr"] <= by[("avg", "2d")]["psnr"]
    # ...and tends to max pooling as the input scale grows
    hot = br.evaluate(clips, ["max", "soft"], modes=["2d"], scale=1e4)
    assert hot[1]["psnr"] == pytest.approx(hot[0]["psnr"], abs=1e-3)


def test_broken_method_is_reported_not_fatal(br):
    rows = br.evaluate([smooth_clip()], ["avg", "no_such_pool"], modes=["2d"])
    assert "psnr" in rows[0] and "error" in rows[1]


def test_cli_on_a_video(tmp_path):
    from softpool3d.datasets.encode import write_video

    clip = (smooth_clip(frames=6, size=64).permute(1, 2, 3, 0).numpy() * 255).astype(np.uint8)
    video = tmp_path / "a.mp4"
    write_video(str(video), clip, fps=10)
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    proc = subprocess.run([sys.executable, TOOL, "--videos", str(video), "--methods", "max", "avg",
                           "soft", "--frames", "4", "--json", str(out), "--plot", str(png)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["settings"]["upsample"] == "nearest"
    assert data["settings"]["protocols"] == ["upsample", "reference"]  # both by default
    per_protocol = [("max", "2d"), ("avg", "2d"), ("soft", "2d"),
                    ("max", "3d"), ("avg", "3d"), ("soft", "3d")]
    assert [(r["protocol"], r["method"], r["mode"]) for r in data["rows"]] == (
        [("upsample",) + k for k in per_protocol] + [("reference",) + k for k in per_protocol])
    assert all(r["frames"] == 4 for r in data["rows"])
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "| upsample | soft | 3d |" in proc.stdout
    assert "| reference | soft | 3d |" in proc.stdout


# --- the reference protocol: pooled clip vs a standard (bicubic, antialiased) downscale ----------

def test_reference_downscale_matches_pillow_bicubic(br):
    from PIL import Image

    clip = smooth_clip(frames=2, size=32)
    ref = br.reference_downscale(clip, (1, 2, 2))
    assert ref.shape == (3, 2, 16, 16)
    for c in range(3):
        for t in range(2):
            img = Image.fromarray(clip[c, t].numpy().astype(np.float32), mode="F")
            want = np.asarray(img.resize((16, 16), Image.Resampling.BICUBIC))
            np.testing.assert_allclose(ref[c, t].numpy(), np.clip(want, 0, 1), atol=2e-5)


def test_reference_downscale_halves_time_with_a_linear_antialiased_filter(br):
    # constant frames with values v_t: halving time with the triangle filter of support 2 gives the
    # weights (1, 3, 3, 1) / 8 over four frames inside, renormalised where it leaves the clip
    values = torch.tensor([0.0, 0.8, 0.2, 0.4, 1.0, 0.6])
    clip = values.view(1, 6, 1, 1).expand(3, 6, 8, 8).clone()
    ref = br.reference_downscale(clip, (2, 2, 2))
    assert ref.shape == (3, 3, 4, 4)
    v = values.double()
    want = [(3 * v[0] + 3 * v[1] + v[2]) / 7,
            (v[1] + 3 * v[2] + 3 * v[3] + v[4]) / 8,
            (v[3] + 3 * v[4] + 3 * v[5]) / 7]
    for t in range(3):
        assert torch.allclose(ref[:, t].double(), torch.full((3, 4, 4), float(want[t]),
                              dtype=torch.float64), atol=1e-6), (t, ref[0, t, 0, 0], want[t])


def test_reference_protocol_scores_a_constant_clip_as_identical(br):
    clip = torch.full((3, 4, 16, 16), 0.3)
    for row in br.evaluate([clip], ["max", "avg", "soft"], modes=["2d", "3d"],
                           protocols=["reference"]):
        assert row["protocol"] == "reference"
        assert row["psnr"] > 100 and row["ssim"] == pytest.approx(1.0), row  # up to rounding


def test_reference_protocol_compares_at_the_pooled_size(br):
    clips = [smooth_clip(0), smooth_clip(1)]
    rows = br.evaluate(clips, ["max", "avg", "soft"], modes=["2d"],
                       protocols=["upsample", "reference"])
    by = {(r["protocol"], r["method"]): r for r in rows}
    for m in ("max", "avg", "soft"):
        assert by[("reference", m)]["psnr"] != by[("upsample", m)]["psnr"]
        assert 5 < by[("reference", m)]["psnr"] < 80
    # a smooth resize is closer to a local mean than to a local maximum
    assert by[("reference", "max")]["psnr"] < by[("reference", "avg")]["psnr"]


def test_unknown_protocol_is_refused(br):
    with pytest.raises(ValueError, match="unknown protocol"):
        br.evaluate([smooth_clip()], ["avg"], modes=["2d"], protocols=["psnr"])
