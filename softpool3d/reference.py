"""Pure-PyTorch, numerically stable SoftPool: the oracle of every test, and the fallback when the
compiled extension is missing.

``y = sum_i softmax(a)_i * a_i`` over each window, computed with ``torch.softmax`` (max-shifted).
Padded and out-of-range cells get weight 0. Gradients come from autograd: ``grad="exact"`` is the
true derivative ``w_i (1 + a_i - y)``; ``grad="paper"`` detaches the weights, giving ``g * w_i``.
Any floating dtype; float16/bfloat16 are computed in float32 and rounded once at the end.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from ._frontend import adaptive_soft_pool_nd, soft_pool_nd

__all__ = ["soft_pool1d", "soft_pool2d", "soft_pool3d", "adaptive_soft_pool1d",
           "adaptive_soft_pool2d", "adaptive_soft_pool3d"]


def _weighted_mean(values: torch.Tensor, valid: torch.Tensor, paper: bool) -> torch.Tensor:
    """Softmax-weighted mean over the last dimension, ignoring cells where ``valid`` is False."""
    logits = values.masked_fill(~valid, float("-inf"))
    weights = torch.softmax(logits, dim=-1)
    if paper:
        weights = weights.detach()
    return (weights * values.masked_fill(~valid, 0.0)).sum(-1)


def _upcast(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def pool5d(x: torch.Tensor, kernel, stride, padding, ceil_mode: bool, out_shape, paper: bool) -> torch.Tensor:
    """SoftPool of a validated ``(N, C, D, H, W)`` tensor; returns ``(N, C, OD, OH, OW)``."""
    xc = _upcast(x)
    pads, mask = [], torch.ones(x.shape[2:], dtype=torch.bool, device=x.device)
    for size, k, s, p, o in zip(x.shape[2:], kernel, stride, padding, out_shape):
        pads.append((p, max(0, (o - 1) * s + k - size - p)))
    flat_pads = [v for pair in reversed(pads) for v in pair]  # F.pad wants (W_l, W_r, H_l, ...)
    xp = F.pad(xc, flat_pads, value=0.0)
    mask = F.pad(mask, flat_pads, value=False)
    for dim, (k, s, o) in enumerate(zip(kernel, stride, out_shape)):
        xp = xp.unfold(2 + dim, k, s).narrow(2 + dim, 0, o)
        mask = mask.unfold(dim, k, s).narrow(dim, 0, o)
    values = xp.flatten(-3)                   # (N, C, OD, OH, OW, kD*kH*kW)
    valid = mask.flatten(-3).expand_as(values)
    return _weighted_mean(values, valid, paper).to(x.dtype)


def adaptive_generic(x: torch.Tensor, windows, paper: bool) -> torch.Tensor:
    """Adaptive SoftPool over explicit per-dimension windows ``[(start, end), ...]``."""
    xc = _upcast(x)
    planes = []
    for d0, d1 in windows[0]:
        rows = []
        for h0, h1 in windows[1]:
            cells = [xc[:, :, d0:d1, h0:h1, w0:w1].flatten(2) for w0, w1 in windows[2]]
            rows.append(torch.stack([
                _weighted_mean(c, torch.ones_like(c, dtype=torch.bool), paper) for c in cells], -1))
        planes.append(torch.stack(rows, -2))
    return torch.stack(planes, -3).to(x.dtype)


def _public(n: int, name: str):
    def fn(input, kernel_size, stride=None, padding=0, ceil_mode=False, grad="exact"):
        return soft_pool_nd(pool5d, input, n, kernel_size, stride, padding, ceil_mode, grad, name)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Reference {n}D SoftPool; same arguments as ``softpool3d.{name}``."
    return fn


def _public_adaptive(n: int, name: str):
    def fn(input, output_size, grad="exact"):
        return adaptive_soft_pool_nd(pool5d, adaptive_generic, input, n, output_size, grad, name)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Reference adaptive {n}D SoftPool; same arguments as ``softpool3d.{name}``."
    return fn


soft_pool1d = _public(1, "soft_pool1d")
soft_pool2d = _public(2, "soft_pool2d")
soft_pool3d = _public(3, "soft_pool3d")
adaptive_soft_pool1d = _public_adaptive(1, "adaptive_soft_pool1d")
adaptive_soft_pool2d = _public_adaptive(2, "adaptive_soft_pool2d")
adaptive_soft_pool3d = _public_adaptive(3, "adaptive_soft_pool3d")
