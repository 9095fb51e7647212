"""AdaPool (Stergiou & Poppe, "AdaPool: Exponential Adaptive Pooling for Information-Retaining
Downsampling", IEEE TIP 32, 2023) and its eDSCW pool, as compiled operators with SoftPool's
conventions (``F.max_pool3d``'s arguments and output size, padding, ceil_mode, unbatched input,
contiguous and channels_last_3d, float16/bfloat16/float32/float64, CPU and CUDA).

Definition, over each window R of one channel (padded and ceil_mode cells are not part of R),
with ``m = mean_R x``:

- eM weights ``w^M = softmax_R(x)`` (SoftPool), ``em = sum_R w^M_i x_i``;
- eDSCW weights ``w^D = softmax_R(dsc)``, ``dsc_i = 2 |x_i m| / (x_i^2 + m^2)`` in ``[0, 1]``
  (the Dice-Sorensen coefficient of x_i and the window mean; ``dsc = 1`` where ``x_i = m = 0``),
  ``edscw = sum_R w^D_i x_i``;
- AdaPool ``y = sum_R (b w^D_i + (1 - b) w^M_i) x_i = b * edscw + (1 - b) * em`` with
  ``b = clamp(beta, 0, 1)``; ``beta`` is anything that broadcasts to the output: a scalar, per
  channel ``(C, 1, 1, 1)``, or per output location ``(OD, OH, OW)`` as in the original code.

Gradients are exact: for the input through both weightings, the dsc and the window mean; for
beta ``g * (edscw - em)`` (times clamp's mask, from autograd). At the kink ``x_i m = 0`` of
``|x_i m|`` the derivative of ``|.|`` is 0 (torch.abs's value), so implementations agree on ReLU
outputs. eM is max-shifted; ``dsc <= 1`` bounds the eDSCW exponentials; dsc is evaluated on
``(x, m) / max(|x|, |m|)``, so no square overflows at any finite magnitude. NaN propagates;
infinite inputs give NaN or infinite outputs (no limit is defined for them). The backward is a
deterministic gather (no atomics). ``torch.ops.softpool3d.ada_pool_forward`` computes both halves
in one pass over each window, mixes them with ``b`` (one weight or one per output) and saves 6
statistics per output (both halves among them); beta's gradient is one element-wise product on
the output and a sum to beta's shape.

Where the original code (alexandrosstergiou/adaPool, ``pytorch/adaPool/idea.py``,
``pytorch/CUDA/adapool_cuda_kernel.cu``) differs from this implementation:

- its similarity is ``2 x m / (x^2 + m^2)`` without the absolute value (in ``[-1, 1]``); the
  paper's DSC, used here, has ``|x m|``; both agree where ``x_i m >= 0`` (e.g. ReLU outputs);
- ``0 / 0`` at ``x_i = m = 0`` gives NaN, hidden by ``nan_to_num`` (here: dsc = 1, exact);
- no max-subtraction in ``exp(x)`` (overflow above ~88 in float32, masked by clamps);
- windows centred at ``-k/2`` (no padding argument) and an output size ``(X - k) // s + 1``
  while the launch covers ``X / s`` outputs (out-of-bounds reads/writes when they differ); the
  3D flat offset is ``d*H + y*W + x`` (should be ``d*H*W + ...``); the 3D backward uses the
  width for the pooled height;
- beta, of shape ``(oD, oH, oW)``, is read with the output's flat ``(n, c, ...)`` index
  (out of bounds for N*C > 1); its module initialises beta as ``clamp(randn, 0, 1)`` and its
  ``beta.data.clamp(0, 1)`` in forward is not in place (no effect);
- the backward is ``g * w_i`` (not the derivative of the forward, no term through the dsc or the
  mean) with atomics, and its fused path has no beta gradient; CUDA only, float32/float16.
"""
from __future__ import annotations

import torch
from torch import nn

from . import reference
from ._ada_frontend import adaptive_ada_function, ada_pool_nd, from_dual
from ._frontend import PoolModuleArgs, acc_dtype, memory_format_of, pooled_size
from .ops import HAS_EXTENSION, _warn_once

