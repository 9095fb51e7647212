"""The published networks: pytorchvideo's hub models (pretrained=False configurations, rebuilt
through pytorchvideo's ``create_*`` builders so the input geometry can change), a full-3D ResNet-50
and torchvision's R3D-18.

Each builder returns the unmodified network; :func:`softpool3d.models.build_model` then applies the
pytorchvideo fixes and swaps pools. With the published geometry, every pytorchvideo build equals its
hub function (``reference``), parameter for parameter (tested).
"""
from __future__ import annotations

import math
from typing import Any, Dict, Tuple

from torch import nn

from .registry import register

__all__ = ["head_pool_kernel", "merge_overrides", "resnet_config", "slowfast_head_kernels"]

_KINETICS_VIEW = dict(test_crop_size=256, num_clips=10, num_crops=3)
_HUB = "pytorchvideo.models.hub."


def head_pool_kernel(num_frames: int, crop_size: int, temporal_stride: int,
                     temporal_floor: bool = False) -> Tuple[int, int, int]:
    """The head AvgPool window covering the last feature map of a 32x spatially strided ResNet.

    Strided convs round up (``ceil``); C2D/I3D's temporal max pool rounds down (``temporal_floor``).
    """
    t = num_frames // temporal_stride if temporal_floor else math.ceil(num_frames / temporal_stride)
    s = math.ceil(crop_size / 32)
    return (max(1, t), s, s)


def merge_overrides(defaults: Dict[str, Any], overrides: Dict[str, Any]) -> Dict[str, Any]:
    """``defaults`` updated with ``overrides`` (the caller's arguments win)."""
    kwargs = dict(defaults)
    kwargs.update(overrides)
    return kwargs


# ---------------------------------------------------------------------------------------------
# ResNets (pytorchvideo.models.resnet.create_resnet and relatives)

def resnet_config(kind: str, num_frames: int, crop_size: int) -> Dict[str, Any]:
    """``create_resnet`` arguments of the hub's slow/c2d/i3d R50 and of our full-3D ``r3d``."""
    if kind == "slow":
        return dict(stem_conv_kernel_size=(1, 7, 7), model_depth=50,
                    head_pool_kernel_size=head_pool_kernel(num_frames, crop_size, 1))
    if kind == "c2d":
        return dict(stem_conv_kernel_size=(1, 7, 7), stage1_pool=nn.MaxPool3d,
                    stage_conv_a_kernel_size=((1, 1, 1),) * 4,
                    head_pool_kernel_size=head_pool_kernel(num_frames, crop_size, 2, True))
    if kind == "i3d":
        return dict(stem_conv_kernel_size=(5, 7, 7), stage1_pool=nn.MaxPool3d,
                    stage_conv_a_kernel_size=((3, 1, 1), [(3, 1, 1), (1, 1, 1)],
                                              [(3, 1, 1), (1, 1, 1)], [(1, 1, 1), (3, 1, 1)]),
                    head_pool_kernel_size=head_pool_kernel(num_frames, crop_size, 2, True))
    if kind == "r3d":
        return dict(stem_conv_kernel_size=(3, 7, 7), model_depth=50,
                    stage_conv_a_kernel_size=((1, 1, 1),) * 4,
                    stage_conv_b_kernel_size=((3, 3, 3),) * 4,
                    head_pool_kernel_size=head_pool_kernel(num_frames, crop_size, 1))
    raise ValueError(f"unknown resnet kind {kind!r}")


def _resnet(kind: str, num_classes: int, num_frames: int, crop_size: int, **overrides) -> nn.Module:
    from pytorchvideo.models.resnet import create_resnet
    config = resnet_config(kind, num_frames, crop_size)
    config = dict(config, model_num_class=num_classes)
    return create_resnet(**merge_overrides(config, overrides))


@register("slow_r50", num_frames=8, sampling_rate=8, crop_size=224, **_KINETICS_VIEW,
          reference=_HUB + "slow_r50", description="Slow pathway R50 (SlowFast paper), 8x8")
def slow_r50(num_classes, num_frames, crop_size, **overrides):
    return _resnet("slow", num_classes, num_frames, crop_size, **overrides)


@register("c2d_r50", num_frames=8, sampling_rate=8, crop_size=224, **_KINETICS_VIEW,
          reference=_HUB + "c2d_r50", description="C2D R50 (2D convs + temporal max pool), 8x8")
def c2d_r50(num_classes, num_frames, crop_size, **overrides):
    return _resnet("c2d", num_classes, num_frames, crop_size, **overrides)


@register("i3d_r50", num_frames=8, sampling_rate=8, crop_size=224, **_KINETICS_VIEW,
          reference=_HUB + "i3d_r50", description="I3D R50 (inflated 3D), 8x8")
def i3d_r50(num_classes, num_frames, crop_size, **overrides):
    return _resnet("i3d", num_classes, num_frames, crop_size, **overrides)


@register("r3d_50", num_frames=8, sampling_rate=8, crop_size=224, **_KINETICS_VIEW,
          reference=None, description="full-3D ResNet-50 (3x3x3 bottlenecks) via create_resnet; "
                                      "no pytorchvideo checkpoint: Slow's 8x8 view")
def r3d_50(num_classes, num_frames, crop_size, **overrides):
    return _resnet("r3d", num_classes, num_frames, crop_size, **overrides)


@register("csn_r101", num_frames=32, sampling_rate=2, crop_size=224, **_KINETICS_VIEW,
          reference=_HUB + "csn_r101", description="ir-CSN R101 (channel-separated), 32x2")
