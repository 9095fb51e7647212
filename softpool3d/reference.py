"""Pure-PyTorch, numerically stable SoftPool: the oracle of every test, and the fallback when the
compiled extension is missing.

``y = sum_i softmax(a)_i * a_i`` over each window, computed max-shifted:
``y = m + sum_i w_i (a_i - m)`` with ``w = softmax(a - m)`` and ``m`` the window max (a constant for
autograd, which leaves the derivative unchanged). Padded and out-of-range cells get weight 0.
Infinities follow the limits: ``-inf`` elements get weight 0 (and gradient 0); a window whose max
is ``+inf``, or that is all ``-inf``, returns that infinity, and the elements equal to it share the
weight (gradient ``g / count`` each: the limit along equal values); NaN propagates.
Gradients come from autograd: ``grad="exact"`` is the true derivative ``w_i (1 + a_i - y)``;
``grad="paper"`` detaches the weights, giving ``g * w_i``.
Any floating dtype; float16/bfloat16 are computed in float32 and rounded once at the end.
"""
from __future__ import annotations

import torch

from ._frontend import adaptive_soft_pool_nd, soft_pool_nd, unfold_windows, upcast

__all__ = ["soft_pool1d", "soft_pool2d", "soft_pool3d", "adaptive_soft_pool1d",
           "adaptive_soft_pool2d", "adaptive_soft_pool3d"]


class _Shifted(torch.autograd.Function):
    """``a - m`` where equal operands give 0 (also equal infinities); gradient 1 w.r.t. ``a``.

    ``m`` (the window max, broadcast over the last dimension) is a constant.
    """

    @staticmethod
    def forward(ctx, a, m):
        return torch.where(a == m, torch.zeros((), dtype=a.dtype, device=a.device), a - m)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def _weighted_mean(values: torch.Tensor, valid: torch.Tensor, paper: bool) -> torch.Tensor:
    """Softmax-weighted mean over the last dimension, ignoring cells where ``valid`` is False."""
    neg_inf = torch.full((), float("-inf"), dtype=values.dtype, device=values.device)
    logits = torch.where(valid, values, neg_inf)
    m = logits.detach().amax(-1, keepdim=True)  # NaN when a valid cell is NaN
    shifted = torch.where(valid, _Shifted.apply(logits, m), neg_inf)
    weights = torch.softmax(shifted, dim=-1)
    if paper:
        weights = weights.detach()
    # -inf cells have weight 0: count them as 0, not 0 * -inf = NaN.
    terms = weights * torch.where(shifted == neg_inf, torch.zeros_like(shifted), shifted)
    return m.squeeze(-1) + terms.sum(-1)


def pool5d(x: torch.Tensor, kernel, stride, padding, ceil_mode: bool, out_shape, paper: bool) -> torch.Tensor:
    """SoftPool of a validated ``(N, C, D, H, W)`` tensor; returns ``(N, C, OD, OH, OW)``."""
    values, valid = unfold_windows(upcast(x), kernel, stride, padding, out_shape)
    valid = valid.expand_as(values)           # (N, C, OD, OH, OW, kD*kH*kW)
    return _weighted_mean(values, valid, paper).to(x.dtype)


def adaptive_generic(x: torch.Tensor, windows, paper: bool) -> torch.Tensor:
    """Adaptive SoftPool over explicit per-dimension windows ``[(start, end), ...]``."""
    xc = upcast(x)
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


# ---------------------------------------------------------------------------------------------
# AdaPool (Stergiou & Poppe, "AdaPool: Exponential Adaptive Pooling for Information-Retaining
# Downsampling", IEEE TIP 2023) and its eDSCW half: the float64 oracle of softpool3d.adapool.
# Over a window R (padded cells excluded), m = mean_R x,
#   dsc_i = 2 |x_i m| / (x_i^2 + m^2)  (1 where x_i = m = 0),  w^D = softmax_R(dsc),
#   edscw = sum_R w^D_i x_i,  em = SoftPool,  AdaPool = b * edscw + (1 - b) * em, b = clamp(beta).
# dsc is evaluated on (x, m) / max(|x|, |m|) (a constant for autograd: dsc is scale-invariant, so
# the derivative is unchanged) and never overflows; |.|'s derivative at 0 is torch.abs's, 0.
# Gradients, through the weights, the dsc and the window mean, come from autograd.

from ._ada_frontend import adaptive_ada_function, ada_pool_nd, from_dual  # noqa: E402