__all__ = ["ada_pool1d", "ada_pool2d", "ada_pool3d", "edscw_pool1d", "edscw_pool2d",
           "edscw_pool3d", "adaptive_ada_pool1d", "adaptive_ada_pool2d", "adaptive_ada_pool3d",
           "adaptive_edscw_pool1d", "adaptive_edscw_pool2d", "adaptive_edscw_pool3d",
           "AdaPool1d", "AdaPool2d", "AdaPool3d", "EDSCWPool1d", "EDSCWPool2d", "EDSCWPool3d",
           "AdaptiveAdaPool1d", "AdaptiveAdaPool2d", "AdaptiveAdaPool3d", "AdaptiveEDSCWPool1d",
           "AdaptiveEDSCWPool2d", "AdaptiveEDSCWPool3d", "has_ada_kernel", "N_STATS"]

N_STATS = 6  # saved statistics per output (csrc/adapool.h: kAdaStats)
_EM, _EDSCW = 4, 5  # the planes of the saved halves (kAdaEm, kAdaEdscw)



def _has_kernel_for(key: str) -> bool:
    # An extension built before AdaPool existed has no such op: then the reference runs.
    try:
        return HAS_EXTENSION and torch._C._dispatch_has_kernel_for_dispatch_key(
            "softpool3d::ada_pool_forward", key)
    except RuntimeError:
        return False


# Looked up once: a plain dict keeps the dispatch decision traceable by torch.compile.
_KERNELS = {device: _has_kernel_for(key) for device, key in (("cpu", "CPU"), ("cuda", "CUDA"))}


def has_ada_kernel(device_type: str) -> bool:
    """Whether the compiled extension has an AdaPool kernel for ``device_type``."""
    return _KERNELS.get(device_type, False)


_reference_backend = from_dual(reference.ada_dual5d)


def _pool5d(x, b, kernel, stride, padding, ceil_mode, out_shape):
    """AdaPool of a validated 5D input (eDSCW for ``b`` None): the compiled op, which mixes in
    its kernels, else the reference."""
    if not has_ada_kernel(x.device.type):
        _warn_once("ada:" + x.device.type, f"softpool3d: no compiled AdaPool kernel for "
                   f"{x.device.type}; using the slower pure-PyTorch reference.")
        return _reference_backend(x, b, kernel, stride, padding, ceil_mode, out_shape)
    if b is None:  # the kernels' mix is exactly edscw at b = 1
        b = torch.ones((), dtype=acc_dtype(x.dtype), device=x.device)
    y, _ = torch.ops.softpool3d.ada_pool_forward(x, b, kernel, stride, padding, ceil_mode)
    return y


if _KERNELS["cpu"] or _KERNELS["cuda"]:
    @torch.library.register_fake("softpool3d::ada_pool_forward")
    def _forward_fake(input, beta, kernel_size, stride, padding, ceil_mode):
        out = [pooled_size(i, k, s, p, ceil_mode) for i, k, s, p in
               zip(input.shape[2:], kernel_size, stride, padding)]
        shape = list(input.shape[:2]) + out
        fmt = memory_format_of(input)
        y = input.new_empty(shape).contiguous(memory_format=fmt)
        stats = input.new_empty([shape[0] * N_STATS] + shape[1:],
                                dtype=acc_dtype(input.dtype)).contiguous(memory_format=fmt)
        return y, stats

    @torch.library.register_fake("softpool3d::ada_pool_backward")
    def _backward_fake(grad_output, input, beta, stats, kernel_size, stride, padding):
        return torch.empty_like(input, memory_format=memory_format_of(input))

    def _setup_context(ctx, inputs, output):
        input, beta, kernel_size, stride, padding, _ceil_mode = inputs
        _y, stats = output
        ctx.save_for_backward(input, beta, stats)
        ctx.pool_args = (kernel_size, stride, padding)
        ctx.mark_non_differentiable(stats)
        ctx.set_materialize_grads(False)

    def _backward(ctx, grad, _grad_stats):
        if grad is None:
            return None, None, None, None, None, None
        input, beta, stats = ctx.saved_tensors
        grad_input = grad_beta = None
        if ctx.needs_input_grad[1]:  # one conversion for both uses (the op's is then a no-op)
            grad = grad.to(stats.dtype)
        if ctx.needs_input_grad[0]:
            grad_input = torch.ops.softpool3d.ada_pool_backward(grad, input, beta, stats,
                                                                *ctx.pool_args)
        if ctx.needs_input_grad[1]:  # d y / d b = edscw - em
            halves = stats.unflatten(0, (N_STATS, -1))
            grad_beta = (grad * (halves[_EDSCW] - halves[_EM])).sum_to_size(
                beta.shape)
        return grad_input, grad_beta, None, None, None, None

    torch.library.register_autograd("softpool3d::ada_pool_forward", _backward,
                                    setup_context=_setup_context)

    def _no_double_backward(ctx, grad):
        raise RuntimeError("softpool3d: AdaPool double backward (gradients of gradients) is not "
                           "implemented")

    def _backward_setup(ctx, inputs, output):
        pass

    torch.library.register_autograd("softpool3d::ada_pool_backward", _no_double_backward,
                                    setup_context=_backward_setup)


