"""Video transforms on decoded clips, built on ``torchvision.transforms.v2.functional``.

Input: uint8 frames ``(T, H, W, 3)`` (one clip) as returned by :mod:`.decode`.
Output: float32 ``(C, T, H, W)``, normalised with ``mean``/``std`` (values of ``[0, 1]`` pixels).

Scaling the short side to ``s`` and then cropping ``c x c`` equals cropping a ``c*S/s`` box of the
source (short side ``S``) and resizing it to ``c``; the transforms do the latter, which resizes
only the pixels that are kept. Randomness comes from an explicit ``numpy.random.Generator``
so that a sample is reproducible from the dataset's seed whatever the worker layout.

A crop larger than the frames' short side upscales them: allowed, with one ``UpscaleWarning``
per crop size and process (``check_frame_size``; the training engine calls it on the first video
before the DataLoader workers start, and the workers inherit that it was said: a run warns once).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

KINETICS_MEAN = (0.45, 0.45, 0.45)
KINETICS_STD = (0.225, 0.225, 0.225)


def _to_video(frames):
    """uint8 ``(..., T, H, W, 3)`` -> ``tv_tensors.Video`` ``(..., T, 3, H, W)``."""
    if frames.dtype != torch.uint8 or frames.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames (..., T, H, W, 3), got {tuple(frames.shape)} "
                         f"{frames.dtype}")
    return tv_tensors.Video(frames.movedim(-1, -3))


def _box(height, width, short_side, crop_size):
    """Height/width of the source box that becomes ``crop_size`` after short-side scaling."""
    side = crop_size * min(height, width) / short_side
    return min(height, max(1, round(side))), min(width, max(1, round(side)))


class UpscaleWarning(UserWarning):
    """The crop is larger than the video's frames: they are upscaled (slow, and no detail is
    gained)."""


_UPSCALE_WARNED = set()  # crop sizes already warned about in this process (forked workers
                        # inherit it, so a run that checked its first video warns once)


class _Normalize:

    def check_frame_size(self, height, width, path=None):
        """Warn once per crop size (``UpscaleWarning``) when ``crop_size`` exceeds the short side of
        ``height x width`` frames: every crop is then an upscaled copy. Returns whether it does."""
        short = min(int(height), int(width))
        if self.crop_size <= short:
            return False
        if self.crop_size not in _UPSCALE_WARNED:
            _UPSCALE_WARNED.add(self.crop_size)
            where = f" ({path})" if path else ""
            warnings.warn(f"crop size {self.crop_size} is larger than the video's frames "
                          f"({int(height)}x{int(width)}{where}): every clip is upscaled "
                          f"{self.crop_size / short:.1f}x, which costs time and adds no detail; "
                          f"use a crop of at most {short} (data.crop_size / "
                          f"data.test_crop_size) or videos of at least that size", UpscaleWarning,
                          stacklevel=2)
        return True

    def __init__(self, mean, std, subtract_clip_mean=False):
        self.subtract_clip_mean = bool(subtract_clip_mean)
        self.mean, self.std = list(map(float, mean)), list(map(float, std))
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError("mean and std need 3 values (RGB)")
        # (x / 255 - mean) / std = x * scale + shift, per channel
        self._scale = [float(1 / (255 * s)) for s in self.std]
        self._shift = [float(-m / s) for m, s in zip(self.mean, self.std)]

    def finish(self, video):
        """``Video (..., T, 3, h, w)`` uint8 -> float32 ``(..., 3, T, h, w)`` normalised.

        Channel by channel, one pass converts, scales and moves the plane into place (resized video
        comes channels-last) and a second adds the shift: ~1.5 ms per 16x224x224 clip, where
        to_dtype, normalize and a contiguous transpose took ~9 ms. With ``subtract_clip_mean``
        each pixel's mean over the clip's T frames is subtracted (what does not move becomes 0)."""
        x = video.as_subclass(torch.Tensor)
        out = torch.empty(x.shape[:-4] + (3,) + x.shape[-4:-3] + x.shape[-2:], dtype=torch.float32)
        for c in range(3):
            plane = out.select(-4, c)
            torch.mul(x.select(-3, c), self._scale[c], out=plane)
            plane.add_(self._shift[c])
        if self.subtract_clip_mean:
            out -= out.mean(dim=-3, keepdim=True)
        return out


class TrainTransform(_Normalize):
    """Random short-side scale in ``scale`` (inclusive), random ``crop_size`` square crop,
    horizontal flip with probability 0.5 when ``hflip``, normalise.

    ``__call__(frames uint8 (T, H, W, 3), rng) -> float32 (3, T, crop_size, crop_size)``.
    """

    def __init__(self, crop_size, scale, hflip=True, mean=KINETICS_MEAN, std=KINETICS_STD,
                 subtract_clip_mean=False):
        super().__init__(mean, std, subtract_clip_mean)
        lo, hi = int(scale[0]), int(scale[1])
        if not crop_size <= lo <= hi:
            raise ValueError(f"train scale {scale} must satisfy crop_size ({crop_size}) <= min <= max")
        self.crop_size, self.scale, self.hflip = int(crop_size), (lo, hi), bool(hflip)

    def __call__(self, frames, rng):
        video = _to_video(frames)
        height, width = video.shape[-2:]
        self.check_frame_size(height, width)
        short = int(rng.integers(self.scale[0], self.scale[1] + 1))
        h, w = _box(height, width, short, self.crop_size)
        top = int(rng.integers(0, height - h + 1))
        left = int(rng.integers(0, width - w + 1))
        video = F.resized_crop(video, top, left, h, w, [self.crop_size, self.crop_size],
                               antialias=True)
        if self.hflip and rng.random() < 0.5:
            video = F.horizontal_flip(video)
        return self.finish(video)


class EvalTransform(_Normalize):
    """Short side to ``scale`` and ``num_crops`` square crops spread along the long side
    (3: left/centre/right, or top/centre/bottom for portrait video; 1: centre), normalise.

    ``__call__(frames uint8 (K, T, H, W, 3)) -> float32 (K * num_crops, 3, T, crop, crop)``;
    view ``v = clip * num_crops + crop``.
    """

    def __init__(self, crop_size, scale, num_crops=3, mean=KINETICS_MEAN, std=KINETICS_STD,
                 subtract_clip_mean=False):
        super().__init__(mean, std, subtract_clip_mean)
        if scale < crop_size:
            raise ValueError(f"test scale {scale} must be >= crop_size {crop_size}")
        if num_crops < 1:
            raise ValueError(f"num_crops must be >= 1, got {num_crops}")
        self.crop_size, self.scale, self.num_crops = int(crop_size), int(scale), int(num_crops)

    def crop_boxes(self, height, width):
        """``[(top, left, h, w)]`` source boxes of the crops, in view order."""
        h, w = _box(height, width, self.scale, self.crop_size)
        fracs = [0.5] if self.num_crops == 1 else np.linspace(0.0, 1.0, self.num_crops).tolist()
        boxes = []
        for f in fracs:
            if width >= height:
                boxes.append((round((height - h) / 2), round((width - w) * f), h, w))
            else:
                boxes.append((round((height - h) * f), round((width - w) / 2), h, w))
        return boxes

    def __call__(self, frames):
        video = _to_video(frames)
        height, width = video.shape[-2:]
        self.check_frame_size(height, width)
        size = [self.crop_size, self.crop_size]
        views = [F.resized_crop(video, t, l, h, w, size, antialias=True)
                 for t, l, h, w in self.crop_boxes(height, width)]
        x = self.finish(tv_tensors.Video(torch.stack(views, dim=1)))  # (K, crops, 3, T, c, c)
        return x.flatten(0, 1)
