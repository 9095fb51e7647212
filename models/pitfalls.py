"""The pytorchvideo 0.1.5 pitfalls, fixed once, after building (each one measured with pytorchvideo
0.1.5 and torch 2.14; the tests in tests/test_models.py show each fix acts). :func:`build_model` applies :func:`fix_pytorchvideo` to every model;
it is safe on any ``nn.Module`` and on a model fixed before.

1. X3D's head pool window holds a ``numpy.int64``: every pool's kernel/stride/padding/output size
   becomes plain ints (torch.jit, fvcore and our pools want ints).
2. X3D and R(2+1)D end in a ``Softmax`` head activation: removed, so models output logits (what
   ``CrossEntropyLoss`` wants); parameter-free, so parameter counts are unchanged.
3. SlowFast's first ``MultiPathWayWithFuse`` writes its outputs into the caller's input list:
   ``inplace`` is switched off, so a list can be passed again and again. A model that was not fixed
   (built elsewhere, loaded whole) may still do it: callers that reuse an input hand it
   :func:`fresh_input` (defined in ``softpool3d.model_inputs``, below the models, so that the
   FLOP counter and the profiler use it too), the one place that knows this.
4. ``create_slowfast`` crashes on a ``head_pool`` other than AvgPool3d/AdaptiveAvgPool3d: builders
   never pass one; pools are swapped after building (:mod:`.swap`).
"""
from __future__ import annotations

import numbers

from torch import nn

from softpool3d.model_inputs import fresh_input

__all__ = ["fix_pytorchvideo", "fresh_input"]

_POOL_ATTRS = ("kernel_size", "stride", "padding", "dilation", "output_size")


def _plain_ints(value):
    """numpy integers (also inside tuples/lists) -> int; anything else unchanged."""
    if isinstance(value, (tuple, list)):
        return type(value)(_plain_ints(v) for v in value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return value


def fix_pytorchvideo(model: nn.Module) -> nn.Module:
    """Apply the fixes above in place; returns ``model``."""
    from pytorchvideo.models.head import ResNetBasicHead
    from pytorchvideo.models.net import MultiPathWayWithFuse

    for module in model.modules():
        for attr in _POOL_ATTRS:
            if "Pool" in type(module).__name__ and hasattr(module, attr):
                setattr(module, attr, _plain_ints(getattr(module, attr)))
        if isinstance(module, ResNetBasicHead) and isinstance(module.activation, nn.Softmax):
            module.activation = None
        if isinstance(module, MultiPathWayWithFuse):
            module.inplace = False
    return model
