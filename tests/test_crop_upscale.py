"""A crop larger than the video's frames upscales every clip: allowed, with one warning per run
(the engine checks the first video before the DataLoader workers start; the workers inherit that
it was said), and one per crop size and process for direct library use."""
import subprocess
import sys
import warnings

import pytest
import torch

from softpool3d.datasets.transforms import EvalTransform, TrainTransform, UpscaleWarning
from _tiny_run import CONFIG, ROOT, overrides, tool_env



def frames(h, w, t=4):
    return torch.randint(0, 255, (t, h, w, 3), dtype=torch.uint8)


def test_a_transform_warns_once_when_the_crop_exceeds_the_frames():
    import numpy as np
    rng = np.random.default_rng(0)
    train = TrainTransform(64, (64, 72))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for _ in range(3):
            assert train(frames(40, 50), rng).shape == (3, 4, 64, 64)
        ev = EvalTransform(64, 64, 3)  # the same crop size: already said
        for _ in range(3):
            assert ev(frames(40, 50)[None]).shape == (3, 3, 4, 64, 64)
        EvalTransform(56, 56, 1)(frames(40, 50)[None])  # another crop size: said once more
    ups = [w for w in seen if issubclass(w.category, UpscaleWarning)]
    assert len(ups) == 2, [str(w.message) for w in ups]
    assert "crop size 64 is larger than the video's frames (40x50)" in str(ups[0].message)
    assert "crop size 56" in str(ups[1].message)


def test_no_warning_when_the_crop_fits():
    import numpy as np
    with warnings.catch_warnings():
        warnings.simplefilter("error", UpscaleWarning)
        TrainTransform(32, (32, 40))(frames(40, 50), np.random.default_rng(0))
        EvalTransform(40, 40, 1)(frames(40, 50)[None])


def test_a_training_with_a_crop_larger_than_its_videos_warns_once(data_root, tmp_path):
    """Two DataLoader workers, an epoch of 3 batches and the final test: one warning in all."""
    cmd = [sys.executable, "-m", "softpool3d.cli.train", CONFIG,
           *overrides(data_root, "data.crop_size=48", "data.train_scale=[48,52]",
                      "data.test_scale=48", "data.test_crop_size=48", "data.workers=2"),
           "--output-dir", str(tmp_path / "run")]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=tool_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("UpscaleWarning") == 1, proc.stderr
    assert "crop size 48 is larger than the video's frames (40x40" in proc.stderr