# ---------------------------------------------------------------------------------------------
# functions

def ada_pool3d(input, beta, kernel_size, stride=None, padding=0, ceil_mode=False):
    """3D AdaPool ``b * edscw + (1 - b) * em``, ``b = clamp(beta, 0, 1)`` (see the module doc).

    Args:
        input: ``(N, C, D, H, W)`` or ``(C, D, H, W)``, float16/bfloat16/float32/float64, CPU or
            CUDA, contiguous or channels_last_3d.
        beta: a float or a tensor that broadcasts to the output (scalar, ``(C, 1, 1, 1)``,
            ``(OD, OH, OW)``, ...); differentiable.
        kernel_size, stride, padding, ceil_mode: as ``F.max_pool3d`` (``padding <= k // 2``;
            padded cells are not part of a window, nor of its mean).
    Returns:
        ``(N, C, OD, OH, OW)`` (or unbatched) in the input's dtype.
    """
    return ada_pool_nd(_pool5d, input, beta, 3, kernel_size, stride, padding, ceil_mode,
                       "ada_pool3d")


def ada_pool2d(input, beta, kernel_size, stride=None, padding=0, ceil_mode=False):
    """2D AdaPool of ``(N, C, H, W)`` or ``(C, H, W)``; arguments as :func:`ada_pool3d`."""
    return ada_pool_nd(_pool5d, input, beta, 2, kernel_size, stride, padding, ceil_mode,
                       "ada_pool2d")


def ada_pool1d(input, beta, kernel_size, stride=None, padding=0, ceil_mode=False):
    """1D AdaPool of ``(N, C, L)`` or ``(C, L)``; arguments as :func:`ada_pool3d`."""
    return ada_pool_nd(_pool5d, input, beta, 1, kernel_size, stride, padding, ceil_mode,
                       "ada_pool1d")


def edscw_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False):
    """3D eDSCW pooling ``sum_R softmax(dsc)_i x_i`` (AdaPool with ``beta = 1``)."""
    return ada_pool_nd(_pool5d, input, None, 3, kernel_size, stride, padding, ceil_mode,
                       "edscw_pool3d", edscw_only=True)


def edscw_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False):
    """2D eDSCW pooling; arguments as :func:`edscw_pool3d`."""
    return ada_pool_nd(_pool5d, input, None, 2, kernel_size, stride, padding, ceil_mode,
                       "edscw_pool2d", edscw_only=True)


def edscw_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False):
    """1D eDSCW pooling; arguments as :func:`edscw_pool3d`."""
    return ada_pool_nd(_pool5d, input, None, 1, kernel_size, stride, padding, ceil_mode,
                       "edscw_pool1d", edscw_only=True)


def _adaptive(n: int, name: str, edscw_only: bool):
    fn = adaptive_ada_function(_pool5d, reference.ada_adaptive_generic, n, name, edscw_only)
    what = "eDSCW pooling" if edscw_only else "AdaPool"
    beta = "" if edscw_only else "; ``beta`` must broadcast to the output"
    fn.__doc__ = (f"Adaptive {n}D {what} to ``output_size`` (``1``: global){beta}. Sizes that "
                  "divide the input run the compiled kernel; others the reference's windows "
                  "(PyTorch's adaptive bins).")
    return fn


