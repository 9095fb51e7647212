"""Argument and shape handling of AdaPool / eDSCW pooling, on top of softpool3d._frontend (the one
window/argument helper: the same checks, output sizes, windows and 5D lifting as SoftPool).

A *backend* is ``pool5d(x, b, kernel, stride, padding, ceil_mode, out_shape) -> y``: AdaPool
``b * edscw + (1 - b) * em`` of a validated 5D input in its dtype, ``b = clamp(beta, 0, 1)`` in
the accumulation dtype (float32; float64 for float64 input) with one element or broadcasting to
the 5D output, or ``b = None`` for the eDSCW half alone. The compiled op mixes in its kernels
(softpool3d.adapool); :func:`from_dual` makes a backend of a *dual* one, ``dual5d(x, kernel,
stride, padding, ceil_mode, out_shape) -> (edscw, em)`` in the accumulation dtype (the
reference), mixing with torch.lerp. Beta's clamp and broadcasting are done here, in the caller's
shape, so its gradient (with clamp's) comes from autograd.
"""
from __future__ import annotations

import numbers
from typing import Callable

import torch

from ._frontend import (_from_5d, _to_5d, acc_dtype, adaptive_output_shape, adaptive_windows,
                        check_input, even_kernel, pool_params)

Backend = Callable[..., torch.Tensor]
DualBackend = Callable[..., tuple]


def check_beta(beta, out_shape: tuple, x: torch.Tensor, fn: str) -> torch.Tensor:
    """``clamp(beta, 0, 1)`` in ``x``'s accumulation dtype; ValueError unless beta broadcasts to
    the caller's output shape ``out_shape``."""
    acc = acc_dtype(x.dtype)
    if isinstance(beta, numbers.Real) and not isinstance(beta, bool):
        beta = torch.tensor(float(beta), dtype=acc, device=x.device)
    if not isinstance(beta, torch.Tensor) or not beta.is_floating_point():
        raise TypeError(f"{fn}: beta must be a float or a floating-point tensor, got "
                        f"{type(beta).__name__ if not isinstance(beta, torch.Tensor) else beta.dtype}")
    try:
        shape = torch.broadcast_shapes(tuple(beta.shape), tuple(out_shape))
    except RuntimeError:
        shape = None
    if shape != tuple(out_shape):
        raise ValueError(f"{fn}: beta of shape {tuple(beta.shape)} does not broadcast to the "
                         f"output shape {tuple(out_shape)} (use a scalar, (C, 1, ..., 1) per "
                         "channel, or the output's spatial shape per location)")
    return beta.clamp(0.0, 1.0).to(acc)


def lift_weight(b: torch.Tensor, out_shape: tuple, n: int, batched: bool) -> torch.Tensor:
    """``b`` (broadcasting to the caller's ``out_shape``) for the 5D output: one element as it
    is, anything else broadcast (a view) and lifted as the input is."""
    if b.numel() == 1:
        return b.reshape(())
    return _to_5d(b.expand(out_shape), n, batched)


def mix(edscw: torch.Tensor, em: torch.Tensor, b, dtype: torch.dtype) -> torch.Tensor:
    """AdaPool's ``b * edscw + (1 - b) * em`` (torch.lerp; ``edscw`` for b None), rounded once to
    ``dtype``."""
    return (edscw if b is None else torch.lerp(em, edscw, b)).to(dtype)


def from_dual(dual5d: DualBackend) -> Backend:
    """A backend over ``dual5d``, mixing its halves with :func:`mix`."""
    def pool5d(x, b, kernel, stride, padding, ceil_mode, out_shape):
        return mix(*dual5d(x, kernel, stride, padding, ceil_mode, out_shape), b, x.dtype)
    return pool5d


def ada_pool_nd(backend: Backend, input: torch.Tensor, beta, n: int, kernel_size, stride,
                padding, ceil_mode: bool, fn: str, edscw_only: bool = False) -> torch.Tensor:
    """Validate, clamp beta, lift to 5D, run ``backend``, restore the caller's shape."""
    batched = check_input(input, n, fn)
    kernel, stride_t, pad, out_shape = pool_params(input.shape[-n:], kernel_size, stride, padding,
                                                   ceil_mode, fn)
    caller_out = tuple(input.shape[:-n]) + tuple(out_shape)
    b = None if edscw_only else lift_weight(check_beta(beta, caller_out, input, fn), caller_out,
                                            n, batched)
    lift = (1,) * (3 - n)
    y = backend(_to_5d(input, n, batched), b, lift + kernel, lift + stride_t,
                (0,) * (3 - n) + pad, bool(ceil_mode), lift + out_shape)
    return _from_5d(y, n, batched)


def adaptive_ada_pool_nd(backend: Backend, generic: Callable, input: torch.Tensor, beta,
                         n: int, output_size, fn: str, edscw_only: bool = False) -> torch.Tensor:
    """Adaptive AdaPool / eDSCW: evenly dividing sizes run ``backend`` with kernel = stride =
    in // out; other sizes ``generic(x5, windows_per_dim) -> (edscw, em)`` (the reference's
    window loop, PyTorch's adaptive bins)."""
    batched = check_input(input, n, fn)
    spatial = tuple(input.shape[-n:])
    out = adaptive_output_shape(spatial, output_size, n, fn)
    caller_out = tuple(input.shape[:-n]) + tuple(out)
    b = None if edscw_only else lift_weight(check_beta(beta, caller_out, input, fn), caller_out,
                                            n, batched)
    x = _to_5d(input, n, batched)
    full_spatial, full_out = tuple(x.shape[2:]), (1,) * (3 - n) + out
    kernel = even_kernel(full_spatial, full_out)
    if kernel is not None:
        y = backend(x, b, kernel, kernel, (0, 0, 0), False, full_out)
    else:
        windows = [adaptive_windows(i, o) for i, o in zip(full_spatial, full_out)]
        y = mix(*generic(x, windows), b, input.dtype)
    return _from_5d(y, n, batched)


def adaptive_ada_function(backend: Backend, generic: Callable, n: int, name: str,
                          edscw_only: bool) -> Callable:
    """The public adaptive function ``name`` over ``backend`` and ``generic``: eDSCW
    ``fn(input, output_size)`` when ``edscw_only``, else AdaPool
    ``fn(input, beta, output_size)``."""
    if edscw_only:
        def fn(input, output_size):
            return adaptive_ada_pool_nd(backend, generic, input, None, n, output_size, name,
                                        edscw_only=True)
    else:
        def fn(input, beta, output_size):
            return adaptive_ada_pool_nd(backend, generic, input, beta, n, output_size, name)
    fn.__name__ = fn.__qualname__ = name
    return fn
