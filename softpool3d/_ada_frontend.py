"""Argument and shape handling of AdaPool / eDSCW pooling, on top of softpool3d._frontend (the one
window/argument helper: the same checks, output sizes, windows and 5D lifting as SoftPool).

A *dual backend* is ``dual5d(x, kernel, stride, padding, ceil_mode, out_shape) -> (edscw, em)``:
both halves of AdaPool for a validated 5D input, in the accumulation dtype (float32; float64 for
float64 input). The beta mix ``y = em + b * (edscw - em)`` (torch.lerp) with
``b = clamp(beta, 0, 1)`` is done here, in the caller's shape, so beta broadcasts against the
caller's output and its gradient (with clamp's) comes from autograd.
"""
from __future__ import annotations

import numbers
from typing import Callable

import torch

from ._frontend import (_from_5d, _to_5d, adaptive_output_shape, adaptive_windows, check_input,
                        even_kernel, pool_params)

DualBackend = Callable[..., tuple]


def check_beta(beta, out: torch.Tensor, fn: str) -> torch.Tensor:
    """``clamp(beta, 0, 1)`` in ``out``'s dtype; ValueError unless beta broadcasts to ``out``."""
    if isinstance(beta, numbers.Real) and not isinstance(beta, bool):
        beta = torch.tensor(float(beta), dtype=out.dtype, device=out.device)
    if not isinstance(beta, torch.Tensor) or not beta.is_floating_point():
        raise TypeError(f"{fn}: beta must be a float or a floating-point tensor, got "
                        f"{type(beta).__name__ if not isinstance(beta, torch.Tensor) else beta.dtype}")
    try:
        shape = torch.broadcast_shapes(tuple(beta.shape), tuple(out.shape))
    except RuntimeError:
        shape = None
    if shape != tuple(out.shape):
        raise ValueError(f"{fn}: beta of shape {tuple(beta.shape)} does not broadcast to the "
                         f"output shape {tuple(out.shape)} (use a scalar, (C, 1, ..., 1) per "
                         "channel, or the output's spatial shape per location)")
    return beta.clamp(0.0, 1.0).to(out.dtype)


def mix(edscw: torch.Tensor, em: torch.Tensor, beta, dtype, fn: str) -> torch.Tensor:
    """AdaPool's output ``b * edscw + (1 - b) * em`` rounded once to ``dtype``."""
    b = check_beta(beta, edscw, fn)
    # one fused kernel each way (also the gradient g * (edscw - em) for b): the mix is
    # element-wise on the output, so it should cost little beside the window passes
    return torch.lerp(em, edscw, b).to(dtype)


def ada_pool_nd(dual5d: DualBackend, input: torch.Tensor, beta, n: int, kernel_size, stride,
                padding, ceil_mode: bool, fn: str, edscw_only: bool = False) -> torch.Tensor:
    """Validate, lift to 5D, run ``dual5d``, restore the caller's shape, mix with beta."""
    batched = check_input(input, n, fn)
    kernel, stride_t, pad, out_shape = pool_params(input.shape[-n:], kernel_size, stride, padding,
                                                   ceil_mode, fn)
    lift = (1,) * (3 - n)
    x = _to_5d(input, n, batched)
    edscw, em = dual5d(x, lift + kernel, lift + stride_t, (0,) * (3 - n) + pad, bool(ceil_mode),
                       lift + out_shape)
    edscw, em = _from_5d(edscw, n, batched), _from_5d(em, n, batched)
    if edscw_only:
        return edscw.to(input.dtype)
    return mix(edscw, em, beta, input.dtype, fn)


def adaptive_ada_pool_nd(dual5d: DualBackend, generic: Callable, input: torch.Tensor, beta,
                         n: int, output_size, fn: str, edscw_only: bool = False) -> torch.Tensor:
    """Adaptive AdaPool / eDSCW: evenly dividing sizes run ``dual5d`` with kernel = stride =
    in // out; other sizes ``generic(x5, windows_per_dim) -> (edscw, em)`` (the reference's
    window loop, PyTorch's adaptive bins)."""
    batched = check_input(input, n, fn)
    spatial = tuple(input.shape[-n:])
    out = adaptive_output_shape(spatial, output_size, n, fn)
    x = _to_5d(input, n, batched)
    full_spatial, full_out = tuple(x.shape[2:]), (1,) * (3 - n) + out
    kernel = even_kernel(full_spatial, full_out)
    if kernel is not None:
        edscw, em = dual5d(x, kernel, kernel, (0, 0, 0), False, full_out)
    else:
        edscw, em = generic(x, [adaptive_windows(i, o) for i, o in zip(full_spatial, full_out)])
    edscw, em = _from_5d(edscw, n, batched), _from_5d(em, n, batched)
    if edscw_only:
        return edscw.to(input.dtype)
    return mix(edscw, em, beta, input.dtype, fn)


def adaptive_ada_function(dual5d: DualBackend, generic: Callable, n: int, name: str,
                          edscw_only: bool) -> Callable:
    """The public adaptive function ``name`` over ``dual5d`` and ``generic``: eDSCW
    ``fn(input, output_size)`` when ``edscw_only``, else AdaPool
    ``fn(input, beta, output_size)``."""
    if edscw_only:
        def fn(input, output_size):
            return adaptive_ada_pool_nd(dual5d, generic, input, None, n, output_size, name,
                                        edscw_only=True)
    else:
        def fn(input, beta, output_size):
            return adaptive_ada_pool_nd(dual5d, generic, input, beta, n, output_size, name)
    fn.__name__ = fn.__qualname__ = name
    return fn
