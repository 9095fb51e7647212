"""Which frames to decode: one random training clip, or uniformly spaced evaluation clips.

A clip is ``num_frames`` frames taken every ``sampling_rate`` frames, so it spans
``(num_frames - 1) * sampling_rate + 1`` frames of the video.

Short videos (fewer frames than a clip spans): the clip starts at frame 0 and indices past the
end are handled by ``short``:
  - ``"clamp"`` (default): repeated last frame (``min(i, n - 1)``), so motion never runs backwards;
  - ``"loop"``: wrap around to the start (``i % n``).
"""
from __future__ import annotations

import numpy as np

SHORT_POLICIES = ("clamp", "loop")


def clip_span(num_frames, sampling_rate):
    """Number of video frames one clip covers."""
    return (num_frames - 1) * sampling_rate + 1


def _check(num_video_frames, num_frames, sampling_rate, short):
    if num_video_frames < 1:
        raise ValueError(f"video has {num_video_frames} frames")
    if num_frames < 1 or sampling_rate < 1:
        raise ValueError(f"num_frames and sampling_rate must be >= 1, got {num_frames}, {sampling_rate}")
    if short not in SHORT_POLICIES:
        raise ValueError(f"short must be one of {SHORT_POLICIES}, got {short!r}")


def _fit(indices, n, short):
    return np.minimum(indices, n - 1) if short == "clamp" else indices % n


def train_clip_indices(num_video_frames, num_frames, sampling_rate, rng, short="clamp"):
    """One clip at a random start (uniform over all starts that fit).

    Returns int64 array ``(num_frames,)`` of frame indices in ``[0, num_video_frames)``.
    ``rng`` is a ``numpy.random.Generator``.
    """
    _check(num_video_frames, num_frames, sampling_rate, short)
    span = clip_span(num_frames, sampling_rate)
    start = int(rng.integers(0, num_video_frames - span + 1)) if num_video_frames >= span else 0
    return _fit(start + np.arange(num_frames, dtype=np.int64) * sampling_rate, num_video_frames, short)


def eval_clip_indices(num_video_frames, num_frames, sampling_rate, num_clips, short="clamp"):
    """``num_clips`` clips with starts uniformly spaced from the first to the last possible start
    (one clip: the centred one). Returns int64 array ``(num_clips, num_frames)``.
    """
    _check(num_video_frames, num_frames, sampling_rate, short)
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    span = clip_span(num_frames, sampling_rate)
    slack = max(num_video_frames - span, 0)
    if num_clips == 1:
        starts = np.array([slack // 2], dtype=np.int64)
    else:
        starts = np.rint(np.linspace(0, slack, num_clips)).astype(np.int64)
    idx = starts[:, None] + np.arange(num_frames, dtype=np.int64)[None, :] * sampling_rate
    return _fit(idx, num_video_frames, short)


def slow_pathway_indices(num_frames, alpha):
    """Which of the fast pathway's ``num_frames`` frames SlowFast's slow pathway takes:
    ``linspace(0, T - 1, T // alpha)`` in float32, truncated (PySlowFast's ``pack_pathway_output``
    in ``slowfast/datasets/utils.py``, and pytorchvideo's ``PackPathway``, which the published
    SlowFast weights were trained with). T = 32, alpha = 4: frames 0, 4, 8, 13, 17, 22, 26, 31
    (not every alpha-th frame). Returns int64 tensor ``(T // alpha,)``.
    """
    import torch
    if alpha < 1 or num_frames < alpha:
        raise ValueError(f"alpha must be in [1, num_frames]; got alpha={alpha}, num_frames={num_frames}")
    return torch.linspace(0, num_frames - 1, num_frames // alpha, dtype=torch.float32).long()