def csn_r101(num_classes, num_frames, crop_size, **overrides):
    from pytorchvideo.models.csn import create_csn
    config = dict(model_depth=101, stem_pool=nn.MaxPool3d, model_num_class=num_classes,
                  head_pool_kernel_size=head_pool_kernel(num_frames, crop_size, 8))
    return create_csn(**merge_overrides(config, overrides))


@register("r2plus1d_r50", num_frames=16, sampling_rate=4, crop_size=224, **_KINETICS_VIEW,
          reference=_HUB + "r2plus1d_r50", description="R(2+1)D R50, 16x4")
def r2plus1d_r50(num_classes, num_frames, crop_size, **overrides):
    from pytorchvideo.models.r2plus1d import create_r2plus1d
    config = dict(dropout_rate=0.5, model_num_class=num_classes,
                  head_pool_kernel_size=head_pool_kernel(num_frames, crop_size, 4))
    return create_r2plus1d(**merge_overrides(config, overrides))


# ---------------------------------------------------------------------------------------------
# SlowFast

def slowfast_head_kernels(num_frames: int, crop_size: int, alpha: int):
    """Head windows of the slow (``num_frames // alpha`` frames) and fast pathways."""
    return (head_pool_kernel(max(1, num_frames // alpha), crop_size, 1),
            head_pool_kernel(num_frames, crop_size, 1))


def _slowfast(depth: int, fusion_kernel: int, num_classes, num_frames, crop_size, **overrides):
    from pytorchvideo.models.slowfast import create_slowfast
    config = dict(model_depth=depth, slowfast_fusion_conv_kernel_size=(fusion_kernel, 1, 1),
                  model_num_class=num_classes,
                  head_pool_kernel_sizes=slowfast_head_kernels(num_frames, crop_size, 4))
    return create_slowfast(**merge_overrides(config, overrides))


@register("slowfast_r50", num_frames=32, sampling_rate=2, crop_size=224, alpha=4,
          **_KINETICS_VIEW, reference=_HUB + "slowfast_r50",
          description="SlowFast R50 8x8 (fast pathway: 32 frames at stride 2, alpha 4)")
def slowfast_r50(num_classes, num_frames, crop_size, **overrides):
    return _slowfast(50, 7, num_classes, num_frames, crop_size, **overrides)


@register("slowfast_r101", num_frames=32, sampling_rate=2, crop_size=224, alpha=4,
          **_KINETICS_VIEW, reference=_HUB + "slowfast_r101",
          description="SlowFast R101 8x8 (fast pathway: 32 frames at stride 2, alpha 4)")
def slowfast_r101(num_classes, num_frames, crop_size, **overrides):
    return _slowfast(101, 5, num_classes, num_frames, crop_size, **overrides)


# ---------------------------------------------------------------------------------------------
# X3D (views of the X3D paper: train crop, test crop 182/182/256/356, 10 clips x 3 crops)

def _x3d(num_classes, num_frames, crop_size, depth_factor=2.2, **overrides):
    from pytorchvideo.models.x3d import create_x3d
    config = dict(input_clip_length=num_frames, input_crop_size=crop_size,
                  depth_factor=depth_factor, model_num_class=num_classes)
    return create_x3d(**merge_overrides(config, overrides))


_X3D_VIEW = dict(num_clips=10, num_crops=3)


@register("x3d_xs", num_frames=4, sampling_rate=12, crop_size=160, test_crop_size=182,
          train_scale=(182, 228), **_X3D_VIEW, reference=_HUB + "x3d_xs", description="X3D-XS, 4x12")
def x3d_xs(num_classes, num_frames, crop_size, **overrides):
    return _x3d(num_classes, num_frames, crop_size, **overrides)


@register("x3d_s", num_frames=13, sampling_rate=6, crop_size=160, test_crop_size=182,
          train_scale=(182, 228), **_X3D_VIEW, reference=_HUB + "x3d_s", description="X3D-S, 13x6")
def x3d_s(num_classes, num_frames, crop_size, **overrides):
    return _x3d(num_classes, num_frames, crop_size, **overrides)


@register("x3d_m", num_frames=16, sampling_rate=5, crop_size=224, test_crop_size=256,
          **_X3D_VIEW, reference=_HUB + "x3d_m", description="X3D-M, 16x5")
def x3d_m(num_classes, num_frames, crop_size, **overrides):
    return _x3d(num_classes, num_frames, crop_size, **overrides)


@register("x3d_l", num_frames=16, sampling_rate=5, crop_size=312, test_crop_size=356,
          train_scale=(356, 446), **_X3D_VIEW, reference=_HUB + "x3d_l", description="X3D-L, 16x5")
def x3d_l(num_classes, num_frames, crop_size, **overrides):
    return _x3d(num_classes, num_frames, crop_size,
                **merge_overrides(dict(depth_factor=5.0), overrides))


# ---------------------------------------------------------------------------------------------
# torchvision

@register("r3d_18", num_frames=16, sampling_rate=2, crop_size=112, test_crop_size=112,
          num_clips=5, num_crops=1, reference="torchvision.models.video.r3d_18",
          description="torchvision VideoResNet R3D-18 (16 frames at 15 fps, 112 px); its only pool "
                      "is the adaptive average before the classifier (site 'global')")
def r3d_18(num_classes, num_frames, crop_size, **overrides):
    from torchvision.models.video import r3d_18 as tv_r3d_18
    return tv_r3d_18(**merge_overrides(dict(weights=None, num_classes=num_classes), overrides))
