"""Mixup / CutMix of training batches with torchvision.transforms.v2 ``MixUp`` / ``CutMix``.

torchvision's transforms take a plain tensor as a batch of *images* (4-D) and refuse 5-D ones; a
``tv_tensors.Video`` is taken as a 5-D batch. Both transforms only use the batch dimension (mixup:
``roll(1, 0)``) and the last two, H and W (cutmix's box): our ``(N, C, T, H, W)`` clips, wrapped as
``Video``, are mixed correctly although ``Video`` means ``(N, T, C, H, W)``: every frame and channel
of a clip gets the same box. The pathways of a two-pathway input (same N, H, W) are passed together
and get the same mixing weight, the same partner and the same box. The labels become soft targets
``(N, num_classes)``, which ``nn.CrossEntropyLoss`` takes as class probabilities (with label
smoothing applied on top).
"""
from __future__ import annotations

from typing import List, Optional, Tuple, Union

import torch

Video = Union[torch.Tensor, List[torch.Tensor]]


class BatchMixer:
    """``mixer(video, labels) -> (video, soft targets)``; MixUp with ``mixup_alpha`` > 0, CutMix with
    ``cutmix_alpha`` > 0, one of the two drawn per batch (torch's global RNG) when both are on."""

    def __init__(self, num_classes: int, mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0):
        from torchvision.transforms import v2
        self.num_classes = num_classes
        choices = []
        if mixup_alpha > 0:
            choices.append(v2.MixUp(alpha=mixup_alpha, num_classes=num_classes))
        if cutmix_alpha > 0:
            choices.append(v2.CutMix(alpha=cutmix_alpha, num_classes=num_classes))
        if not choices:
            raise ValueError("BatchMixer needs mixup_alpha or cutmix_alpha > 0")
        self.transform = choices[0] if len(choices) == 1 else v2.RandomChoice(choices)

    def __call__(self, video: Video, labels: torch.Tensor) -> Tuple[Video, torch.Tensor]:
        from torchvision import tv_tensors
        many = isinstance(video, (list, tuple))
        clips = [tv_tensors.Video(v) for v in (video if many else [video])]
        for v in clips:
            if v.dim() != 5:
                raise ValueError(f"mixup/cutmix expect (N, C, T, H, W) clips, got {tuple(v.shape)}")
        mixed, targets = self.transform(clips, labels)
        out = [m.as_subclass(torch.Tensor) for m in mixed]
        return (out if many else out[0]), targets


def build_mixer(cfg, num_classes: int) -> Optional[BatchMixer]:
    """The mixer of ``cfg.train`` (``mixup_alpha``, ``cutmix_alpha``), or None when both are 0."""
    tc = cfg.train
    if tc.mixup_alpha <= 0 and tc.cutmix_alpha <= 0:
        return None
    return BatchMixer(num_classes, tc.mixup_alpha, tc.cutmix_alpha)
