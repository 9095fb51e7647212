"""The compiled SoftPool operator: ``torch.ops.softpool3d.soft_pool_{forward,backward}`` with fake
kernels and autograd registered here, and the public functional API on top of it.

Without the compiled extension (or without its CUDA kernels for a CUDA tensor) every function falls
back to :mod:`softpool3d.reference` with one warning.
"""
from __future__ import annotations

import warnings

import torch

from . import reference
from ._frontend import (acc_dtype, adaptive_soft_pool_nd, memory_format_of, pooled_size,
                        soft_pool_nd)

try:
    from . import _C  # noqa: F401  (loading the library registers the ops)
    HAS_EXTENSION = True
    _IMPORT_ERROR = None
except ImportError as err:  # pragma: no cover - depends on the build
    HAS_EXTENSION = False
    _IMPORT_ERROR = err

__all__ = ["soft_pool1d", "soft_pool2d", "soft_pool3d", "adaptive_soft_pool1d",
           "adaptive_soft_pool2d", "adaptive_soft_pool3d", "HAS_EXTENSION", "has_kernel"]

_warned = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=4)


# Looked up once: a plain dict keeps the dispatch decision traceable by torch.compile.
_KERNELS = {device: HAS_EXTENSION and torch._C._dispatch_has_kernel_for_dispatch_key(
    "softpool3d::soft_pool_forward", key) for device, key in (("cpu", "CPU"), ("cuda", "CUDA"))}


def has_kernel(device_type: str) -> bool:
    """Whether the compiled extension has a kernel for ``device_type`` ("cpu" or "cuda")."""
    return _KERNELS.get(device_type, False)


def _pool5d_kernel(x, kernel, stride, padding, ceil_mode, out_shape, paper) -> torch.Tensor:
    if not has_kernel(x.device.type):
        why = f"the compiled extension failed to import ({_IMPORT_ERROR})" if not HAS_EXTENSION \
            else f"the compiled extension has no {x.device.type} kernel"
        _warn_once(x.device.type, f"softpool3d: {why}; using the slower pure-PyTorch reference.")
        return reference.pool5d(x, kernel, stride, padding, ceil_mode, out_shape, paper)
    return torch.ops.softpool3d.soft_pool_forward(x, kernel, stride, padding, ceil_mode, paper)[0]


if HAS_EXTENSION:
    @torch.library.register_fake("softpool3d::soft_pool_forward")
    def _forward_fake(input, kernel_size, stride, padding, ceil_mode, paper_grad):
        out_shape = [pooled_size(i, k, s, p, ceil_mode) for i, k, s, p in
                     zip(input.shape[2:], kernel_size, stride, padding)]
        shape = list(input.shape[:2]) + out_shape
        fmt = memory_format_of(input)
        output = input.new_empty(shape).contiguous(memory_format=fmt)
        lse = input.new_empty(shape, dtype=acc_dtype(input.dtype)).contiguous(memory_format=fmt)
        return output, lse

    @torch.library.register_fake("softpool3d::soft_pool_backward")
    def _backward_fake(grad_output, input, output, lse, kernel_size, stride, padding, paper_grad):
        return torch.empty_like(input, memory_format=memory_format_of(input))

    def _setup_context(ctx, inputs, output):
        input, kernel_size, stride, padding, _ceil_mode, paper_grad = inputs
        out, lse = output
        ctx.save_for_backward(input, out, lse)
        ctx.pool_args = (kernel_size, stride, padding, paper_grad)
        ctx.mark_non_differentiable(lse)
        # lse never receives a gradient: without this autograd fills an lse-sized zero tensor
        # (measured: ~8 % of a channels_last forward+backward).
        ctx.set_materialize_grads(False)

    def _backward(ctx, grad_output, _grad_lse):
        if grad_output is None:  # grads are not materialised (see _setup_context)
            return None, None, None, None, None, None
        input, out, lse = ctx.saved_tensors
        kernel_size, stride, padding, paper_grad = ctx.pool_args
        grad_input = torch.ops.softpool3d.soft_pool_backward(grad_output, input, out, lse,
                                                             kernel_size, stride, padding,
                                                             paper_grad)
        return grad_input, None, None, None, None, None

    torch.library.register_autograd("softpool3d::soft_pool_forward", _backward,
                                    setup_context=_setup_context)

    def _no_double_backward(ctx, grad):
        raise RuntimeError("softpool3d: double backward (gradients of gradients) is not implemented")

    def _backward_setup(ctx, inputs, output):
        pass

    torch.library.register_autograd("softpool3d::soft_pool_backward", _no_double_backward,
                                    setup_context=_backward_setup)


def soft_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, grad="exact"):
    """3D SoftPool: ``y = sum_i softmax(a)_i a_i`` over each window (``F.max_pool3d`` conventions).

    Args:
        input: ``(N, C, D, H, W)`` or ``(C, D, H, W)``, float16/bfloat16/float32/float64, CPU or CUDA,
            contiguous or channels_last_3d (the output keeps the layout).
        kernel_size, stride, padding: int or 3-tuple; ``stride=None`` means ``kernel_size``;
            ``padding <= kernel_size // 2`` (padded cells get weight 0).
        ceil_mode: round the output size up, as in max pooling.
        grad: ``"exact"`` (true derivative) or ``"paper"`` (the paper's rule ``g * w_i``).
    Returns:
        ``(N, C, OD, OH, OW)`` (or unbatched), the input's dtype.
    """
    return soft_pool_nd(_pool5d_kernel, input, 3, kernel_size, stride, padding, ceil_mode, grad,
                        "soft_pool3d")


def soft_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, grad="exact"):
    """2D SoftPool of ``(N, C, H, W)`` or ``(C, H, W)``; arguments as :func:`soft_pool3d`."""
    return soft_pool_nd(_pool5d_kernel, input, 2, kernel_size, stride, padding, ceil_mode, grad,
                        "soft_pool2d")


def soft_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, grad="exact"):
    """1D SoftPool of ``(N, C, L)`` or ``(C, L)``; arguments as :func:`soft_pool3d`."""
    return soft_pool_nd(_pool5d_kernel, input, 1, kernel_size, stride, padding, ceil_mode, grad,
                        "soft_pool1d")


def adaptive_soft_pool3d(input, output_size, grad="exact"):
    """Adaptive 3D SoftPool to ``output_size`` (int, 3-tuple, None entries keep the input size).

    ``output_size=1`` is global SoftPool: a softmax-weighted mean over the whole ``D x H x W``
    volume. Sizes that divide the input run the compiled kernel; others use the reference windows.
    """
    return adaptive_soft_pool_nd(_pool5d_kernel, reference.adaptive_generic, input, 3, output_size,
                                 grad, "adaptive_soft_pool3d")


def adaptive_soft_pool2d(input, output_size, grad="exact"):
    """Adaptive 2D SoftPool of ``(N, C, H, W)``; see :func:`adaptive_soft_pool3d`."""
    return adaptive_soft_pool_nd(_pool5d_kernel, reference.adaptive_generic, input, 2, output_size,
                                 grad, "adaptive_soft_pool2d")


def adaptive_soft_pool1d(input, output_size, grad="exact"):
    """Adaptive 1D SoftPool of ``(N, C, L)``; see :func:`adaptive_soft_pool3d`."""
    return adaptive_soft_pool_nd(_pool5d_kernel, reference.adaptive_generic, input, 1, output_size,
                                 grad, "adaptive_soft_pool1d")
