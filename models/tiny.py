"""Small CPU variants for the embedded 112 px synthetic dataset: the published architectures'
layouts (same pytorchvideo builders, same pool sites) with few channels and one block per stage.
A forward of two 8 x 112^2 clips takes well under a second on two CPU cores.

    name           layout of                   channels (stem..last)    pool sites
    r3d_tiny       r3d_50 (full 3D)            8..256                   stem, head, global
    i3d_tiny       i3d_r50 (+ temporal pool)   8..256                   stem, stage, head, global
    x3d_xs_tiny    x3d_xs                      8..64, head 128          head, global
    slowfast_tiny  slowfast_r50 (alpha 4)      slow 8..256, fast 2..64  stem, head, global
"""
from __future__ import annotations

from torch import nn

from .published import merge_overrides, resnet_config, slowfast_head_kernels
from .registry import register

__all__ = ["keep_first_blocks"]

_TINY_VIEW = dict(num_frames=8, sampling_rate=2, crop_size=112, test_crop_size=112, num_clips=1,
                  num_crops=1)


def keep_first_blocks(model: nn.Module, depth: int = 1) -> nn.Module:
    """Truncate every pytorchvideo ``ResStage`` to its first ``depth`` blocks (in place).

    The first block of a stage does the stage's striding and channel change, so the result is a
    valid, shallower network with the same layout.
    """
    from pytorchvideo.models.resnet import ResStage
    for module in model.modules():
        if isinstance(module, ResStage):
            module.res_blocks = module.res_blocks[:depth]
    return model


def _tiny_resnet(kind, num_classes, num_frames, crop_size, **overrides):
    from pytorchvideo.models.resnet import create_resnet
    config = dict(resnet_config(kind, num_frames, crop_size), model_num_class=num_classes,
                  stem_dim_out=8, model_depth=50)
    depth = overrides.pop("blocks_per_stage", 1)
    return keep_first_blocks(create_resnet(**merge_overrides(config, overrides)), depth)


@register("r3d_tiny", **_TINY_VIEW, description="tiny full-3D ResNet for CPU runs (r3d_50 layout)")
def r3d_tiny(num_classes, num_frames, crop_size, **overrides):
    return _tiny_resnet("r3d", num_classes, num_frames, crop_size, **overrides)


@register("i3d_tiny", **_TINY_VIEW, description="tiny I3D for CPU runs (i3d_r50 layout, with the "
                                                "temporal stage pool)")
def i3d_tiny(num_classes, num_frames, crop_size, **overrides):
    return _tiny_resnet("i3d", num_classes, num_frames, crop_size, **overrides)


@register("x3d_xs_tiny", **_TINY_VIEW, description="tiny X3D for CPU runs (x3d_xs layout)")
def x3d_xs_tiny(num_classes, num_frames, crop_size, **overrides):
    from pytorchvideo.models.x3d import create_x3d
    config = dict(input_clip_length=num_frames, input_crop_size=crop_size,
                  model_num_class=num_classes, width_factor=1.0, depth_factor=0.5, stem_dim_in=8,
                  head_dim_out=128)
    return create_x3d(**merge_overrides(config, overrides))


@register("slowfast_tiny", **_TINY_VIEW, alpha=4,
          description="tiny SlowFast for CPU runs (slowfast_r50 layout; fast 8 frames, slow 2)")
def slowfast_tiny(num_classes, num_frames, crop_size, **overrides):
    from pytorchvideo.models.slowfast import create_slowfast
    config = dict(model_depth=50, model_num_class=num_classes, stem_dim_outs=(8, 2),
                  slowfast_channel_reduction_ratio=(4,),
                  slowfast_fusion_conv_kernel_size=(7, 1, 1),
                  head_pool_kernel_sizes=slowfast_head_kernels(num_frames, crop_size, 4))
    depth = overrides.pop("blocks_per_stage", 1)
    return keep_first_blocks(create_slowfast(**merge_overrides(config, overrides)), depth)