adaptive_ada_pool1d, adaptive_ada_pool2d, adaptive_ada_pool3d = (
    _adaptive(n, f"adaptive_ada_pool{n}d", False) for n in (1, 2, 3))
adaptive_edscw_pool1d, adaptive_edscw_pool2d, adaptive_edscw_pool3d = (
    _adaptive(n, f"adaptive_edscw_pool{n}d", True) for n in (1, 2, 3))


# ---------------------------------------------------------------------------------------------
# modules

def _beta_parameter(beta_shape, beta_init: float, name: str) -> nn.Parameter:
    beta_init = float(beta_init)
    if not 0.0 <= beta_init <= 1.0:
        raise ValueError(f"{name}: beta_init must be in [0, 1], got {beta_init}")
    try:
        shape = tuple(int(s) for s in beta_shape)
    except TypeError:
        raise ValueError(f"{name}: beta_shape must be a tuple of ints, got {beta_shape!r}") from None
    return nn.Parameter(torch.full(shape, beta_init))


class _AdaPoolNd(PoolModuleArgs, nn.Module, fn=ada_pool3d):
    """AdaPool module; a drop-in for ``nn.MaxPool{1,2,3}d`` / ``SoftPool{1,2,3}d`` (same positional
    arguments and keyword names; only ``dilation=1``, no indices).

    ``beta`` (a learned ``nn.Parameter``) has shape ``beta_shape``, default ``()``: one mixing
    weight per layer, initialised to ``beta_init = 0.5``. Why: a scalar needs neither the number
    of channels nor the input size at construction, so the module replaces a pool anywhere and
    runs at any clip size (video models are tested at other lengths and crops than they are
    trained at; the original's per-location beta of shape ``(oD, oH, oW)`` fixes the input size).
    0.5 starts halfway between eM (SoftPool) and eDSCW, inside the clamp, so the gradient reaches
    beta from the first step in both directions, deterministically (the original draws
    ``clamp(randn, 0, 1)``: half the entries start exactly at 0). Give ``beta_shape=(C, 1, 1, 1)``
    for one weight per channel or the output's spatial shape for one per location (then only
    that input size works).
    """
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False, *, beta_shape=(),
                 beta_init: float = 0.5):
        super().__init__()
        self._set_window(kernel_size, stride, padding, dilation, return_indices, ceil_mode)
        self.beta = _beta_parameter(beta_shape, beta_init, type(self).__name__)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self._fn(input, self.beta, self.kernel_size, self.stride, self.padding,
                        self.ceil_mode)

    def extra_repr(self) -> str:
        return f"{self._window_repr()}, beta_shape={tuple(self.beta.shape)}"


class AdaPool1d(_AdaPoolNd, dims=1, fn=ada_pool1d):
    """AdaPool over ``(N, C, L)``/``(C, L)``; see :class:`AdaPool3d`."""


class AdaPool2d(_AdaPoolNd, dims=2, fn=ada_pool2d):
    """AdaPool over ``(N, C, H, W)``/``(C, H, W)``; see :class:`AdaPool3d`."""


class AdaPool3d(_AdaPoolNd):
    __doc__ = _AdaPoolNd.__doc__