def _dsc(values: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    scale = torch.maximum(values.abs(), mean.abs()).detach()
    zero = scale == 0
    one = torch.ones((), dtype=values.dtype, device=values.device)
    scale = torch.where(zero, one, scale)
    u, v = values / scale, mean / scale
    den = torch.where(zero, one, u * u + v * v)
    return torch.where(zero, one, 2 * (u * v).abs() / den)


def _dual_weighted(values: torch.Tensor, valid: torch.Tensor):
    """(edscw, em) over the last dimension, ignoring cells where ``valid`` is False (``values``
    is 0 there)."""
    count = valid.to(values.dtype).sum(-1, keepdim=True)
    mean = torch.where(valid, values, torch.zeros_like(values)).sum(-1, keepdim=True) / count
    neg_inf = torch.full((), float("-inf"), dtype=values.dtype, device=values.device)
    weights = torch.softmax(torch.where(valid, _dsc(values, mean), neg_inf), dim=-1)
    edscw = (weights * torch.where(valid, values, torch.zeros_like(values))).sum(-1)
    return edscw, _weighted_mean(values, valid, False)


def ada_dual5d(x: torch.Tensor, kernel, stride, padding, ceil_mode: bool, out_shape):
    """Both halves of AdaPool, ``(edscw, em)``, of a validated ``(N, C, D, H, W)`` tensor, in
    float32 (float64 for float64 input)."""
    values, valid = unfold_windows(upcast(x), kernel, stride, padding, out_shape)
    return _dual_weighted(values, valid.expand_as(values))


def ada_adaptive_generic(x: torch.Tensor, windows):
    """``(edscw, em)`` over explicit per-dimension windows ``[(start, end), ...]``."""
    xc = upcast(x)
    planes_d, planes_m = [], []
    for d0, d1 in windows[0]:
        rows_d, rows_m = [], []
        for h0, h1 in windows[1]:
            pairs = [_dual_weighted(c, torch.ones_like(c, dtype=torch.bool)) for c in
                     (xc[:, :, d0:d1, h0:h1, w0:w1].flatten(2) for w0, w1 in windows[2])]
            rows_d.append(torch.stack([p[0] for p in pairs], -1))
            rows_m.append(torch.stack([p[1] for p in pairs], -1))
        planes_d.append(torch.stack(rows_d, -2))
        planes_m.append(torch.stack(rows_m, -2))
    return torch.stack(planes_d, -3), torch.stack(planes_m, -3)


_ada_backend = from_dual(ada_dual5d)


def _public_ada(n: int, name: str, edscw_only: bool):
    if edscw_only:
        def fn(input, kernel_size, stride=None, padding=0, ceil_mode=False):
            return ada_pool_nd(_ada_backend, input, None, n, kernel_size, stride, padding,
                               ceil_mode, name, edscw_only=True)
    else:
        def fn(input, beta, kernel_size, stride=None, padding=0, ceil_mode=False):
            return ada_pool_nd(_ada_backend, input, beta, n, kernel_size, stride, padding,
                               ceil_mode, name)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Reference {n}D {'eDSCW pooling' if edscw_only else 'AdaPool'}; same " \
                 f"arguments as ``softpool3d.{name}``."
    return fn


def _public_adaptive_ada(n: int, name: str, edscw_only: bool):
    fn = adaptive_ada_function(_ada_backend, ada_adaptive_generic, n, name, edscw_only)
    fn.__doc__ = f"Reference adaptive {n}D {'eDSCW pooling' if edscw_only else 'AdaPool'}."
    return fn


ada_pool1d = _public_ada(1, "ada_pool1d", False)
ada_pool2d = _public_ada(2, "ada_pool2d", False)
ada_pool3d = _public_ada(3, "ada_pool3d", False)
edscw_pool1d = _public_ada(1, "edscw_pool1d", True)
edscw_pool2d = _public_ada(2, "edscw_pool2d", True)
edscw_pool3d = _public_ada(3, "edscw_pool3d", True)
adaptive_ada_pool3d = _public_adaptive_ada(3, "adaptive_ada_pool3d", False)
adaptive_edscw_pool3d = _public_adaptive_ada(3, "adaptive_edscw_pool3d", True)
__all__ += ["ada_pool1d", "ada_pool2d", "ada_pool3d", "edscw_pool1d", "edscw_pool2d",
            "edscw_pool3d", "adaptive_ada_pool3d", "adaptive_edscw_pool3d"]
