"""SoftPool modules, drop-in replacements for ``nn.MaxPool1d/2d/3d`` and ``nn.AdaptiveMaxPool1d/2d/3d``
/ ``nn.AdaptiveAvgPool1d/2d/3d``: the same positional arguments and keyword names
(``kernel_size, stride, padding, dilation, return_indices, ceil_mode``; ``output_size,
return_indices``), ``grad`` keyword-only. SoftPool has no dilation other than 1 and no indices
(every cell contributes): other values raise at construction.

Scripting: ``torch.jit.script`` is not supported (the modules call Python-level argument
handling); ``torch.compile`` (fullgraph), ``torch.export`` and ``torch.jit.trace`` are.
"""
from __future__ import annotations

import torch
from torch import nn

from . import ops
from ._frontend import PoolModuleArgs, check_grad_mode


class _SoftPoolNd(PoolModuleArgs, nn.Module, fn=ops.soft_pool3d):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False, *, grad: str = "exact"):
        super().__init__()
        self._set_window(kernel_size, stride, padding, dilation, return_indices, ceil_mode)
        check_grad_mode(grad)
        self.grad = grad

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self._fn(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                        self.grad)

    def extra_repr(self) -> str:
        return f"{self._window_repr()}, grad={self.grad!r}"


class SoftPool1d(_SoftPoolNd, dims=1, fn=ops.soft_pool1d):
    """SoftPool over ``(N, C, L)``/``(C, L)`` inputs; see :func:`softpool3d.soft_pool1d`."""


class SoftPool2d(_SoftPoolNd, dims=2, fn=ops.soft_pool2d):
    """SoftPool over ``(N, C, H, W)``/``(C, H, W)`` inputs; see :func:`softpool3d.soft_pool2d`."""


class SoftPool3d(_SoftPoolNd):
    """SoftPool over ``(N, C, D, H, W)``/``(C, D, H, W)`` inputs; see :func:`softpool3d.soft_pool3d`."""


class _AdaptiveSoftPoolNd(PoolModuleArgs, nn.Module, fn=ops.adaptive_soft_pool3d):
    def __init__(self, output_size, return_indices: bool = False, *, grad: str = "exact"):
        super().__init__()
        self._set_output_size(output_size, return_indices)
        check_grad_mode(grad)
        self.grad = grad

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self._fn(input, self.output_size, self.grad)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, grad={self.grad!r}"


class AdaptiveSoftPool1d(_AdaptiveSoftPoolNd, dims=1, fn=ops.adaptive_soft_pool1d):
    """Adaptive SoftPool to a fixed length; ``output_size=1`` is a global softmax-weighted mean."""


class AdaptiveSoftPool2d(_AdaptiveSoftPoolNd, dims=2, fn=ops.adaptive_soft_pool2d):
    """Adaptive SoftPool to a fixed ``(H, W)``; ``output_size=1`` is global SoftPool."""


class AdaptiveSoftPool3d(_AdaptiveSoftPoolNd):
    """Adaptive SoftPool to a fixed ``(D, H, W)``; ``output_size=1`` is global SoftPool over T x H x W."""