class _EDSCWPoolNd(PoolModuleArgs, nn.Module, fn=edscw_pool3d):
    """eDSCW pooling module (no parameters); a drop-in for ``nn.MaxPool{1,2,3}d``."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        self._set_window(kernel_size, stride, padding, dilation, return_indices, ceil_mode)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self._fn(input, self.kernel_size, self.stride, self.padding, self.ceil_mode)

    def extra_repr(self) -> str:
        return self._window_repr()


class EDSCWPool1d(_EDSCWPoolNd, dims=1, fn=edscw_pool1d):
    """eDSCW pooling over ``(N, C, L)``/``(C, L)``."""


class EDSCWPool2d(_EDSCWPoolNd, dims=2, fn=edscw_pool2d):
    """eDSCW pooling over ``(N, C, H, W)``/``(C, H, W)``."""


class EDSCWPool3d(_EDSCWPoolNd):
    """eDSCW pooling over ``(N, C, D, H, W)``/``(C, D, H, W)``: ``sum_R softmax(dsc)_i x_i``."""


class _AdaptiveAdaPoolNd(PoolModuleArgs, nn.Module, fn=adaptive_ada_pool3d):
    """Adaptive AdaPool (``output_size=1``: global) with a learned beta (see :class:`AdaPool3d`)."""

    def __init__(self, output_size, return_indices: bool = False, *, beta_shape=(),
                 beta_init: float = 0.5):
        super().__init__()
        self._set_output_size(output_size, return_indices)
        self.beta = _beta_parameter(beta_shape, beta_init, type(self).__name__)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self._fn(input, self.beta, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, beta_shape={tuple(self.beta.shape)}"


class AdaptiveAdaPool1d(_AdaptiveAdaPoolNd, dims=1, fn=adaptive_ada_pool1d):
    """Adaptive AdaPool to a fixed length."""


class AdaptiveAdaPool2d(_AdaptiveAdaPoolNd, dims=2, fn=adaptive_ada_pool2d):
    """Adaptive AdaPool to a fixed ``(H, W)``."""


class AdaptiveAdaPool3d(_AdaptiveAdaPoolNd):
    """Adaptive AdaPool to a fixed ``(D, H, W)``; ``output_size=1`` is global AdaPool."""


class _AdaptiveEDSCWPoolNd(PoolModuleArgs, nn.Module, fn=adaptive_edscw_pool3d):
    def __init__(self, output_size, return_indices: bool = False):
        super().__init__()
        self._set_output_size(output_size, return_indices)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self._fn(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveEDSCWPool1d(_AdaptiveEDSCWPoolNd, dims=1, fn=adaptive_edscw_pool1d):
    """Adaptive eDSCW pooling to a fixed length."""


class AdaptiveEDSCWPool2d(_AdaptiveEDSCWPoolNd, dims=2, fn=adaptive_edscw_pool2d):
    """Adaptive eDSCW pooling to a fixed ``(H, W)``."""


class AdaptiveEDSCWPool3d(_AdaptiveEDSCWPoolNd):
    """Adaptive eDSCW pooling to a fixed ``(D, H, W)``; ``output_size=1`` is global."""


# ---------------------------------------------------------------------------------------------
# the pooling zoo's forms (softpool3d.pools: ``Cls(kernel_size, stride, padding, ceil_mode)``)

class AdaptiveAdaPool(AdaptiveAdaPool3d):
    """Adaptive AdaPool of the zoo (one learned beta, 0.5 at start)."""

    def __init__(self, output_size, beta_init: float = 0.5):
        super().__init__(output_size, beta_init=beta_init)


class AdaPool(AdaPool3d):
    """y = b * sum_R softmax(dsc)_i a_i + (1 - b) * sum_R softmax(a)_i a_i, b = clamp(beta, 0, 1),
    dsc_i = 2|a_i m| / (a_i^2 + m^2), m = mean_R a -- AdaPool (Stergiou & Poppe, "AdaPool:
    Exponential Adaptive Pooling for Information-Retaining Downsampling", IEEE TIP 2023) with
    its exact gradient; one learned beta per layer, 0.5 at start (softpool3d.adapool)."""
    adaptive = AdaptiveAdaPool
    needs_channels = False

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 beta_init: float = 0.5):
        super().__init__(kernel_size, stride, padding, ceil_mode=ceil_mode, beta_init=beta_init)


class AdaptiveEDSCWPool(AdaptiveEDSCWPool3d):
    """Adaptive eDSCW pooling of the zoo."""

    def __init__(self, output_size):
        super().__init__(output_size)


class EDSCWPool(EDSCWPool3d):
    """y = sum_R softmax(dsc)_i a_i, dsc_i = 2|a_i m| / (a_i^2 + m^2), m = mean_R a -- AdaPool's
    exponential Dice-Sorensen-coefficient weighting on its own (Stergiou & Poppe, TIP 2023)."""
    adaptive = AdaptiveEDSCWPool
    needs_channels = False

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False):
        super().__init__(kernel_size, stride, padding, ceil_mode=ceil_mode)
