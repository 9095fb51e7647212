"""Argument normalisation and validation shared by the kernels and the reference.

Conventions follow ``torch.nn.functional.max_pool3d``: ints or tuples, ``stride=None`` means
``stride=kernel_size``, ``padding <= kernel_size // 2``, the same output-size rule with ``ceil_mode``.
Every error is raised here, early, with a message that names the offending argument.
"""
from __future__ import annotations

from typing import Sequence, Tuple, Union

import torch

IntOrTuple = Union[int, Sequence[int]]
GRAD_MODES = ("exact", "paper")


def to_tuple(value: IntOrTuple, n: int, name: str, minimum: int) -> Tuple[int, ...]:
    """``value`` as an ``n``-tuple of ints, each ``>= minimum``; ValueError naming ``name`` otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
    if isinstance(value, int) or (isinstance(value, torch.SymInt)):
        values = (value,) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {value!r}") from None
        if len(values) == 1:
            values = values * n
    if len(values) != n:
        raise ValueError(f"{name} must have {n} values (or 1), got {len(values)}: {value!r}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, torch.SymInt)):
            # numpy integers (e.g. pytorchvideo's X3D head kernel) are accepted as ints
            if hasattr(v, "__index__"):
                v = int(v.__index__())
            else:
                raise ValueError(f"{name} must contain ints, got {value!r}")
        if v < minimum:
            raise ValueError(f"{name} values must be >= {minimum}, got {value!r}")
        out.append(v)
    return tuple(out)


def pooled_size(size: int, kernel: int, stride: int, padding: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output-size rule (aten/src/ATen/native/Pool.h, dilation 1)."""
    numerator = size + 2 * padding - kernel + ((stride - 1) if ceil_mode else 0)
    out = numerator // stride + 1
    # With ceil_mode the last window must start inside the input or the left padding.
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def check_input(input: torch.Tensor, spatial_dims: int, fn: str) -> bool:
    """Validate dtype/ndim of an ``(N, C, *spatial)`` or ``(C, *spatial)`` input; return ``batched``."""
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"{fn}: input must be a torch.Tensor, got {type(input).__name__}")
    if not input.is_floating_point():
        raise TypeError(f"{fn}: input must be a floating-point tensor (float16, bfloat16, float32, "
                        f"float64), got {input.dtype}")
    if input.dim() not in (spatial_dims + 1, spatial_dims + 2):
        names = "DHW"[3 - spatial_dims:]
        raise ValueError(f"{fn}: expected a {spatial_dims + 2}D (N, C, {', '.join(names)}) or "
                         f"{spatial_dims + 1}D (C, {', '.join(names)}) input, got shape "
                         f"{tuple(input.shape)}")
    return input.dim() == spatial_dims + 2


def pool_params(spatial_shape: Sequence[int], kernel_size: IntOrTuple, stride, padding,
                ceil_mode: bool, fn: str):
    """Normalise and validate pooling arguments for the given spatial shape.

    Returns ``(kernel, stride, padding, output_shape)`` as tuples with ``len(spatial_shape)`` entries.
    """
    n = len(spatial_shape)
    kernel = to_tuple(kernel_size, n, "kernel_size", 1)
    stride_t = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) \
        else to_tuple(stride, n, "stride", 1)
    pad = to_tuple(padding, n, "padding", 0)
    for k, p in zip(kernel, pad):
        if p > k // 2:
            raise ValueError(f"{fn}: padding {pad} must be at most half of kernel_size {kernel}")
    out_shape = []
    if any(size <= 0 for size in spatial_shape):
        raise ValueError(f"{fn}: spatial dimensions must be non-empty, got {tuple(spatial_shape)}")
    for size, k, s, p in zip(spatial_shape, kernel, stride_t, pad):
        if size + 2 * p < k:
            raise ValueError(f"{fn}: kernel_size {kernel} is larger than the padded input "
                             f"{tuple(spatial_shape)} (padding {pad})")
        out_shape.append(pooled_size(size, k, s, p, ceil_mode))
    return kernel, stride_t, pad, tuple(out_shape)


def check_grad_mode(grad: str) -> bool:
    """Return True for the paper's gradient rule, False for the exact derivative."""
    if grad not in GRAD_MODES:
        raise ValueError(f"grad must be one of {GRAD_MODES}, got {grad!r}")
    return grad == "paper"


def memory_format_of(input: torch.Tensor) -> torch.memory_format:
    """The layout the kernels compute in (and give the output): channels_last_3d or contiguous.

    Mirrors ``softpool::memory_format_of`` in csrc/softpool.h; any other strides are copied first.
    """
    if input.dim() == 5 and not input.is_contiguous() and \
            input.is_contiguous(memory_format=torch.channels_last_3d):
        return torch.channels_last_3d
    return torch.contiguous_format
