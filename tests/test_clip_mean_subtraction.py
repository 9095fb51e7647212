"""data.options.subtract_clip_mean: each pixel's mean over the clip's frames is subtracted after
normalising (train and test transforms alike); what does not move becomes 0."""
import numpy as np
import torch

from softpool3d.datasets.transforms import EvalTransform, TrainTransform


def _frames(t=4, size=40, seed=0):
    rng = np.random.default_rng(seed)
    static = rng.integers(0, 256, (1, size, size, 3), dtype=np.uint8).repeat(t, axis=0)
    static[:, 10:20, 5 + 0:5 + 8] = 255          # nothing moves but ...
    moving = static.copy()
    for i in range(t):                          # ... one bright square that moves right
        moving[i, 25:32, 4 * i:4 * i + 6] = 0
    return torch.from_numpy(static), torch.from_numpy(moving)


def test_train_transform_subtracts_the_clip_mean_from_the_same_crop():
    _, frames = _frames()
    plain = TrainTransform(32, (40, 40), hflip=False)
    sub = TrainTransform(32, (40, 40), hflip=False, subtract_clip_mean=True)
    a = plain(frames, np.random.default_rng(3))
    b = sub(frames, np.random.default_rng(3))      # the same crop
    assert a.shape == b.shape == (3, 4, 32, 32) and b.dtype == torch.float32
    assert torch.allclose(b, a - a.mean(dim=1, keepdim=True), atol=1e-6)
    assert b.mean(dim=1).abs().max() < 1e-5


def test_static_content_becomes_zero_and_motion_stays():
    static, moving = _frames()
    sub = EvalTransform(40, 40, num_crops=1, subtract_clip_mean=True)
    still = sub(static[None])  # (K=1 clip, T, H, W, 3)
    assert still.shape == (1, 3, 4, 40, 40) and still.abs().max() < 1e-5
    motion = sub(moving[None])
    assert motion.abs().amax(dim=(0, 1, 2))[25:32].max() > 1.0   # the moving square's rows
    assert motion.abs().amax(dim=(0, 1, 2))[:24].max() < 1e-5    # rows where nothing moves
