"""Shape handling shared by the compiled ops and the reference: 1D/2D/unbatched inputs become
``(N, C, D, H, W)`` calls of a 5D backend, and come back in the caller's shape.

A backend is ``pool5d(x, kernel, stride, padding, ceil_mode, out_shape, paper) -> y``, with
3-tuples and a 5D input; ``out_shape`` is the validated ``(OD, OH, OW)``.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence, Tuple, Union

import torch

from ._args import check_grad_mode, check_input, pool_params, to_tuple

Backend = Callable[..., torch.Tensor]


def _to_5d(input: torch.Tensor, n: int, batched: bool) -> torch.Tensor:
    x = input if batched else input.unsqueeze(0)
    for _ in range(3 - n):  # (N, C, H, W) -> (N, C, 1, H, W); (N, C, L) -> (N, C, 1, 1, L)
        x = x.unsqueeze(2)
    return x


def _from_5d(y: torch.Tensor, n: int, batched: bool) -> torch.Tensor:
    for _ in range(3 - n):
        y = y.squeeze(2)
    return y if batched else y.squeeze(0)


def soft_pool_nd(backend: Backend, input: torch.Tensor, n: int, kernel_size, stride, padding,
                 ceil_mode: bool, grad: str, fn: str) -> torch.Tensor:
    """Validate, lift to 5D, run ``backend``, restore the caller's shape."""
    batched = check_input(input, n, fn)
    paper = check_grad_mode(grad)
    kernel, stride_t, pad, out_shape = pool_params(input.shape[-n:], kernel_size, stride, padding,
                                                   bool(ceil_mode), fn)
    lift = (1,) * (3 - n)
    x = _to_5d(input, n, batched)
    y = backend(x, lift + kernel, lift + stride_t, (0,) * (3 - n) + pad, bool(ceil_mode),
                lift + out_shape, paper)
    return _from_5d(y, n, batched)


def adaptive_windows(in_size: int, out_size: int):
    """Adaptive pooling windows ``[start, end)`` (torch's rule: floor / ceil of i * in / out)."""
    return [((i * in_size) // out_size, -((-(i + 1) * in_size) // out_size)) for i in range(out_size)]


def adaptive_output_shape(spatial: Sequence[int], output_size, n: int, fn: str) -> Tuple[int, ...]:
    if output_size is None:
        raise ValueError(f"{fn}: output_size must be an int or a tuple of {n} ints/None")
    sizes = (output_size,) * n if isinstance(output_size, int) or output_size is None \
        else tuple(output_size)
    if len(sizes) == 1:
        sizes = sizes * n
    if len(sizes) != n:
        raise ValueError(f"{fn}: output_size must have {n} values, got {output_size!r}")
    sizes = tuple(s if s is not None else dim for s, dim in zip(sizes, spatial))
    to_tuple(sizes, n, "output_size", 1)
    if any(s <= 0 for s in spatial):
        raise ValueError(f"{fn}: spatial dimensions must be non-empty, got {tuple(spatial)}")
    return sizes


def adaptive_soft_pool_nd(backend: Backend, generic: Callable, input: torch.Tensor, n: int,
                          output_size, grad: str, fn: str) -> torch.Tensor:
    """Adaptive SoftPool. Evenly dividing sizes run ``backend`` with kernel = stride = in // out;
    other sizes run ``generic(x5, windows_per_dim, paper)`` (the reference's window loop)."""
    batched = check_input(input, n, fn)
    paper = check_grad_mode(grad)
    spatial = tuple(input.shape[-n:])
    out = adaptive_output_shape(spatial, output_size, n, fn)
    x = _to_5d(input, n, batched)
    full_spatial = tuple(x.shape[2:])
    full_out = (1,) * (3 - n) + out
    if all(i % o == 0 for i, o in zip(full_spatial, full_out)):
        kernel = tuple(i // o for i, o in zip(full_spatial, full_out))
        y = backend(x, kernel, kernel, (0, 0, 0), False, full_out, paper)
    else:
        windows = [adaptive_windows(i, o) for i, o in zip(full_spatial, full_out)]
        y = generic(x, windows, paper)
    return _from_5d(y, n, batched)
